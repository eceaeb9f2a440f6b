"""Cost of searching through the lab (Ray Tune) against scikit-learn's GridSearchCV.

1. The same grid (24 configurations of a random forest whose fit takes roughly 0.2-1 s,
   3-fold CV) through ``lab.tune`` and through ``GridSearchCV(n_jobs=2)``, in one run.
2. A larger space (27 configurations) of gradient boosting, trained in 9 iterations of 10
   stages (warm start), searched with ASHA (the lab's defaults: grace period 1, reduction
   factor 3) and without early stopping. ASHA needs a learning curve whose early ranks
   hold: each boosting stage corrects the ones before it, so they do. (A forest's trees
   are independent: growing its tree count only cuts the noise of a ranking, and its top
   configurations end within the CV's noise of each other. Histogram gradient boosting
   bins the data again and predicts with every round so far at each warm start, which
   costs more than its new rounds here.)

    python bench/tune_overhead.py --quick
    python bench/tune_overhead.py --smoke   # tiny data and grids: does it still run?

Both sides are measured warm, as in a notebook session: GridSearchCV from its second call
(joblib keeps its worker processes), the lab once its trial workers have been started ahead
(``warm_workers``). The cold figures (GridSearchCV's first call, and the lab's first search
with no worker started ahead) are reported beside them. The warm searches of the grid take
turns (GridSearchCV, the lab, twice), each while the other is idle; the figures are their
means, so that a change of the machine's speed (up to 30% within a minute here) does not
fall on one side only.

Last line, one JSON object:
    {"configs", "lab_wall_s", "gridsearch_wall_s", "ratio", "per_trial_overhead_ms",
     "asha_to_best_ratio", ...}
per_trial_overhead_ms is the slot time not spent fitting and scoring, per configuration:
(lab wall time x parallel slots - time measured inside the trials) / configurations.
asha_to_best_ratio is the time ASHA took to finish a trial with the full search's best
score (from the call of lab.tune to the store's time of that trial's last iteration) over
the full search's wall time. A model part-way through its rounds does not count: it is
not one the search would register. The ratio is null if no finished trial reached that
score (asha_best and full_best then say how close ASHA came).
asha_wall_ratio is ASHA's whole wall time over the full search's.
Goals: ratio <= 1.3, overhead <= 50 ms, asha_to_best_ratio <= 0.5.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from _common import scratch_lab
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.model_selection import GridSearchCV

import mlops_lab

SLOTS = 2
ROUNDS = 2  # turns of GridSearchCV and the lab on the same grid
GRID = {
    "max_depth": [4, 8, 12, None],
    "min_samples_leaf": [1, 2, 4],
    "max_features": ["sqrt", 0.5],
}
LARGER = {
    "learning_rate": [0.05, 0.1, 0.3],
    "max_depth": [2, 3, 5],
    "min_samples_leaf": [1, 20, 100],
}
ITERATIONS = 9  # of LARGER's searches; each grows the model by a ninth of its stages
STAGES = 90  # of the boosting model


@dataclass(frozen=True)
class Plan:
    """The sizes of a run."""

    samples: int
    grid: dict[str, list[Any]]
    larger: dict[str, list[Any]]
    rounds: int = ROUNDS
    stages: int = STAGES


def _plan(quick: bool, smoke: bool) -> Plan:
    if smoke:  # two configurations of each grid, one round, a model of a stage per iteration
        first_two = {name: values[:2] for name, values in list(GRID.items())[:1]}
        return Plan(300, first_two, {"learning_rate": [0.1, 0.3]}, rounds=1, stages=ITERATIONS)
    return Plan(3_000 if quick else 8_000, GRID, LARGER)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, same grids")
    parser.add_argument("--smoke", action="store_true", help="tiny data and grids")
    args = parser.parse_args()
    plan = _plan(args.quick, args.smoke)
    X, y = make_classification(
        n_samples=plan.samples, n_features=20, n_informative=8, random_state=0
    )
    forest = RandomForestClassifier(n_estimators=40, random_state=0, n_jobs=1)
    with scratch_lab(num_cpus=SLOTS, warm_workers=0) as lab:
        result = _measure(lab, forest, X, y, plan)
    configs = result["configs"]
    grid_s, grid_inside_s = result["grid_s"], result["grid_inside_s"]
    to_best = result["asha_to_best_s"]  # None if ASHA never reached the full search's best
    print(
        json.dumps(
            {
                "configs": configs,
                "lab_wall_s": round(result["lab_s"], 2),
                "gridsearch_wall_s": round(grid_s, 2),
                "ratio": round(result["lab_s"] / grid_s, 3),
                "per_trial_overhead_ms": round(
                    1000 * (result["lab_s"] * SLOTS - result["inside_s"]) / configs, 1
                ),
                "asha_to_best_ratio": to_best and round(to_best / result["full_s"], 3),
                "asha_wall_ratio": round(result["asha_s"] / result["full_s"], 3),
                "asha_to_best_s": to_best and round(to_best, 2),
                "asha_wall_s": round(result["asha_s"], 2),
                "full_wall_s": round(result["full_s"], 2),
                "asha_best": round(result["asha_best"], 4),
                "full_best": round(result["full_best"], 4),
                "asha_configs": result["asha_configs"],
                # The same figure for GridSearchCV, from its own fit and score times.
                "gridsearch_per_trial_overhead_ms": round(
                    1000 * (grid_s * SLOTS - grid_inside_s) / configs, 1
                ),
                "lab_cold_wall_s": round(result["cold_s"], 2),
                "gridsearch_cold_wall_s": round(result["grid_cold_s"], 2),
            }
        )
    )


def _gridsearch(forest: RandomForestClassifier, grid: dict, X, y) -> tuple[float, float]:
    """Time measured inside GridSearchCV's fits and scores, and its wall time."""
    search = GridSearchCV(forest, grid, cv=3, n_jobs=SLOTS, refit=False)
    wall_s = _timed(search.fit, X, y)
    results = search.cv_results_
    inside_s = 3 * float((results["mean_fit_time"] + results["mean_score_time"]).sum())
    return inside_s, wall_s


