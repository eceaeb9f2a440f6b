"""The model versions an endpoint serves, loaded inside each router replica.

Holding the models in the router's own process saves a deployment-handle hop per request,
which would roughly halve Ray Serve's throughput for fast models.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops_lab.registry import Registry
from mlops_lab.store import StoreClient


@dataclass(frozen=True)
class Served:
    """One loaded model version."""

    ref: str  # "name@version"
    name: str
    version: int
    model: Any
    inputs: list[dict[str, Any]]
    signature: dict[str, Any]


class Models:
    """Loads model versions once per replica and keeps those still in use.

    Args:
        store: Where the artifacts are.
    """

    def __init__(self, store: StoreClient) -> None:
        self._registry = Registry(store)
        self._loaded: dict[str, Served] = {}

    def load(self, refs: Iterable[str], trust: Mapping[str, Any]) -> dict[str, Served]:
        """The given versions, loading those not loaded yet and forgetting the others.

        Args:
            refs: Model versions, "name@version".
            trust: What the endpoint trusts artifacts with: ``{"trusted": [type names],
                "allow_pickle": False}``.
        """
        wanted = {ref: self._loaded.get(ref) or self._load(ref, trust) for ref in refs}
        self._loaded = dict(wanted)
        return wanted

    def _load(self, ref: str, trust: Mapping[str, Any]) -> Served:
        described = self._registry.get(ref)
        model = self._registry.load(
            ref,
            trusted=list(trust.get("trusted", ())),
            allow_pickle=bool(trust.get("allow_pickle", False)),
        )
        return Served(
            ref=ref,
            name=described.name,
            version=described.version,
            model=model,
            inputs=list(described.signature["inputs"]),
            signature=dict(described.signature),
        )
