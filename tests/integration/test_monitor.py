"""A monitor's passes over a real store: windows, drift, outlier scores, live metrics.

The requests are written to the store as the router writes them (one row per instance,
features and prediction as JSON), for an endpoint recorded as deployed with the model
versions registered in the same store. alibi-detect's IForest scores the outliers.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from mlops_lab.monitor import Monitor, MonitorError
from mlops_lab.registry import Registry
from mlops_lab.store import Store
from tests.integration._monitoring import FEATURES, frame

START = datetime(2026, 5, 1, 12, 0)


def labels(data: pd.DataFrame, seed: int) -> np.ndarray:
    """Labels drawn from the logistic model a LogisticRegression fits well (so calibrated)."""
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-(1.5 * data["x0"] - data["x1"])))
    return (rng.uniform(size=len(data)) < p).astype(int)


def deploy(
    store: Store, endpoint: str = "churn", task: str = "classification",
    reference: pd.DataFrame | None = None,
) -> Any:  # fmt: skip
    """Register a model with its reference and record the endpoint as running it."""
    train = frame(2000, seed=1)
    y = labels(train, seed=2)
    model = LogisticRegression().fit(train, y)
    if task == "regression":
        model = LinearRegression().fit(train, train["x0"] * 2.0 + train["x1"])
    reference = frame(1000, seed=3) if reference is None else reference
    Registry(store).register("m", model, reference=reference)
    now = START - timedelta(days=1)
    config = {"trust": {"trusted": [], "allow_pickle": False},
              "routes": {"arms": ["m@1"], "shadow": []}}  # fmt: skip
    store.write({"endpoints": [{"endpoint": endpoint, "created_at": now, "updated_at": now,
                                "status": "running", "config": config}]})  # fmt: skip
    return model


def serve(
    store: Store, model: Any, data: pd.DataFrame, *, endpoint: str = "churn", version: int = 1,
    start: datetime = START, shadow: dict[str, list[Any]] | None = None,
) -> list[str]:  # fmt: skip
    """Log one served row per instance, as the router does; return the request ids.

    ``shadow`` holds each shadow arm's outputs, one per instance.
    """
    predictions = model.predict(data).tolist()
    ids = [uuid.uuid4().hex for _ in range(len(data))]
    rows = [
        {
            "request_id": ids[i], "time": start + timedelta(milliseconds=10 * i),
            "endpoint": endpoint, "model": "m", "model_version": version, "arm": "main",
            "propensity": 1.0, "policy": "split", "features": data.iloc[i].to_dict(),
            "prediction": json.dumps(predictions[i]), "latency_ms": 1.0, "status": 200,
            "shadow": {arm: outputs[i] for arm, outputs in shadow.items()} if shadow else None,
        }
        for i in range(len(data))
    ]  # fmt: skip
    store.append("requests", rows)
    return ids


def give_feedback(store: Store, ids: list[str], truths: list[Any], endpoint: str = "churn"):
    store.append("feedback", [
        {"feedback_id": uuid.uuid4().hex, "request_id": rid, "time": START, "truth": truth,
         "endpoint": endpoint, "source": "api"}
        for rid, truth in zip(ids, truths, strict=True)
    ])  # fmt: skip


def results(store: Store, metric: str) -> pd.DataFrame:
    return store.sql(
        "SELECT * FROM monitor_results WHERE metric = ? ORDER BY window_id, time", [metric]
    )


def test_a_shifted_feature_is_named_and_only_it(store: Store) -> None:
    """A window whose x2 moved by one standard deviation names x2 as drifted, and no other;
    the window before it, from the reference's distribution, names none."""
    model = deploy(store)
    serve(store, model, frame(500, seed=30))
    serve(store, model, frame(500, seed=11, shift={"x2": 1.0}))
    monitor = Monitor(store, "churn")
    monitor.configure(window_rows=500)
    report = monitor.run()
    assert report.windows == ["churn:1-500", "churn:501-1000"]
    assert report.errors == 0
    drifted = results(store, "drifted_features")
    assert [json.loads(d)["features"] for d in drifted["details"]] == [[], ["x2"]]
    per_feature = results(store, "drift")
    assert len(per_feature) == 2 * len(FEATURES)


