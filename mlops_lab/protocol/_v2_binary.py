"""The Open Inference Protocol's binary tensor data extension (KServe v2, Triton).

A request body may be a JSON object followed by the raw data of the inputs whose
``parameters`` give a ``binary_data_size``, in the order of the inputs; the header
``Inference-Header-Content-Length`` gives the JSON's length in bytes. Data is little-endian
and row-major, without padding; a BOOL is one byte (0 or 1); a BYTES element is a 4-byte
little-endian length followed by that many bytes. A response sends an output the same way
when the request asks for it: ``parameters.binary_data`` on the requested output, else the
request's ``parameters.binary_data_output``. Triton's clients do both by default. No Ray,
Starlette or IPython here.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from mlops_lab._json import encodable_value
from mlops_lab._text import encodable
from mlops_lab.errors import listing
from mlops_lab.protocol._errors import describe, plural, refuse, shown
from mlops_lab.protocol._json import read_json

HEADER = "inference-header-content-length"
_HEADER_NAME = "Inference-Header-Content-Length"
_FIXED = {"BOOL": "u1", "INT8": "i1", "UINT8": "u1", "INT16": "<i2", "UINT16": "<u2"}
_FIXED |= {"INT32": "<i4", "UINT32": "<u4", "INT64": "<i8", "UINT64": "<u8"}
_FIXED |= {"FP16": "<f2", "FP32": "<f4", "FP64": "<f8"}
_FIX = (
    "Binary tensor data follows the JSON object in the order of the inputs, each input's "
    "parameters.binary_data_size giving its length, and the Inference-Header-Content-Length "
    "header giving the JSON's."
)


# --- requests ---


def split_body(body: bytes, headers: Mapping[str, str], *, max_bytes: int) -> tuple[Any, bytes]:
    """The JSON object at the start of an ``/infer`` body, and the binary data after it.

    Args:
        body: The request body.
        headers: The request's headers, names in lower case; ``inference-header-content-length``
            gives the JSON's length when binary data follows it.
        max_bytes: The most the whole body may hold.

    Example:
        >>> split_body(b'{"inputs": []}xyz', {HEADER: "14"}, max_bytes=100)
        ({'inputs': []}, b'xyz')
    """
    declared = headers.get(HEADER)
    if declared is None or len(body) > max_bytes:  # read_json refuses an oversized body
        return read_json(body, max_bytes=max_bytes), b""
    text = declared.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > len(body):
        raise refuse(
            "invalid_header",
            _HEADER_NAME,
            f"the length in bytes of the JSON object the body starts with, from 0 to {len(body)}",
            shown(declared),
            _FIX,
        )
    return read_json(body[: int(text)], max_bytes=max_bytes), body[int(text) :]


def binary_inputs(inputs: list[Any], data: bytes) -> dict[int, bytes]:
    """The binary data of each input given a ``binary_data_size``, by the input's index.

    The sizes must account for ``data`` exactly, in the order of the inputs.

    Example:
        >>> tensor = {"name": "x", "parameters": {"binary_data_size": 2}}
        >>> binary_inputs([{"name": "y", "data": [1]}, tensor], b"ab")
        {1: b'ab'}
    """
    chunks: dict[int, bytes] = {}
    offset = 0
    for k, raw in enumerate(inputs):
        size = _binary_size(raw, f"inputs[{k}]")
        if size is None:
            continue
        if offset + size > len(data):
            raise refuse(
                "binary_size_mismatch",
                f"inputs[{k}].parameters.binary_data_size",
                f"at most the {plural(len(data) - offset, 'byte')} of binary data left after "
                "the JSON object and the inputs before it",
                f"{size:,}",
                _FIX,
            )
        chunks[k] = data[offset : offset + size]
        offset += size
    if offset != len(data):
        raise refuse(
            "binary_size_mismatch",
            "body",
            f"{plural(offset, 'byte')} of binary data after the JSON object (the sum of the "
            "inputs' binary_data_size)",
            plural(len(data), "byte"),
            _FIX,
        )
    return chunks


def _binary_size(raw: Any, where: str) -> int | None:
    parameters = raw.get("parameters") if isinstance(raw, dict) else None
    if not isinstance(parameters, dict) or "binary_data_size" not in parameters:
        return None  # no binary data for this input
    size = parameters["binary_data_size"]
    if type(size) is not int or size < 0:
        raise refuse(
            "wrong_type",
            f"{where}.parameters.binary_data_size",
            "a whole number of bytes, 0 or more",
            describe(size),
        )
    if "data" in raw:
        raise refuse(
            "invalid_payload",
            f"{where}.data",
            "no data when parameters.binary_data_size is given (the data follows the JSON)",
            describe(raw["data"]),
            "Send the tensor's data either in the JSON or as binary data, not both.",
        )
    return size


def decode_tensor(data: bytes, datatype: str, shape: tuple[int, ...], where: str) -> list[Any]:
    """The values of a tensor sent as binary data, flat in row-major order.

    Args:
        data: The tensor's binary data.
        datatype: Its datatype, one the protocol defines.
        shape: Its shape, which fixed-size datatypes must fill exactly.
        where: The tensor's place in the request, such as ``inputs[0]``, for errors.

    Example:
        >>> decode_tensor(bytes([1, 0]), "BOOL", (2,), "inputs[0]")
        [True, False]
        >>> decode_tensor(bytes([2, 0, 0, 0]) + b"ab", "BYTES", (1,), "inputs[0]")
        ['ab']
    """
    count = math.prod(shape)
    if datatype == "BYTES":
        return _decode_bytes(data, count, shape, where)
    dtype = np.dtype(_FIXED[datatype])
    if len(data) != count * dtype.itemsize:
        raise refuse(
            "binary_size_mismatch",
            f"{where}.parameters.binary_data_size",
            f"{count * dtype.itemsize:,} bytes ({plural(count, 'value')} of shape {list(shape)}, "
            f"{plural(dtype.itemsize, 'byte')} each in {datatype})",
            f"{len(data):,}",
            "Send the shape and datatype of the data that follows.",
        )
    values = np.frombuffer(data, dtype=dtype)
    if datatype != "BOOL":
        return list(values.tolist())
    wrong = np.flatnonzero(values > 1)
    if wrong.size:
        raise refuse(
            "invalid_value",
            f"{where}.data[{wrong[0]}]",
            "a BOOL byte: 0 for false or 1 for true",
            f"the byte {values[wrong[0]]}",
        )
    return list(values.astype(bool).tolist())


def _decode_bytes(data: bytes, count: int, shape: tuple[int, ...], where: str) -> list[Any]:
    values: list[Any] = []
    offset = 0
    while offset < len(data):
        field = f"{where}.data[{len(values)}]"
        if len(values) == count:
            raise refuse(
                "shape_mismatch",
                f"{where}.data",
                f"{plural(count, 'value')} (shape {list(shape)})",
                f"more, in {plural(len(data) - offset, 'byte')} after the {plural(count, 'value')}",
                "Send one value per element of the shape, in row-major order.",
            )
        length = struct.unpack_from("<I", data, offset)[0] if offset + 4 <= len(data) else None
        if length is None or offset + 4 + length > len(data):
            raise refuse(
                "binary_size_mismatch",
                field,
                "a 4-byte little-endian length, then that many bytes",
                f"{plural(len(data) - offset, 'byte')} left"
                + ("" if length is None else f" after a length of {length:,}"),
                _FIX,
            )
        element = data[offset + 4 : offset + 4 + length]
        offset += 4 + length
        try:
            values.append(element.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise refuse(
                "invalid_value", field, "UTF-8 text", f"byte {exc.start}, which is not UTF-8"
            ) from None
    return values


# --- responses ---


def binary_outputs(payload: dict[str, Any], names: Collection[str] = ("predict",)) -> set[str]:
    """The outputs a request asks to receive as binary data; refuses an unknown output.

    Each requested output's ``parameters.binary_data`` decides for it, else the request's
    ``parameters.binary_data_output``; without a list of outputs, every output is sent.

    Example:
        >>> binary_outputs({"inputs": [], "parameters": {"binary_data_output": True}})
        {'predict'}
    """
    parameters = payload.get("parameters")
    default = _flag(
        parameters if isinstance(parameters, dict) else {}, "binary_data_output", "parameters"
    )
    requested = payload.get("outputs")
    if requested is None or requested == []:
        return set(names) if default else set()
    if not isinstance(requested, list):
        raise refuse("wrong_type", "outputs", "a list of requested outputs", describe(requested))
    binary: set[str] = set()
    for j, output in enumerate(requested):
        where = f"outputs[{j}]"
        if not isinstance(output, dict):
            raise refuse(
                "wrong_type", where, "an object such as {'name': 'predict'}", describe(output)
            )
        name = output.get("name")
        if not isinstance(name, str) or name not in names:
            raise refuse(
                "unknown_output",
                f"{where}.name",
                f"one of the model's outputs: {listing([repr(n) for n in names])}",
                shown(name) if isinstance(name, str) else describe(name),
                "GET /v2/models/<endpoint> lists the outputs; leave 'outputs' out for all.",
            )
        own = {} if output.get("parameters") is None else output["parameters"]
        if not isinstance(own, dict):
            raise refuse("wrong_type", f"{where}.parameters", "an object", describe(own))
        flag = _flag(own, "binary_data", f"{where}.parameters")
        if default if flag is None else flag:
            binary.add(name)
    return binary


def _flag(parameters: dict[str, Any], key: str, where: str) -> bool | None:
    value = parameters.get(key)
    if value is not None and not isinstance(value, bool):
        raise refuse("wrong_type", f"{where}.{key}", "true or false", describe(value))
    return value


def encode_response(
    response: dict[str, Any], binary: Collection[str]
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a v2 response, ``binary`` naming the outputs sent as binary data.

    Their data follows the JSON object, in the order of the outputs. An output whose values
    its datatype cannot hold as binary data (a missing integer) is sent in the JSON, which
    the protocol allows.

    Example:
        >>> output = {"name": "predict", "shape": [1], "datatype": "INT8", "data": [3]}
        >>> body, headers = encode_response({"outputs": [output]}, {"predict"})
        >>> headers["content-type"], list(body[int(headers[HEADER]) :])
        ('application/octet-stream', [3])
    """
    outputs, tails = [], []
    for output in response.get("outputs", []):
        wanted = output["name"] in binary
        data = encode_tensor(output["data"], output["datatype"]) if wanted else None
        if data is not None:
            parameters = {**output.get("parameters", {}), "binary_data_size": len(data)}
            output = {**{k: v for k, v in output.items() if k != "data"}, "parameters": parameters}
            tails.append(data)
        outputs.append(output)
    header = _json_bytes({**response, "outputs": outputs})
    if not tails:
        return header, {"content-type": "application/json"}
    headers = {"content-type": "application/octet-stream", HEADER: str(len(header))}
    return header + b"".join(tails), headers


def _json_bytes(value: Any) -> bytes:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, in an echoed id or a model's text
        return _json_bytes(encodable_value(value))


def encode_tensor(values: list[Any], datatype: str) -> bytes | None:
    """Flat values as binary tensor data of ``datatype``; None if one cannot be held.

    Example:
        >>> np.frombuffer(encode_tensor([1.5, None], "FP32"), "<f4")
        array([1.5, nan], dtype=float32)
    """
    if datatype == "BYTES":
        if any(value is None for value in values):
            return None
        parts = [_element(value) for value in values]
        return b"".join(struct.pack("<I", len(part)) + part for part in parts)
    if not datatype.startswith("FP") and any(value is None for value in values):
        return None  # only a float holds a missing value (as NaN)
    try:
        return np.asarray(values, dtype=_FIXED[datatype]).tobytes()
    except (TypeError, ValueError, OverflowError):
        return None


def _element(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return encodable(text).encode("utf-8")
