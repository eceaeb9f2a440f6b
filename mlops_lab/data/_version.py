"""DatasetVersion: one registered version of a dataset, as read from the store."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlops_lab.data._render import render_html, render_text


@dataclass(frozen=True)
class DatasetVersion:
    """One version of a dataset: what it holds and where it came from.

    Attributes:
        name: The dataset's name.
        version: The first 12 hex characters of ``content_hash``.
        created_at: When this version was first registered (UTC, naive).
        n_rows: The number of rows.
        target: The target column, or ``None``.
        schema: ``{"columns": [{"name", "dtype", "kind", "target"}], "target"}``.
        profile: Per column: count, nulls and statistics of its kind.
        prep: How the step that produced it from ``parents`` is described, or ``None``.
        parents: The exact versions (``name@version``) it was produced from.
        content_hash: The sha256 of its names, dtypes, values and target.
        description: Free text given at registration.

    Example:
        >>> v = datasets.get("iris")
        >>> v.ref, v.n_rows, v.columns[:2]
        ('iris@3f2a9c1b7d4e', 150, ['sepal_length', 'sepal_width'])
    """

    name: str
    version: str
    created_at: datetime
    n_rows: int
    target: str | None
    schema: dict[str, Any] = field(hash=False)
    profile: dict[str, Any] = field(hash=False)
    prep: dict[str, Any] | None = field(hash=False)
    parents: tuple[str, ...]
    content_hash: str
    description: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DatasetVersion:
        """Build from a row of the ``datasets`` table (JSON columns as text)."""
        return cls(
            name=row["name"],
            version=row["version"],
            created_at=row["created_at"],
            n_rows=int(row["n_rows"]),
            target=row["target"],
            schema=_loads(row["schema"]) or {"columns": [], "target": None},
            profile=_loads(row["profile"]) or {},
            prep=_loads(row["prep"]),
            parents=tuple(_loads(row["parents"]) or ()),
            content_hash=row["content_hash"],
            description=row.get("description"),
        )

    @property
    def ref(self) -> str:
        """The exact reference, ``name@version``."""
        return f"{self.name}@{self.version}"

    @property
    def columns(self) -> list[str]:
        """Every column's name, in order, the target included."""
        return [column["name"] for column in self.schema.get("columns", [])]

    @property
    def features(self) -> list[str]:
        """The columns other than the target."""
        return [name for name in self.columns if name != self.target]

    def __str__(self) -> str:
        return render_text(self)

    def __repr__(self) -> str:
        return f"DatasetVersion({self.ref!r}, n_rows={self.n_rows}, target={self.target!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's text/plain shows the readable summary rather than the repr."""
        printer.text(repr(self) if cycle else str(self))

    def _repr_html_(self) -> str:
        return render_html(self)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
