"""Are the monitor's drift tests calibrated, and do they see the shifts they should?

On 20 standard normal features (reference: 2,000 rows):

1. False alarms: windows drawn like the reference. The share of windows in which the
   per-feature tests (Bonferroni-corrected, with the default minimum effect) name any
   feature, and in which the multivariate classifier test flags drift. Goal: each at most
   alpha + 0.01.
2. Per-feature power: a 0.25 standard-deviation mean shift in one feature. The share of
   windows where some feature is named (goal >= 0.9), and among those the share naming the
   shifted one (goal >= 0.95).
3. Multivariate power: x0 and x1 go from +0.6 to -0.6 correlated, each keeping its
   distribution (no per-feature test can see it). The share of windows flagged. Goal >= 0.9.
4. Online detector: runs without drift until a false detection, their mean length against
   the configured expected run time (goal >= 0.8), and the mean delay to detect a 0.5
   standard-deviation shift in one feature.

These are the monitor's own functions (``stats.feature_drift``, the monitor's classifier and
online detectors), run on generated windows rather than through a store.

    python bench/drift_calibration.py --quick   # 200 null windows, 100 per shift
    python bench/drift_calibration.py --smoke   # seconds: a few windows, the same keys

Last line, one JSON object:
    {"alpha", "false_alarm_feature", "false_alarm_multivariate", "power_feature",
     "power_multivariate", "named_share", "online_run_length_ratio", "online_delay_rows", ...}
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
from _common import mode

from mlops_lab.monitor._multivariate import classifier_drift
from mlops_lab.monitor._online import online_detector
from mlops_lab.monitor._reference import Reference
from mlops_lab.stats import feature_drift

FEATURES = [f"x{i}" for i in range(20)]
ALPHA = 0.05
REFERENCE_ROWS = 2_000
# (null windows, shifted windows, window rows, online runs, online ERT) per mode.
SIZES = {
    "full": (500, 200, 2_000, 100, 1_000),
    "quick": (200, 100, 2_000, 40, 500),
    "smoke": (4, 3, 300, 2, 200),
}


def main() -> None:
    chosen = mode(__doc__.splitlines()[0], "200 null windows, 100 per shift")
    nulls, shifted, rows, runs, ert = SIZES[chosen]
    rng = np.random.default_rng(0)
    reference = _reference(_normal(rng, REFERENCE_ROWS))
    started = time.perf_counter()
    null_feature, null_multi = _null_windows(rng, reference, nulls, rows)
    power_feature, named = _shifted_windows(rng, reference, shifted, rows)
    power_multi = np.mean([
        classifier_drift(reference, _flipped(rng, rows), ALPHA)["drifted"] for _ in range(shifted)
    ])  # fmt: skip
    run_ratio, delay = _online(rng, reference, runs, ert)
    print(json.dumps({
        "alpha": ALPHA,
        "false_alarm_feature": round(null_feature, 4),
        "false_alarm_multivariate": round(null_multi, 4),
        "power_feature": round(power_feature, 4),
        "power_multivariate": round(float(power_multi), 4),
        "named_share": round(named, 4),
        "online_run_length_ratio": round(run_ratio, 3),
        "online_delay_rows": round(delay, 1),
        "online_ert": ert,
        "windows": {"null": nulls, "shifted": shifted, "rows": rows},
        "seconds": round(time.perf_counter() - started, 1),
    }))  # fmt: skip


def _normal(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)


def _flipped(rng: np.random.Generator, n: int, rho: float = -0.6) -> pd.DataFrame:
    frame = _normal(rng, n)
    frame["x1"] = rho * frame["x0"] + np.sqrt(1 - rho**2) * frame["x1"]
    return frame


def _reference(frame: pd.DataFrame) -> Reference:
    """A reference as the monitor holds one; x0 and x1 +0.6 correlated, as traffic was."""
    frame = frame.copy()
    frame["x1"] = 0.6 * frame["x0"] + 0.8 * frame["x1"]
    return Reference(ref="bench@1", frame=frame, kinds=dict.fromkeys(FEATURES, "numeric"),
                     task="classification", model=None, predictions=np.array([]))  # fmt: skip


def _drawn(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """A window drawn like the reference."""
    return _flipped(rng, n, rho=0.6)


def _named(reference: Reference, window: pd.DataFrame) -> list[str]:
    results = feature_drift(
        {name: reference.frame[name] for name in FEATURES},
        {name: window[name] for name in FEATURES},
        reference.kinds, alpha=ALPHA,
    )  # fmt: skip
    return [result.feature for result in results if result.drifted]


def _null_windows(
    rng: np.random.Generator, reference: Reference, count: int, rows: int
) -> tuple[float, float]:
    feature = multivariate = 0
    for _ in range(count):
        window = _drawn(rng, rows)
        feature += bool(_named(reference, window))
        multivariate += classifier_drift(reference, window, ALPHA)["drifted"]
    return feature / count, multivariate / count


def _shifted_windows(
    rng: np.random.Generator, reference: Reference, count: int, rows: int
) -> tuple[float, float]:
    detected = named = 0
    for i in range(count):
        shifted = FEATURES[i % len(FEATURES)]
        window = _drawn(rng, rows)
        window[shifted] += 0.25
        found = _named(reference, window)
        detected += bool(found)
        named += shifted in found
    return detected / count, (named / detected if detected else 0.0)


def _online(
    rng: np.random.Generator, reference: Reference, runs: int, ert: int
) -> tuple[float, float]:
    """Mean run length to a false detection over ``ert``; mean delay after a 0.5 sd shift."""
    independent = Reference(ref="bench@1", frame=_normal(rng, REFERENCE_ROWS),
                            kinds=reference.kinds, task="classification", model=None,
                            predictions=np.array([]))  # fmt: skip
    online = online_detector(independent, ert)
    lengths = [_run_length(online, rng, cap=10 * ert) for _ in range(runs)]
    delays = [_run_length(online, rng, cap=10 * ert, shift=0.5) for _ in range(runs)]
    return float(np.mean(lengths)) / ert, float(np.mean(delays))


def _run_length(online: object, rng: np.random.Generator, cap: int, shift: float = 0.0) -> int:
    """Requests fed from a fresh start until the first detection (``cap`` if none)."""
    detector = online.detectors["numeric"]  # type: ignore[attr-defined]
    detector.reset_state()
    fed = 0
    while fed < cap:
        batch = _normal(rng, 100)
        batch["x0"] += shift
        detections = online.feed(batch)  # type: ignore[attr-defined]
        if detections:
            return fed + detections[0]["row"] + 1
        fed += 100
    return cap


if __name__ == "__main__":
    main()
