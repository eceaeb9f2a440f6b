"""``make demo``: the lab's lifecycle end to end on the embedded defaults.

Start the runtime; register a dataset and a cleaned version of it (lineage tracked); tune
two model families in parallel on Ray Tune; register the best of each as champion and
challenger; log requests and feedback through the store actor and read them back with SQL;
show that a retried batch is not duplicated and that bad input is refused; simulate how the
routing policies move traffic when the better model changes; deploy the champion on Ray
Serve, canary the challenger, shadow a baseline and let Thompson sampling route live HTTP
traffic with delayed feedback; monitor an endpoint whose traffic drifts (drift named by
feature, outliers, accuracy from late labels, alerts, explanations); stop.
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any

import pandas as pd
import pyarrow as pa

import mlops_lab
from mlops_lab.sample_data import churn_frame, churn_traffic, feedback_rows, request_rows


def _one_row(requests: pa.Table) -> dict[str, object]:
    return requests.slice(0, 1).to_pylist()[0] | {"request_id": "bad-row"}


def train(lab: mlops_lab.Lab) -> None:
    """Register data with its preparation, tune two model families, register the best."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    raw = lab.datasets.register("churn-raw", churn_frame(), target="churned")
    imputer = SimpleImputer(strategy="median").set_output(transform="pandas")
    clean = lab.datasets.derive("churn", raw.ref, imputer)
    print(f"Datasets: {raw.ref} -> {clean.ref} (prep: SimpleImputer)")

    forest = lab.tune(
        RandomForestClassifier(random_state=0),
        {"n_estimators": [25, 50], "max_depth": [4, 8, None], "min_samples_leaf": [1, 5]},
        dataset=clean.ref,
        metric="roc_auc",
        name="churn-forest",
    )
    linear = lab.tune(
        make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", random_state=0)),
        {"sgdclassifier__alpha": [1e-5, 1e-4, 1e-3, 1e-2], "sgdclassifier__penalty": ["l2", "l1"],
         "sgdclassifier__class_weight": [None, "balanced"]},
        dataset=clean.ref, metric="roc_auc", scheduler="asha", max_iter=8, name="churn-linear",
    )  # fmt: skip
    ranked = sorted((forest.best(), linear.best()), key=lambda t: t.score or 0.0, reverse=True)
    for trial, alias in zip(ranked, ("champion", "challenger"), strict=True):
        version = lab.registry.register(
            "churn", trial, aliases=[alias], trusted=["sklearn.tree._tree.Tree"]
        )
        print(f"Registered {version.ref} as {alias}: roc_auc {trial.score:.4f} {trial.params}")
    print(lab.registry.compare("churn@champion", "churn@challenger").head(3).to_string())


def log_requests(lab: mlops_lab.Lab) -> None:
    """Log requests and feedback through the store actor, then read them back with SQL."""
    requests = request_rows(2_000, endpoint="demo")
    print(f"Logged {lab.store.append('requests', requests)} new request rows.")
    print(f"Logged {lab.store.append('feedback', feedback_rows(requests))} new feedback rows.")
    retried = lab.store.append("requests", requests)
    print(f"The same batch again (a retry after a lost acknowledgement): {retried} new rows.")
    print(
        lab.sql(
            "SELECT r.arm, count(*) AS requests, count(f.request_id) AS with_truth, "
            "round(avg((f.truth::INTEGER = r.prediction::INTEGER)::INTEGER), 3) AS accuracy "
            "FROM requests r LEFT JOIN feedback f USING (request_id) "
            "WHERE r.endpoint = ? GROUP BY r.arm ORDER BY r.arm",
            params=["demo"],
        ).to_string(index=False)
    )
    for attempt in (
        lambda: lab.sql("DROP TABLE requests"),
        lambda: lab.store.append("requests", [{**_one_row(requests), "status": "fine"}]),
    ):
        try:
            attempt()
        except mlops_lab.StoreError as exc:
            print(f"Refused as it should be: {exc}")


