"""``lab.tune(...)``: resolve the data, check the request, start the run and its view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ray
from sklearn.base import BaseEstimator

from mlops_lab._options import TUNE, resolve
from mlops_lab._warm import WarmPool
from mlops_lab.data import Datasets, DatasetVersion
from mlops_lab.errors import parameter_error
from mlops_lab.store import StoreClient
from mlops_lab.train._request import build_request, split_target
from mlops_lab.train._run import TuneRun
from mlops_lab.train._space import TuneError


def run_tune(
    store: StoreClient, datasets: Datasets, storage: Path, warm: WarmPool, estimator: BaseEstimator,
    param_space: dict[str, Any], **given: Any,
) -> TuneRun:  # fmt: skip
    """Search ``param_space`` for ``estimator`` on Ray Tune; see :meth:`mlops_lab.Lab.tune`.

    ``given`` holds the options of ``TUNE`` (:mod:`mlops_lab._options`); the others take
    their declared defaults.
    """
    options = resolve(TUNE, given, TuneError, check=False)  # build_request checks the values
    data, ref = _resolve_data(datasets, options["dataset"], options["target"])
    if options["max_concurrent"] is None:
        options["max_concurrent"] = _cluster_cpus()
    request = build_request(estimator, param_space, data, dataset=ref, options=options)
    run = TuneRun(request, store, storage, warm)
    if options["progress"]:
        from mlops_lab.train._progress import attach_progress

        attach_progress(run)
    return run.start(background=options["background"])


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
