"""The lineage tree of a dataset version, walked over its recorded parents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def lineage_tree(
    ref: str, records: Mapping[str, Mapping[str, Any]], path: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The version ``ref``, its prep and its parents' lineage, recursively.

    ``records`` maps ``name@version`` to that version's ``prep`` and ``parents``.
    Versions are content hashes, so the API cannot make a cycle; a store edited by
    hand still might, so a version met again on its own path is marked ``cycle``
    instead of recursing forever, and a parent with no record is marked ``missing``.

    Example:
        >>> records = {"a@1": {"prep": None, "parents": []},
        ...            "b@2": {"prep": {"type": "callable"}, "parents": ["a@1"]}}
        >>> lineage_tree("b@2", records)["parents"][0]["dataset"]
        'a@1'
    """
    name, _, version = ref.partition("@")
    node: dict[str, Any] = {"dataset": ref, "name": name, "version": version}
    record = records.get(ref)
    if ref in path or record is None:
        flag = "cycle" if ref in path else "missing"
        return {**node, "prep": None, "parents": [], flag: True}
    parents = [lineage_tree(parent, records, (*path, ref)) for parent in record["parents"]]
    return {**node, "prep": record["prep"], "parents": parents}
