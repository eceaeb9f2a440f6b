"""Registered versions as DataFrames: the list of versions, and versions compared."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from mlops_lab.registry._version import ModelVersion

VERSION_COLUMNS = (
    "name", "version", "aliases", "created_at", "flavor", "task", "dataset", "trial_id",
    "description",
)  # fmt: skip


def versions_frame(versions: Sequence[ModelVersion]) -> pd.DataFrame:
    """One row per version, in the given order; metrics as ``metrics.<name>`` columns."""
    metric_names = sorted({key for version in versions for key in version.metrics})
    columns = [*VERSION_COLUMNS, *(f"metrics.{key}" for key in metric_names)]
    records = [
        {
            "name": version.name,
            "version": version.version,
            "aliases": list(version.aliases),
            "created_at": version.created_at,
            "flavor": version.flavor,
            "task": version.signature.get("task"),
            "dataset": version.dataset,
            "trial_id": version.trial_id,
            "description": version.description,
            **{f"metrics.{key}": value for key, value in version.metrics.items()},
        }
        for version in versions
    ]
    return pd.DataFrame.from_records(records, columns=columns)


def comparison_frame(refs: Sequence[str], versions: Sequence[ModelVersion]) -> pd.DataFrame:
    """Metrics and params of ``versions`` side by side, one column per ref.

    Rows are the version compared ("model"), then ``metrics.<name>`` and
    ``params.<name>`` rows in name order; a value a version lacks is missing.
    """
    columns = {str(ref): _facts(version) for ref, version in zip(refs, versions, strict=True)}
    metric_rows = sorted({f"metrics.{key}" for version in versions for key in version.metrics})
    param_rows = sorted({f"params.{key}" for version in versions for key in version.params})
    rows = ["model", "created_at", *metric_rows, *param_rows]
    frame = pd.DataFrame({ref: pd.Series(facts, dtype=object) for ref, facts in columns.items()})
    return frame.reindex(rows)


def _facts(version: ModelVersion) -> dict[str, Any]:
    return {
        "model": version.ref,
        "created_at": version.created_at,
        **{f"metrics.{key}": value for key, value in version.metrics.items()},
        **{f"params.{key}": value for key, value in version.params.items()},
    }
