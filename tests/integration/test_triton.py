"""The Open Inference Protocol gateway driven by Triton's own HTTP client, as its users call it."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

import numpy as np
import pytest
import requests
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from tritonclient.http import InferenceServerClient, InferInput, InferRequestedOutput
from tritonclient.utils import InferenceServerException

from mlops_lab import Lab

X, Y = load_iris(return_X_y=True, as_frame=True)
FEATURES = list(X.columns)
TREE = ["sklearn.tree._tree.Tree"]
NAME = "iris-triton"


@pytest.fixture(scope="module")
def models(lab: Lab) -> dict[str, str]:
    """Two iris models that disagree on some rows."""
    fitted = {
        "triton-lr": LogisticRegression(max_iter=1000).fit(X, Y),
        "triton-tree": DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, Y),
    }
    return {
        name: lab.registry.register(name, model, trusted=TREE).ref for name, model in fitted.items()
    }


@pytest.fixture(scope="module")
def endpoint(lab: Lab, models: dict[str, str]):
    ep = lab.deploy(NAME, models["triton-lr"], trusted=TREE)
    yield ep
    ep.undeploy()


@pytest.fixture
def client(endpoint) -> InferenceServerClient:
    """tritonclient's HTTP client on the lab's Serve address."""
    with InferenceServerClient(urlsplit(endpoint.url).netloc, network_timeout=120) as opened:
        yield opened


def _rows(n: int, seed: int) -> np.ndarray:
    return X.sample(n, replace=True, random_state=seed).to_numpy()


def _predict(endpoint, rows: np.ndarray) -> dict:
    reply = requests.post(f"{endpoint.url}/predict", json={"instances": rows.tolist()}, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.json()


def _matrix(rows: np.ndarray, binary: bool = True) -> list[InferInput]:
    tensor = InferInput("input-0", list(rows.shape), "FP64")
    return [tensor.set_data_from_numpy(rows, binary_data=binary)]


def _per_feature(rows: np.ndarray, binary: bool = True) -> list[InferInput]:
    tensors = []
    for j, name in enumerate(FEATURES):
        column = rows[:, j].astype(np.float32)
        tensors.append(InferInput(name, [len(rows)], "FP32").set_data_from_numpy(column, binary))
    return tensors


def test_health_readiness_and_metadata(client, endpoint, models) -> None:
    """The server is live and ready and says it speaks binary tensor data; the endpoint is
    ready, its metadata lists its features and the model version it serves, which is
    ready too, while a version it does not serve is not."""
    assert client.is_server_live() and client.is_server_ready()
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    assert client.is_model_ready(NAME)
    meta = client.get_model_metadata(NAME)
    assert [tensor["name"] for tensor in meta["inputs"]] == FEATURES
    assert meta["versions"] == [models["triton-lr"]]
    assert client.is_model_ready(NAME, model_version=models["triton-lr"])
    assert not client.is_model_ready(NAME, model_version="999")


@pytest.mark.parametrize("layout", [_matrix, _per_feature])
@pytest.mark.parametrize("binary_inputs", [True, False])
@pytest.mark.parametrize(
    ("outputs", "binary_outputs"),
    [
        (None, True),  # tritonclient's default: every output as binary data
        ([InferRequestedOutput("predict")], True),
        ([InferRequestedOutput("predict", binary_data=False)], False),
    ],
    ids=["default", "binary", "json"],
)
def test_infer_returns_what_predict_returns(
    client, endpoint, models, layout, binary_inputs, outputs, binary_outputs
) -> None:
    """tritonclient's infer, default call included (binary inputs, binary outputs), with
    binary or JSON inputs and outputs in either tensor layout, gives the predictions
    /predict gives for the same rows, named after the served model version."""
    rows = _rows(7, seed=5)
    expected = _predict(endpoint, rows)["predictions"]
    result = client.infer(NAME, layout(rows, binary_inputs), outputs=outputs, request_id="t1")
    assert result.as_numpy("predict").tolist() == expected
    response = result.get_response()
    assert (response["id"], response["model_version"]) == ("t1", models["triton-lr"])
    assert len(response["parameters"]["request_ids"]) == len(rows)
    sent_binary = "binary_data_size" in response["outputs"][0].get("parameters", {})
    assert binary_outputs == sent_binary


def test_a_served_version_in_the_path_answers(client, endpoint, models) -> None:
    """infer and metadata on /versions/<served version> answer as without a version."""
    rows = _rows(3, seed=6)
    result = client.infer(NAME, _matrix(rows), model_version=models["triton-lr"])
    assert result.as_numpy("predict").tolist() == _predict(endpoint, rows)["predictions"]
    meta = client.get_model_metadata(NAME, model_version=models["triton-lr"])
    assert meta["name"] == NAME


def test_across_two_versions_the_response_names_the_one_that_served_most(
    client, endpoint, models
) -> None:
    """Split over two model versions, each response names one of the versions the metadata
    lists, the one that served most of its rows, and gives each row's."""
    a, b = models["triton-lr"], models["triton-tree"]
    endpoint.split({a: 0.5, b: 0.5})
    try:
        assert sorted(client.get_model_metadata(NAME)["versions"]) == sorted([a, b])
        for seed in range(3):
            response = client.infer(NAME, _matrix(_rows(9, seed=seed))).get_response()
            per_row = Counter(response["parameters"]["models"])
            assert response["model_version"] in (a, b)
            assert per_row[response["model_version"]] == max(per_row.values())
    finally:
        endpoint.split({a: 1.0})