def test_every_request_is_scored_and_injected_outliers_are_flagged(store: Store) -> None:
    """Each served request gets one outlier score; requests far outside the reference are
    flagged, and the window's outlier rate counts them."""
    model = deploy(store)
    normal = frame(290, seed=12)
    strange = frame(10, seed=13) * 12
    ids = serve(store, model, pd.concat([normal, strange], ignore_index=True))
    monitor = Monitor(store, "churn")
    monitor.configure(window_rows=300)
    assert monitor.run().scored == 300
    scores = store.sql("SELECT request_id, outlier FROM outlier_scores")
    assert sorted(scores["request_id"]) == sorted(ids)
    flagged = set(scores.loc[scores["outlier"], "request_id"])
    assert set(ids[290:]) <= flagged
    assert len(flagged) <= 10 + 15  # the reference's own 1 % and chance, not most requests
    (rate,) = results(store, "outlier_rate")["value"]
    assert rate == pytest.approx(len(flagged) / 300)


def test_windows_close_by_count_or_by_age_and_nothing_is_counted_twice(store: Store) -> None:
    """Rows that fill no window wait; the open window closes once its first request is old
    enough; a further pass with nothing new closes nothing and scores nothing again."""
    model = deploy(store)
    serve(store, model, frame(150, seed=14))
    monitor = Monitor(store, "churn")
    monitor.configure(window_rows=100, window_seconds=600)
    first = monitor.run(at=START + timedelta(seconds=60))
    assert (first.windows, first.scored) == (["churn:1-100"], 150)
    waiting = monitor.run(at=START + timedelta(seconds=120))
    assert (waiting.windows, waiting.scored) == ([], 0)
    aged = monitor.run(at=START + timedelta(seconds=601))
    assert aged.windows == ["churn:101-150"]
    assert Monitor(store, "churn").run(at=START + timedelta(days=1)).windows == []
    closed = store.sql("SELECT window_id, rows, closed_by FROM monitor_windows ORDER BY 1")
    assert closed.to_dict("records") == [
        {"window_id": "churn:1-100", "rows": 100, "closed_by": "count"},
        {"window_id": "churn:101-150", "rows": 50, "closed_by": "time"},
    ]
    assert store.sql("SELECT count(*) AS n FROM outlier_scores")["n"][0] == 150


class FailingWrites(Store):
    """A store whose next write fails, as when a monitor dies before its pass commits."""

    fail = True

    def write(self, batches):  # type: ignore[no-untyped-def]
        if self.fail and "monitor_results" in batches:
            self.fail = False
            raise RuntimeError("the pass was cut short")
        return super().write(batches)


def test_a_pass_cut_short_leaves_nothing_and_the_next_does_it_once(tmp_path) -> None:
    """Windows, results, scores and the cursor are written together: after a pass that
    failed to commit, the next pass closes the same window once, with the same ids."""
    with FailingWrites(tmp_path / "lab.duckdb") as store:
        model = deploy(store)
        serve(store, model, frame(200, seed=15))
        monitor = Monitor(store, "churn")
        monitor.configure(window_rows=200)
        with pytest.raises(RuntimeError, match="cut short"):
            monitor.run()
        assert store.counts()["monitor_windows"] == 0
        assert store.counts()["outlier_scores"] == 0
        assert monitor.run().windows == ["churn:1-200"]
        assert store.counts()["outlier_scores"] == 200
        assert len(results(store, "drifted_features")) == 1


def test_a_restarted_monitor_loads_its_fitted_detector_instead_of_fitting(store: Store) -> None:
    """The fitted forest is kept in the store: a new monitor scores the same request the
    same, and the kept detector is not written again."""
    model = deploy(store)
    serve(store, model, frame(100, seed=16))
    Monitor(store, "churn").run()
    kept = store.sql("SELECT key, updated_at FROM monitor_state WHERE key LIKE 'outliers:%'")
    serve(store, model, frame(100, seed=16), start=START + timedelta(hours=1))
    Monitor(store, "churn").run()
    again = store.sql("SELECT key, updated_at FROM monitor_state WHERE key LIKE 'outliers:%'")
    assert kept.to_dict("records") == again.to_dict("records")
    scores = store.sql("SELECT score FROM outlier_scores ORDER BY time, score")["score"]
    assert scores[:100].tolist() == pytest.approx(scores[100:].tolist())


