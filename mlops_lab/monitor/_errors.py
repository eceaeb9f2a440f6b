"""The error of the monitor."""

from __future__ import annotations

from mlops_lab.errors import LabError


class MonitorError(LabError, ValueError):
    """The monitor was asked for something it cannot do; the message says how to fix it."""
