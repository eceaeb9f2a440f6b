"""The error of the statistics package."""

from __future__ import annotations

from mlops_lab.errors import LabError


class StatsError(LabError, ValueError):
    """A statistic was asked of data or settings it cannot use; the message says which."""
