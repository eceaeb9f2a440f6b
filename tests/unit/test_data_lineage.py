"""Lineage trees and the text and HTML views of a dataset version."""

from __future__ import annotations

from datetime import datetime

from mlops_lab.data import DatasetVersion
from mlops_lab.data._lineage import lineage_tree

SCALER = {"type": "sklearn", "class": "sklearn.preprocessing._data.StandardScaler"}


def test_a_tree_holds_each_prep_and_its_parents_recursively() -> None:
    """Two levels: c from b (scaled) from a (raw); a has no prep and no parents."""
    records = {
        "a@1": {"prep": None, "parents": []},
        "b@2": {"prep": SCALER, "parents": ["a@1"]},
        "c@3": {"prep": {"type": "callable"}, "parents": ["b@2"]},
    }
    tree = lineage_tree("c@3", records)
    assert tree == {
        "dataset": "c@3", "name": "c", "version": "3", "prep": {"type": "callable"},
        "parents": [{
            "dataset": "b@2", "name": "b", "version": "2", "prep": SCALER,
            "parents": [{"dataset": "a@1", "name": "a", "version": "1", "prep": None,
                         "parents": []}],
        }],
    }  # fmt: skip


def test_a_cycle_is_marked_instead_of_followed() -> None:
    """A hand-edited store with a cycle still gives a finite tree, the repeat marked."""
    records = {"a@1": {"prep": None, "parents": ["b@2"]}, "b@2": {"prep": None, "parents": ["a@1"]}}
    tree = lineage_tree("a@1", records)
    repeat = tree["parents"][0]["parents"][0]
    assert repeat == {"dataset": "a@1", "name": "a", "version": "1", "prep": None, "parents": [],
                      "cycle": True}  # fmt: skip


def test_a_parent_without_a_record_is_marked_missing() -> None:
    """A parent reference that leads nowhere is kept and flagged."""
    tree = lineage_tree("b@2", {"b@2": {"prep": None, "parents": ["gone@9"]}})
    assert tree["parents"][0]["missing"] is True


def version() -> DatasetVersion:
    return DatasetVersion(
        name="iris", version="3f2a9c1b7d4e", created_at=datetime(2026, 3, 1, 9, 30),
        n_rows=150, target="species",
        schema={"columns": [
            {"name": "sepal_length", "dtype": "float64", "kind": "numeric", "target": False},
            {"name": "species", "dtype": "category", "kind": "categorical", "target": True},
        ], "target": "species"},
        profile={
            "sepal_length": {"kind": "numeric", "count": 150, "nulls": 0, "mean": 5.8433,
                             "std": 0.8281, "min": 4.3, "max": 7.9},
            "species": {"kind": "categorical", "count": 150, "nulls": 0, "distinct": 3,
                        "top": [{"value": "<setosa>", "count": 50}]},
        },
        prep=SCALER, parents=("raw@0123456789ab",), content_hash="3f2a9c1b7d4e" + "0" * 52,
        description="UCI iris",
    )  # fmt: skip


def test_the_text_view_summarises_the_version() -> None:
    """str() gives the reference, size, lineage and one line per column."""
    text = str(version())
    assert (
        text.splitlines()[0] == "Dataset iris@3f2a9c1b7d4e: 150 rows, 2 columns, target 'species'"
    )
    assert "parents:     raw@0123456789ab" in text
    assert "prep:        sklearn.preprocessing._data.StandardScaler" in text
    assert "mean 5.843, std 0.8281, min 4.3, max 7.9" in text
    assert "species *" in text and "3 distinct, top <setosa> (50)" in text


def test_the_html_view_escapes_values() -> None:
    """_repr_html_ is a table whose cells are escaped."""
    markup = version()._repr_html_()
    assert "<table>" in markup and "&lt;setosa&gt; (50)" in markup
    assert "<setosa>" not in markup


def test_the_repr_is_short_and_versions_are_hashable() -> None:
    """repr() names the version; versions can be set members despite their dict fields."""
    assert repr(version()) == "DatasetVersion('iris@3f2a9c1b7d4e', n_rows=150, target='species')"
    assert len({version(), version()}) == 1
    assert version().features == ["sepal_length"]
