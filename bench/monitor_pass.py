"""One incremental monitor pass over a new window, on a small and a large request log.

A request log of N rows (20 numeric and 2 categorical features, JSON as the router writes
them) is written through the store; the monitor catches up with it (its cursor reaches the
end, its outlier detector is fitted and kept); then a new window of W rows arrives, with
feedback for half of them, and one pass is timed: per-feature drift, outlier scores,
prediction drift, the accuracy expected before labels, the accuracy join and one business
metric (multivariate drift and the SHAP importance sample off: the first trains a classifier
per window, the second explains requests, whose cost per request is timed below). The same
is done on a log a tenth the size, and ``growth`` is the ratio: a pass reads what arrived,
not the log.

In the same run, the same window's per-feature drift through Evidently's data-drift report
(``DataDriftPreset``), in a virtual environment of its own that the script makes under
``bench/results/`` (Evidently's dependencies are not the project's). And the time to explain
one request of a random forest with TreeShap and of a pipeline with KernelShap (fitted
explainers, as a second request finds them), and to read an explanation back.

    python bench/monitor_pass.py --quick   # 1,000,000 rows, windows of 10,000
    python bench/monitor_pass.py --smoke   # seconds: 2,000 rows, no Evidently

Last line, one JSON object:
    {"log_rows", "window_rows", "pass_s", "pass_s_small_log", "growth", "peer_s",
     "ratio_to_peer", "explain_tree_ms", "explain_kernel_ms", "explain_again_ms", ...}
Goals: pass_s <= 1.0, growth <= 1.5, ratio_to_peer <= 0.5, explain_tree_ms <= 100,
explain_kernel_ms <= 1000, explain_again_ms <= 20.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from _common import mode
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from mlops_lab.monitor import Monitor
from mlops_lab.monitor._explain import explain
from mlops_lab.registry import Registry
from mlops_lab.store import Store

NUMERIC = [f"x{i}" for i in range(20)]
CATEGORICAL = ["plan", "region"]
FEATURES = NUMERIC + CATEGORICAL
START = datetime(2026, 1, 1)
BATCH = 50_000
PROFIT = "avg(CASE WHEN truth IS NULL THEN NULL WHEN prediction = truth THEN 1 ELSE -1 END)"
PEER = Path(__file__).parent / "results" / "evidently-venv"
# Evidently 0.7.23 imports a pandas function that pandas 3 removed.
PEER_REQUIREMENTS = ("evidently==0.7.23", "pandas<3", "pyarrow")
TREE = ["sklearn.tree._tree.Tree"]
# (log rows, window rows) per mode.
SIZES = {"full": (1_000_000, 10_000), "quick": (1_000_000, 10_000), "smoke": (2_000, 200)}


def main() -> None:
    chosen = mode(__doc__.splitlines()[0], "1,000,000 rows, windows of 10,000")
    log_rows, window = SIZES[chosen]
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as folder:
        small_s, _ = _timed_pass(Path(folder) / "small.duckdb", log_rows // 10, window)
        large_s, frames = _timed_pass(Path(folder) / "large.duckdb", log_rows, window)
        explained = _explain_times(Path(folder) / "explain.duckdb", 3 if chosen == "smoke" else 10)
    peer_s = None if chosen == "smoke" else _peer_seconds(*frames)
    result = {
        "log_rows": log_rows,
        "window_rows": window,
        "pass_s": round(large_s, 3),
        "pass_s_small_log": round(small_s, 3),
        "growth": round(large_s / small_s, 3),
        "peer_s": None if peer_s is None else round(peer_s, 3),
        "ratio_to_peer": None if peer_s is None else round(large_s / peer_s, 3),
        **explained,
    }
    print(json.dumps(result))


def _timed_pass(path: Path, log_rows: int, window: int) -> tuple[float, tuple[Any, Any]]:
    """Write the log, let the monitor catch up, then time one pass over a new window."""
    rng = np.random.default_rng(0)
    with Store(path) as store:
        model, reference = _deploy(store, rng)
        for start in range(0, log_rows, BATCH):
            store.append("requests", _requests(model, rng, min(BATCH, log_rows - start), start))
        monitor = Monitor(store, "bench")
        monitor.configure(window_rows=window, window_seconds=10**9, multivariate=False,
                          importance_rows=0, metrics={"profit": PROFIT},
                          alerts=["drift", "profit < 0"])  # fmt: skip
        while monitor.run().windows:
            pass
        rows = _requests(model, rng, window, log_rows)
        store.append("requests", rows)
        store.append("feedback", _feedback(rows, rng))
        started = time.perf_counter()
        report = monitor.run()
        seconds = time.perf_counter() - started
        assert len(report.windows) == 1 and report.errors == 0, report
        current = pd.DataFrame.from_records(
            [json.loads(f) for f in rows.column("features").to_pylist()]
        )
    return seconds, (reference, current)


def _deploy(store: Store, rng: np.random.Generator) -> tuple[Any, pd.DataFrame]:
    train = _features(rng, 5_000)
    target = (train["x0"] + (train["plan"] == "pro") - train["x1"] > 0).astype(int)
    encoder = make_column_transformer((OneHotEncoder(), CATEGORICAL), remainder="passthrough")
    model = make_pipeline(encoder, LogisticRegression(max_iter=500)).fit(train, target)
    reference = _features(rng, 2_000)
    Registry(store).register("bench", model, reference=reference)
    _endpoint(store, "bench", "bench@1")
    return model, reference


def _endpoint(store: Store, name: str, ref: str, trusted: list[str] | None = None) -> None:
    config = {"trust": {"trusted": trusted or [], "allow_pickle": False},
              "routes": {"arms": [ref], "shadow": []}}  # fmt: skip
    store.write({"endpoints": [{"endpoint": name, "created_at": START, "updated_at": START,
                                "status": "running", "config": config}]})  # fmt: skip


def _features(rng: np.random.Generator, n: int) -> pd.DataFrame:
    frame = pd.DataFrame(rng.normal(size=(n, len(NUMERIC))).round(5), columns=NUMERIC)
    frame["plan"] = rng.choice(["basic", "plus", "pro"], size=n)
    frame["region"] = rng.choice(["north", "south", "east", "west"], size=n)
    return frame


def _requests(model: Any, rng: np.random.Generator, n: int, offset: int) -> pa.Table:
    """Rows as the router logs them; the features JSON is written by DuckDB, in bulk."""
    features = _features(rng, n)
    predictions = model.predict(features)
    text = duckdb.sql(
        "SELECT to_json(struct_pack(" + ", ".join(f'"{c}" := "{c}"' for c in FEATURES)
        + ")) AS features FROM features"
    ).to_arrow_table().column("features")  # fmt: skip
    return pa.table({
        "request_id": [uuid.uuid4().hex for _ in range(n)],
        "time": [START + timedelta(milliseconds=offset + i) for i in range(n)],
        "endpoint": ["bench"] * n, "model": ["bench"] * n, "model_version": [1] * n,
        "features": text.cast(pa.string()),
        "prediction": [str(int(p)) for p in predictions],
        "latency_ms": [1.0] * n, "status": [200] * n,
    })  # fmt: skip


def _feedback(rows: pa.Table, rng: np.random.Generator) -> pa.Table:
    ids = rows.column("request_id").to_pylist()[::2]
    return pa.table({
        "feedback_id": [f"fb-{i}" for i in ids], "request_id": ids,
        "time": [START] * len(ids), "truth": [str(int(t)) for t in rng.integers(0, 2, len(ids))],
        "endpoint": ["bench"] * len(ids), "source": ["bench"] * len(ids),
    })  # fmt: skip


def _explain_times(path: Path, requests: int) -> dict[str, float]:
    """Milliseconds to explain one request (median, fitted explainer), and to read one back."""
    rng = np.random.default_rng(1)
    with Store(path) as store:
        train = _features(rng, 2_000)
        target = (train["x0"] - train["x1"] > 0).astype(int)
        forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(
            train[NUMERIC], target
        )
        Registry(store).register("forest", forest, reference=train[NUMERIC].head(500),
                                 trusted=TREE)  # fmt: skip
        _endpoint(store, "forest", "forest@1", TREE)
        model, _ = _deploy(store, rng)
        times: dict[str, list[float]] = {"tree": [], "kernel": [], "again": []}
        for kind, name in (("tree", "forest"), ("kernel", "bench")):
            rows = _requests(model, rng, requests + 1, 0)
            table = rows.set_column(3, "model", pa.array([name] * rows.num_rows))
            store.append("requests", table.set_column(
                2, "endpoint", pa.array([name] * rows.num_rows)))  # fmt: skip
            ids = table.column("request_id").to_pylist()
            explain(store, ids[0], "shap")  # fits the explainer
            for request_id in ids[1:]:
                started = time.perf_counter()
                explain(store, request_id, "shap")
                times[kind].append(time.perf_counter() - started)
            for request_id in ids[1:]:
                started = time.perf_counter()
                explain(store, request_id, "shap")
                times["again"].append(time.perf_counter() - started)
    return {f"explain_{kind}_ms": round(1000 * statistics.median(values), 1)
            for kind, values in times.items()}  # fmt: skip


_PEER_CODE = """
import sys, time, pandas as pd
reference, current = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
try:
    from evidently import Report
    from evidently.presets import DataDriftPreset
    report = Report([DataDriftPreset()])
    started = time.perf_counter()
    report.run(current, reference).dict()
