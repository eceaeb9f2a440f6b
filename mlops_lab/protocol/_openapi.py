"""The OpenAPI 3.1 document of an endpoint's HTTP API, built from its model's signature.

Each feature gets the JSON type its values must have, so the document shows both instance
layouts of ``/predict`` with a working example; the feedback forms, the Open Inference
Protocol v2 routes and the error body every 4xx shares are described alongside.
"""

from __future__ import annotations

from typing import Any

from mlops_lab.protocol._v2 import DATATYPES, feature_datatype, output_datatype
from mlops_lab.protocol._values import example_row, feature_kind

_ERRORS = {
    400: ("BadRequest", "The request is malformed; the error names the field."),
    404: ("NotFound", "No such endpoint, or feedback for a request it never served."),
    413: ("TooLarge", "The body, or its number of instances, is over the limit."),
    503: ("NotReady", "The endpoint has no model deployed yet."),
}


def openapi(
    endpoint: str, inputs: list[dict[str, Any]], signature: dict[str, Any]
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of one endpoint: its routes, bodies and errors.

    Example:
        >>> doc = openapi("iris", [{"name": "a", "dtype": "float64"}], {})
        >>> sorted(doc["paths"])[:2]
        ['/iris/feedback', '/iris/openapi.json']
    """
    names = ", ".join(str(feature["name"]) for feature in inputs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"Model endpoint '{endpoint}'",
            "version": "1",
            "description": f"Predictions from the model behind '{endpoint}' (features: {names}), "
            "feedback on them, and the Open Inference Protocol v2 routes.",
        },
        "paths": {
            f"/{endpoint}/predict": {"post": _predict(inputs)},
            f"/{endpoint}/feedback": {"post": _feedback()},
            f"/{endpoint}/openapi.json": {"get": _openapi_route()},
            "/v2/health/ready": {"get": _ready()},
            f"/v2/models/{endpoint}": {"get": _metadata()},
            f"/v2/models/{endpoint}/infer": {"post": _infer(inputs)},
        },
        "components": {
            "schemas": {**_instance_schemas(inputs, signature), **_v2_schemas(), **_shared()},
            "responses": {
                name: {"description": text, "content": _json(_ref("Error"))}
                for name, text in _ERRORS.values()
            },
        },
    }


def _predict(inputs: list[dict[str, Any]]) -> dict[str, Any]:
    row = example_row(inputs)
    examples = {
        "lists": {"summary": "Instances as lists, in feature order", "value": {"instances": [row]}},
        "objects": {
            "summary": "Instances as objects, feature name to value",
            "value": {"instances": [{str(f["name"]): v for f, v in zip(inputs, row, strict=True)}]},
        },
    }
    return {
        "summary": "Predict for one or more instances",
        "description": "Send every instance as a list or every one as an object. Each "
        "prediction comes with a request id, to which feedback can be sent later.",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _ref("PredictRequest"), "examples": examples}
            },
        },
        "responses": {
            "200": _ok("The predictions, in the order of the instances", "PredictResponse"),
            **_errors(400, 404, 413, 503),
        },
    }


def _feedback() -> dict[str, Any]:
    return {
        "summary": "Send the truth about earlier predictions, or rewards for them",
        "requestBody": {"required": True, "content": _json(_ref("FeedbackRequest"))},
        "responses": {
            "200": _ok("Feedback taken; ids already given feedback are listed", "Feedback"),
            **_errors(400, 404, 413, 503),
        },
    }


def _openapi_route() -> dict[str, Any]:
    return {
        "summary": "This document",
        "responses": {"200": _ok("The OpenAPI document", None), **_errors(503)},
    }


def _ready() -> dict[str, Any]:
    return {
        "summary": "Open Inference Protocol readiness",
        "responses": {"200": {"description": "Ready to serve"}, **_errors(503)},
    }


def _metadata() -> dict[str, Any]:
    return {
        "summary": "Open Inference Protocol model metadata: inputs, outputs, versions",
        "responses": {"200": _ok("The model's metadata", "ModelMetadata"), **_errors(404, 503)},
    }


def _infer(inputs: list[dict[str, Any]]) -> dict[str, Any]:
    tensors = [
        {"name": str(f["name"]), "shape": [1], "datatype": feature_datatype(f), "data": [v]}
        for f, v in zip(inputs, example_row(inputs), strict=True)
    ]
    return {
        "summary": "Open Inference Protocol v2 inference",
        "description": "One tensor of shape [n, features] holding every feature in order, "
        "or one tensor per feature, named after it, of shape [n] or [n, 1]. Tensor data may "
        "follow the JSON as binary data (the binary tensor data extension: parameters."
        "binary_data_size, header Inference-Header-Content-Length); outputs come as binary "
        "data when asked (binary_data_output, or binary_data on a requested output). "
        "/v2/models/<endpoint>/versions/<version>/infer takes a version the endpoint serves.",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": _ref("InferRequest"),
                    "example": {"id": "my-request", "inputs": tensors},
                }
            },
        },
        "responses": {
            "200": _ok("The predictions as output 'predict'", "InferResponse"),
            **_errors(400, 404, 413, 503),
        },
    }


def _instance_schemas(inputs: list[dict[str, Any]], signature: dict[str, Any]) -> dict[str, Any]:
    features = {str(f["name"]): _feature_schema(f) for f in inputs}
    names = list(features)
    return {
        "InstanceList": {
            "description": f"Values in feature order: {', '.join(names)}.",
            "type": "array",
            "prefixItems": list(features.values()),
            "items": False,
            "minItems": len(names),
            "maxItems": len(names),
        },
        "InstanceObject": {
            "type": "object",
            "properties": features,
            "required": names,
            "additionalProperties": False,
        },
        "PredictRequest": {
            "type": "object",
            "required": ["instances"],
            "properties": {
                "instances": {
                    "oneOf": [_list_of(_ref("InstanceList")), _list_of(_ref("InstanceObject"))]
                }
            },
        },
        "Prediction": _prediction_schema(signature),
        "PredictResponse": _object(
            predictions=_list_of(_ref("Prediction")),
            request_ids=_list_of({"type": "string"}, "One per instance; feedback refers to it."),
            models=_list_of({"type": "string"}, "The model version that served each instance."),
        ),
    }


def _feature_schema(feature: dict[str, Any]) -> dict[str, Any]:
    kind = feature_kind(feature.get("dtype"))
    # The kinds are named after their JSON Schema types: number, integer, boolean, string.
    return {"title": str(feature["name"]), "type": kind.kind, "description": kind.expected}


def _prediction_schema(signature: dict[str, Any]) -> dict[str, Any]:
    datatype = output_datatype(signature)
    if datatype.startswith("FP"):  # NaN predictions are sent as null
        schema: dict[str, Any] = {"type": ["number", "null"]}
    elif datatype == "BOOL":
        schema = {"type": "boolean"}
    elif datatype == "BYTES":
        schema = {"type": "string"}
    else:
        schema = {"type": "integer"}
    classes = signature.get("classes")
    if classes and all(isinstance(label, str | int | float | bool) for label in classes):
        schema["enum"] = list(classes)
    return schema


def _v2_schemas() -> dict[str, Any]:
    name, datatype = {"type": "string"}, {"type": "string", "enum": list(DATATYPES)}
    shape = _list_of({"type": "integer", "minimum": 0})
    data = {"type": "array", "description": "Flat or nested, in row-major order."}
    return {
        "Tensor": _object(name=name, shape=shape, datatype=datatype, data=data),
        "TensorMetadata": _object(name=name, datatype=datatype, shape=shape),
        "InferRequest": _object(
            required=["inputs"],
            id={"type": "string"},
            parameters={"type": "object"},
            inputs={**_list_of(_ref("Tensor")), "minItems": 1},
            outputs=_list_of(_object(name={"type": "string"})),
        ),
        "InferResponse": _object(
            required=["model_name", "model_version", "id", "outputs"],
            model_name={"type": "string"},
            model_version={
                "type": "string",
                "description": "The model version that served the instances (most of them, "
                "when they went to several); parameters.models gives each one's.",
            },
            id={"type": "string"},
            parameters=_object(
                request_ids=_list_of({"type": "string"}),
                models=_list_of({"type": "string"}, "The model version of each instance."),
                route_id={"type": "string"},
            ),
            outputs=_list_of(_ref("Tensor")),
        ),
        "ModelMetadata": _object(
            name={"type": "string"},
            versions=_list_of({"type": "string"}),
            platform={"type": "string"},
            inputs=_list_of(_ref("TensorMetadata")),
            outputs=_list_of(_ref("TensorMetadata")),
        ),
    }


def _shared() -> dict[str, Any]:
    item = _object(
        required=["request_id"],
        request_id={"type": "string", "minLength": 1},
        truth={"description": "The true outcome: any JSON value, null included."},
        reward={"type": "number"},
    )
    item["anyOf"] = [{"required": ["truth"]}, {"required": ["reward"]}]
    items = {**_list_of(_ref("FeedbackItem")), "minItems": 1}
    # The Open Inference Protocol's error body is {"error": "<message>"}; the details are
    # keys beside it, which its clients ignore.
    error = _object(
        required=["error", "code"],
        error={"type": "string", "description": "What was wrong, expected and received."},
        code={"type": "string", "description": "wrong_type, missing_feature, ..."},
        field={"type": "string", "description": "Where in the body: instances[3].petal_width"},
        expected={"type": "string"},
        received={"type": "string"},
    )
    return {
        "FeedbackItem": item,
        "FeedbackRequest": {
            "anyOf": [_ref("FeedbackItem"), items, _object(["feedback"], feedback=items)]
        },
        "Feedback": _object(received={"type": "integer"}, duplicates=_list_of({"type": "string"})),
        "Error": error,
    }


def _object(required: list[str] | None = None, **properties: Any) -> dict[str, Any]:
    """An object schema; every property is required unless ``required`` says otherwise."""
    return {
        "type": "object",
        "required": list(properties) if required is None else required,
        "properties": properties,
    }


def _list_of(items: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": items}
    return schema if description is None else {**schema, "description": description}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ok(description: str, schema: str | None) -> dict[str, Any]:
    return {"description": description, "content": _json(_ref(schema) if schema else {})}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"$ref": f"#/components/responses/{_ERRORS[s][0]}"} for s in statuses}