def deploy(lab: mlops_lab.Lab, rounds: int = 40, batch: int = 25) -> mlops_lab.Endpoint:
    """Deploy the champion, canary the challenger, shadow a baseline, then route by bandit.

    Thompson sampling routes live HTTP traffic and learns from feedback that arrives two
    batches late.
    """
    import requests
    from sklearn.dummy import DummyClassifier

    data = churn_frame().dropna()
    X, y = data.drop(columns="churned"), data["churned"]
    baseline = lab.registry.register("churn-baseline", DummyClassifier().fit(X, y), reference=X)
    began = time.perf_counter()
    endpoint = lab.deploy("churn", "churn@champion", trusted=["sklearn.tree._tree.Tree"])
    print(f"Deployed churn@champion at {endpoint.url} in {time.perf_counter() - began:.1f} s")
    print(f"  (started with the lab in the background: {lab.status().started})")
    endpoint.canary("churn@challenger", steps=[0.1, 0.5, 1.0]).advance()
    print(f"Canary, second step: {endpoint!r}")
    endpoint.rollback().shadow(baseline.ref)
    endpoint.bandit(["churn@champion", "churn@challenger"], policy="thompson", seed=0)
    print(f"Now: {endpoint!r}")
    waiting: list[list[dict[str, Any]]] = []
    with requests.Session() as http:
        for step in range(rounds):
            rows = X.sample(batch, random_state=step)
            answer = http.post(
                f"{endpoint.url}/predict", json={"instances": rows.to_dict("records")}, timeout=60
            ).json()
            truth = y.loc[rows.index].tolist()
            waiting.append(
                [
                    {"request_id": i, "truth": t}
                    for i, t in zip(answer["request_ids"], truth, strict=True)
                ]
            )
            if len(waiting) > 2:  # feedback arrives two batches late
                http.post(f"{endpoint.url}/feedback", json=waiting.pop(0), timeout=60)
    endpoint.flush()
    print(endpoint.view(every="2s"))
    print("Accuracy from the feedback (on rows the models were trained on):")
    print(lab.sql(
        "SELECT r.arm, count(*) AS requests, count(f.request_id) AS with_truth, "
        "round(avg(CASE WHEN f.truth IS NULL THEN NULL "
        "ELSE (f.truth = r.prediction)::INTEGER END), 3) AS accuracy, "
        "count(r.shadow) AS shadowed FROM requests r LEFT JOIN feedback f USING (request_id) "
        "WHERE r.endpoint = 'churn' AND r.status = 200 GROUP BY r.arm ORDER BY r.arm"
    ).to_string(index=False))  # fmt: skip
    return endpoint


def refuse_hostile(endpoint: mlops_lab.Endpoint) -> None:
    """Hostile bodies get a JSON 4xx that says what was wrong, and are logged like any other."""
    import requests

    hostile = {
        "a key that is a lone surrogate": ("predict", b'{"instances": [{"\\ud800": 1.0}]}'),
        "bytes that are not UTF-8": ("predict", b'{"instances": [[1.0, "\xff"]]}'),
        "a truth JSON cannot hold": ("feedback", b'{"request_id": "x", "truth": NaN}'),
    }
    with requests.Session() as http:
        for what, (route, body) in hostile.items():
            answer = http.post(f"{endpoint.url}/{route}", data=body, timeout=60)
            print(f"{what}: {answer.status_code} {answer.json()['error'][:90]}")
    endpoint.flush()