except ImportError:
    from evidently.metric_preset import DataDriftPreset
    from evidently.report import Report
    report = Report(metrics=[DataDriftPreset()])
    started = time.perf_counter()
    report.run(reference_data=reference, current_data=current)
    report.as_dict()
print(time.perf_counter() - started)
"""


def _peer_seconds(reference: pd.DataFrame, current: pd.DataFrame) -> float:
    """Evidently's data-drift report on the same window, in its own virtual environment."""
    python = PEER / "bin" / "python"
    marker = PEER / "requirements.txt"
    if not marker.exists() or marker.read_text().split() != list(PEER_REQUIREMENTS):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS],
                       check=True)  # fmt: skip
        marker.write_text("\n".join(PEER_REQUIREMENTS))
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / "reference.parquet", Path(folder) / "current.parquet"]
        reference.to_parquet(paths[0])
        current[reference.columns].to_parquet(paths[1])
        runs = []
        for _ in range(3):
            done = subprocess.run([str(python), "-c", _PEER_CODE, *map(str, paths)],
                                  capture_output=True, text=True)  # fmt: skip
            if done.returncode != 0:
                raise SystemExit(f"Evidently's report failed:\n{done.stderr[-3000:]}")
            runs.append(float(done.stdout.split()[-1]))
    return statistics.median(runs)


if __name__ == "__main__":
    main()
