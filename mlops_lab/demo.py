"""``make demo``: the lab's lifecycle end to end on the embedded defaults.

At this stage: start the runtime, log a batch of requests and their feedback through the
store actor, read them back with SQL, show that a retried batch is not duplicated and
that bad input is refused, print the status and stop.
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

import mlops_lab

N_FEATURES = 20


def request_rows(n: int, *, endpoint: str = "demo", seed: int = 0) -> pa.Table:
    """Request log rows as the router writes them.

    Each row has 20 float features, a prediction and a shadow model's output; about 1% are
    failed requests with their error. Ids derive from ``seed``, so the same call always
    yields the same rows.
    """
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, N_FEATURES)).round(6)
    start = datetime(2026, 1, 1) + timedelta(seconds=seed)
    namespace = uuid.UUID(int=seed)
    arms = rng.choice(["champion", "challenger"], size=n, p=[0.9, 0.1])
    failed = rng.random(n) < 0.01
    predictions = (features[:, 0] > 0).astype(int)
    shadow = (features[:, 1] > 0).astype(int)
    return pa.table(
        {
            "request_id": [str(uuid.uuid5(namespace, str(i))) for i in range(n)],
            "time": pa.array([start + timedelta(milliseconds=i) for i in range(n)]),
            "endpoint": [endpoint] * n,
            "model": ["demo-model"] * n,
            "model_version": np.where(arms == "champion", 1, 2).astype("int32"),
            "arm": arms,
            "propensity": np.where(arms == "champion", 0.9, 0.1),
            "policy": ["split"] * n,
            "features": [f"[{','.join(map(repr, row))}]" for row in features.tolist()],
            "prediction": pa.array(predictions.astype(str), mask=failed),
            "latency_ms": rng.gamma(2.0, 2.0, size=n),
            "status": np.where(failed, 500, 200).astype("int16"),
            "error": pa.array(np.full(n, "model raised ValueError"), mask=~failed),
            "shadow": [f'{{"shadow-model@1":{label}}}' for label in shadow.tolist()],
        }
    )


def feedback_rows(requests: pa.Table, *, seed: int = 0) -> list[dict[str, object]]:
    """Ground truth for every other answered request, as ``POST .../feedback`` would bring it."""
    rng = np.random.default_rng(seed + 1)
    now = datetime.now(UTC).replace(tzinfo=None)
    ids = requests.column("request_id").to_pylist()[::2]
    predictions = requests.column("prediction").to_pylist()[::2]
    return [
        {
            "feedback_id": f"fb-{request_id}",
            "request_id": request_id,
            "time": now,
            "truth": int(prediction) if rng.random() < 0.85 else 1 - int(prediction),
        }
        for request_id, prediction in zip(ids, predictions, strict=True)
        if prediction is not None
    ]


def _one_row(requests: pa.Table) -> dict[str, object]:
    return requests.slice(0, 1).to_pylist()[0] | {"request_id": "bad-row"}


def main() -> int:
    """Run the demo; return the exit code."""
    print("Starting (or attaching to) the lab runtime ...", flush=True)
    lab = mlops_lab.connect()
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
    print(lab.status())
    lab.shutdown()
    print("Lab stopped; the store stays at", lab.settings.store_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
