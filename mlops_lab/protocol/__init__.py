"""The serving API's requests, responses and errors, as pure functions.

The router hands these a request's body and the model's features (``signature["inputs"]``);
they return what the model needs, a DataFrame with the declared columns and dtypes, or raise
a :class:`RequestError`: a 4xx whose JSON body names the field at fault, what was expected
and what was received. Bodies come as ``{"instances": [...]}``, as feedback by request id,
or as Open Inference Protocol v2 (KServe, Triton) ``/infer`` requests, JSON or with the
binary tensor data extension; the OpenAPI document describes them all.

This package is pure: it imports the standard library, numpy and pandas, never Ray,
DuckDB, Starlette, IPython or a UI library (``tests/unit/test_purity.py`` checks it).
"""

from __future__ import annotations

from mlops_lab.protocol._errors import RequestError, describe, plural, refuse, shown
from mlops_lab.protocol._feedback import FeedbackItem, parse_feedback
from mlops_lab.protocol._instances import check_count, parse_instances
from mlops_lab.protocol._json import read_json, to_json_values
from mlops_lab.protocol._openapi import openapi
from mlops_lab.protocol._v2 import (
    DATATYPES,
    feature_datatype,
    infer_response,
    model_metadata,
    not_served,
    output_datatype,
    parse_infer,
    served_version,
    v2_datatype,
)
from mlops_lab.protocol._v2_binary import (
    HEADER,
    binary_outputs,
    decode_tensor,
    encode_response,
    encode_tensor,
    split_body,
)
from mlops_lab.protocol._values import FeatureKind, feature_kind

__all__ = [
    "DATATYPES",
    "HEADER",
    "FeatureKind",
    "FeedbackItem",
    "RequestError",
    "binary_outputs",
    "check_count",
    "decode_tensor",
    "describe",
    "encode_response",
    "encode_tensor",
    "feature_datatype",
    "feature_kind",
    "infer_response",
    "model_metadata",
    "not_served",
    "openapi",
    "output_datatype",
    "parse_feedback",
    "parse_infer",
    "parse_instances",
    "plural",
    "read_json",
    "refuse",
    "served_version",
    "shown",
    "split_body",
    "to_json_values",
    "v2_datatype",
]
