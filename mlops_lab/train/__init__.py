"""Hyper-parameter search on Ray Tune for scikit-learn estimators, recorded in the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_lab._lazy import lazy_exports

if TYPE_CHECKING:
    from mlops_lab.train._api import run_tune
    from mlops_lab.train._recorder import TrialState
    from mlops_lab.train._run import TuneRun
    from mlops_lab.train._space import TuneError
    from mlops_lab.train._trial import Trial

_EXPORTS = {
    "Trial": "mlops_lab.train._trial",
    "TrialState": "mlops_lab.train._recorder",
    "TuneError": "mlops_lab.train._space",
    "TuneRun": "mlops_lab.train._run",
    "run_tune": "mlops_lab.train._api",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
