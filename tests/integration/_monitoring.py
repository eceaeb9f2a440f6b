"""Traffic for the monitor's tests: four standard normal features, some of them shifted."""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = ["x0", "x1", "x2", "x3"]


def frame(n: int, seed: int, shift: dict[str, float] | None = None) -> pd.DataFrame:
    """``n`` rows of the features; ``shift`` adds that many standard deviations to some."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    for name, by in (shift or {}).items():
        data[name] += by
    return data
