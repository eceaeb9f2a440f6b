"""The lab's cross-cutting rules: one error base, one parameter template, one listing, and
JSON rules named for what they do."""

from __future__ import annotations

import importlib
import json
import math
import pkgutil
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mlops_lab
from mlops_lab._json import canonical_json, encodable_value, json_or_name, json_or_repr, strict_json
from mlops_lab.errors import LabError, listing, parameter_error


def public_error_classes() -> set[type[BaseException]]:
    """Every exception class the lab's public modules and packages export."""
    found = set()
    for info in pkgutil.iter_modules(mlops_lab.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"mlops_lab.{info.name}")
        names = getattr(module, "__all__", None) or [n for n in dir(module) if n[0] != "_"]
        for name in names:
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, BaseException):
                found.add(value)
    return {cls for cls in found if cls.__module__.startswith("mlops_lab")}


def test_every_public_error_class_is_a_lab_error() -> None:
    """Whatever the lab exports as an error, `except LabError` catches it."""
    errors = public_error_classes()
    assert {cls.__name__ for cls in errors} >= {
        "ConfigError", "DatasetError", "EndpointError", "LabConnectionError", "PolicyError",
        "RegistryError", "RequestError", "StoreError", "TuneError", "BadDataError",
    }  # fmt: skip
    assert [cls.__name__ for cls in errors if not issubclass(cls, LabError)] == []


def test_lab_error_is_exported_at_the_top_level() -> None:
    """`mlops_lab.LabError` is the class every error of the lab derives from."""
    assert mlops_lab.LabError is LabError
    assert "LabError" in mlops_lab.__all__


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("ConfigError", ValueError),
        ("DatasetError", ValueError),
        ("EndpointError", ValueError),
        ("RegistryError", ValueError),
        ("TuneError", ValueError),
        ("LabConnectionError", RuntimeError),
        ("BadDataError", ValueError),
        ("ReadOnlyError", PermissionError),
        ("StoreUnavailableError", ConnectionError),
    ],
)
def test_error_classes_keep_their_builtin_base(name: str, builtin: type[Exception]) -> None:
    """Code that caught an error by its builtin base still catches it."""
    cls = getattr(mlops_lab, name)
    assert issubclass(cls, LabError)
    assert issubclass(cls, builtin)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            ("metric", "tune()", "be one of ['accuracy', 'roc_auc']", "'acc'"),
            "The 'metric' parameter of tune() must be one of ['accuracy', 'roc_auc']. "
            "Got 'acc' instead.",
        ),
        (
            ("seed", "", "be an integer", "'1'"),
            "The 'seed' parameter must be an integer. Got '1' instead.",
        ),
        (
            ("gamma", "the 'discounted_thompson' policy", "be in (0.0, 1.0]", "0.0", "Try 0.98."),
            "The 'gamma' parameter of the 'discounted_thompson' policy must be in (0.0, 1.0]. "
            "Got 0.0 instead. Try 0.98.",
        ),
    ],
)
def test_the_parameter_template(arguments: tuple[str, ...], expected: str) -> None:
    """Parameter, owner, rule, value received and the fix, in that order."""
    assert expected == parameter_error(*arguments)


def test_the_parameter_template_with_a_detail_and_a_fix() -> None:
    """A detail follows the value received; the fix comes last."""
    expected = (
        "The 'target' parameter of register() must name a column. Got 'y' instead; "
        "columns are: a, b. Pass target='a'."
    )
    actual = parameter_error(
        "target",
        "register()",
        "name a column",
        "'y'",
        "Pass target='a'.",
        detail="columns are: a, b",
    )
    assert expected == actual


NAMES = st.lists(st.text("abcxyz_", min_size=1, max_size=5), max_size=30)


@given(names=NAMES, limit=st.integers(1, 12))
def test_listing_shows_at_most_limit_names_and_counts_the_rest(
    names: list[str], limit: int
) -> None:
    """The first `limit` names in order, then how many more there are, if any."""
    shown = ", ".join(names[:limit])
    expected = shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")
    assert expected == listing(names, limit)


def test_listing_takes_any_iterable_of_any_values() -> None:
    """Generators and non-text values are listed as text."""
    assert listing(iter(range(1, 11)), limit=2) == "1, 2, ... (8 more)"
    assert listing([]) == ""


# --- JSON rules ---

KEYS = st.text(max_size=5)
TEXT = st.lists(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=6).map("".join)
NUMPY = st.builds(np.float64, st.floats()) | st.builds(np.int64, st.integers(-(2**63), 2**63 - 1))
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | TEXT | NUMPY
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(KEYS | TEXT, inner, max_size=4)
    ),
    max_leaves=15,
)
PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=15,
)  # fmt: skip


def strict_utf8(value: object) -> bytes:
    """``value`` as strict JSON in UTF-8; raises for NaN, infinities or a lone surrogate."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")


@given(PLAIN)
def test_the_rules_agree_on_what_json_holds_as_it_is(value: object) -> None:
    """Finite numbers, text, lists and dicts with text keys come back unchanged by every rule."""
    assert value == strict_json(value) == json_or_repr(value) == json_or_name(value)
    assert value == encodable_value(value)


@given(VALUES)
def test_strict_json_writes_as_strict_utf8_and_is_idempotent(value: object) -> None:
    """NaN, infinities, numpy numbers and lone surrogates all become strict UTF-8 JSON."""
    strict = strict_json(value)
    strict_utf8(strict)
    assert strict_json(strict) == strict


def test_where_the_rules_differ() -> None:
    """Non-finite floats, missing values, functions, dates and arrays, rule by rule.

    (json_or_repr's own properties are in test_registry_signature.py, beside what it stores.)
    """
    value = {
        "nan": math.nan,
        "inf": -math.inf,
        "na": pd.NA,
        "f": len,
        "day": date(2024, 5, 1),
        "array": np.array([1, 2]),
        "n": np.int64(3),
        "bad": "\ud800",
        1: "one",
    }
    assert strict_json(value) == {
        "nan": None, "inf": None, "na": None, "f": len, "day": date(2024, 5, 1),
        "array": value["array"], "n": 3, "bad": "\\ud800", 1: "one",
    }  # fmt: skip
    assert json_or_repr(value) == {
        "nan": "nan", "inf": "-inf", "na": "<NA>", "f": "<built-in function len>",
        "day": "datetime.date(2024, 5, 1)", "array": [1, 2], "n": 3, "bad": "\ud800", "1": "one",
    }  # fmt: skip
    assert json_or_name(value) == {
        "nan": None, "inf": None, "na": "<NA>", "f": "builtins.len", "day": "2024-05-01",
        "array": "array([1, 2])", "n": 3, "bad": "\ud800", "1": "one",
    }  # fmt: skip


def test_canonical_json_gives_equal_text_for_equal_values() -> None:
    """Key order does not matter; timestamps are ISO text; NaN is null."""
    first = {"b": [math.nan], "a": datetime(2024, 5, 1, 12)}
    second = {"a": pd.Timestamp("2024-05-01 12:00"), "b": [np.float64("nan")]}
    assert canonical_json(first) == '{"a":"2024-05-01T12:00:00","b":[null]}'
    assert canonical_json(first) == canonical_json(second)
