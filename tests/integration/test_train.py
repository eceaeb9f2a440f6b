"""Tuning on real Ray Tune: trials recorded as they happen, ASHA, failures, stop, registry."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import SGDClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlops_lab import Lab, TuneError
from tests._eventually import eventually

TREES = ["sklearn.tree._tree.Tree"]


@pytest.fixture(scope="module")
def dataset(lab: Lab) -> str:
    X, y = make_classification(n_samples=400, n_features=8, random_state=3)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)]).assign(label=y)
    raw = lab.datasets.register("tune-raw", frame, target="label")
    clipped = lab.datasets.derive("tune-clipped", raw.ref, _clip)
    return clipped.ref


def _clip(frame: pd.DataFrame) -> pd.DataFrame:
    features = frame.columns.drop("label")
    return frame.assign(**{c: frame[c].clip(-3, 3) for c in features})


def _trials(lab: Lab, experiment_id: str) -> pd.DataFrame:
    return lab.sql("SELECT * FROM trials WHERE experiment_id = ?", [experiment_id])


def _results(lab: Lab, experiment_id: str) -> pd.DataFrame:
    """Each trial's recorded results: its parameters, final metric and result metrics."""
    return lab.sql(
        "SELECT t.params, t.metric, r.metrics FROM trial_results r JOIN trials t USING "
        "(trial_id) WHERE t.experiment_id = ?",
        [experiment_id],
    )


def test_a_grid_completes_with_every_trial_in_the_store(lab: Lab, dataset: str) -> None:
    """A grid of 8 configurations runs to the end; each trial's params, score, duration and
    status are in the store, and so is the experiment."""
    space = {"max_depth": [2, 4, 6, None], "min_samples_leaf": [1, 5]}
    run = lab.tune(RandomForestClassifier(n_estimators=10, random_state=0), space,
                   dataset=dataset, progress=False)  # fmt: skip
    trials = _trials(lab, run.experiment_id)
    assert len(trials) == 8
    assert set(trials.status) == {"completed"}
    assert trials.metric.between(0.5, 1.0).all() and (trials.duration_s > 0).all()
    assert sorted(json.loads(p)["max_depth"] or 0 for p in trials.params) == [
        0,
        0,
        2,
        2,
        4,
        4,
        6,
        6,
    ]
    experiment = lab.sql("SELECT * FROM experiments WHERE experiment_id = ?", [run.experiment_id])
    assert experiment.status[0] == "completed"
    assert experiment.dataset_name[0] + "@" + experiment.dataset_version[0] == dataset


def test_configurations_are_scored_fold_by_fold(lab: Lab, dataset: str) -> None:
    """Each configuration's score is the mean of its folds, whichever trials scored them, and
    matches a plain fit of the same folds."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    space = {"max_depth": [2, 4, 6]}
    run = lab.tune(RandomForestClassifier(n_estimators=5, random_state=0), space,
                   dataset=dataset, cv=4, progress=False)  # fmt: skip
    results = _results(lab, run.experiment_id)
    assert len(results) == 3
    frame = lab.datasets.load(dataset)
    X, y = frame.drop(columns="label"), frame["label"]
    for params, metric, metrics in results.itertuples(index=False):
        folds = json.loads(metrics)["fold_scores"]
        assert len(folds) == 4 and metric == pytest.approx(np.mean(folds))
        model = RandomForestClassifier(n_estimators=5, random_state=0, **json.loads(params))
        plain = cross_val_score(model, X, y, cv=StratifiedKFold(4))
        assert folds == pytest.approx(list(plain))


def test_a_search_runs_in_workers_started_before_it(lab: Lab, dataset: str) -> None:
    """The lab starts trial workers ahead of a search (with the trial code imported); the
    search's configurations run in those processes, and the pool is refilled afterwards."""
    warm = lab.warm.wait()
    assert len(warm) == lab.settings.warm_workers == 2 and all(w.imported for w in warm)
    space = {"max_depth": [2, 3, 4, 5]}
    run = lab.tune(RandomForestClassifier(n_estimators=5, random_state=0), space,
                   dataset=dataset, max_concurrent=2, progress=False)  # fmt: skip
    workers = _results(lab, run.experiment_id).metrics.map(
        lambda m: {int(w.rsplit(":", 1)[1]) for w in json.loads(m)["workers"]}
    )
    ran_in = set().union(*workers)
    assert ran_in and ran_in <= {w.pid for w in warm}
    refilled = lab.warm.wait()
    assert len(refilled) == 2 and not {w.pid for w in refilled} & ran_in


def test_asha_stops_poor_trials_early(lab: Lab, dataset: str) -> None:
    """Under ASHA some trials end with fewer iterations than the maximum; every iteration of
    every trial is in trial_results."""
    space = {"alpha": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0]}
    pipeline = make_pipeline(StandardScaler(), SGDClassifier(random_state=0))
    run = lab.tune(pipeline, {f"sgdclassifier__{k}": v for k, v in space.items()},
                   dataset=dataset, scheduler="asha", max_iter=9, progress=False)  # fmt: skip
    trials = _trials(lab, run.experiment_id)
    assert trials.iterations.max() == 9
    assert (trials.iterations < 9).any()
    assert set(trials[trials.iterations < 9].status) == {"stopped"}
    results = lab.sql(
        "SELECT trial_id, count(*) AS n FROM trial_results WHERE trial_id LIKE ? GROUP BY trial_id",
        [run.experiment_id + "%"],
    )
    assert dict(zip(results.trial_id, results.n, strict=True)) == dict(
        zip(trials.trial_id, trials.iterations, strict=True)
    )


