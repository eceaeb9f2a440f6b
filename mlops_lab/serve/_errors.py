"""The error an endpoint call raises when it cannot be done."""

from __future__ import annotations

from mlops_lab.errors import LabError


class EndpointError(LabError, ValueError):
    """An endpoint request that cannot be done; the message says how to fix it."""
