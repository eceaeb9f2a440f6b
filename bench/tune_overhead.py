"""Cost of searching through the lab (Ray Tune) against scikit-learn's GridSearchCV.

1. The same grid (24 configurations of a random forest whose fit takes roughly 0.2-1 s,
   3-fold CV) through ``lab.tune`` and through ``GridSearchCV(n_jobs=2)``, in one run.
2. A larger space of an iteratively trained forest (warm start), searched with ASHA and
   without early stopping.

    python bench/tune_overhead.py --quick

Last line, one JSON object:
    {"configs", "lab_wall_s", "gridsearch_wall_s", "ratio", "per_trial_overhead_ms",
     "asha_to_best_ratio", ...}
per_trial_overhead_ms is the slot time not spent fitting and scoring, per configuration:
(lab wall time x parallel slots - time measured inside the trials) / configurations.
asha_to_best_ratio is ASHA's wall time over the full search's; asha_best and full_best say
whether it reached the same best score. Goals: ratio <= 1.3, overhead <= 50 ms, r <= 0.5.
"""

from __future__ import annotations

import argparse
import json
import time

from _common import scratch_lab
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV

import mlops_lab

SLOTS = 2
GRID = {
    "max_depth": [4, 8, 12, None],
    "min_samples_leaf": [1, 2, 4],
    "max_features": ["sqrt", 0.5],
}
LARGER = {
    "max_depth": [2, 3, 4, 6, 8, 10, 12, 16, None],
    "min_samples_leaf": [1, 4, 16],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, same grids")
    args = parser.parse_args()
    X, y = make_classification(
        n_samples=3_000 if args.quick else 8_000, n_features=20, n_informative=8,
        random_state=0,
    )  # fmt: skip
    forest = RandomForestClassifier(n_estimators=40, random_state=0, n_jobs=1)
    start = time.perf_counter()
    GridSearchCV(forest, GRID, cv=3, n_jobs=SLOTS, refit=False).fit(X, y)
    gridsearch_s = time.perf_counter() - start

    with scratch_lab(num_cpus=SLOTS) as lab:
        result = _measure(lab, forest, X, y, gridsearch_s)
    print(json.dumps(result))


def _measure(lab: mlops_lab.Lab, forest: RandomForestClassifier, X, y, gridsearch_s: float) -> dict:
    options = {"dataset": (X, y), "cv": 3, "progress": False, "max_concurrent": SLOTS}
    start = time.perf_counter()
    run = lab.tune(forest, GRID, **options)
    lab_s = time.perf_counter() - start
    inside_s = float(run.results().duration_s.sum())

    grower = RandomForestClassifier(n_estimators=90, random_state=0, n_jobs=1)
    start = time.perf_counter()
    full = lab.tune(grower, LARGER, **options)
    full_s = time.perf_counter() - start
    start = time.perf_counter()
    asha = lab.tune(grower, LARGER, scheduler="asha", max_iter=9, **options)
    asha_s = time.perf_counter() - start
    configs = len(run.results())
    return {
        "configs": configs,
        "lab_wall_s": round(lab_s, 2),
        "gridsearch_wall_s": round(gridsearch_s, 2),
        "ratio": round(lab_s / gridsearch_s, 3),
        "per_trial_overhead_ms": round(1000 * (lab_s * SLOTS - inside_s) / configs, 1),
        "asha_to_best_ratio": round(asha_s / full_s, 3),
        "asha_wall_s": round(asha_s, 2),
        "full_wall_s": round(full_s, 2),
        "asha_best": round(asha.best().score or 0.0, 4),
        "full_best": round(full.best().score or 0.0, 4),
        "asha_configs": len(full.results()),
    }


if __name__ == "__main__":
    main()