def _timed(function, *args, **kwargs) -> float:
    start = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - start


def _measure(lab: mlops_lab.Lab, forest: RandomForestClassifier, X, y, plan: Plan) -> dict:
    options = {"dataset": (X, y), "cv": 3, "progress": False, "max_concurrent": SLOTS}
    # The first call of each: joblib starts its worker processes (it starts them again once
    # Ray is up), and Ray starts the trial processes cold (no worker started ahead).
    _, grid_cold_s = _gridsearch(forest, plan.grid, X, y)
    cold_s = _timed(lab.tune, forest, plan.grid, **options)
    lab.warm.size = SLOTS
    lab.warm.refill()  # and from now on, each search refills the pool when it ends

    def warm_search(*args, **kwargs):
        """The search, its wall time, and when it was called (in UTC, as the store keeps it)."""
        lab.warm.wait()  # a lab that has been up a while: its workers have imported
        called_at = datetime.now(UTC).replace(tzinfo=None)
        start = time.perf_counter()
        run = lab.tune(*args, **kwargs)
        return run, time.perf_counter() - start, called_at

    # GridSearchCV and the lab take turns, each with the other idle (and the lab's next
    # workers started), so that a change of the machine's speed falls on both alike.
    grid_s = grid_inside_s = lab_s = inside_s = 0.0
    for _ in range(plan.rounds):
        lab.warm.wait()
        inside, wall = _gridsearch(forest, plan.grid, X, y)
        grid_s, grid_inside_s = grid_s + wall, grid_inside_s + inside
        run, wall, _ = warm_search(forest, plan.grid, **options)
        lab_s, inside_s = lab_s + wall, inside_s + float(run.results().duration_s.sum())
    booster = GradientBoostingClassifier(n_estimators=plan.stages, random_state=0)
    full, full_s, _ = warm_search(booster, plan.larger, **options)  # each fitted once
    asha, asha_s, asha_called_at = warm_search(
        booster, plan.larger, scheduler="asha", max_iter=ITERATIONS, **options
    )
    full_best = full.best().score or 0.0
    return {
        "configs": len(run.results()),
        "lab_s": lab_s / plan.rounds,
        "inside_s": inside_s / plan.rounds,
        "grid_s": grid_s / plan.rounds,
        "grid_inside_s": grid_inside_s / plan.rounds,
        "cold_s": cold_s,
        "grid_cold_s": grid_cold_s,
        "full_s": full_s,
        "asha_s": asha_s,
        "asha_to_best_s": _time_to_reach(lab, asha.experiment_id, full_best, asha_called_at),
        "full_best": full_best,
        "asha_best": asha.best().score or 0.0,
        "asha_configs": len(asha.results()),
    }


def _time_to_reach(lab: mlops_lab.Lab, experiment_id: str, score: float, start: datetime):
    """Seconds from ``start`` to the search's first finished trial scoring ``score`` or more."""
    reached = lab.sql(
        """
        SELECT min(r.time) AS reached FROM trial_results r JOIN trials t USING (trial_id)
        WHERE t.experiment_id = ? AND r.iteration = ?
            AND CAST(r.metrics->>'score' AS DOUBLE) >= ? - 1e-9
        """,
        [experiment_id, ITERATIONS, score],
    ).reached.iloc[0]
    return None if pd.isna(reached) else (reached - start).total_seconds()


if __name__ == "__main__":
    main()
