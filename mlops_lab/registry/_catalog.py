"""The registry's reads from the store: parameterised, with removed aliases left out."""

from __future__ import annotations

import json
from typing import Any

from mlops_lab.registry._artifacts import Artifact
from mlops_lab.registry._errors import RegistryError
from mlops_lab.registry._names import format_dataset, parse_ref
from mlops_lab.registry._version import ModelVersion
from mlops_lab.store import StoreClient

REMOVED_ALIAS = -1
"""The version an alias row holds once the alias is deleted.

The store offers no DELETE and ``model_aliases`` rows are replaced by key, so deleting
an alias replaces its row with this version; every read below ignores such rows.
"""

_DESCRIPTION_COLUMNS = (
    "name, version, created_at, flavor, signature, metrics, params, trial_id, "
    "dataset_name, dataset_version, description"
)


class Catalog:
    """Reads of the ``models`` and ``model_aliases`` tables."""

    def __init__(self, store: StoreClient) -> None:
        self._store = store

    def names(self) -> list[str]:
        """Every registered model name, sorted."""
        table = self._store.query("SELECT DISTINCT name FROM models ORDER BY name")
        return [str(name) for name in table.column("name").to_pylist()]

    def versions(self, name: str) -> list[int]:
        """The versions of ``name``, ascending; empty when it is not registered."""
        table = self._store.query(
            "SELECT version FROM models WHERE name = ? ORDER BY version", [name]
        )
        return [int(version) for version in table.column("version").to_pylist()]

    def aliases(self, name: str) -> dict[str, int]:
        """The live aliases of ``name`` and the versions they point at, by alias."""
        table = self._store.query(
            "SELECT alias, version FROM model_aliases "
            "WHERE name = ? AND version != ? ORDER BY alias",
            [name, REMOVED_ALIAS],
        )
        return {row["alias"]: int(row["version"]) for row in table.to_pylist()}

    def check_known(self, name: str) -> list[int]:
        """The versions of ``name``; refuse a name that is not registered."""
        versions = self.versions(name)
        if not versions:
            known = ", ".join(repr(known) for known in self.names()) or "none yet"
            raise RegistryError(
                f"No model named {name!r} is registered. Registered models: {known}. "
                "Register one with registry.register(name, model)."
            )
        return versions

    def resolve(self, ref: object, caller: str) -> tuple[str, int]:
        """The model name and version that ``ref`` points at now."""
        name, selector = parse_ref(ref, caller)
        versions = self.check_known(name)
        if selector is None:
            return name, versions[-1]
        if isinstance(selector, int):
            if selector not in versions:
                raise RegistryError(
                    f"Model {name!r} has no version {selector}. Its versions: {versions}."
                )
            return name, selector
        aliases = self.aliases(name)
        if selector not in aliases:
            known = ", ".join(f"{alias} -> {v}" for alias, v in aliases.items()) or "none"
            raise RegistryError(
                f"Model {name!r} has no alias {selector!r}. Its aliases: {known}. "
                f"Set one with registry.set_alias({name!r}, {selector!r}, version)."
            )
        return name, aliases[selector]

    def describe(self, name: str | None = None, version: int | None = None) -> list[ModelVersion]:
        """Registered versions (all, one model's, or one), newest first."""
        where, params = _filters(name=name, version=version)
        table = self._store.query(
            f"SELECT {_DESCRIPTION_COLUMNS} FROM models {where} "
            "ORDER BY created_at DESC, name, version DESC",
            params,
        )
        aliases = self._alias_lists(name)
        return [_model_version(row, aliases) for row in table.to_pylist()]

    def artifact(self, name: str, version: int) -> Artifact:
        """The stored artifact of one version."""
        row = self._one(name, version, "flavor, artifact, signature")
        recorded = json.loads(row["signature"] or "{}").get("artifact", {})
        untrusted = tuple(recorded.get("untrusted_types", ()))
        return Artifact(row["flavor"], row["artifact"], untrusted)

    def sample(self, name: str, version: int, which: str) -> bytes | None:
        """The Parquet bytes of one version's 'reference' or 'background' sample."""
        if which not in ("reference", "background"):
            raise ValueError(f"unknown sample {which!r}")
        return self._one(name, version, which)[which]

    def _one(self, name: str, version: int, columns: str) -> dict[str, Any]:
        table = self._store.query(
            f"SELECT {columns} FROM models WHERE name = ? AND version = ?", [name, version]
        )
        return table.to_pylist()[0]

    def _alias_lists(self, name: str | None) -> dict[tuple[str, int], list[str]]:
        where, params = _filters(name=name)
        condition = f"{where} AND" if where else "WHERE"
        table = self._store.query(
            f"SELECT name, alias, version FROM model_aliases {condition} version != ? "
            "ORDER BY alias",
            [*params, REMOVED_ALIAS],
        )
        lists: dict[tuple[str, int], list[str]] = {}
        for row in table.to_pylist():
            lists.setdefault((row["name"], int(row["version"])), []).append(row["alias"])
        return lists


def _filters(**values: object) -> tuple[str, list[object]]:
    """A WHERE clause over the given columns (skipping None), with its parameters."""
    given = {column: value for column, value in values.items() if value is not None}
    if not given:
        return "", []
    return "WHERE " + " AND ".join(f"{column} = ?" for column in given), list(given.values())


def _model_version(row: dict[str, Any], aliases: dict[tuple[str, int], list[str]]) -> ModelVersion:
    signature = json.loads(row["signature"] or "{}")
    recorded = signature.pop("artifact", {})
    key = (row["name"], int(row["version"]))
    return ModelVersion(
        name=row["name"],
        version=key[1],
        created_at=row["created_at"],
        flavor=row["flavor"],
        signature=signature,
        metrics=json.loads(row["metrics"] or "{}"),
        params=json.loads(row["params"] or "{}"),
        trial_id=row["trial_id"],
        dataset=format_dataset(row["dataset_name"], row["dataset_version"]),
        description=row["description"],
        aliases=tuple(aliases.get(key, ())),
        untrusted_types=tuple(recorded.get("untrusted_types", ())),
    )
