"""Multivariate drift: can a classifier tell the window's requests from the reference?

A shift no per-feature test can see (two features whose correlation flips while each keeps
its distribution) still lets a classifier separate the two samples. alibi-detect's
``ClassifierDrift`` with the scikit-learn backend trains a random forest to tell reference
rows from window rows and tests its out-of-bag predictions: a p-value, and a distance
(how far the classifier does better than chance). Nothing is fitted ahead: the classifier
is trained on each window, in the monitor, never on the request path. Categories enter as
their index in the reference, like the outlier detector's.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import pandas as pd

from mlops_lab.monitor._outliers import encode
from mlops_lab.monitor._reference import Reference

_SEED = 0
_TREES = 100


def classifier_drift(reference: Reference, window: pd.DataFrame, alpha: float) -> dict[str, Any]:
    """The classifier test of ``window`` against the reference: p-value, distance, verdict."""
    categories = {
        name: sorted(reference.frame[name].dropna().unique().tolist(), key=repr)
        for name, kind in reference.kinds.items() if kind == "categorical"
    }  # fmt: skip
    detector = _classifier_drift_class()(
        encode(reference.frame, categories),
        model=_forest(),
        backend="sklearn",
        p_val=alpha,
        use_oob=True,
        seed=_SEED,
    )
    result = detector.predict(encode(window, categories))["data"]
    return {
        "p_value": float(result["p_val"]),
        "distance": float(result["distance"]),
        "drifted": bool(result["is_drift"]),
        "test": "classifier (random forest, out-of-bag)",
        "rows": len(window),
    }


def _forest() -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=_TREES, min_samples_leaf=5, random_state=_SEED,
                                  n_jobs=1)  # fmt: skip


def _classifier_drift_class() -> Any:
    """alibi-detect's ClassifierDrift, imported on first use (the import takes seconds)."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.getLogger("alibi_detect").setLevel(logging.ERROR)
    from alibi_detect.cd import ClassifierDrift

    return ClassifierDrift