def test_mahalanobis_flags_the_outliers_and_its_moving_state_is_kept_with_the_pass(
    store: Store,
) -> None:
    """The Mahalanobis detector flags requests far outside the reference; its mean and
    covariance move with each pass and are written with it, so a new monitor scores the next
    requests as the one that kept running does."""
    model = deploy(store)
    normal = frame(290, seed=40)
    strange = frame(10, seed=41) * 12
    ids = serve(store, model, pd.concat([normal, strange], ignore_index=True))
    running = Monitor(store, "churn")
    running.configure(window_rows=300, outliers="mahalanobis")
    assert running.run().scored == 300
    scores = store.sql("SELECT request_id, outlier, detector FROM outlier_scores")
    assert set(scores["detector"]) == {"mahalanobis"}
    flagged = set(scores.loc[scores["outlier"], "request_id"])
    assert set(ids[290:]) <= flagged
    assert len(flagged) <= 10 + 15
    (n,) = store.sql(
        "SELECT count(*) AS n FROM monitor_state WHERE key = 'outliers:m@1' AND data IS NOT NULL"
    )["n"]
    assert n == 1
    more = serve(store, model, frame(300, seed=42), start=START + timedelta(hours=1))
    restarted = Monitor(store, "churn")
    assert restarted.run().scored == 300
    by_restarted = store.sql(
        "SELECT score FROM outlier_scores WHERE request_id IN (SELECT unnest(?::VARCHAR[])) "
        "ORDER BY time",
        [more],
    )["score"].tolist()
    # The monitor that kept running, scoring the same rows from its own moved state.
    kept = running._detectors[("m", 1)]
    again = kept.scores(frame(300, seed=42)).tolist()
    assert by_restarted == pytest.approx(again)


def test_a_category_the_reference_never_had_is_stranger_than_any_it_had() -> None:
    """Mahalanobis places categories by their distances in the reference; a new value is
    placed beyond them all and scores higher than the same request with a known value."""
    from mlops_lab.monitor._outliers import _fit
    from mlops_lab.monitor._reference import Reference

    rng = np.random.default_rng(43)
    plan = rng.choice(["basic", "plus", "pro"], size=1000)
    data = pd.DataFrame({"x0": rng.normal(size=1000) + (plan == "pro"), "plan": plan,
                         "x1": rng.normal(size=1000)})  # fmt: skip
    reference = Reference("m@1", data, {"x0": "numeric", "plan": "categorical",
                                        "x1": "numeric"}, "classification", None,
                          np.zeros(1000))  # fmt: skip
    detector = _fit(reference, "mahalanobis", 0.01)
    request = pd.DataFrame({"x0": [0.5, 0.5], "plan": ["plus", "enterprise"], "x1": [0.0, 0.0]})
    known, unseen = detector.scores(request)
    assert unseen > known


def test_accuracy_follows_the_labels_as_they_arrive(store: Store) -> None:
    """At close a window has no labels; feedback on half its requests gives accuracy on
    that half with its interval and a labelled share of 0.5; the rest completes it."""
    model = deploy(store)
    data = frame(200, seed=17)
    ids = serve(store, model, data)
    truth = labels(data, seed=18).tolist()
    monitor = Monitor(store, "churn")
    monitor.configure(window_rows=200)
    monitor.run()
    give_feedback(store, ids[:100], truth[:100])
    assert monitor.run().relabelled == 1
    give_feedback(store, ids[100:], truth[100:])
    monitor.run()
    accuracy = results(store, "accuracy")
    details = [json.loads(d) for d in accuracy["details"]]
    assert [d["labelled_share"] for d in details] == [0.0, 0.5, 1.0]
    right = model.predict(data) == np.array(truth)
    assert accuracy["value"].tolist()[1:] == pytest.approx([right[:100].mean(), right.mean()])
    assert details[2]["low"] < details[2]["value"] < details[2]["high"]


