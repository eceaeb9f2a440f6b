"""What register() accepts as data becomes one checked frame; anything else is refused clearly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlops_lab.data
from mlops_lab.data import DatasetError
from mlops_lab.data._frame import check_name, column_kind, to_frame


def test_the_public_namespace_is_exactly_all_sorted() -> None:
    """mlops_lab.data exports a sorted __all__ naming every public attribute."""
    public = {
        name
        for name, value in vars(mlops_lab.data).items()
        if not name.startswith("_") and type(value).__name__ != "module" and name != "annotations"
    }
    assert mlops_lab.data.__all__ == sorted(mlops_lab.data.__all__)
    assert set(mlops_lab.data.__all__) == public == {"DatasetError", "DatasetVersion", "Datasets"}


def test_a_dataframe_keeps_its_columns_and_loses_its_index() -> None:
    """A DataFrame is taken as is, with a fresh 0..n-1 index; target names a column."""
    frame, target = to_frame(
        pd.DataFrame({"a": [1, 2], "y": [0, 1]}, index=[5, 3]), "y", "register"
    )
    assert (frame.columns.tolist(), frame.index.tolist(), target) == (["a", "y"], [0, 1], "y")


def test_an_array_gets_x_columns_and_a_target_column() -> None:
    """A 2-D array's columns are x0..xN; 1-D target values become column 'target'."""
    frame, target = to_frame(np.arange(6.0).reshape(3, 2), ["a", "b", "a"], "register")
    assert frame.columns.tolist() == ["x0", "x1", "target"]
    assert target == "target"
    assert frame["target"].tolist() == ["a", "b", "a"]


def test_rows_keep_a_type_per_column() -> None:
    """A list of rows with mixed types keeps numbers numeric and text as text."""
    frame, target = to_frame([[1, "a"], [2, "b"]], None, "register")
    assert [column_kind(frame[c]) for c in frame.columns] == ["numeric", "categorical"]
    assert target is None


def test_a_pair_stores_y_under_its_series_name() -> None:
    """(X, y) with a named Series y keeps the name; an unnamed y is called 'target'."""
    features = pd.DataFrame({"a": [1.0, 2.0]}, index=[9, 8])
    named, target = to_frame((features, pd.Series(["u", "v"], name="label")), None, "register")
    assert (named.columns.tolist(), target) == (["a", "label"], "label")
    assert named["label"].tolist() == ["u", "v"]
    unnamed, target = to_frame((features, np.array([0, 1])), None, "register")
    assert (unnamed.columns.tolist(), target) == (["a", "target"], "target")
    assert features.columns.tolist() == ["a"] and features.index.tolist() == [9, 8]


@pytest.mark.parametrize(
    ("data", "target", "message"),
    [
        (pd.DataFrame({"a": [1], "b": [2], "c": [3]}), "label",
         "The 'target' parameter of register() must name a column of the data. "
         "Got 'label' instead; columns are: a, b, c."),
        (pd.DataFrame({"a": []}), None, "must hold at least one row and one column. Got 0 rows"),
        (pd.DataFrame(index=[0, 1]), None, "Got 2 rows and 0 columns instead"),
        ([], None, "Got 0 rows and 0 columns instead"),
        ({"a": [1]}, None, "'data' parameter of register() must be a pandas DataFrame, a 2-D"),
        ("a,b\n1,2", None, "Got str instead"),
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), None, "unique column names. Got 'a' more"),
        (pd.DataFrame([[1, 2]]), None, "must have text column names. Got 0 (int)"),
        (np.arange(3), None, "must be 2-D when it is an array"),
        ([[1, 2], [3]], None, "must have rows of one length. Got rows of lengths 1, 2"),
        ([{"a": 1}], None, "Got row 0 of type dict instead"),
        (np.ones((3, 2)), [1, 2], "must give one target value per row of the data. Got 2 values"),
        (np.ones((3, 2)), "y", "'target' parameter of register() must give 1-D target values"),
        ((np.ones((2, 1)), np.ones((2, 1))), None, "Got a y of shape (2, 1) instead"),
        ((np.ones((2, 1)), [1, 2]), "y", "must be None when data is a tuple (X, y)"),
        ((pd.DataFrame({"target": [1]}), [0]), None, "give a target named unlike the feature"),
        (pd.DataFrame({"d": pd.to_timedelta([1], "s")}), None, "column 'd' of dtype timedelta64"),
        (pd.DataFrame({"m": [1, "a"]}), None, "column 'm' of dtype object"),
    ],
)  # fmt: skip
def test_bad_data_is_refused_saying_what_and_how(
    data: object, target: object, message: str
) -> None:
    """Each kind of bad input gets an error in the project's template."""
    with pytest.raises(DatasetError) as raised:
        to_frame(data, target, "register")
    assert message in str(raised.value)


@pytest.mark.parametrize("name", ["", "iris@1", "my data", "tab\tname", None, 3])
def test_bad_names_are_refused(name: object) -> None:
    """A name must be non-empty text without '@' or whitespace."""
    with pytest.raises(DatasetError, match="'name' parameter of register\\(\\) must be non-empty"):
        check_name(name, "register")


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        (pd.Series([1, 2]), "numeric"),
        (pd.Series([1.5, None]), "numeric"),
        (pd.Series([1, None], dtype="Int64"), "numeric"),
        (pd.Series([True, False]), "boolean"),
        (pd.Series([True, None], dtype="boolean"), "boolean"),
        (pd.Series(pd.to_datetime(["2026-01-01"])), "datetime"),
        (pd.Series(pd.to_datetime(["2026-01-01"]).tz_localize("UTC")), "datetime"),
        (pd.Series(["a", None]), "categorical"),
        (pd.Series(["a"], dtype="string"), "categorical"),
        (pd.Series(["a"], dtype="category"), "categorical"),
        (pd.Series([None, None], dtype=object), "categorical"),
        (pd.Series([1j]), None),
        (pd.Series([{"a": 1}]), None),
    ],
)
def test_each_column_has_a_kind_or_is_unsupported(column: pd.Series, kind: str | None) -> None:
    """Columns are numeric, boolean, datetime or categorical; others are refused."""
    assert column_kind(column) == kind
