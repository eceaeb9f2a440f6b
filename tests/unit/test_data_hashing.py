"""The content hash names a version: names, dtypes, values, target and row order; not the index."""

from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
import pandas as pd
from hypothesis import assume, given

from mlops_lab.data._codec import decode_data, encode_data, to_arrow
from mlops_lab.data._hashing import content_hash, version_of

values = st.lists(
    st.tuples(st.integers(-(10**6), 10**6), st.floats(allow_nan=True), st.text(max_size=5)),
    min_size=1,
    max_size=30,
)


def frame_of(rows: list[tuple[int, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["i", "f", "s"])


@given(values, st.randoms())
def test_the_index_is_not_part_of_the_content(rows: list, rnd: object) -> None:
    """Relabelling or shuffling the index labels (not the rows) keeps the hash."""
    frame = frame_of(rows)
    labels = list(range(100, 100 + len(rows)))
    rnd.shuffle(labels)  # type: ignore[attr-defined]
    relabelled = frame.set_axis(labels, axis=0)
    assert content_hash(frame, "i") == content_hash(relabelled, "i")


@given(values)
def test_row_order_is_part_of_the_content(rows: list) -> None:
    """Reversing rows that differ gives another hash (a split or a series may depend on it)."""
    frame = frame_of(rows)
    reversed_frame = frame.iloc[::-1].reset_index(drop=True)
    assume(not frame.equals(reversed_frame))
    assert content_hash(frame, None) != content_hash(reversed_frame, None)


@given(values, st.data())
def test_changing_one_value_changes_the_hash(rows: list, data: st.DataObject) -> None:
    """Any single changed integer gives another version."""
    frame = frame_of(rows)
    row = data.draw(st.integers(0, len(rows) - 1))
    changed = frame.copy()
    changed.loc[row, "i"] = frame.loc[row, "i"] + 1
    assert content_hash(frame, None) != content_hash(changed, None)


@given(values)
def test_the_hash_survives_the_stored_round_trip(rows: list) -> None:
    """A frame decoded from its stored bytes hashes to the version it was stored as."""
    frame = frame_of(rows).assign(c=lambda f: f["s"].astype("category"))
    back = decode_data(encode_data(to_arrow(frame, "register")))
    assert content_hash(frame, "c") == content_hash(back, "c")


def test_names_dtypes_and_target_are_part_of_the_content() -> None:
    """A renamed column, a changed dtype or another target each give another hash."""
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "x"]})
    hashes = {
        content_hash(frame, None),
        content_hash(frame.rename(columns={"a": "A"}), None),
        content_hash(frame.astype({"a": "float64"}), None),
        content_hash(frame.astype({"b": "category"}), None),
        content_hash(frame, "b"),
    }
    assert len(hashes) == 5


def test_a_categoricals_categories_are_part_of_the_content() -> None:
    """The same values with another category set or order are another version."""
    plain = pd.DataFrame({"c": pd.Categorical(["x", "y"], categories=["x", "y"])})
    wider = pd.DataFrame({"c": pd.Categorical(["x", "y"], categories=["x", "y", "z"])})
    ordered = pd.DataFrame({"c": pd.Categorical(["x", "y"], ordered=True)})
    assert len({content_hash(f, None) for f in (plain, wider, ordered)}) == 3


def test_the_hash_of_a_fixed_frame_is_pinned() -> None:
    """The method is stable: a change to it (which would re-version all data) is noticed."""
    frame = pd.DataFrame({"x": [1.5, np.nan, 3.0], "n": [1, 2, 3], "s": ["a", None, "c"]})
    expected = "e4ab5a118cf41ef3d9f4d6a94bf9e4b852c7a272a1ed0017f27731d0c3873ffa"
    assert content_hash(frame, "n") == expected


def test_the_version_is_the_first_twelve_hex_characters() -> None:
    """A version id is short, hex and a prefix of the full sha256."""
    digest = content_hash(pd.DataFrame({"a": [1]}), None)
    assert len(digest) == 64
    assert version_of(digest) == digest[:12]
    assert int(version_of(digest), 16) >= 0
