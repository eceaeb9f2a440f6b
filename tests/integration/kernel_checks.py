"""Kernel multivariate drift (MMD, LSDD), run by ``test_kernel_drift.py`` where torch is.

PyTorch lives in a second environment (``.venv-torch``, made by ``make test``) that sees the
main one's packages, so that no other test imports it. Its file name keeps pytest from
collecting it in the main environment.
"""

from __future__ import annotations

import json

import pytest

from mlops_lab.monitor import Monitor
from mlops_lab.store import Store
from tests.integration.test_monitor import alerts, correlated, deploy, results, serve


@pytest.mark.parametrize(
    ("test", "name"),
    [("mmd", "maximum mean discrepancy"), ("lsdd", "least-squares density difference")],
)
def test_a_kernel_test_finds_a_flipped_correlation_and_not_a_window_like_the_reference(
    store: Store, test: str, name: str
) -> None:
    """x0 and x1 going from +0.6 to -0.6 correlated, marginals unchanged, is drift for the
    kernel test; a window drawn like the reference is not. The alert names the test."""
    model = deploy(store, reference=correlated(1000, seed=60, rho=0.6))
    serve(store, model, correlated(1000, seed=61, rho=0.6))
    serve(store, model, correlated(1000, seed=62, rho=-0.6))
    monitor = Monitor(store, "churn")
    monitor(window_rows=1000, multivariate_test=test, alerts=["multivariate_drift"])
    monitor.run()
    multivariate = results(store, "multivariate_drift")
    details = [json.loads(d) for d in multivariate["details"]]
    assert [d["drifted"] for d in details] == [False, True]
    assert details[1]["test"].startswith(name)
    assert multivariate["value"].iloc[1] <= 0.01
    (alert,) = alerts(store).to_dict("records")
    assert f"a {name} test tells the requests from the reference" in alert["message"]
