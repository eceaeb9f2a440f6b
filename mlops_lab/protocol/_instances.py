"""Instances as the serving API takes them, read into a DataFrame of the model's features.

``{"instances": [...]}`` holds rows as lists (values in feature order) or as objects keyed
by feature name.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pandas as pd

from mlops_lab.errors import listing
from mlops_lab.protocol._errors import describe, keys_of, plural, refuse
from mlops_lab.protocol._values import FieldPath, check_names, example_row, frame_of

# --- instances: {"instances": [[...], ...]} or {"instances": [{...}, ...]} ---


def parse_instances(
    payload: Any, inputs: list[dict[str, Any]], *, max_instances: int
) -> pd.DataFrame:
    """The instances of ``{"instances": [...]}`` as a DataFrame of the model's features.

    Instances are all lists (values in feature order) or all objects (feature name to
    value). Columns come named, ordered and typed as ``inputs`` declares.

    Example:
        >>> features = [{"name": "a", "dtype": "float64"}, {"name": "b", "dtype": "int64"}]
        >>> parse_instances({"instances": [[0.5, 3]]}, features, max_instances=10).to_dict()
        {'a': {0: 0.5}, 'b': {0: 3}}
    """
    instances = _instances(payload, inputs, max_instances)
    names = [str(feature["name"]) for feature in inputs]
    if isinstance(instances[0], list):
        columns = _columns_of_lists(instances, names)
        paths = [_row_path(f"[{j}]") for j in range(len(names))]
    else:
        columns = _columns_of_objects(instances, names)
        paths = [_row_path(f".{name}") for name in names]
    return frame_of(inputs, columns, paths, len(instances))


def _instances(payload: Any, inputs: list[dict[str, Any]], max_instances: int) -> list[Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("instances"), list):
        got = (
            payload["instances"]
            if isinstance(payload, dict) and "instances" in payload
            else payload
        )
        raise refuse(
            "invalid_payload",
            "instances",
            "an object with an 'instances' list",
            describe(got),
            f"Send one such as {_example(inputs)}.",
            what=" is missing or not a list",
        )
    instances = payload["instances"]
    check_count(len(instances), max_instances, "instances")
    first = type(instances[0])
    for i, instance in enumerate(instances):
        if type(instance) is not first or first not in (list, dict):
            layouts: dict[type, str] = {list: "a list", dict: "an object"}
            expected = f"{layouts[first]}, like instances[0]" if i else "a list or an object"
            raise refuse(
                "invalid_payload",
                f"instances[{i}]",
                expected,
                describe(instance),
                "Send every instance as a list (values in feature order) or every one "
                f"as an object (feature name to value), such as {_example(inputs)}.",
            )
    return instances


def _example(inputs: list[dict[str, Any]]) -> str:
    """A body the endpoint takes, for a refusal to show."""
    return json.dumps({"instances": [example_row(inputs)]})


def check_count(count: int, max_instances: int, field: str) -> None:
    """Refuse a request of no instances, or of more than ``max_instances`` (413)."""
    if count == 0:
        raise refuse("invalid_payload", field, "at least 1 instance", "none", "Send at least one.")
    if count > max_instances:
        raise refuse(
            "too_many_instances",
            field,
            f"at most {max_instances:,} instances",
            f"{count:,}",
            "Split them over several requests.",
            status=413,
        )


def _columns_of_lists(rows: list[list[Any]], names: list[str]) -> list[list[Any]]:
    if set(map(len, rows)) != {len(names)}:
        i = next(i for i, row in enumerate(rows) if len(row) != len(names))
        raise refuse(
            "wrong_feature_count",
            f"instances[{i}]",
            f"{plural(len(names), 'value')} ({listing(names)})",
            plural(len(rows[i]), "value"),
            "Send one value per feature, in this order.",
        )
    return [list(column) for column in zip(*rows, strict=True)]


def _columns_of_objects(rows: list[dict[str, Any]], names: list[str]) -> list[list[Any]]:
    expected = set(names)
    for i, row in enumerate(rows):
        if row.keys() != expected:
            field = functools.partial("instances[{}].{}".format, i)
            check_names(list(row), names, f"instances[{i}]", field)
    return [[row[name] for row in rows] for name in names]


# --- fields: where a value is in the body ---


def join(where: str, key: str) -> str:
    """Where ``key`` of the object at ``where`` is in the body: "feedback[0].reward"."""
    return f"{where}.{key}" if where else key


def _row_path(suffix: str) -> FieldPath:
    return lambda i: f"instances[{i}]{suffix}"


def required(item: dict[str, Any], key: str, kind: type, where: str, expected: str) -> Any:
    """``item[key]``, refused if it is missing or not of type ``kind``."""
    field = join(where, key)
    if key not in item:
        raise refuse("missing_field", field, expected, keys_of(item), what=" is missing")
    if not isinstance(item[key], kind):
        raise refuse("wrong_type", field, expected, describe(item[key]))
    return item[key]