def test_boosting_grows_by_rounds_with_a_thread_per_trial_cpu(
    lab: Lab, dataset: str, tmp_path
) -> None:
    """Under ASHA a histogram gradient boosting grows by a third of its rounds per iteration;
    every fit, with or without ASHA, runs its native thread pools (OpenMP, BLAS) at the
    trial's one CPU, even in a worker that had loaded them before."""
    log = tmp_path / "fits.jsonl"

    class Probe(HistGradientBoostingClassifier):
        def fit(self, X, y):
            from threadpoolctl import threadpool_info

            threads = {pool["num_threads"] for pool in threadpool_info()}
            with log.open("a") as out:
                out.write(json.dumps({"rounds": self.max_iter, "threads": sorted(threads)}))
                out.write("\n")
            return super().fit(X, y)

    probe = Probe(max_iter=9, early_stopping=False, random_state=0)
    space = {"learning_rate": [0.05, 0.1, 0.3]}
    run = lab.tune(probe, space, dataset=dataset, scheduler="asha", max_iter=3, cv=2,
                   max_concurrent=2, progress=False)  # fmt: skip
    assert _trials(lab, run.experiment_id).iterations.max() == 3
    fits = [json.loads(line) for line in log.read_text().splitlines()]
    assert {fit["rounds"] for fit in fits} == {3, 6, 9}
    lab.tune(probe, space, dataset=dataset, cv=2, max_concurrent=2, progress=False)
    fits = [json.loads(line) for line in log.read_text().splitlines()]
    assert [fit["rounds"] for fit in fits].count(9) >= 3 * 2 + 2  # the grid's 6 fits, too
    assert {thread for fit in fits for thread in fit["threads"]} == {1}


def test_a_failing_configuration_is_recorded_and_the_rest_finish(lab: Lab, dataset: str) -> None:
    """A configuration that raises is stored with its error; the others complete."""
    space = {"criterion": ["gini", "entropy", "no-such-criterion"], "max_depth": [3]}
    run = lab.tune(RandomForestClassifier(n_estimators=5), space, dataset=dataset, progress=False)
    trials = _trials(lab, run.experiment_id).set_index("status")
    assert list(trials.index.sort_values()) == ["completed", "completed", "error"]
    assert "criterion" in trials.loc["error", "error"]


def test_a_background_search_can_be_stopped(lab: Lab, dataset: str) -> None:
    """background=True returns at once; stop() ends the search early and says so."""
    space = {"n_estimators": [150, 151, 152, 153, 154, 155, 156, 157], "max_depth": [None]}
    run = lab.tune(RandomForestClassifier(random_state=0), space, dataset=dataset, cv=5,
                   background=True, progress=False)  # fmt: skip
    assert not run.done
    eventually(
        lambda: any(t.status == "completed" for t in run.recorder.trials),
        timeout=300,
        every=0.2,
        what="a trial completed",
    )
    run.stop()
    results = run.wait(timeout=300)
    assert (results.status != "completed").any()
    status = lab.sql("SELECT status FROM experiments WHERE experiment_id = ?", [run.experiment_id])
    assert status.status[0] == "stopped"


def test_the_best_trial_registers_loads_back_and_traces_its_lineage(lab: Lab, dataset: str) -> None:
    """Registering the best trial refits it; the loaded model predicts like the refit, and the
    lineage goes model -> trial -> dataset version -> parent and prep."""
    run = lab.tune(RandomForestClassifier(n_estimators=10, random_state=0),
                   {"max_depth": [2, 5]}, dataset=dataset, progress=False)  # fmt: skip
    best = run.best()
    version = lab.registry.register("tuned-forest", best, aliases=["champion"], trusted=TREES)
    loaded = lab.registry.load("tuned-forest@champion", trusted=TREES)
    X = lab.datasets.load(dataset).drop(columns=["label"])
    np.testing.assert_array_equal(loaded.predict(X), best.fit().predict(X))
    tree = lab.lineage(version.ref)
    assert tree["trial"]["trial_id"] == best.trial_id
    assert tree["trial"]["params"] == best.params
    assert tree["dataset"]["dataset"] == dataset
    assert tree["dataset"]["parents"][0]["dataset"].startswith("tune-raw@")
    assert "_clip" in json.dumps(tree["dataset"]["prep"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"metric": "acuracy"}, "'metric' parameter of tune\\(\\) must be one of"),
        ({"param_space": {}}, "must be a non-empty dict"),
        ({"param_space": {"max_dept": [3]}}, "'max_dept' is not a parameter .* 'max_depth'"),
        ({"target": "churned"}, "target column 'churned' is not in dataset"),
        ({"dataset": "no-such-data"}, "no-such-data"),
        (
            {
                "estimator": KNeighborsClassifier(),
                "param_space": {"n_neighbors": [3, 5]},
                "scheduler": "asha",
            },
            "needs an estimator that trains in steps",
        ),
        ({"max_iter": 3, "grace_period": 4}, "'grace_period' .* at most max_iter \\(3\\)"),
        ({"reduction_factor": 1}, "'reduction_factor' .* a number above 1"),
    ],
)
def test_bad_requests_fail_before_any_trial(
    lab: Lab, dataset: str, options: dict, message: str
) -> None:
    """Each mistake is named before anything runs: no experiment is recorded."""
    before = lab.store.counts()["experiments"]
    arguments = {"estimator": RandomForestClassifier(), "param_space": {"max_depth": [3]},
                 "dataset": dataset, "progress": False, **options}  # fmt: skip
    with pytest.raises(TuneError if "dataset" not in options else ValueError, match=message):
        lab.tune(arguments.pop("estimator"), arguments.pop("param_space"), **arguments)
    assert lab.store.counts()["experiments"] == before