def test_accuracy_expected_before_labels_covers_the_realised_accuracy(store: Store) -> None:
    """Under covariate shift with the same concept, the accuracy a calibrated model expects
    before labels holds the accuracy its labels then show, within its interval."""
    model = deploy(store)
    data = frame(2000, seed=19, shift={"x0": 0.8, "x3": -1.0})
    ids = serve(store, model, data)
    monitor = Monitor(store, "churn")
    monitor.configure(window_rows=2000)
    monitor.run()
    give_feedback(store, ids, labels(data, seed=20).tolist())
    monitor.run()
    (expected,) = [json.loads(d) for d in results(store, "expected_accuracy")["details"]]
    realised = results(store, "accuracy")["value"].iloc[-1]
    assert expected["low"] <= realised <= expected["high"]


def test_a_shadow_gets_its_own_accuracy_from_the_same_labels(store: Store) -> None:
    """A shadow version's logged outputs are joined to the truth: it gets its own accuracy
    and labelled share, marked as a shadow's, and the requests it failed are left out and
    counted."""
    model = deploy(store)
    data = frame(200, seed=44)
    truth = labels(data, seed=45)
    rival = LogisticRegression().fit(frame(2000, seed=1), labels(frame(2000, seed=1), seed=46))
    Registry(store).register("m", rival, reference=frame(1000, seed=3))  # m@2
    outputs: list[Any] = rival.predict(data).tolist()
    outputs[:10] = [{"error": "ValueError: the shadow failed"}] * 10
    ids = serve(store, model, data, shadow={"m@2": outputs})
    monitor = Monitor(store, "churn")
    monitor.configure(window_rows=200)
    monitor.run()
    give_feedback(store, ids[:150], truth[:150].tolist())
    monitor.run()
    latest = results(store, "accuracy").groupby("model_version").last()
    shadow = json.loads(latest.loc[2, "details"])
    expected = np.mean(np.array(outputs[10:150]) == truth[10:150])
    assert latest.loc[2, "value"] == pytest.approx(expected)
    assert shadow["role"] == "shadow"
    assert (shadow["labelled"], shadow["rows"], shadow["shadow_errors"]) == (140, 200, 10)
    served = json.loads(latest.loc[1, "details"])
    assert "role" not in served
    assert latest.loc[1, "value"] == pytest.approx(
        np.mean(model.predict(data)[:150] == truth[:150])
    )
    monitor.configure(window_rows=200, alerts=["accuracy > 0.2"])
    give_feedback(store, ids[150:], truth[150:].tolist())
    monitor.run()
    messages = [m for m in alerts(store)["message"] if m.startswith("accuracy > 0.2")]
    assert len(messages) == 2
    assert any(m.endswith("of the shadow m@2.") for m in messages)
    assert any(m.endswith("of m@1.") for m in messages)


def test_each_window_gets_each_features_mean_absolute_shap_over_a_sample(store: Store) -> None:
    """The monitor explains a sample of each window's requests: the features the model leans
    on (x0, then x1) come first, the ones it ignores last; the explainer is named."""
    model = deploy(store)
    serve(store, model, frame(300, seed=47))
    monitor = Monitor(store, "churn")
    monitor.configure(window_rows=300, importance_rows=25, multivariate=False)
    monitor.run()
    found = results(store, "importance")
    pairs = zip(found["details"], found["value"], strict=True)
    means = {json.loads(d)["feature"]: v for d, v in pairs}
    assert set(means) == set(FEATURES)
    assert means["x0"] > means["x1"] > max(means["x2"], means["x3"])
    details = json.loads(found["details"].iloc[0])
    assert (details["rows"], details["explainer"]) == (25, "KernelShap")
    monitor.configure(window_rows=300, importance_rows=0, multivariate=False)
    serve(store, model, frame(300, seed=48), start=START + timedelta(hours=1))
    monitor.run()
    assert len(results(store, "importance")) == len(FEATURES)  # none for the second window