def _refused(call, *args, **kwargs) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as caught:
        call(*args, **kwargs)
    return caught.value


def test_every_refusal_is_rendered_by_the_client(client, endpoint) -> None:
    """Unknown model (the gateway's own application too), unknown version, wrong shape,
    wrong datatype and wrong input name are each a 4xx whose message tritonclient shows."""
    rows = _rows(2, seed=7)
    wrong_datatype = InferInput("input-0", [2, 4], "BYTES")
    wrong_datatype.set_data_from_numpy(np.array([[str(v).encode() for v in row] for row in rows]))
    wrong_name = _per_feature(rows)
    wrong_name[2] = InferInput("petal_lenght", [2], "FP32").set_data_from_numpy(
        rows[:, 2].astype(np.float32)
    )
    cases = [
        ("404", "nope", lambda: client.infer("nope", _matrix(rows))),
        ("404", "nope", lambda: client.get_model_metadata("nope")),
        ("404", "mlops_lab_v2", lambda: client.infer("mlops_lab_v2", _matrix(rows))),
        ("404", "mlops_lab_v2", lambda: client.get_model_metadata("mlops_lab_v2")),
        ("404", "'999'", lambda: client.infer(NAME, _matrix(rows), model_version="999")),
        ("404", "'999'", lambda: client.get_model_metadata(NAME, model_version="999")),
        ("400", "inputs[0].shape", lambda: client.infer(NAME, _matrix(rows[:, :3]))),
        ("400", "inputs[0].datatype", lambda: client.infer(NAME, [wrong_datatype])),
        ("400", "inputs[2].name", lambda: client.infer(NAME, wrong_name)),
        (
            "400",
            "outputs[0].name",
            lambda: client.infer(NAME, _matrix(rows), outputs=[InferRequestedOutput("proba")]),
        ),
    ]
    for status, mentioned, call in cases:
        error = _refused(call)
        shown = str(error)  # a body whose "error" is not a string fails here
        assert (status, True) == (error.status(), mentioned in shown), shown
        assert shown.startswith(f"[{status}] ") and len(shown) > 30


@pytest.mark.parametrize(
    ("header", "tail", "field"),
    [
        ("12x", b"", "Inference-Header-Content-Length"),
        (None, b"\0" * 64, "body"),
        ("", b"\0" * 8, "Inference-Header-Content-Length"),
        ("+", b"\0" * 64, "Inference-Header-Content-Length"),
    ],
    ids=["not-a-number", "data-beyond-the-sizes", "empty-header", "sign-only"],
)
def test_malformed_binary_requests_are_a_json_4xx(endpoint, header, tail, field) -> None:
    """A header that is not the JSON's length, or binary data that does not fit the
    declared sizes, is a JSON 400 naming what was wrong, over plain HTTP."""
    rows = _rows(2, seed=8)
    body, size = InferenceServerClient.generate_request_body(_matrix(rows))
    headers = {"Inference-Header-Content-Length": str(size) if header is None else header}
    url = endpoint.url.rsplit("/", 1)[0] + f"/v2/models/{NAME}/infer"
    reply = requests.post(url, data=body + tail, headers=headers, timeout=60)
    assert reply.status_code == 400, reply.text
    assert isinstance(reply.json()["error"], str) and reply.json()["field"] == field
