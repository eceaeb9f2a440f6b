"""Outlier scores for every served request, from a detector fitted once on the reference.

alibi-detect's ``IForest`` (an isolation forest: the fewer random splits isolate a request,
the higher its score) is fitted on a model version's reference sample, with the threshold
that flags ``outlier_rate`` of the reference. alibi-detect cannot save it without
TensorFlow, so the lab keeps the fitted forest itself, with skops, in the store's
``monitor_state``: a restarted monitor loads it instead of fitting again, and fitting never
happens on the request path.

Categories enter the forest as the index of their value in the reference (-1 for a value
the reference never had), which isolation forests split on like any number.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio

from mlops_lab.monitor._reference import Reference
from mlops_lab.monitor._state import read_state, state_row
from mlops_lab.store import StoreClient

# The one type skops does not trust by default in a fitted IsolationForest.
_FOREST_TYPES = ["sklearn.tree._tree.Tree"]
_SEED = 0


@dataclass
class OutlierDetector:
    """A fitted detector, the threshold above which a request is an outlier, its encoding.

    Attributes:
        name: ``"iforest"``.
        detector: alibi-detect's fitted detector.
        threshold: Scores above it are outliers.
        categories: For each categorical feature, its reference values in code order.
    """

    name: str
    detector: Any
    threshold: float
    categories: dict[str, list[Any]]

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        """The outlier score of each row (higher is stranger)."""
        return np.asarray(self.detector.score(encode(frame, self.categories)), dtype=float)


def outlier_detector(
    store: StoreClient, endpoint: str, reference: Reference, name: str, rate: float
) -> OutlierDetector:
    """The endpoint's detector for ``reference``'s model version: the kept one, else a new fit.

    A new fit is kept at once, in its own write, so that a monitor killed later in the pass
    finds it. A detector kept with another name or rate is fitted again.
    """
    key = f"outliers:{reference.ref}"
    kept = read_state(store, endpoint, key)
    if kept is not None:
        state, data = kept
        if data is not None and state.get("name") == name and state.get("rate") == rate:
            return _restore(state, data)
    detector = _fit(reference, name, rate)
    state = {"name": name, "rate": rate, "threshold": detector.threshold,
             "categories": detector.categories}  # fmt: skip
    store.write({"monitor_state": [state_row(endpoint, key, state, _dump(detector))]})
    return detector


def encode(frame: pd.DataFrame, categories: dict[str, list[Any]]) -> np.ndarray:
    """The features as numbers: categories by their reference index, missing numbers 0."""
    columns = []
    for name in frame.columns:
        if name in categories:
            index = {value: i for i, value in enumerate(categories[name])}
            columns.append(np.array([index.get(v, -1) for v in frame[name]], dtype=float))
        else:
            values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
            columns.append(np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0))
    return np.column_stack(columns) if columns else np.empty((len(frame), 0))


def _fit(reference: Reference, name: str, rate: float) -> OutlierDetector:
    iforest = _iforest_class()
    categories = {
        feature: sorted(reference.frame[feature].dropna().unique().tolist(), key=repr)
        for feature, kind in reference.kinds.items()
        if kind == "categorical"
    }
    encoded = encode(reference.frame, categories)
    detector = iforest(threshold=0.0, n_estimators=100)
    detector.isolationforest.set_params(random_state=_SEED)
    detector.fit(encoded)
    detector.infer_threshold(encoded, threshold_perc=100 * (1 - rate))
    return OutlierDetector(name, detector, float(detector.threshold), categories)


def _dump(detector: OutlierDetector) -> bytes:
    return sio.dumps(detector.detector.isolationforest)


def _restore(state: dict[str, Any], data: bytes) -> OutlierDetector:
    detector = _iforest_class()(threshold=float(state["threshold"]))
    detector.isolationforest = sio.loads(data, trusted=_FOREST_TYPES)
    return OutlierDetector(state["name"], detector, float(state["threshold"]),
                           dict(state["categories"]))  # fmt: skip


def _iforest_class() -> Any:
    """alibi-detect's IForest, imported on first use (the import takes seconds)."""
    # alibi-detect imports transformers, which announces at import that it found no
    # deep-learning framework; the monitor needs none.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.getLogger("alibi_detect.od.isolationforest").setLevel(logging.ERROR)
    from alibi_detect.od import IForest

    return IForest