def test_a_regressor_gets_mae_and_rmse_with_intervals(store: Store) -> None:
    """Numeric truths against numeric predictions give MAE and RMSE, each in its interval."""
    model = deploy(store, task="regression")
    data = frame(100, seed=21)
    ids = serve(store, model, data)
    monitor = Monitor(store, "churn")
    monitor.configure(window_rows=100)
    monitor.run()
    errors = np.random.default_rng(22).normal(scale=0.5, size=100)
    give_feedback(store, ids, (model.predict(data) + errors).tolist())
    monitor.run()
    mae = results(store, "mae").iloc[-1]
    rmse = results(store, "rmse").iloc[-1]
    assert mae["value"] == pytest.approx(np.abs(errors).mean())
    assert rmse["value"] == pytest.approx(np.sqrt((errors**2).mean()))


def test_a_version_without_a_reference_is_an_error_result_that_says_how_to_fix_it(
    store: Store,
) -> None:
    """Requests of a version registered without a reference sample give an error result
    naming the version and how to register one; the pass still closes its window."""
    model = deploy(store)
    Registry(store).register("m", model)  # version 2, no reference
    serve(store, model, frame(50, seed=23), version=2)
    monitor = Monitor(store, "churn")
    monitor.configure(window_rows=50)
    report = monitor.run()
    assert report.windows == ["churn:1-50"]
    (error,) = [json.loads(d) for d in results(store, "error")["details"]]
    assert "m@2" in error["message"] and "reference=X_test" in error["message"]


def test_bad_options_and_unknown_endpoints_are_refused_and_keep_the_settings(
    store: Store,
) -> None:
    """An unknown option names the closest, a value outside its rule says the rule, an
    endpoint never deployed says how to deploy one; the kept options stay as they were."""
    deploy(store)
    monitor = Monitor(store, "churn")
    monitor.configure(window_rows=300)
    with pytest.raises(MonitorError, match="window_rows"):
        monitor.configure(window_row=10)
    with pytest.raises(MonitorError, match="'alpha' parameter of monitor"):
        monitor.configure(alpha=1.5)
    with pytest.raises(
        MonitorError, match=r"'categorical' parameter of monitor\(\) must be a list"
    ):
        monitor.configure(categorical="x1")
    with pytest.raises(MonitorError, match=r"'alerts' parameter of monitor\(\) must be a list"):
        monitor.configure(alerts="drift")
    with pytest.raises(MonitorError, match="No endpoint 'nope'"):
        Monitor(store, "nope").configure()
    assert monitor.settings["window_rows"] == 300


def test_a_categorical_option_naming_no_feature_is_refused(store: Store) -> None:
    """``categorical`` must name features the endpoint's models have; the error lists them,
    and the kept options stay as they were."""
    deploy(store)
    monitor = Monitor(store, "churn")
    with pytest.raises(MonitorError, match=r"'plan'.*x0"):
        monitor.configure(window_rows=20, categorical=["plan"])
    assert monitor.settings["categorical"] == []
    monitor.configure(categorical=["x3"])
    assert monitor.reference("m", 1).kinds["x3"] == "categorical"


def test_results_show_each_metric_once_per_window_at_its_latest_value(store: Store) -> None:
    """A frame of the results holds the latest accuracy of a window (not its first, empty
    one), drift per feature with its feature named, and intervals as columns."""
    model = deploy(store)
    data = frame(100, seed=25)
    ids = serve(store, model, data)
    monitor = Monitor(store, "churn")
    monitor(window_rows=100)
    monitor.run()
    give_feedback(store, ids, labels(data, seed=26).tolist())
    monitor.run()
    accuracy = monitor.results("accuracy")
    assert len(accuracy) == 1
    assert accuracy["details"][0]["labelled_share"] == 1.0
    assert accuracy["low"][0] < accuracy["value"][0] < accuracy["high"][0]
    drift = monitor.results("drift")
    assert drift["feature"].tolist() == FEATURES
    everything = monitor.results()
    assert set(everything["metric"]) >= {"accuracy", "drift", "outlier_rate", "rows"}


