"""The Open Inference Protocol v2 (KServe, Triton): requests, responses and metadata.

A ``/infer`` request holds tensors: one of shape ``[n, len(inputs)]`` for all features in
order, or one per feature, named after it, with their data in the JSON or as binary data
after it (``_v2_binary.py``). Their values are checked as the instances' are, by
``_values.py``. No Ray, Starlette or IPython here.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops_lab._json import strict_json
from mlops_lab._text import encodable
from mlops_lab.errors import listing
from mlops_lab.protocol._errors import RequestError, describe, plural, refuse, shown
from mlops_lab.protocol._instances import check_count, required
from mlops_lab.protocol._json import to_json_values
from mlops_lab.protocol._v2_binary import binary_inputs, decode_tensor
from mlops_lab.protocol._values import FeatureKind, FieldPath, check_names, feature_kind, frame_of

NUMERIC_DATATYPES: tuple[str, ...] = ("FP16", "FP32", "FP64", "INT8", "INT16", "INT32")
NUMERIC_DATATYPES += ("INT64", "UINT8", "UINT16", "UINT32", "UINT64")
DATATYPES = (*NUMERIC_DATATYPES, "BOOL", "BYTES")


# --- Open Inference Protocol v2: {"id": ..., "inputs": [tensor, ...]} ---


def parse_infer(
    payload: Any, inputs: list[dict[str, Any]], *, max_instances: int, binary: bytes = b""
) -> tuple[pd.DataFrame, str | None]:
    """The instances of an Open Inference Protocol v2 request, and the request's id.

    Either one tensor of shape ``[n, len(inputs)]`` (any name) holds all features in
    order, or each feature has its own tensor, named after it, of shape ``[n]`` or
    ``[n, 1]``. Data may be flat or nested, in row-major order, or be sent as ``binary``
    data after the JSON object (see ``_v2_binary.py``).

    Example:
        >>> features = [{"name": "a", "dtype": "float64"}, {"name": "b", "dtype": "int64"}]
        >>> tensor = {"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [0.5, 3]}
        >>> parse_infer({"id": "r1", "inputs": [tensor]}, features, max_instances=10)[1]
        'r1'
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        got = payload["inputs"] if isinstance(payload, dict) and "inputs" in payload else payload
        raise refuse(
            "invalid_payload",
            "inputs",
            "an object with an 'inputs' list of tensors",
            describe(got),
            _SEE_METADATA,
            what=" is missing or not a list",
        )
    for key, kind, expected in (("id", str, "a string"), ("parameters", dict, "an object")):
        if payload.get(key) is not None and not isinstance(payload[key], kind):
            raise refuse("wrong_type", key, expected, describe(payload[key]))
    if not payload["inputs"]:
        raise refuse("invalid_payload", "inputs", "at least one tensor", "none", _SEE_METADATA)
    chunks = binary_inputs(payload["inputs"], binary)
    tensors = [_tensor(raw, k, chunks.get(k)) for k, raw in enumerate(payload["inputs"])]
    names = [str(feature["name"]) for feature in inputs]
    first = tensors[0]
    if len(tensors) == 1 and (first.name not in names or first.shape[1:] == (len(names),)):
        columns, paths, rows = _matrix(first, inputs, names, max_instances)
    else:
        columns, paths, rows = _per_feature(tensors, inputs, names, max_instances)
    return frame_of(inputs, columns, paths, rows), payload.get("id")


_SEE_METADATA = "GET /v2/models/<endpoint> lists the inputs."


@dataclass(frozen=True)
class _Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    datatype: str
    data: list[Any]

    def field(self, key: str) -> str:
        return f"inputs[{self.index}].{key}"


def _tensor(raw: Any, k: int, binary: bytes | None) -> _Tensor:
    where = f"inputs[{k}]"
    if not isinstance(raw, dict):
        raise refuse(
            "invalid_payload",
            where,
            "a tensor: name, shape, datatype and data",
            describe(raw),
            _SEE_METADATA,
        )
    name = required(raw, "name", str, where, "a string")
    shape = required(raw, "shape", list, where, "a list of sizes such as [2, 4]")
    datatype = required(raw, "datatype", str, where, "a datatype such as FP64")
    if binary is None:
        data = required(raw, "data", list, where, "a list of values")
    if not shape or not all(type(size) is int and size >= 0 for size in shape):
        raise refuse(
            "wrong_type", f"{where}.shape", "a list of sizes such as [2, 4]", describe(shape)
        )
    if datatype not in DATATYPES:
        raise refuse(
            "invalid_value", f"{where}.datatype", f"one of {', '.join(DATATYPES)}", shown(datatype)
        )
    if binary is not None:
        data = decode_tensor(binary, datatype, tuple(shape), where)
    return _Tensor(k, name, tuple(shape), datatype, data)


def _matrix(
    tensor: _Tensor, inputs: list[dict[str, Any]], names: list[str], max_instances: int
) -> tuple[list[list[Any]], list[FieldPath], int]:
    width = len(names)
    if len(tensor.shape) != 2 or tensor.shape[1] != width:
        raise refuse(
            "shape_mismatch",
            tensor.field("shape"),
            f"[n, {width}] ({listing(names)})",
            shown(list(tensor.shape)),
            "Send a row per instance and a column per feature, "
            "or a tensor per feature, named after it.",
        )
    check_count(tensor.shape[0], max_instances, tensor.field("shape"))
    for name, feature in zip(names, inputs, strict=True):
        _check_datatype(tensor, name, feature_kind(feature.get("dtype")))
    flat, nested = _flatten(tensor)
    paths = [_data_path(tensor, nested, j, width) for j in range(width)]
    return [flat[j::width] for j in range(width)], paths, tensor.shape[0]


def _per_feature(
    tensors: list[_Tensor], inputs: list[dict[str, Any]], names: list[str], max_instances: int
) -> tuple[list[list[Any]], list[FieldPath], int]:
    fields = {tensor.name: tensor.field("name") for tensor in reversed(tensors)}
    given = [tensor.name for tensor in tensors]
    check_names(given, names, "inputs", lambda name: fields.get(name, "inputs"))
    rows = tensors[0].shape[0]
    for tensor in tensors:
        if given.index(tensor.name) != tensor.index:
            raise refuse(
                "invalid_payload",
                tensor.field("name"),
                "one tensor per feature",
                f"a second tensor for '{tensor.name}'",
                "Send each feature once.",
            )
        if tensor.shape not in ((rows,), (rows, 1)):
            raise refuse(
                "shape_mismatch",
                tensor.field("shape"),
                f"[{rows}] or [{rows}, 1], like inputs[0]",
                shown(list(tensor.shape)),
                "Send one value per instance for every feature.",
            )
    check_count(rows, max_instances, tensors[0].field("shape"))
    by_name = {tensor.name: tensor for tensor in tensors}
    columns, paths = [], []
    for name, feature in zip(names, inputs, strict=True):
        tensor = by_name[name]
        _check_datatype(tensor, name, feature_kind(feature.get("dtype")))
        flat, nested = _flatten(tensor)
        columns.append(flat)
        paths.append(_data_path(tensor, nested, 0, 1))
    return columns, paths, rows


def _check_datatype(tensor: _Tensor, name: str, kind: FeatureKind) -> None:
    allowed = {"boolean": ("BOOL",), "string": ("BYTES",)}.get(kind.kind, NUMERIC_DATATYPES)
    if tensor.datatype not in allowed:
        expected = "FP64, INT64 or another number type" if len(allowed) > 1 else allowed[0]
        raise refuse(
            "wrong_type",
            tensor.field("datatype"),
            f"{expected} for feature '{name}' ({kind.label})",
            tensor.datatype,
            f"Send '{name}' in a tensor of its own, named after it.",
        )


def _flatten(tensor: _Tensor) -> tuple[list[Any], bool]:
    """The tensor's values in row-major order, and whether its data came nested."""
    flat, nested = tensor.data, bool(tensor.data) and type(tensor.data[0]) is list
    if nested:
        for size in tensor.shape[1:]:
            if set(map(type, flat)) != {list} or set(map(len, flat)) != {size}:
                raise _shape_mismatch(tensor, "nested lists of other lengths")
            flat = list(itertools.chain.from_iterable(flat))
    if len(flat) != math.prod(tensor.shape):
        raise _shape_mismatch(tensor, plural(len(flat), "value"))
    return flat, nested


def _shape_mismatch(tensor: _Tensor, received: str) -> RequestError:
    expected = f"{plural(math.prod(tensor.shape), 'value')} (shape {list(tensor.shape)})"
    return refuse(
        "shape_mismatch",
        tensor.field("data"),
        expected,
        received,
        "Send one value per element of the shape, in row-major order.",
    )


def _data_path(tensor: _Tensor, nested: bool, column: int, width: int) -> FieldPath:
    def path(row: int) -> str:
        flat = row * width + column
        index = np.unravel_index(flat, tensor.shape) if nested else (flat,)
        return tensor.field("data") + "".join(f"[{int(i)}]" for i in index)

    return path


# --- responses ---


def infer_response(
    model_name: str,
    model_version: str,
    request_id: str,
    predictions: Sequence[Any] | np.ndarray,
    *,
    request_ids: list[str] | None = None,
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Open Inference Protocol v2 response holding ``predictions`` as output "predict".

    ``request_ids`` (one per instance) and any other ``parameters`` go in its parameters.

    Example:
        >>> infer_response("iris", "3", "r1", np.array([0, 2]))["outputs"][0]["datatype"]
        'INT64'
    """
    array = np.atleast_1d(np.asarray(predictions))
    output = {
        "name": "predict",
        "shape": list(array.shape),
        "datatype": v2_datatype(_dtype_of_values(array)),
        "data": to_json_values(array.reshape(-1)),
    }
    response: dict[str, Any] = {
        "model_name": model_name,
        "model_version": model_version,
        "id": encodable(request_id),  # echoed from the request
        "outputs": [output],
    }
    extra = {} if request_ids is None else {"request_ids": list(request_ids)}
    extra.update(parameters or {})
    if extra:
        response["parameters"] = extra
    return response


def served_version(arms: Sequence[str], served: Sequence[str]) -> str:
    """The ``model_version`` of a response: the version that served its instances.

    An endpoint may route each instance to another of the model versions it serves (its
    arms, "name@version", as the metadata lists them). The response names the one that
    served them all when they all went to one, else the one that served most of them (the
    first of ``served`` on a tie); its ``parameters.models`` gives each instance's.

    Example:
        >>> served_version(["iris@2", "iris@1", "iris@2"], ["iris@1", "iris@2"])
        'iris@2'
    """
    counts = Counter(arms)
    return max(served, key=lambda arm: counts[arm])


def not_served(version: str, served: Sequence[str]) -> RequestError:
    """The 404 for a ``/versions/<version>`` path naming a version the endpoint does not serve.

    Example:
        >>> not_served("999", ["iris@1"]).status
        404
    """
    return refuse(
        "unknown_version",
        "model_version",
        f"one of the versions this endpoint serves: {listing([repr(arm) for arm in served])}",
        shown(version),
        "GET /v2/models/<endpoint> lists them; leave the version out of the path and the "
        "endpoint routes the request as it routes every other.",
        status=404,
    )


def _dtype_of_values(array: np.ndarray) -> np.dtype:
    """The dtype of the values present (not None) in ``array``: [1.5, None] is float64."""
    if array.dtype != object:
        return array.dtype
    present = [value for value in array.reshape(-1).tolist() if strict_json(value) is not None]
    return np.asarray(present).dtype if present else np.dtype(np.float64)


def v2_datatype(dtype: Any) -> str:
    """The Open Inference Protocol datatype of a numpy or pandas dtype; text is BYTES.

    Example:
        >>> v2_datatype(np.dtype("float32")), v2_datatype(np.dtype("<U5"))
        ('FP32', 'BYTES')
    """
    try:
        numpy = np.dtype(getattr(dtype, "numpy_dtype", dtype))
    except TypeError:  # category, string
        return "BYTES"
    prefix = {"b": "BOOL", "i": "INT", "u": "UINT", "f": "FP"}.get(numpy.kind, "BYTES")
    return prefix if prefix in ("BOOL", "BYTES") else f"{prefix}{min(numpy.itemsize * 8, 64)}"


def model_metadata(
    endpoint: str, inputs: list[dict[str, Any]], signature: dict[str, Any], versions: list[str]
) -> dict[str, Any]:
    """The Open Inference Protocol v2 metadata of an endpoint (``GET /v2/models/<name>``).

    Example:
        >>> features = [{"name": "a", "dtype": None}]
        >>> model_metadata("iris", features, {"task": "regression"}, ["1"])["inputs"]
        [{'name': 'a', 'datatype': 'FP64', 'shape': [-1]}]
    """
    tensors = [
        {"name": str(feature["name"]), "datatype": feature_datatype(feature), "shape": [-1]}
        for feature in inputs
    ]
    return {
        "name": endpoint,
        "versions": list(versions),
        "platform": "mlops-lab",
        "inputs": tensors,
        "outputs": [{"name": "predict", "datatype": output_datatype(signature), "shape": [-1]}],
    }


def feature_datatype(feature: dict[str, Any]) -> str:
    """The v2 datatype of a feature's tensor: FP64 for an unknown dtype, BYTES for text."""
    return v2_datatype(feature_kind(feature.get("dtype")).target)


def output_datatype(signature: dict[str, Any]) -> str:
    """The v2 datatype of a model's predictions, from its output dtype or its classes."""
    if signature.get("output_dtype"):
        try:
            return v2_datatype(pd.api.types.pandas_dtype(signature["output_dtype"]))
        except (TypeError, ValueError):
            return "BYTES"
    if signature.get("classes"):
        return v2_datatype(np.asarray(signature["classes"]).dtype)
    return "FP64"
