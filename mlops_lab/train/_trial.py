"""A trial of a search, as users handle it: its parameters, score, and refitted model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sklearn.base import BaseEstimator, clone

if TYPE_CHECKING:
    from mlops_lab.train._request import TuneRequest

REFERENCE_ROWS = 1_000


@dataclass(frozen=True)
class Trial:
    """One configuration of a search; ``lab.registry.register(name, trial)`` refits it.

    Attributes:
        trial_id: The trial's id in the store (``trials.trial_id``).
        params: The configuration's parameters.
        score: Its last cross-validated score, or None when it never scored.
        status: completed, stopped, error, cancelled, pending or running.
    """

    trial_id: str
    params: dict[str, Any]
    score: float | None
    status: str
    request: TuneRequest

    def fit(self) -> BaseEstimator:
        """The trial's configuration fitted on all the data of the search."""
        model = clone(self.request.estimator).set_params(**self.params)
        return model.fit(self.request.X, self.request.y)

    def registration(self) -> dict[str, Any]:
        """What the registry records: the refitted model, its lineage and a reference sample."""
        X = self.request.X
        reference = X.sample(min(len(X), REFERENCE_ROWS), random_state=0) if hasattr(
            X, "sample"
        ) else X[:REFERENCE_ROWS]  # fmt: skip
        return {
            "model": self.fit(),
            "reference": reference,
            "dataset": self.request.dataset,
            "trial_id": self.trial_id,
            "metrics": {} if self.score is None else {f"cv_{self.request.metric}": self.score},
            "params": self.params,
        }

    def __repr__(self) -> str:
        score = "-" if self.score is None else f"{self.score:.4f}"
        return f"<Trial {self.trial_id} {self.status} {self.request.metric}={score} {self.params}>"