def test_an_unknown_metric_is_refused_with_the_ones_there_are(store: Store) -> None:
    """Asking for a metric the monitor does not compute names those it does."""
    deploy(store)
    with pytest.raises(MonitorError, match="'metric' parameter of monitoring.*accuracy"):
        Monitor(store, "churn").results("acuracy")


def alerts(store: Store) -> pd.DataFrame:
    return store.sql("SELECT * FROM alerts ORDER BY time")


def test_drift_opens_one_alert_naming_the_feature_until_a_window_without_it(
    store: Store,
) -> None:
    """Two drifted windows keep one open alert (the later window in its details); a window
    without drift resolves it with the time; an unshifted stream before opened none."""
    model = deploy(store)
    monitor = Monitor(store, "churn")
    monitor(window_rows=400, alerts=["drift"])
    serve(store, model, frame(400, seed=40))
    assert monitor.run(at=START).alerts == []
    assert alerts(store).empty
    for seed, hour in ((41, 1), (42, 2)):
        serve(store, model, frame(400, seed=seed, shift={"x1": 1.0}),
              start=START + timedelta(hours=hour))  # fmt: skip
        monitor.run(at=START + timedelta(hours=hour))
    (alert,) = alerts(store).to_dict("records")
    details = json.loads(alert["details"])
    assert alert["resolved_at"] is pd.NaT or alert["resolved_at"] is None
    assert alert["severity"] == "warning" and "['x1']" in alert["message"]
    assert details["opened_in"] == "churn:401-800"
    assert details["last"]["window_id"] == "churn:801-1200"
    serve(store, model, frame(400, seed=43), start=START + timedelta(hours=3))
    report = monitor.run(at=START + timedelta(hours=3))
    assert report.alerts and report.alerts[0].startswith("resolved: ")
    (resolved,) = alerts(store).to_dict("records")
    assert resolved["resolved_at"] == START + timedelta(hours=3)
    assert json.loads(resolved["details"])["resolved_in"] == "churn:1201-1600"


def test_accuracy_significantly_below_the_reference_opens_a_critical_alert(
    store: Store,
) -> None:
    """When the concept changes (the labels follow another rule), live accuracy falls below
    what the model expects on its reference, and a critical alert says by how much."""
    model = deploy(store)
    monitor = Monitor(store, "churn")
    monitor(window_rows=300, alerts=["accuracy < reference"])
    data = frame(300, seed=44)
    ids = serve(store, model, data)
    monitor.run()
    changed = labels(data.assign(x0=-data["x0"]), seed=45)  # the sign of x0's effect flips
    give_feedback(store, ids, changed.tolist())
    report = monitor.run()
    (alert,) = alerts(store).to_dict("records")
    assert alert["severity"] == "critical" and alert["kind"] == "accuracy"
    assert "below its reference" in alert["message"]
    assert report.alerts == [alert["message"]]
    details = json.loads(alert["details"])
    assert details["value"] < details["reference"] and details["p_value"] < 0.05


def test_an_alert_rule_that_cannot_be_read_is_refused_and_keeps_the_rules(store: Store) -> None:
    """A rule on a metric the monitor does not compute is refused at configure time."""
    deploy(store)
    monitor = Monitor(store, "churn")
    monitor(alerts=["drift"])
    with pytest.raises(MonitorError, match="'latency' is no metric"):
        monitor(alerts=["drift", "latency > 100"])
    assert monitor.settings["alerts"] == ["drift"]


# The profit of a decision: a true positive earns 10, a false positive costs 5.
PROFIT_SQL = (
    "avg(CASE WHEN truth IS NULL THEN NULL WHEN prediction::INT = 1 AND truth::INT = 1 THEN 10 "
    "WHEN prediction::INT = 1 THEN -5 ELSE 0 END)"
)


def profit(features: dict, prediction: Any, truth: Any, reward: float | None) -> float | None:
    if truth is None:
        return None
    return {(1, 1): 10.0, (1, 0): -5.0}.get((prediction, truth), 0.0)


