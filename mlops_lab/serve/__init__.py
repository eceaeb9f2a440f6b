"""Serving: the router in front of model deployments, and the request log that loses nothing."""

from __future__ import annotations

from mlops_lab.serve._log import LogBuffer, LogStats

__all__ = ["LogBuffer", "LogStats"]
