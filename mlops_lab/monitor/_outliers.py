"""Outlier scores for every served request, from a detector fitted once on the reference.

Two of alibi-detect's detectors, fitted on a model version's reference sample with the
threshold that flags ``outlier_rate`` of the reference:

- ``IForest`` (the default), an isolation forest: the fewer random splits isolate a
  request, the higher its score. Categories enter it as the index of their value in the
  reference (-1 for a value the reference never had), which the forest splits on like any
  number.
- ``Mahalanobis``: the distance to the mean in the principal components of the covariance.
  It is online: each score call also moves its mean and covariance towards the requests
  scored, so its state moves with the stream and is written with the scores, in the same
  transaction, like the online drift detectors'. Categories are placed on a line by
  alibi-detect's ABDM distances between their values in the reference; a value the
  reference never had is put one span beyond the furthest known value.

alibi-detect cannot save either without TensorFlow, so the lab keeps them itself in the
store's ``monitor_state`` (the forest with skops, the Mahalanobis state as NumPy arrays): a
restarted monitor loads them instead of fitting again, and fitting never happens on the
request path.
"""

from __future__ import annotations

import io
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
# Mahalanobis: principal components kept at most, and values clipped to this many standard
# deviations when they update the mean and covariance (alibi-detect's defaults).
_COMPONENTS = 3
_STD_CLIP = 3