def test_business_metrics_in_sql_and_python_agree_and_an_alert_watches_one(
    store: Store,
) -> None:
    """The same cost matrix as a SQL aggregate and as a Python function gives the same
    profit per decision once labels arrive, and a rule on it opens a critical alert."""
    model = deploy(store)
    data = frame(200, seed=50)
    ids = serve(store, model, data)
    monitor = Monitor(store, "churn")
    monitor(window_rows=200, metrics={"profit_sql": PROFIT_SQL, "profit": profit},
            alerts=["profit < 100"])  # fmt: skip
    monitor.run()
    truth = labels(data, seed=51)
    give_feedback(store, ids, truth.tolist())
    monitor.run()
    predicted = model.predict(data)
    expected = np.where(predicted == 1, np.where(truth == 1, 10.0, -5.0), 0.0).mean()
    assert monitor.results("profit")["value"][0] == pytest.approx(expected)
    assert monitor.results("profit_sql")["value"][0] == pytest.approx(expected)
    (alert,) = alerts(store).to_dict("records")
    assert alert["kind"] == "profit" and alert["severity"] == "critical"


def test_a_business_metric_that_raises_is_an_error_result_and_the_others_still_run(
    store: Store,
) -> None:
    """A function that fails gives an error result naming it; accuracy is computed."""
    model = deploy(store)
    ids = serve(store, model, frame(50, seed=52))
    monitor = Monitor(store, "churn")
    monitor(window_rows=50, metrics={"broken": lambda f, p, t, r: 1 / 0})
    monitor.run()
    give_feedback(store, ids, [1] * 50)
    monitor.run()
    errors = [d for d in results(store, "error")["details"] if "broken" in d]
    assert errors and "ZeroDivisionError" in errors[-1]
    assert not results(store, "accuracy").empty


@pytest.mark.parametrize(
    ("metrics", "says"),
    [
        ({"profit": "avg(no_such_column)"}, "does not run as a read-only SQL aggregate"),
        ({"p": "1); DELETE FROM requests; SELECT (1"}, "does not run as a read-only SQL"),
        ({"accuracy": "avg(latency_ms)"}, "no built-in metric"),
        ({"profit": lambda prediction: 1.0}, "a function of \\(features, prediction"),
        ("avg(latency_ms)", "'metrics' parameter of monitor\\(\\) must be a dict"),
    ],
)
def test_business_metrics_that_cannot_run_are_refused_and_nothing_is_lost(
    store: Store, metrics: Any, says: str
) -> None:
    """A metric that is not read-only SQL, names no column, takes the wrong arguments or
    takes a built-in's name is refused at configure time; the log and options stay."""
    model = deploy(store)
    serve(store, model, frame(10, seed=53))
    monitor = Monitor(store, "churn")
    monitor(window_rows=10)
    with pytest.raises(MonitorError, match=says):
        monitor(metrics=metrics)
    assert store.counts()["requests"] == 10
    assert monitor.settings["window_rows"] == 10


def correlated(n: int, seed: int, rho: float) -> pd.DataFrame:
    """x0 and x1 standard normal with correlation ``rho``; x2 and x3 independent."""
    data = frame(n, seed)
    data["x1"] = rho * data["x0"] + np.sqrt(1 - rho**2) * data["x1"]
    return data


def test_a_flipped_correlation_is_multivariate_drift_that_no_feature_test_sees(
    store: Store,
) -> None:
    """When x0 and x1 go from +0.6 to -0.6 correlated with their marginals unchanged, the
    classifier test finds drift and the per-feature tests name no feature; a window like
    the reference shows neither."""
    model = deploy(store, reference=correlated(1000, seed=60, rho=0.6))
    serve(store, model, correlated(1000, seed=61, rho=0.6))
    serve(store, model, correlated(1000, seed=62, rho=-0.6))
    monitor = Monitor(store, "churn")
    monitor(window_rows=1000, alerts=["multivariate_drift"])
    monitor.run()
    multivariate = results(store, "multivariate_drift")
    assert [d["drifted"] for d in map(json.loads, multivariate["details"])] == [False, True]
    assert multivariate["value"].iloc[1] < 0.001
    drifted = results(store, "drifted_features")
    assert [json.loads(d)["features"] for d in drifted["details"]] == [[], []]
    (alert,) = alerts(store).to_dict("records")
    assert "a classifier tells the requests from the reference" in alert["message"]


