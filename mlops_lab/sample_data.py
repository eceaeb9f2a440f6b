"""Sample data to try the lab with: churn tables and traffic, request log rows, feedback.

The same call always gives the same data, so the notebooks, the demo, the tests and the
benchmarks can count on it.

Example:
    >>> from mlops_lab.sample_data import churn_frame, feedback_rows, request_rows
    >>> churn_frame(100).shape
    (100, 9)
    >>> request_rows(10, endpoint="churn").num_rows
    10
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.datasets import make_classification

__all__ = ["churn_frame", "churn_traffic", "feedback_rows", "request_rows"]

N_FEATURES = 20  # of each request row


def request_rows(n: int, *, endpoint: str = "demo", seed: int = 0) -> pa.Table:
    """Request log rows as the router writes them.

    Each row has 20 float features, a prediction and a shadow model's output; about 1% are
    failed requests with their error. Ids derive from ``seed``, so the same call always
    yields the same rows.

    Args:
        n: How many rows.
        endpoint: The endpoint every row names.
        seed: Seeds the values, the ids and the rows' times (a second apart per seed).

    Returns:
        The rows, with the columns of the store's ``requests`` table.

    Example:
        >>> rows = request_rows(1000, endpoint="churn", seed=1)
        >>> lab.store.append("requests", rows)
        1000
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


def churn_frame(n: int = 2_000, *, seed: int = 0) -> pd.DataFrame:
    """A customer-churn table: 8 numeric features (about 2% missing) and a 0/1 ``churned``.

    Args:
        n: How many customers (rows).
        seed: Seeds the values and where they are missing.

    Returns:
        The features ``tenure`` to ``satisfaction``, then the target ``churned``.

    Example:
        >>> lab.datasets.register("churn-raw", churn_frame(), target="churned")
    """
    X, y = make_classification(
        n_samples=n, n_features=8, n_informative=5, weights=[0.7], flip_y=0.03, random_state=seed
    )
    names = ["tenure", "monthly_charges", "support_calls", "usage_gb", "late_payments",
             "contract_months", "devices", "satisfaction"]  # fmt: skip
    frame = pd.DataFrame(X.round(4), columns=names)
    holes = np.random.default_rng(seed).random(frame.shape) < 0.02
    return frame.mask(holes).assign(churned=y)


def churn_traffic(
    n: int, *, seed: int, shift: dict[str, float] | None = None, outliers: int = 0,
    concept_change: bool = False,
) -> tuple[pd.DataFrame, pd.Series]:  # fmt: skip
    """Live requests for a model trained on :func:`churn_frame`, and the truth they will get.

    The customers are drawn from one population of 10,000 (``churn_frame(10_000)`` without
    its missing values), so a model trained on one draw serves the others, unless told
    otherwise: ``shift`` moves features by that many standard deviations (the
    distribution drifts), ``outliers`` rows are replaced by customers far outside it, and
    ``concept_change`` makes a third of the customers churn against the old pattern (the
    truth changes while the features do not).

    Args:
        n: How many requests (at most 8,000).
        seed: Which customers.
        shift: Standard deviations to add, by feature.
        outliers: How many rows, at the end, are outliers.
        concept_change: Whether the truth follows another pattern.

    Returns:
        The features (columns of :func:`churn_frame` but ``churned``) and the truths.

    Example:
        >>> X, truth = churn_traffic(300, seed=7, shift={"monthly_charges": 1.5})
    """
    population = _population()
    rng = np.random.default_rng(seed)
    rows = population.iloc[rng.choice(len(population), size=n, replace=False)]
    X = rows.drop(columns="churned").reset_index(drop=True)
    truth = rows["churned"].reset_index(drop=True)
    for name, by in (shift or {}).items():
        X[name] = (X[name] + by * population[name].std()).round(4)
    if outliers:
        features = population.drop(columns="churned")
        sides = rng.choice([-1.0, 1.0], size=(outliers, X.shape[1]))
        far = features.mean().to_numpy() + sides * 8 * features.std().to_numpy()
        X.iloc[n - outliers :] = far.round(4)
    if concept_change:
        flipped = rng.random(n) < 1 / 3
        truth = truth.where(~flipped, 1 - truth)
    return X, truth.astype(int)


@functools.cache
def _population() -> pd.DataFrame:
    return churn_frame(10_000, seed=0).dropna().reset_index(drop=True)


def feedback_rows(requests: pa.Table, *, seed: int = 0) -> list[dict[str, object]]:
    """Ground truth for every other answered request, as ``POST .../feedback`` would bring it.

    Args:
        requests: Rows of :func:`request_rows`.
        seed: Seeds which truths disagree with the prediction (about 15%).

    Returns:
        Rows of the store's ``feedback`` table, timed now.

    Example:
        >>> requests = request_rows(2000)
        >>> lab.store.append("feedback", feedback_rows(requests))
    """
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
