"""Explanations of logged requests with alibi, stored once: SHAP values and anchors."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from mlops_lab.monitor import MonitorError
from mlops_lab.monitor._explain import explain
from mlops_lab.registry import Registry
from mlops_lab.store import Store

NOW = datetime(2026, 5, 1, 12, 0)
TREE = ["sklearn.tree._tree.Tree"]


def data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    frame["plan"] = rng.choice(["basic", "pro"], size=n)
    y = ((frame["a"] + (frame["plan"] == "pro") * 1.5 - frame["b"]) > 0.5).astype(int)
    return frame, y.to_numpy()


def served(store: Store, name: str, model: Any, row: pd.DataFrame, trusted=()) -> str:
    """Register ``model``, record an endpoint serving it, log ``row`` as served; the id."""
    version = Registry(store).register(name, model, reference=row_sample(row, model),
                                       trusted=list(trusted)).version  # fmt: skip
    config = {"trust": {"trusted": list(trusted), "allow_pickle": False},
              "routes": {"arms": [f"{name}@{version}"], "shadow": []}}  # fmt: skip
    store.write({"endpoints": [{"endpoint": name, "created_at": NOW, "updated_at": NOW,
                                "status": "running", "config": config}]})  # fmt: skip
    request_id = uuid.uuid4().hex
    store.append("requests", [{
        "request_id": request_id, "time": NOW, "endpoint": name, "model": name,
        "model_version": version, "features": row.iloc[0].to_dict(),
        "prediction": json.dumps(model.predict(row).tolist()[0]), "status": 200,
    }])  # fmt: skip
    return request_id


def row_sample(row: pd.DataFrame, model: Any) -> pd.DataFrame:
    columns = list(getattr(model, "feature_names_in_", row.columns))
    frame, _ = data(300, seed=99)
    return frame[columns]


def probability(model: Any, row: pd.DataFrame) -> float:
    return float(model.predict_proba(row)[0].max())


def test_a_tree_model_is_explained_by_tree_shap_and_the_values_add_up(store: Store) -> None:
    """TreeShap's contributions plus the expected value give the predicted class's
    probability; asking again reads the stored explanation."""
    frame, y = data(500, seed=1)
    numeric = frame[["a", "b", "c"]]
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(numeric, y)
    request_id = served(store, "forest", model, numeric.iloc[[0]], trusted=TREE)
    explanation = explain(store, request_id, "shap")
    assert explanation["explainer"] == "TreeShap"
    total = explanation["expected_value"] + sum(explanation["contributions"].values())
    assert total == pytest.approx(probability(model, numeric.iloc[[0]]), abs=1e-6)
    assert explain(store, request_id, "shap") == explanation
    assert store.counts()["explanations"] == 1


def test_any_other_model_is_explained_by_kernel_shap_with_its_categories(store: Store) -> None:
    """A pipeline with a categorical column gets KernelShap on the feature values it was
    sent (the category by name), and the contributions add up to its probability."""
    frame, y = data(500, seed=2)
    encoder = make_column_transformer((OneHotEncoder(), ["plan"]), remainder="passthrough")
    model = make_pipeline(encoder, LogisticRegression()).fit(frame, y)
    request_id = served(store, "pipeline", model, frame.iloc[[3]])
    explanation = explain(store, request_id, "shap")
    assert explanation["explainer"] == "KernelShap"
    assert explanation["features"]["plan"] == frame["plan"].iloc[3]
    total = explanation["expected_value"] + sum(explanation["contributions"].values())
    assert total == pytest.approx(probability(model, frame.iloc[[3]]), abs=1e-6)


def test_an_anchor_holds_the_prediction_with_high_precision(store: Store) -> None:
    """The anchor is a rule on the features, under which the model's prediction holds
    for at least 90 % of the background sample it covers."""
    frame, y = data(500, seed=3)
    numeric = frame[["a", "b", "c"]]
    model = LogisticRegression().fit(numeric, y)
    request_id = served(store, "linear", model, numeric.iloc[[5]])
    explanation = explain(store, request_id, "anchors")
    assert explanation["explainer"] == "AnchorTabular"
    assert explanation["anchor"] and all(isinstance(rule, str) for rule in explanation["anchor"])
    assert explanation["precision"] >= 0.9


def test_bad_requests_to_explain_say_what_was_wrong(store: Store) -> None:
    """An unknown method, an unknown id, a refused request and a version without a
    background sample each get an error that says how to fix it; nothing is stored."""
    frame, y = data(100, seed=4)
    numeric = frame[["a", "b", "c"]]
    model = LogisticRegression().fit(numeric, y)
    request_id = served(store, "checked", model, numeric.iloc[[0]])
    with pytest.raises(MonitorError, match=r"'method' parameter of explain\(\)"):
        explain(store, request_id, "lime")
    with pytest.raises(MonitorError, match="No request 'nope'"):
        explain(store, "nope", "shap")
    store.append("requests", [{"request_id": "refused", "time": NOW, "endpoint": "checked",
                               "status": 400, "error": "bad"}])  # fmt: skip
    with pytest.raises(MonitorError, match="was refused"):
        explain(store, "refused", "shap")
    bare = Registry(store).register("bare", model).version
    store.append("requests", [{"request_id": "bare-1", "time": NOW, "endpoint": "checked",
                               "model": "bare", "model_version": bare, "status": 200,
                               "features": numeric.iloc[0].to_dict()}])  # fmt: skip
    with pytest.raises(MonitorError, match="no background sample.*reference=X_test"):
        explain(store, "bare-1", "shap")
    assert store.counts()["explanations"] == 0
