"""Datasets: register, derive, find and load versioned datasets in the lab's store."""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import pandas as pd

from mlops_lab._json import canonical_json
from mlops_lab.data._codec import (
    decode_data,
    decode_parquet,
    encode_data,
    encode_parquet,
    reference_sample,
    to_arrow,
)
from mlops_lab.data._errors import LISTED, DatasetError, bad_parameter
from mlops_lab.data._frame import check_name, to_frame
from mlops_lab.data._hashing import content_hash, version_of
from mlops_lab.data._lineage import lineage_tree
from mlops_lab.data._prep import apply_prep, check_prep, describe_prep
from mlops_lab.data._profile import profile_of, schema_of
from mlops_lab.data._render import prep_summary
from mlops_lab.data._version import DatasetVersion
from mlops_lab.errors import listing
from mlops_lab.store import StoreClient

Ref = str | DatasetVersion
_REF = re.compile(r"[^@\s]+(@[^@\s]+)?")
_META = (
    "name, version, created_at, content_hash, n_rows, target, schema, profile, prep, "
    "parents, description"
)


class _Default(Enum):
    INHERIT = "inherit the parent's target"


class Datasets:
    """The lab's dataset registry: versioned by content, with schema, profile and lineage.

    Works over any :class:`~mlops_lab.store.StoreClient`: the in-process ``Store`` or the
    lab's store actor, so data registered in a notebook loads by name on any Ray node.

    Args:
        store: Where datasets are kept.

    Example:
        >>> datasets = Datasets(Store("lab.duckdb"))
        >>> v1 = datasets.register("iris", iris_frame, target="species")
        >>> datasets.load("iris").shape
        (150, 5)
    """

    def __init__(self, store: StoreClient) -> None:
        self.store = store

    def register(
        self,
        name: str,
        data: Any,
        *,
        target: Any = None,
        prep: Any = None,
        parents: Iterable[Ref] | Ref = (),
        description: str | None = None,
    ) -> DatasetVersion:
        """Register data as a version of ``name``; the same data again is a no-op.

        The version is the first 12 hex characters of a sha256 over the column names,
        dtypes, values (in row order; the index is ignored) and target, so registering
        identical data returns the stored version and writes nothing.

        Args:
            name: The dataset's name: non-empty, no ``@``, no whitespace.
            data: A DataFrame; a 2-D array or list of rows (columns ``x0..xN``); or a
                tuple ``(X, y)`` (y stored as its Series name, else ``target``).
            target: For a DataFrame, the target column's name; for an array or rows,
                one target value per row (stored as column ``target``).
            prep: The step that produced ``data`` from ``parents`` (an sklearn
                transformer or a callable), recorded as lineage, not applied.
            parents: Versions this data was made from: ``"name"`` (latest),
                ``"name@version"`` or a :class:`DatasetVersion`.
            description: Free text kept with the version.

        Returns:
            The registered (or already stored) version.

        Raises:
            DatasetError: a bad argument or unknown parent; nothing is written.

        Example:
            >>> v = datasets.register("iris", (X, y), description="UCI iris")
            >>> datasets.register("iris", (X, y)).version == v.version
            True
        """
        return self._register("register", name, data, target, prep, parents, description)

    def derive(
        self,
        name: str,
        parent: Ref,
        prep: Any,
        *,
        target: str | _Default | None = _Default.INHERIT,
        description: str | None = None,
    ) -> DatasetVersion:
        """Apply ``prep`` to a parent version and register the result with its lineage.

        A callable gets the parent's whole frame and returns a DataFrame. An sklearn
        transformer is fitted (``fit_transform``, on the object given) on the columns
        other than the parent's target, which is passed through untouched; its output
        columns are named by ``get_feature_names_out`` when it has them.

        Args:
            name: The derived dataset's name (may equal the parent's).
            parent: ``"name"``, ``"name@version"`` or a :class:`DatasetVersion`.
            prep: An sklearn transformer or a callable ``DataFrame -> DataFrame``.
            target: The result's target column; by default the parent's.
            description: Free text kept with the version.

        Example:
            >>> scaled = datasets.derive("iris-scaled", "iris", StandardScaler())
            >>> scaled.parents
            ('iris@3f2a9c1b7d4e',)
        """
        check_name(name, "derive")
        check_prep(prep, "derive")
        if prep is None:
            raise bad_parameter(
                "prep", "derive", "be an sklearn transformer or a callable", "None",
                fix="To register data without a step, use register().",
            )  # fmt: skip
        source = self._get(parent, "derive", "parent")
        output = apply_prep(prep, self.load(source), source.target)
        chosen = source.target if target is _Default.INHERIT else target
        return self._register("derive", name, output, chosen, prep, [source], description)

    def get(self, ref: Ref) -> DatasetVersion:
        """The version ``ref`` names: ``"name"`` (the latest) or ``"name@version"``.

        Example:
            >>> print(datasets.get("iris@3f2a9c1b7d4e"))
        """
        return self._get(ref, "get", "ref")

    def load(self, ref: Ref) -> pd.DataFrame:
        """The full data of a version, with the dtypes it was registered with.

        Example:
            >>> frame = datasets.load("iris")
        """
        return decode_data(self._blob(ref, "data", "load"))

    def reference(self, ref: Ref) -> pd.DataFrame:
        """The version's reference sample: at most 1,000 rows, seeded, in data order.

        Read from Parquet, which brings categoricals of numbers back as plain numbers.

        Example:
            >>> datasets.reference("iris").shape
            (150, 5)
        """
        return decode_parquet(self._blob(ref, "reference", "reference"))

    def list(self) -> pd.DataFrame:
        """Every version of every dataset, one row each, newest first.

        Example:
            >>> datasets.list()[["name", "version", "n_rows"]]
        """
        table = self.store.query(
            "SELECT name, version, created_at, n_rows, "
            "json_array_length(schema, '$.columns') AS n_columns, target, parents, prep, "
            "description FROM datasets ORDER BY created_at DESC, name, version"
        )
        frame = table.to_pandas()
        frame["parents"] = [json.loads(text) if text else [] for text in frame["parents"]]
        frame["prep"] = [prep_summary(json.loads(text)) if text else None for text in frame["prep"]]
        return frame

    def lineage(self, ref: Ref) -> dict[str, Any]:
        """The tree a version came from: its prep, then its parents' lineage.

        Example:
            >>> tree = datasets.lineage("iris-scaled")
            >>> tree["prep"]["class"], tree["parents"][0]["dataset"]
            ('sklearn.preprocessing._data.StandardScaler', 'iris@3f2a9c1b7d4e')
        """
        name, version = self._resolve(ref, "lineage", "ref")
        rows = self.store.query("SELECT name, version, prep, parents FROM datasets").to_pylist()
        records = {
            f"{row['name']}@{row['version']}": {
                "prep": json.loads(row["prep"]) if row["prep"] else None,
                "parents": json.loads(row["parents"]) if row["parents"] else [],
            }
            for row in rows
        }
        return lineage_tree(f"{name}@{version}", records)

    def _register(
        self,
        caller: str,
        name: str,
        data: Any,
        target: Any,
        prep: Any,
        parents: Iterable[Ref] | Ref,
        description: str | None,
    ) -> DatasetVersion:
        """Check everything first, then write the row and its event in one transaction."""
        check_name(name, caller)
        frame, target_name = to_frame(data, target, caller)
        prep_description = describe_prep(prep, caller)
        if description is not None and not isinstance(description, str):
            raise bad_parameter(
                "description", caller, "be text or None", type(description).__name__
            )
        parent_refs = self._resolve_parents(parents, caller)
        digest = content_hash(frame, target_name)
        version = version_of(digest)
        if version not in self._versions(name):
            row = {
                "name": name,
                "version": version,
                "created_at": datetime.now(UTC).replace(tzinfo=None),
                "content_hash": digest,
                "n_rows": len(frame),
                "target": target_name,
                "prep": None if prep_description is None else canonical_json(prep_description),
                "parents": canonical_json(builtins.list(parent_refs)),
                "description": description,
                **_contents(frame, target_name, caller),
            }
            # Identical rows from a concurrent registration are ignored by the store.
            self.store.write({"datasets": [row], "events": [_registered_event(row)]})
        return self.get(f"{name}@{version}")

    def _get(self, ref: Ref, caller: str, param: str) -> DatasetVersion:
        name, version = self._resolve(ref, caller, param)
        rows = self.store.query(
            f"SELECT {_META} FROM datasets WHERE name = ? AND version = ?", [name, version]
        ).to_pylist()
        return DatasetVersion.from_row(rows[0])

    def _blob(self, ref: Ref, column: str, caller: str) -> bytes:
        name, version = self._resolve(ref, caller, "ref")
        rows = self.store.query(
            f"SELECT {column} AS blob FROM datasets WHERE name = ? AND version = ?",
            [name, version],
        ).to_pylist()
        if rows[0]["blob"] is None:
            raise DatasetError(
                f"The dataset {name}@{version} holds no {column}; it was stored without it. "
                "Register the data again under a new name to store it."
            )
        return bytes(rows[0]["blob"])

    def _resolve_parents(self, parents: Iterable[Ref] | Ref, caller: str) -> tuple[str, ...]:
        """Exact ``name@version`` of each parent, in order, each once."""
        items = [parents] if isinstance(parents, str | DatasetVersion) else parents
        refs = ("@".join(self._resolve(item, caller, "parents")) for item in items)
        return tuple(dict.fromkeys(refs))

    def _resolve(self, ref: Ref, caller: str, param: str) -> tuple[str, str]:
        """The name and exact version ``ref`` names, or an error listing what exists."""
        if isinstance(ref, DatasetVersion):
            name, version = ref.name, ref.version
        elif isinstance(ref, str) and _REF.fullmatch(ref):
            name, _, version = ref.partition("@")
        else:
            raise bad_parameter(
                param, caller, "be 'name', 'name@version' or a DatasetVersion", repr(ref)
            )
        versions = self._versions(name)
        if not versions:
            known = self.store.query("SELECT DISTINCT name FROM datasets ORDER BY name")
            names = known.column("name").to_pylist()
            raise bad_parameter(
                param, caller, "name a registered dataset", repr(_text(ref)),
                f"known datasets are: {listing(names, LISTED) or 'none'}",
                f"Register it first with register({name!r}, data), or check the spelling.",
            )  # fmt: skip
        if version and version not in versions:
            raise bad_parameter(
                param, caller, f"name a registered version of {name!r}", repr(_text(ref)),
                f"its versions, newest first, are: {listing(versions, LISTED)}",
                f"Use one of them, or {name!r} for the latest.",
            )  # fmt: skip
        return name, version or versions[0]

    def _versions(self, name: str) -> builtins.list[str]:
        """The versions of ``name``, newest first."""
        table = self.store.query(
            "SELECT version FROM datasets WHERE name = ? ORDER BY created_at DESC, version",
            [name],
        )
        return [str(version) for version in table.column("version").to_pylist()]


def _contents(frame: pd.DataFrame, target: str | None, caller: str) -> dict[str, Any]:
    """The stored description and bytes of the data: schema, profile, sample, full data."""
    table = to_arrow(frame, caller)
    return {
        "schema": canonical_json(schema_of(frame, target)),
        "profile": canonical_json(profile_of(frame)),
        "reference": encode_parquet(to_arrow(reference_sample(frame), caller)),
        "data": encode_data(table),
    }


def _registered_event(row: dict[str, Any]) -> dict[str, Any]:
    subject = f"{row['name']}@{row['version']}"
    details = {key: row[key] for key in ("n_rows", "target", "content_hash", "description")}
    return {
        # A key made from the version, so a retried registration writes no second event.
        "event_id": f"dataset.registered:{subject}",
        "time": row["created_at"],
        "kind": "dataset.registered",
        "subject": subject,
        "details": canonical_json({**details, "parents": json.loads(row["parents"])}),
    }


def _text(ref: Ref) -> str:
    return ref.ref if isinstance(ref, DatasetVersion) else ref
