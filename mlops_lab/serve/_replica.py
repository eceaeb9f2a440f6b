"""What a router replica shares between serving, feedback and learning.

The router owns one :class:`Replica` and hands it to feedback and to the learner, which so
see the endpoint's name, the store, the request log, the policy's lock and the routes served
now, and nothing of HTTP, limits or prediction.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mlops_lab.routing import Policy
from mlops_lab.routing._rollout import Routes
from mlops_lab.serve._log import LogBuffer
from mlops_lab.serve._models import Served
from mlops_lab.store import StoreClient


@dataclass(frozen=True)
class Active:
    """The routes a replica serves now, with their policy and loaded models."""

    routes: Routes
    policy: Policy
    models: dict[str, Served]
    inputs: list[dict[str, Any]]
    signature: dict[str, Any]
    contexts: list[str]  # the features a contextual policy reads

    @classmethod
    def of(cls, routes: Routes, policy: Policy, models: dict[str, Served]) -> Active:
        """The routes with their policy and models; inputs come from the first arm's model."""
        first = models[routes.arms[0]]
        return cls(
            routes, policy, models, first.inputs, first.signature, context_columns(first.inputs)
        )


@dataclass
class Replica:
    """The state of one router replica that feedback and learning work on.

    Args:
        endpoint: The endpoint's name.
        store: The store client where feedback is written and read.
        log: The replica's request log, flushed when feedback names a request still in it.
        active: The routes served now; None until the first ``reconfigure``.
        lock: Guards the policy: requests choose with it, feedback updates it.
    """

    endpoint: str
    store: StoreClient
    log: LogBuffer
    active: Active | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def context_columns(inputs: list[dict[str, Any]]) -> list[str]:
    """The numeric features, which contextual policies read."""
    return [
        spec["name"]
        for spec in inputs
        if spec.get("dtype") is None or pd.api.types.pandas_dtype(spec["dtype"]).kind in "iuf"
    ]