@dataclass
class OutlierDetector:
    """A fitted detector, the threshold above which a request is an outlier, its encoding.

    Attributes:
        name: ``"iforest"`` or ``"mahalanobis"``.
        detector: alibi-detect's fitted detector.
        threshold: Scores above it are outliers.
        categories: For each categorical feature, its reference values in code order.
        moved: Whether scoring moved the detector's state since it was last written (only
            an online detector's moves).
    """

    name: str
    detector: Any
    threshold: float
    categories: dict[str, list[Any]]
    moved: bool = False

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        """The outlier score of each row, in order (higher is stranger)."""
        encoded = encode(frame, self.categories)
        if self.name == "mahalanobis":
            self.moved = True
            encoded = _categories_as_numbers(encoded, self.detector.d_abs)
        return np.asarray(self.detector.score(encoded), dtype=float)

    def state(self) -> dict[str, Any]:
        """What is kept beside the fitted data: the detector, its rate and encoding."""
        return {"name": self.name, "threshold": self.threshold, "categories": self.categories}

    def data(self) -> bytes:
        """The fitted detector as bytes: the forest, or the Mahalanobis arrays."""
        if self.name == "iforest":
            return sio.dumps(self.detector.isolationforest)
        detector = self.detector
        arrays = {"mean": detector.mean, "C": detector.C, "n": detector.n}
        if detector.clip is not None:
            arrays |= {"clip_low": detector.clip[0], "clip_high": detector.clip[1]}
        arrays |= {f"category_{k}": v for k, v in detector.d_abs.items()}
        buffer = io.BytesIO()
        np.savez(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
        return buffer.getvalue()


def outlier_detector(
    store: StoreClient, endpoint: str, reference: Reference, name: str, rate: float
) -> OutlierDetector:
    """The endpoint's detector for ``reference``'s model version: the kept one, else a new fit.

    A new fit is kept at once, in its own write, so that a monitor killed later in the pass
    finds it. A detector kept with another name or rate is fitted again.
    """
    kept = read_state(store, endpoint, outliers_key(reference))
    if kept is not None:
        state, data = kept
        if data is not None and state.get("name") == name and state.get("rate") == rate:
            return _restore(state, data, reference)
    detector = _fit(reference, name, rate)
    store.write({"monitor_state": [detector_row(endpoint, reference, detector, rate)]})
    return detector


def outliers_key(reference: Reference) -> str:
    """The ``monitor_state`` key of the outlier detector of ``reference``'s model version."""
    return f"outliers:{reference.ref}"


def detector_row(
    endpoint: str, reference: Reference, detector: OutlierDetector, rate: float
) -> dict[str, Any]:
    """The ``monitor_state`` row that keeps ``detector`` as it is now."""
    state = {**detector.state(), "rate": rate}
    return state_row(endpoint, outliers_key(reference), state, detector.data())


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


def category_codes(frame: pd.DataFrame, kinds: dict[str, str]) -> dict[str, list[Any]]:
    """Each categorical feature's values in ``frame``, in the order :func:`encode` codes them."""
    return {
        name: sorted(frame[name].dropna().unique().tolist(), key=repr)
        for name, kind in kinds.items()
        if kind == "categorical"
    }


def _fit(reference: Reference, name: str, rate: float) -> OutlierDetector:
    categories = category_codes(reference.frame, reference.kinds)
    encoded = encode(reference.frame, categories)
    if name == "iforest":
        detector = _detector_class("IForest")(threshold=0.0, n_estimators=100)
        detector.isolationforest.set_params(random_state=_SEED)
        detector.fit(encoded)
    else:
        detector = _mahalanobis(reference, categories)
        if categories:
            # Distances between a feature's categories, from how the other features vary
            # with them: alibi-detect's ABDM, on the reference.
            detector.fit(encoded, d_type="abdm")
        encoded = _categories_as_numbers(encoded, detector.d_abs)
    # Scoring the reference sets the threshold and, for Mahalanobis, its mean and covariance.
    detector.infer_threshold(encoded, threshold_perc=100 * (1 - rate))
    return OutlierDetector(name, detector, float(detector.threshold), categories)


def _mahalanobis(reference: Reference, categories: dict[str, list[Any]]) -> Any:
    cat_vars = {
        index: len(categories[feature])
        for index, feature in enumerate(reference.frame.columns)
        if feature in categories
    }
    components = min(_COMPONENTS, len(reference.frame.columns))
    return _detector_class("Mahalanobis")(
        threshold=0.0, n_components=components, std_clip=_STD_CLIP, cat_vars=cat_vars or None
    )


def _categories_as_numbers(encoded: np.ndarray, places: dict[int, np.ndarray]) -> np.ndarray:
    """Each category index replaced by its place on its feature's line (Mahalanobis)."""
    numbers = encoded.copy()
    for column, values in places.items():
        values = np.asarray(values, dtype=float).ravel()
        span = float(values.max() - values.min()) or 1.0
        unseen = float(values.max()) + span  # beyond every value the reference had
        codes = encoded[:, column].astype(int)
        numbers[:, column] = np.where(codes >= 0, values[np.clip(codes, 0, None)], unseen)
    return numbers


def _restore(state: dict[str, Any], data: bytes, reference: Reference) -> OutlierDetector:
    name, threshold = state["name"], float(state["threshold"])
    categories = dict(state["categories"])
    if name == "iforest":
        detector = _detector_class("IForest")(threshold=threshold)
        detector.isolationforest = sio.loads(data, trusted=_FOREST_TYPES)
    else:
        detector = _mahalanobis(reference, categories)
        detector.threshold = threshold
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            detector.mean, detector.C = arrays["mean"], arrays["C"]
            detector.n = int(arrays["n"])
            if "clip_low" in arrays:
                detector.clip = [arrays["clip_low"], arrays["clip_high"]]
            detector.d_abs = {int(key.removeprefix("category_")): arrays[key]
                              for key in arrays.files if key.startswith("category_")}  # fmt: skip
    return OutlierDetector(name, detector, threshold, categories)


def _detector_class(name: str) -> Any:
    """alibi-detect's outlier detector ``name``, imported on first use (it takes seconds)."""
    # alibi-detect imports transformers, which announces at import that it found no
    # deep-learning framework; the monitor needs none.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.getLogger("alibi_detect.od").setLevel(logging.ERROR)
    from alibi_detect import od

    return getattr(od, name)
