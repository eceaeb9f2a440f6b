"""``lab.tune(...)``: resolve the data, check the request, start the run and its view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ray
from sklearn.base import BaseEstimator

from mlops_lab._warm import WarmPool
from mlops_lab.data import Datasets, DatasetVersion
from mlops_lab.errors import parameter_error
from mlops_lab.store import StoreClient
from mlops_lab.train._request import build_request, split_target
from mlops_lab.train._run import TuneRun
from mlops_lab.train._space import TuneError


def run_tune(
    store: StoreClient, datasets: Datasets, storage: Path, warm: WarmPool, estimator: BaseEstimator,
    param_space: dict[str, Any], *, dataset: Any, target: str | None = None,
    metric: str = "accuracy", mode: str = "max", search: str = "grid", num_samples: int = 10,
    cv: Any = 3, scheduler: str | None = None, max_concurrent: int | None = None,
    max_iter: int = 10, grace_period: int = 1, reduction_factor: float = 3,
    name: str | None = None, background: bool = False,
    progress: bool = True, seed: int = 0,
) -> TuneRun:  # fmt: skip
    """Search ``param_space`` for ``estimator`` on Ray Tune; see :meth:`mlops_lab.Lab.tune`."""
    data, ref = _resolve_data(datasets, dataset, target)
    slots = max_concurrent if max_concurrent is not None else _cluster_cpus()
    request = build_request(
        estimator, param_space, data, dataset=ref, metric=metric, mode=mode, search=search,
        num_samples=num_samples, cv=cv, scheduler=scheduler, max_concurrent=slots,
        max_iter=max_iter, grace_period=grace_period, reduction_factor=reduction_factor,
        name=name, seed=seed,
    )  # fmt: skip
    run = TuneRun(request, store, storage, warm)
    if progress:
        from mlops_lab.train._progress import attach_progress

        attach_progress(run)
    return run.start(background=background)


def _resolve_data(datasets: Datasets, dataset: Any, target: str | None) -> tuple[Any, str | None]:
    if isinstance(dataset, tuple) and len(dataset) == 2:
        return dataset, None
    if isinstance(dataset, str | DatasetVersion):
        version = datasets.get(dataset)
        frame = datasets.load(version.ref)
        return split_target(
            frame, target or version.target, f"dataset '{version.ref}'"
        ), version.ref
    must = "be a registered dataset ('name' or 'name@version') or a tuple (X, y)"
    raise TuneError(parameter_error("dataset", "tune()", must, type(dataset).__name__))


def _cluster_cpus() -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