def monitor(lab: mlops_lab.Lab, window: int = 300) -> None:
    """Monitor live traffic beside serving: drift, outliers, accuracy as labels arrive.

    The first window is like the training data. In the second, monthly charges shift by 1.5
    standard deviations, six requests are far outside anything seen, and the truth (sent a
    window late) follows another pattern for a third of the customers. The monitor names
    the shifted feature and only it, flags the outliers, shows accuracy falling with its
    interval, opens alerts, and one outlier is explained with SHAP and an anchor. Each
    window's features are ranked by their mean |SHAP|, and a shallower forest shadowing the
    endpoint gets its own accuracy from the same labels.
    """
    from sklearn.ensemble import RandomForestClassifier

    tree = ["sklearn.tree._tree.Tree"]
    X, y = churn_traffic(2000, seed=1)
    model = RandomForestClassifier(n_estimators=50, max_depth=8, random_state=0).fit(X, y)
    shallow = RandomForestClassifier(n_estimators=20, max_depth=2, random_state=0).fit(X, y)
    reference, _ = churn_traffic(1000, seed=2)
    version = lab.registry.register("churn-live", model, reference=reference, trusted=tree)
    rival = lab.registry.register("churn-live", shallow, reference=reference, trusted=tree)
    endpoint = lab.deploy("churn-live", version.ref, trusted=tree)
    endpoint.shadow(rival.ref, trusted=tree)
    endpoint.monitor(window_rows=window, every=2.0,
                     alerts=["drift", "accuracy < reference", "outlier_rate > 0.03"])  # fmt: skip
    steady, steady_truth = churn_traffic(window, seed=3)
    changed, changed_truth = churn_traffic(window, seed=4, shift={"monthly_charges": 1.5},
                                           outliers=6, concept_change=True)  # fmt: skip
    first = endpoint.predict(steady)["request_id"].tolist()
    second = endpoint.predict(changed)["request_id"].tolist()
    lab.feedback("churn-live", pd.DataFrame({"request_id": first, "truth": steady_truth}))
    lab.feedback("churn-live", pd.DataFrame({"request_id": second, "truth": changed_truth}))
    endpoint.flush()
    endpoint.monitor.run()  # a pass now; the monitor beside serving also runs one every 2 s

    def ours(metric: str) -> pd.DataFrame:  # a store kept from an earlier demo has others
        found = lab.monitoring("churn-live", metric)
        return found[found["model_version"] == version.version]

    for row in ours("drifted_features").itertuples():
        print(f"  {row.window_id}: drifted features {row.details['features']}")
    print("Outlier rate per window:", [round(v, 3) for v in ours("outlier_rate")["value"]])
    accuracy, expected = ours("accuracy"), ours("expected_accuracy")
    for row, guess in zip(accuracy.itertuples(), expected.itertuples(), strict=True):
        print(f"  {row.window_id}: accuracy {row.value:.3f} [{row.low:.3f}, {row.high:.3f}], "
              f"expected before labels {guess.value:.3f}")  # fmt: skip
    shadowed = lab.monitoring("churn-live", "accuracy")
    for row in shadowed[shadowed["model_version"] == rival.version].itertuples():
        print(f"  {row.window_id}: shadow {rival.ref} accuracy {row.value:.3f} "
              f"[{row.low:.3f}, {row.high:.3f}]")  # fmt: skip
    for window_id, group in ours("importance").groupby("window_id", sort=False):
        top = group.nlargest(3, "value")
        print(f"  {window_id}: mean |SHAP| "
              f"{[(r.feature, round(r.value, 3)) for r in top.itertuples()]}")  # fmt: skip
    print("Open alerts:")
    for alert in lab.alerts("churn-live", open_only=True).itertuples():
        print(f"  [{alert.severity}] {alert.message}")
    strangest = lab.sql(
        "SELECT request_id FROM outlier_scores WHERE endpoint = 'churn-live' "
        "AND model_version = ? ORDER BY score DESC LIMIT 1",
        params=[version.version],
    )["request_id"][0]
    shap = lab.explain(strangest, "shap")
    top = sorted(shap["contributions"].items(), key=lambda kv: -abs(kv[1]))[:3]
    print(f"Why {strangest} (an outlier) got {shap['prediction']}: {shap['explainer']} "
          f"{[(name, round(value, 3)) for name, value in top]}")  # fmt: skip
    anchor = lab.explain(strangest, "anchors")
    print(f"  anchor: {' AND '.join(anchor['anchor'])} (precision {anchor['precision']:.2f})")
    endpoint.undeploy()


def simulate_routing(requests: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Share of traffic per model under Thompson sampling and its discounted variant.

    Two model versions with Bernoulli rewards (a correct prediction or not); halfway through,
    the better one changes. Plain Thompson sampling holds on to what it learned first; the
    discounted variant forgets old rewards and moves the traffic to the new best.
    """
    from mlops_lab.routing import make_policy

    switch = requests // 2
    before, after = {"churn@1": 0.75, "churn@2": 0.65}, {"churn@1": 0.6, "churn@2": 0.8}
    rows = []
    for name in ("thompson", "discounted_thompson"):
        policy, rng = make_policy(name, seed=seed), random.Random(seed)
        for step in range(requests):
            accuracy = before if step < switch else after
            arm = policy.choose(list(accuracy)).arm
            policy.update(arm, float(rng.random() < accuracy[arm]))
            phase = (
                "1: before the change" if step < switch
                else "2: first 500 after" if step < switch + 500
                else "3: later"
            )  # fmt: skip
            rows.append({"policy": name, "phase": phase, "model": arm})
    shares = pd.DataFrame(rows).groupby(["policy", "phase"])["model"].value_counts(normalize=True)
    return shares.unstack(fill_value=0.0).round(3)


def main() -> int:
    """Run the demo; return the exit code."""
    print("Starting (or attaching to) the lab runtime ...", flush=True)
    began = time.perf_counter()
    lab = mlops_lab.connect()
    print(f"Ready in {time.perf_counter() - began:.1f} s; starting in the background: "
          f"{lab.status().started}", flush=True)  # fmt: skip
    try:
        train(lab)
        log_requests(lab)
        print("\nServing: canary, shadow, then Thompson sampling over live HTTP traffic")
        endpoint = deploy(lab)
        print("\nHostile requests: each refused with a JSON 4xx, and logging goes on")
        refuse_hostile(endpoint)
        print("\nMonitoring beside serving: a feature shifts, outliers come, the concept changes")
        monitor(lab)
        print("\nRouting policies, simulated: share of traffic per model when churn@2 becomes")
        print("the better model halfway through")
        print(simulate_routing().to_string())
        print(lab.status())
    finally:  # a failed step must not leave the runtime running
        lab.shutdown()
    print("Lab stopped; the store stays at", lab.settings.store_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
