"""Why a request got its prediction: SHAP values or an anchor, from the version that served it.

``explain(store, request_id, method)`` reads the request from the log, loads the model
version that served it (with its endpoint's trust) and its background sample, and explains
the logged features with alibi: ``TreeShap`` for tree models, ``KernelShap`` for any other
(on the predicted class's probability, or the output of a regressor), ``AnchorTabular`` for
an anchor (a rule on a few features under which the prediction holds with high precision).
The explanation is stored by (request id, method); asking again reads it from the store.
Fitted explainers are kept in the process, one per model version and method, since fitting
costs more than explaining.

``importance`` is the global view the monitor computes for each window: the mean absolute
SHAP value of each feature over a sample of the window's requests (each request's values
for the class it was given), with the same explainers.

Categories enter the explainers as their index in the background sample, and go back to
their values before the model sees them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops_lab._json import strict_json
from mlops_lab.errors import parameter_error
from mlops_lab.monitor._errors import MonitorError
from mlops_lab.monitor._outliers import category_codes, encode
from mlops_lab.monitor._reference import endpoint_trust, feature_kinds
from mlops_lab.monitor._state import now
from mlops_lab.registry import Registry, RegistryError
from mlops_lab.registry._signature import model_rows
from mlops_lab.store import StoreClient

METHODS = ("shap", "anchors")
_TREE_MODELS = (
    "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier",
    "ExtraTreesRegressor", "GradientBoostingClassifier", "GradientBoostingRegressor",
    "DecisionTreeClassifier", "DecisionTreeRegressor",
)  # fmt: skip
_SEED = 0


@dataclass
class _Explainer:
    """A fitted alibi explainer of one model version, and how its inputs are encoded."""

    name: str
    explainer: Any
    features: list[str]
    categories: dict[str, list[Any]]
    model: Any


_EXPLAINERS: dict[tuple[str, str], _Explainer] = {}


def explain(store: StoreClient, request_id: str, method: str = "shap") -> dict[str, Any]:
    """The explanation of one logged request, stored once and read back after.

    Raises:
        MonitorError: an unknown method or request id, a request that was refused, or a
            model version without a background sample (and how to register one).
    """
    if method not in METHODS:
        must = f"be one of {list(METHODS)}"
        raise MonitorError(parameter_error("method", "explain()", must, repr(method)))
    kept = store.query(
        "SELECT explanation FROM explanations WHERE request_id = ? AND method = ?",
        [request_id, method],
    ).to_pylist()
    if kept:
        return dict(json.loads(kept[0]["explanation"]))
    request = _request(store, request_id)
    ref = f"{request['model']}@{request['model_version']}"
    explainer = _explainer(store, request["endpoint"], ref, method)
    logged = json.loads(request["features"])
    row = pd.DataFrame([[logged.get(name) for name in explainer.features]],
                       columns=explainer.features)  # fmt: skip
    explanation = {
        "request_id": request_id, "method": method, "explainer": explainer.name,
        "model": ref, "features": dict(zip(explainer.features, row.iloc[0].tolist(), strict=True)),
        "prediction": json.loads(request["prediction"]) if request["prediction"] else None,
        **(_shap(explainer, row) if method == "shap" else _anchor(explainer, row)),
    }  # fmt: skip
    explanation = strict_json(explanation)
    store.write({"explanations": [{
        "request_id": request_id, "method": method, "time": now(),
        "endpoint": request["endpoint"], "model": request["model"],
        "model_version": request["model_version"], "explanation": explanation,
    }]})  # fmt: skip
    return dict(explanation)


def importance(
    store: StoreClient, endpoint: str, ref: str, rows: pd.DataFrame
) -> tuple[str, dict[str, float]]:
    """The mean |SHAP| of each feature over ``rows`` (features by name), and the explainer.

    Raises:
        MonitorError: the model version has no background sample.
    """
    explainer = _explainer(store, endpoint, ref, "shap")
    rows = rows.reindex(columns=explainer.features)
    values = _shap_values(explainer, rows)
    return explainer.name, dict(zip(explainer.features, np.abs(values).mean(axis=0).tolist(),
                                    strict=True))  # fmt: skip


def _request(store: StoreClient, request_id: str) -> dict[str, Any]:
    if not isinstance(request_id, str):
        must = "be a request id (text), as responses and the request log give it"
        raise MonitorError(parameter_error("request_id", "explain()", must, repr(request_id)))
    rows = store.query(
        "SELECT endpoint, model, model_version, features, prediction, status "
        "FROM requests WHERE request_id = ?", [request_id],
    ).to_pylist()  # fmt: skip
    if not rows:
        raise MonitorError(
            f"No request '{request_id}' is in the request log. Take an id from a prediction's "
            "response (request_id) or from lab.sql('SELECT request_id FROM requests')."
        )
    if rows[0]["status"] != 200 or rows[0]["model"] is None:
        raise MonitorError(
            f"Request '{request_id}' was refused (status {rows[0]['status']}); only a "
            "served request has a prediction to explain."
        )
    return dict(rows[0])


def _explainer(store: StoreClient, endpoint: str, ref: str, method: str) -> _Explainer:
    key = (ref, method)
    if key not in _EXPLAINERS:
        registry = Registry(store)
        try:
            background = registry.background(ref)
        except RegistryError:
            name = ref.split("@")[0]
            raise MonitorError(
                f"Model {ref} has no background sample to explain its predictions against. "
                f"Register the version with one, e.g. lab.registry.register('{name}', "
                "fitted_model, reference=X_test) (up to 100 reference rows become the "
                "background), and deploy it."
            ) from None
        trust = endpoint_trust(store, endpoint)
        model = registry.load(ref, trusted=trust.get("trusted", ()),
                              allow_pickle=bool(trust.get("allow_pickle", False)))  # fmt: skip
        _EXPLAINERS[key] = _fit(method, model, background, feature_kinds(background, [], ref))
    return _EXPLAINERS[key]


def _fit(method: str, model: Any, background: pd.DataFrame, kinds: dict[str, str]) -> _Explainer:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.getLogger("alibi").setLevel(logging.ERROR)
    from alibi.explainers import AnchorTabular, KernelShap, TreeShap

    features = list(background.columns)
    categories = category_codes(background, kinds)
    encoded = encode(background, categories)
    predict = _decoded(model, features, categories, _output(model))
    names = {features.index(name): [str(v) for v in values] for name, values in categories.items()}
    task = "classification" if hasattr(model, "predict_proba") else "regression"
    if method == "anchors":
        explainer = AnchorTabular(_decoded(model, features, categories, model.predict), features,
                                  categorical_names=names, seed=_SEED)  # fmt: skip
        explainer.fit(encoded)
        return _Explainer("AnchorTabular", explainer, features, categories, model)
    if type(model).__name__ in _TREE_MODELS and not categories:
        explainer = TreeShap(model, model_output="raw", feature_names=features, task=task)
        explainer.fit(background.to_numpy(dtype=float))
        return _Explainer("TreeShap", explainer, features, categories, model)
    explainer = KernelShap(predict, feature_names=features, task=task, seed=_SEED)
    explainer.fit(encoded)
    return _Explainer("KernelShap", explainer, features, categories, model)


def _output(model: Any) -> Callable[[Any], np.ndarray]:
    return model.predict_proba if hasattr(model, "predict_proba") else model.predict


def _decoded(
    model: Any, features: list[str], categories: dict[str, list[Any]],
    output: Callable[[Any], np.ndarray],
) -> Callable[[np.ndarray], np.ndarray]:  # fmt: skip
    """The model's ``output`` on encoded rows: categories decoded, columns named."""

    def predict(rows: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(np.asarray(rows), columns=features)
        for name, values in categories.items():
            codes = frame[name].round().astype(int).clip(-1, len(values) - 1)
            frame[name] = [values[c] if c >= 0 else None for c in codes]
        for name in features:
            if name not in categories:
                frame[name] = frame[name].astype(float)
        return np.asarray(output(model_rows(model, frame)))

    return predict


def _shap(explainer: _Explainer, row: pd.DataFrame) -> dict[str, Any]:
    result = _explained(explainer, row)
    output = int(_outputs(explainer, row, len(result.shap_values))[0])
    expected = np.atleast_1d(np.asarray(result.expected_value, dtype=float))
    values = [np.asarray(v)[0] for v in result.shap_values]
    classes = getattr(explainer.model, "classes_", None)
    return {
        "output": None if classes is None else classes[output],
        "expected_value": float(expected[min(output, len(expected) - 1)]),
        "contributions": dict(zip(explainer.features, values[output].tolist(), strict=True)),
    }


def _shap_values(explainer: _Explainer, rows: pd.DataFrame) -> np.ndarray:
    """Each row's SHAP values (rows x features) for the output the model gave it."""
    values = np.stack([np.asarray(v) for v in _explained(explainer, rows).shap_values])
    outputs = _outputs(explainer, rows, len(values))
    return values[outputs, np.arange(len(rows))]


def _explained(explainer: _Explainer, rows: pd.DataFrame) -> Any:
    encoded = encode(rows, explainer.categories)
    data = rows.to_numpy(dtype=float) if explainer.name == "TreeShap" else encoded
    return explainer.explainer.explain(data)


def _outputs(explainer: _Explainer, rows: pd.DataFrame, outputs: int) -> np.ndarray:
    """Which of the explainer's ``outputs`` each row's values are for.

    Its predicted class when there is one output per class, else the only one.
    """
    model = explainer.model
    if outputs == 1 or not hasattr(model, "predict_proba"):
        return np.zeros(len(rows), dtype=int)
    probabilities = np.asarray(model.predict_proba(model_rows(model, rows)))
    return probabilities.argmax(axis=1)


def _anchor(explainer: _Explainer, row: pd.DataFrame) -> dict[str, Any]:
    encoded = encode(row, explainer.categories)[0]
    result = explainer.explainer.explain(encoded, threshold=0.95)
    return {
        "anchor": list(result.anchor),
        "precision": float(np.asarray(result.precision).ravel()[0]),
        "coverage": float(np.asarray(result.coverage).ravel()[0]),
    }