def test_online_detectors_find_a_shift_soon_and_keep_their_state_across_a_restart(
    store: Store,
) -> None:
    """Fed one request at a time, the online detector finds a two-standard-deviation shift
    within a hundred requests of its start; a new monitor loads the state the last pass
    kept (the requests seen since the detector last started over) instead of starting
    from nothing."""
    model = deploy(store)
    monitor = Monitor(store, "churn")
    monitor(window_rows=200, online_ert=1000, alerts=["online_drift"])
    serve(store, model, frame(200, seed=70))
    monitor.run()
    (before,) = results(store, "online_drift")["details"].map(json.loads)
    serve(store, model, frame(200, seed=71, shift={"x0": 2.0}), start=START + timedelta(hours=1))
    monitor.run()
    after = json.loads(results(store, "online_drift")["details"].iloc[-1])
    assert after["detections"], after
    assert after["detections"][0]["row"] < 100
    (alert,) = alerts(store).to_dict("records")
    assert "online detectors found drift" in alert["message"]
    seen = monitor._online[("m", 1)].detectors["numeric"].t
    restarted = Monitor(store, "churn")
    serve(store, model, frame(50, seed=72, shift={"x0": 2.0}), start=START + timedelta(hours=2))
    restarted.run(at=START + timedelta(days=1))
    assert restarted._online[("m", 1)].detectors["numeric"].t in (seen + 50, *range(1, 51))
    assert before["ert"] == 1000


def test_the_view_shows_the_heatmap_the_interval_and_the_open_alert(store: Store) -> None:
    """The HTML view has a heatmap row per window with the drifted feature marked, accuracy
    with its interval, the features the model leans on, and the open alert; the text view
    says the same in words."""
    from mlops_lab.ui import MonitorView

    model = deploy(store)
    view = MonitorView(store, "churn")
    assert "no window closed yet" in repr(view)
    serve(store, model, frame(300, seed=80))
    ids = serve(store, model, frame(300, seed=81, shift={"x2": 1.0}))
    monitor = Monitor(store, "churn")
    monitor(window_rows=300, alerts=["drift"])
    monitor.run()
    give_feedback(store, ids, labels(frame(300, seed=81), seed=82).tolist())
    monitor.run()
    page = view._repr_html_()
    assert page.count("<tr><th>") >= 2 and "mlops-heatmap" in page
    assert "&#9679;" in page  # x2's cell in the second window
    assert "mlops-estimate" in page and "[" in page
    assert "drift: features [&#x27;x2&#x27;" in page  # the message, escaped
    assert "Features each model leans on" in page
    assert "<td>importance</td>" not in page  # not among the business metrics
    text = repr(view)
    assert "drifted x2" in text and "Open alerts: 1" in text
    assert "m@1 leans on (mean |SHAP|): x0 " in text  # the feature the model weighs most


def test_the_view_escapes_what_it_shows() -> None:
    """Feature names, model names and alert messages are shown as text, never as markup."""
    from mlops_lab.monitor._render import Snapshot, render_html

    start = pd.Timestamp(START)
    results = pd.DataFrame([{
        "window_id": "e:1-2", "window_start": start, "window_end": start, "model": "<i>m</i>",
        "model_version": 1, "metric": "drift", "feature": "<script>alert(1)</script>",
        "value": 0.001, "low": None, "high": None, "time": start, "details": {"drifted": True},
    }])  # fmt: skip
    alerts = pd.DataFrame([{"severity": "warning", "message": "<img src=x onerror=alert(1)>"}])
    page = render_html(Snapshot("<b>e</b>", results, alerts))
    assert "<script>" not in page and "<img" not in page and "<b>e</b>" not in page
    assert "&lt;script&gt;" in page and "&lt;img" in page
