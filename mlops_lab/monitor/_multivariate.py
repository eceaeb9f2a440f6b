"""Multivariate drift: can a classifier tell the window's requests from the reference?

A shift no per-feature test can see (two features whose correlation flips while each keeps
its distribution) still lets a classifier separate the two samples. alibi-detect's
``ClassifierDrift`` with the scikit-learn backend trains a random forest to tell reference
rows from window rows and tests its out-of-bag predictions: a p-value, and a distance
(how far the classifier does better than chance). Nothing is fitted ahead: the classifier
is trained on each window, in the monitor, never on the request path. Categories enter as
their index in the reference, like the outlier detector's.

With PyTorch installed (the ``torch`` extra), ``multivariate_test="mmd"`` or ``"lsdd"``
uses alibi-detect's kernel two-sample tests instead: maximum mean discrepancy with a
Gaussian kernel (its width from the reference), or least-squares density difference, each
a permutation test. Every column is scaled by the reference's standard deviation first, and
each side is a seeded sample of at most ``KERNEL_ROWS`` rows (the kernel matrix grows with
the square of the rows).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Any

import numpy as np
import pandas as pd

from mlops_lab.monitor._outliers import category_codes, encode
from mlops_lab.monitor._reference import Reference

_SEED = 0
_TREES = 100
KERNEL_TESTS = {"mmd": "MMDDrift", "lsdd": "LSDDDrift"}
KERNEL_ROWS = 2_000
_PERMUTATIONS = 100


def classifier_drift(reference: Reference, window: pd.DataFrame, alpha: float) -> dict[str, Any]:
    """The classifier test of ``window`` against the reference: p-value, distance, verdict."""
    categories = category_codes(reference.frame, reference.kinds)
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


def kernel_drift(
    reference: Reference, window: pd.DataFrame, alpha: float, test: str
) -> dict[str, Any]:
    """The kernel test ``test`` ("mmd" or "lsdd") of ``window`` against the reference."""
    categories = category_codes(reference.frame, reference.kinds)
    x_ref = encode(reference.frame, categories)
    x = encode(window, categories)
    scale = x_ref.std(axis=0)
    scale[scale == 0] = 1.0
    x_ref, x = _sample(x_ref / scale), _sample(x / scale)
    torch, detector_class = _kernel_classes(test)
    torch.manual_seed(_SEED)  # the permutations, and so the p-value, repeat
    detector = detector_class(x_ref.astype(np.float32), backend="pytorch", p_val=alpha,
                              n_permutations=_PERMUTATIONS, device="cpu")  # fmt: skip
    result = detector.predict(x.astype(np.float32))["data"]
    return {
        "p_value": float(result["p_val"]),
        "distance": float(result["distance"]),
        "drifted": bool(result["is_drift"]),
        "test": {"mmd": "maximum mean discrepancy", "lsdd": "least-squares density "
                 "difference"}[test] + f" ({_PERMUTATIONS} permutations)",
        "rows": len(window),
    }  # fmt: skip


def torch_missing() -> bool:
    """Whether PyTorch, which the kernel tests need, is not installed."""
    return importlib.util.find_spec("torch") is None


def _sample(x: np.ndarray) -> np.ndarray:
    if len(x) <= KERNEL_ROWS:
        return x
    rows = np.random.default_rng(_SEED).choice(len(x), size=KERNEL_ROWS, replace=False)
    return x[np.sort(rows)]


def _kernel_classes(test: str) -> tuple[Any, Any]:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.getLogger("alibi_detect").setLevel(logging.ERROR)
    import torch
    from alibi_detect import cd

    return torch, getattr(cd, KERNEL_TESTS[test])


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
