"""Online drift: sequential tests fed one request at a time, calibrated by expected run time.

alibi-detect's ``CVMDriftOnline`` watches the numeric features (Cramér-von Mises statistics
over sliding windows) and ``FETDriftOnline`` the binary ones (Fisher's exact test); their
thresholds are set so that, without drift, a false detection comes on average once every
``ert`` requests. Each closed window's requests are fed in arrival order; a detection is
recorded with how many requests the detector had seen, and the detector starts over.

Their state (the requests in their windows and the count) is kept in the store under
``online:<model>@<version>`` in the same transaction as the window that moved it, so a
restarted monitor loads it and carries on where the last committed pass stopped. The
thresholds are configured again when a monitor starts, from as many bootstrap streams as
the expected run time needs (twice ``1 / beta`` below; the time grows with it), and the first
configuration in a process also compiles the numba code, which is cached in a folder of its
own.
"""

from __future__ import annotations

import io
import logging
import math
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_lab.monitor._reference import Reference

BOOTSTRAPS = 1_000
WINDOW_SIZES = (20, 100)
# Reference rows the detectors compare with: configuring the thresholds holds a boolean
# matrix of (rows + 200) squared per bootstrap batch, 31 MB at 500 rows, 310 MB at 2,000.
REFERENCE_ROWS = 500
_SEED = 0
_NUMBA_CACHE = Path(tempfile.gettempdir()) / "mlops-lab-numba"


@dataclass
class OnlineDetector:
    """The online detectors of one model version: numeric and binary features apart."""

    numeric: list[str]
    binary: list[str]
    detectors: dict[str, Any] = field(default_factory=dict)
    ert: int = 0
    # Whether requests were fed since the state was last written.
    fed: bool = False

    def feed(self, frame: pd.DataFrame) -> list[dict[str, Any]]:
        """Feed each row in order; return the detections (row index, run length, kind)."""
        detections = []
        columns = {"numeric": self.numeric, "binary": self.binary}
        for kind, detector in self.detectors.items():
            values = frame[columns[kind]].to_numpy(dtype=float)
            for index, row in enumerate(values):
                if np.isnan(row).any():
                    continue  # a request missing a value cannot be placed in the windows
                result = detector.predict(row, return_test_stat=False)["data"]
                if result["is_drift"]:
                    detections.append({"row": index, "run_length": int(result["time"]),
                                       "detector": kind})  # fmt: skip
                    detector.reset_state()
            _forget_history(detector)
        self.fed = True
        return detections

    def state(self) -> bytes:
        """The detectors' state as one zip of alibi-detect's own state files."""
        buffer = io.BytesIO()
        with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(buffer, "w") as archive:
            for kind, detector in self.detectors.items():
                detector.save_state(Path(folder) / kind)
                archive.write(Path(folder) / kind / "state.npz", f"{kind}/state.npz")
        return buffer.getvalue()

    def load(self, data: bytes) -> None:
        """Restore the state saved by :meth:`state`."""
        with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.extractall(folder)
            for kind, detector in self.detectors.items():
                if (Path(folder) / kind / "state.npz").exists():
                    detector.load_state(Path(folder) / kind)


def online_detector(reference: Reference, ert: int) -> OnlineDetector:
    """Detectors for ``reference``'s numeric (several values) and binary (0/1) features."""
    numeric: list[str] = []
    binary: list[str] = []
    for name, kind in reference.kinds.items():
        if kind != "numeric":
            continue
        values = pd.to_numeric(reference.frame[name], errors="coerce").dropna()
        (binary if set(values.unique()) <= {0, 1} else numeric).append(name)
    classes = dict(zip(("numeric", "binary"), _classes(), strict=True))
    online = OnlineDetector(numeric, binary, ert=ert)
    sample = reference.frame.sample(n=min(REFERENCE_ROWS, len(reference.frame)),
                                    random_state=_SEED)  # fmt: skip
    # The thresholds are simulated with NumPy's global generator: seeded here, so that a
    # restarted monitor gets the same ones, and put back as it was.
    saved = np.random.get_state()
    np.random.seed(_SEED)
    try:
        for kind, names in (("numeric", numeric), ("binary", binary)):
            if names:
                x_ref = sample[names].dropna().to_numpy(dtype=float)
                online.detectors[kind] = classes[kind](
                    x_ref,
                    ert=ert,
                    window_sizes=list(WINDOW_SIZES),
                    n_bootstraps=bootstraps(ert, len(names)),
                    verbose=False,
                )
    finally:
        np.random.set_state(saved)
    return online


def bootstraps(ert: int, features: int) -> int:
    """Bootstrap streams enough to estimate the thresholds' quantile.

    Each feature's threshold is the ``1 - beta`` quantile, where ``beta = 1 - (1 - 1/ert) **
    (1 / features)``; alibi-detect needs at least ``1 / beta`` streams for it (more for a
    steadier estimate), and at least ``BOOTSTRAPS``.
    """
    beta = 1 - (1 - 1 / ert) ** (1 / features)
    return max(BOOTSTRAPS, math.ceil(2 / beta))


def _forget_history(detector: Any) -> None:
    """Drop the record of past statistics, which detection does not use.

    alibi-detect appends to it by copying it on every request: quadratic over a long stream.
    """
    detector.test_stats = detector.test_stats[:0]
    detector.drift_preds = detector.drift_preds[:0]


def _classes() -> tuple[Any, Any]:
    os.environ.setdefault("NUMBA_CACHE_DIR", str(_NUMBA_CACHE))
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.getLogger("alibi_detect").setLevel(logging.ERROR)
    from alibi_detect.cd import CVMDriftOnline, FETDriftOnline

    return CVMDriftOnline, FETDriftOnline
