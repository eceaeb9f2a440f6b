"""What live traffic is compared with: a model version's reference sample and its outputs.

The reference is the sample registered with the model version (``register(...,
reference=X)``). Each feature is tested as a number or as a category: text, booleans and
categories are categories, and so is any feature the user names; the rest are numbers.
The model, loaded with the trust its endpoint was deployed with, gives its predictions on
the reference (for prediction drift) and its probabilities on live requests (for the
accuracy expected before labels).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlops_lab.monitor._errors import MonitorError
from mlops_lab.registry import Registry, RegistryError
from mlops_lab.registry._signature import model_rows
from mlops_lab.store import StoreClient


@dataclass
class Reference:
    """One model version's reference, as the monitor uses it.

    Attributes:
        ref: ``"name@version"``.
        frame: The reference sample, one column per feature.
        kinds: ``"numeric"`` or ``"categorical"`` per feature.
        task: ``"classification"`` or ``"regression"``.
        model: The fitted model.
        predictions: The model's predictions on the reference.
        metrics: The metrics registered with the version.
    """

    ref: str
    frame: pd.DataFrame
    kinds: dict[str, str]
    task: str
    model: Any
    predictions: np.ndarray = field(repr=False)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        """The accuracy live traffic should keep.

        The registered one (``accuracy``, else the search's ``cv_accuracy``), else what the
        model's probabilities expect on the reference sample; None for a regressor or a
        classifier without either.
        """
        for name in ("accuracy", "cv_accuracy"):
            value = self.metrics.get(name)
            if isinstance(value, int | float) and 0 <= value <= 1:
                return float(value)
        confidences = self.confidences(self.frame)
        return None if confidences is None else float(confidences.mean())

    @property
    def features(self) -> list[str]:
        """The feature names, in the model's order."""
        return list(self.frame.columns)

    def confidences(self, frame: pd.DataFrame) -> np.ndarray | None:
        """The probability the model gives its predicted class on each row, if it has them."""
        if self.task != "classification" or not hasattr(self.model, "predict_proba"):
            return None
        probabilities = np.asarray(self.model.predict_proba(model_rows(self.model, frame)))
        return probabilities.max(axis=1)


def load_reference(
    store: StoreClient, endpoint: str, model: str, version: int, categorical: Iterable[str] = ()
) -> Reference:
    """Load the reference of ``model@version`` as served by ``endpoint``.

    Raises:
        MonitorError: the version has no reference sample (and how to register one), or
            ``categorical`` names a feature the model does not have.
    """
    ref = f"{model}@{version}"
    registry = Registry(store)
    try:
        frame = registry.reference(ref)
    except RegistryError as error:
        raise MonitorError(
            f"Model {ref}, served by endpoint '{endpoint}', has no reference sample to compare "
            "live traffic with. Register the version with one, e.g. "
            f"lab.registry.register('{model}', fitted_model, reference=X_test), and deploy it."
        ) from error
    described = registry.get(ref)
    signature = described.signature
    trust = endpoint_trust(store, endpoint)
    fitted = registry.load(ref, trusted=trust.get("trusted", ()),
                           allow_pickle=bool(trust.get("allow_pickle", False)))  # fmt: skip
    return Reference(
        ref=ref,
        frame=frame,
        kinds=feature_kinds(frame, categorical, ref),
        task=str(signature.get("task", "regression")),
        model=fitted,
        predictions=np.asarray(fitted.predict(model_rows(fitted, frame))),
        metrics=dict(described.metrics or {}),
    )


def feature_kinds(frame: pd.DataFrame, categorical: Iterable[str], ref: str) -> dict[str, str]:
    """How each feature is tested: as a category (text, booleans, named) or as a number.

    Example:
        >>> feature_kinds(pd.DataFrame({"x": [1.0], "plan": ["a"]}), [], "m@1")
        {'x': 'numeric', 'plan': 'categorical'}
    """
    named = list(categorical)
    unknown = [name for name in named if name not in frame.columns]
    if unknown:
        raise MonitorError(
            f"The 'categorical' option names {unknown}, which model {ref} does not have. "
            f"Its features are: {list(frame.columns)}."
        )
    return {
        str(name): "categorical"
        if name in named or not pd.api.types.is_numeric_dtype(dtype)
        or pd.api.types.is_bool_dtype(dtype)
        else "numeric"
        for name, dtype in frame.dtypes.items()
    }  # fmt: skip


def check_categorical(store: StoreClient, endpoint: str, names: Iterable[str]) -> None:
    """Refuse ``categorical`` names that no model version of the endpoint's routes has."""
    wanted = list(names)
    if not wanted:
        return
    routes = endpoint_config(store, endpoint).get("routes") or {}
    registry = Registry(store)
    known: set[str] = set()
    for ref in [*routes.get("arms", ()), *routes.get("shadow", ())]:
        try:
            known.update(registry.reference(ref).columns)
        except RegistryError:
            continue  # a version without a reference: its windows report that
    unknown = [name for name in wanted if known and name not in known]
    if unknown:
        raise MonitorError(
            f"The 'categorical' option names {unknown}, which no model version of endpoint "
            f"'{endpoint}' has. Their features are: {sorted(known)}."
        )


def endpoint_trust(store: StoreClient, endpoint: str) -> dict[str, Any]:
    """The trust the endpoint's artifacts were loaded with, from its last configuration."""
    return dict(endpoint_config(store, endpoint).get("trust") or {})


def endpoint_config(store: StoreClient, endpoint: str) -> dict[str, Any]:
    """The endpoint's last configuration (running or not).

    Raises:
        MonitorError: no endpoint of that name was ever deployed.
    """
    rows = store.query("SELECT config FROM endpoints WHERE endpoint = ?", [endpoint]).to_pylist()
    if not rows:
        raise MonitorError(
            f"No endpoint '{endpoint}' was ever deployed. Deploy it with lab.deploy(...) "
            "first; lab.endpoints() lists those there are."
        )
    config = rows[0]["config"]
    return dict(json.loads(config)) if config else {}
