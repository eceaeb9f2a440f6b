"""Search spaces: check them against an estimator, expand grids, draw random configurations."""

from __future__ import annotations

import difflib
import itertools
import random
from collections.abc import Mapping
from typing import Any

from sklearn.base import BaseEstimator

from mlops_lab.errors import LabError, parameter_error

GRID_KEY = "grid_search"


class TuneError(LabError, ValueError):
    """A tuning request is wrong; raised before any trial starts."""


def check_space(estimator: BaseEstimator, space: Mapping[str, Any], search: str) -> None:
    """Refuse an empty space, unknown parameters, and non-list values in a grid.

    Raises:
        TuneError: naming the parameter and the closest parameter names.
    """
    if not isinstance(space, Mapping) or not space:
        must = "be a non-empty dict of parameter -> values"
        raise TuneError(parameter_error("param_space", "tune()", must, repr(space)))
    known = sorted(estimator.get_params(deep=True))
    for name, values in space.items():
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise TuneError(
                f"'{name}' is not a parameter of {type(estimator).__name__}.{hint} "
                f"Its parameters are: {', '.join(known)}."
            )
        if search == "grid" and not _grid_values(values):
            raise TuneError(
                f"A grid search needs a non-empty list of values for '{name}'. "
                f"Got {values!r} instead; use search='random' for distributions."
            )


def expand(space: Mapping[str, Any], search: str, num_samples: int, seed: int) -> list[dict]:
    """The configurations a search will try, in a stable order.

    A grid tries each combination once; a random search draws ``num_samples`` of them.
    """
    if search == "grid":
        names = list(space)
        value_lists = [_grid_values(space[name]) or [] for name in names]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*value_lists)]
    rng = random.Random(seed)
    return [
        {name: _draw(values, rng) for name, values in space.items()} for _ in range(num_samples)
    ]


def _grid_values(values: Any) -> list[Any] | None:
    if isinstance(values, Mapping) and set(values) == {GRID_KEY}:
        values = values[GRID_KEY]
    if isinstance(values, list | tuple | range) and len(values) > 0:
        return list(values)
    return None


def _draw(values: Any, rng: random.Random) -> Any:
    grid = _grid_values(values)
    if grid is not None:
        return rng.choice(grid)
    if hasattr(values, "rvs"):  # a scipy.stats distribution
        return values.rvs(random_state=rng.randrange(2**32)).item()
    if hasattr(values, "sample"):  # a Ray Tune domain such as tune.loguniform(1e-4, 1)
        import numpy as np

        sample = values.sample(random_state=np.random.default_rng(rng.randrange(2**32)))
        return sample[0] if isinstance(sample, list) else sample
    return values
