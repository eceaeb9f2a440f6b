"""Prep steps are described for lineage, checked, and applied with the target passed through."""

from __future__ import annotations

import hashlib
import inspect

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from mlops_lab._json import canonical_json
from mlops_lab.data import DatasetError
from mlops_lab.data._prep import apply_prep, describe_prep


def drop_small(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["a"] > 1]


class Doubler:
    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame * 2


def test_a_pipeline_is_described_step_by_step() -> None:
    """A Pipeline gives its class and, per step, name, class and shallow params."""
    pipeline = Pipeline([("scale", StandardScaler(with_std=False)), ("pca", PCA(2))])
    description = describe_prep(pipeline, "register")
    assert description is not None
    assert description["type"] == "sklearn"
    assert description["class"] == "sklearn.pipeline.Pipeline"
    assert "steps" not in description["params"]
    scale, pca = description["steps"]
    assert scale == {
        "name": "scale",
        "class": "sklearn.preprocessing._data.StandardScaler",
        "params": {"copy": True, "with_mean": True, "with_std": False},
    }
    assert (pca["name"], pca["class"], pca["params"]["n_components"]) == (
        "pca", "sklearn.decomposition._pca.PCA", 2,
    )  # fmt: skip


def test_a_column_transformer_records_columns_and_nested_steps() -> None:
    """Each transformer of a ColumnTransformer keeps its columns; nested pipelines recurse."""
    numeric = Pipeline([("scale", StandardScaler())])
    ct = ColumnTransformer([("num", numeric, ["a", "b"]), ("cat", OneHotEncoder(), ["c"]),
                            ("rest", "drop", ["d"])])  # fmt: skip
    steps = describe_prep(ct, "register")["steps"]  # type: ignore[index]
    assert [(s["name"], s["columns"]) for s in steps] == [
        ("num", ["a", "b"]), ("cat", ["c"]), ("rest", ["d"]),
    ]  # fmt: skip
    assert steps[0]["steps"][0]["class"] == "sklearn.preprocessing._data.StandardScaler"
    assert steps[2]["class"] == "drop"


def test_params_that_are_not_json_are_named_or_repr() -> None:
    """A function parameter is stored by dotted name; the description is strict JSON."""
    description = describe_prep(FunctionTransformer(drop_small, kw_args={"x": np.nan}), "register")
    assert description["params"]["func"] == f"{__name__}.drop_small"  # type: ignore[index]
    assert description["params"]["kw_args"] == {"x": None}  # type: ignore[index]
    canonical_json(description)


def test_a_callable_is_described_by_module_name_and_source_hash() -> None:
    """A function is its module, qualname and the sha256 of its source."""
    expected = hashlib.sha256(inspect.getsource(drop_small).encode()).hexdigest()
    assert describe_prep(drop_small, "register") == {
        "type": "callable", "module": __name__, "qualname": "drop_small",
        "sha256": expected, "hashed": "source",
    }  # fmt: skip


def test_a_callable_without_source_is_hashed_by_its_bytecode() -> None:
    """Code with no source file (exec'd, as in some REPLs) falls back to the bytecode."""
    namespace: dict[str, object] = {}
    exec("def made(frame):\n    return frame.head(1)\n", namespace)
    made = namespace["made"]
    description = describe_prep(made, "register")
    assert description is not None and description["hashed"] == "bytecode"
    assert description["sha256"] == hashlib.sha256(made.__code__.co_code).hexdigest()  # type: ignore[attr-defined]


def test_a_callable_object_is_hashed_by_its_class_source() -> None:
    """An instance with __call__ is described by its class."""
    description = describe_prep(Doubler(), "register")
    assert description is not None
    assert (description["qualname"], description["hashed"]) == ("Doubler", "source")


@pytest.mark.parametrize(
    ("prep", "message"),
    [
        (42, "'prep' parameter of register() must be an sklearn transformer (with fit and "
             "transform), a callable taking a DataFrame, or None. Got int 42 instead."),
        ("scale", "Got str 'scale' instead"),
        (StandardScaler, "must be a transformer instance. Got the class StandardScaler"),
    ],
)  # fmt: skip
def test_a_prep_that_is_neither_transformer_nor_callable_is_refused(
    prep: object, message: str
) -> None:
    """Anything without fit/transform that cannot be called is refused clearly."""
    with pytest.raises(DatasetError) as raised:
        describe_prep(prep, "register")
    assert message in str(raised.value)


def test_a_transformer_sees_features_only_and_keeps_their_names() -> None:
    """fit_transform runs on the features; the target is joined back untouched."""
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "c": ["x", "y", "x"],
                          "y": pd.Categorical(["p", "q", "p"])})  # fmt: skip
    ct = ColumnTransformer([("num", StandardScaler(), ["a"]),
                            ("cat", OneHotEncoder(sparse_output=True), ["c"])])  # fmt: skip
    result = apply_prep(ct, frame, "y")
    assert result.columns.tolist() == ["num__a", "cat__c_x", "cat__c_y", "y"]
    assert result["y"].equals(frame["y"])
    assert result["num__a"].mean() == pytest.approx(0.0)


def test_dataframe_output_keeps_its_columns_and_unnamed_output_gets_x_columns() -> None:
    """A DataFrame output keeps its names; arrays from unnamed outputs get x0..xN."""
    frame = pd.DataFrame({"a": [0.0, 1.0]})
    assert apply_prep(FunctionTransformer(np.log1p), frame, None).columns.tolist() == ["a"]
    as_array = FunctionTransformer(np.log1p, validate=True)
    assert apply_prep(as_array, frame, None).columns.tolist() == ["x0"]
    widened = FunctionTransformer(lambda x: np.c_[x, x])
    assert apply_prep(widened, frame, None).columns.tolist() == ["x0", "x1"]


def test_a_callable_gets_the_whole_frame_and_may_filter_rows() -> None:
    """A callable sees the target too, so it can drop rows consistently."""
    frame = pd.DataFrame({"a": [1, 2, 3], "y": [0, 1, 0]})
    assert apply_prep(drop_small, frame, "y").to_dict("list") == {"a": [2, 3], "y": [1, 0]}


def test_a_transformer_output_named_like_the_target_is_refused() -> None:
    """The target is derive()'s to pass through; an output column may not take its name."""
    rename = FunctionTransformer(lambda x: x.rename(columns={"a": "y"}))
    with pytest.raises(DatasetError, match="output has a column named 'y'"):
        apply_prep(rename, pd.DataFrame({"a": [1.0], "y": [0]}), "y")
