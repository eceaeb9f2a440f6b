"""What a model takes and gives: its features, task, classes and prediction methods.

Also the samples kept with a model (the reference sample for drift detection, the
background sample for explainers): checked against the model's features and stored as
Parquet bytes.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mlops_lab._json import json_or_repr
from mlops_lab.errors import parameter_error
from mlops_lab.registry._errors import RegistryError

PREDICTION_METHODS = ("predict", "predict_proba", "decision_function")
BACKGROUND_ROWS = 100
BACKGROUND_SEED = 0


def check_fitted(model: Any) -> None:
    """Refuse anything that is not a fitted scikit-learn estimator or Pipeline."""
    # Imported here (most of a second): a process that only reads the registry needs none.
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError:
        got = f"a {type(model).__name__} that is not fitted yet"
        fix = "Call model.fit(X, y) first."
        raise RegistryError(
            parameter_error("model", "register()", "be a fitted estimator", got, fix)
        ) from None
    except TypeError:
        must = "be a fitted scikit-learn estimator or Pipeline"
        raise RegistryError(
            parameter_error("model", "register()", must, type(model).__name__)
        ) from None


def model_features(model: Any) -> tuple[list[str] | None, int | None]:
    """The feature names the model was fitted with (if it knows them) and their count."""
    names = getattr(model, "feature_names_in_", None)
    count = getattr(model, "n_features_in_", None)
    if names is not None:
        return [str(name) for name in names], len(names)
    return None, (int(count) if count is not None else None)


def model_rows(model: Any, frame: pd.DataFrame) -> pd.DataFrame | np.ndarray:
    """``frame`` as the model takes it: by name if it was fitted with names, else an array.

    A model fitted on an array warns when given names; give it the array it knows.
    """
    return frame if model_features(model)[0] is not None else frame.to_numpy()


def default_names(count: int) -> list[str]:
    """Names for features the model knows only by position: x0, x1, ..."""
    return [f"x{i}" for i in range(count)]


def parse_sample(sample: object, model: Any, parameter: str) -> pd.DataFrame:
    """Turn a sample (DataFrame or 2-D array) into a DataFrame of the model's features.

    Columns come in the model's order; columns the model does not use are dropped. An
    array's columns take the model's feature names, or x0, x1, ... when it has none.

    Example:
        >>> parse_sample(np.zeros((2, 3)), fitted_on_three_columns, "reference").columns
        Index(['x0', 'x1', 'x2'], dtype='object')
    """
    frame = _as_frame(sample, parameter)
    names, count = model_features(model)
    if names is not None and isinstance(sample, pd.DataFrame):
        frame = _select(frame, names, parameter)
    elif count is not None:
        if frame.shape[1] != count:
            raise RegistryError(
                f"The '{parameter}' sample passed to register() has {frame.shape[1]} "
                f"columns; the model was fitted on {count} features. Pass the same "
                "features as in fit()."
            )
        if names is not None:
            frame = frame.set_axis(names, axis="columns")
    if frame.empty:
        raise RegistryError(
            f"The '{parameter}' sample passed to register() has no rows; pass at least one."
        )
    return frame.reset_index(drop=True)


def parse_samples(
    model: Any, reference: object, background: object
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The reference and background samples as DataFrames of the model's features.

    Without a background, up to 100 rows of the reference (if any) serve as one.
    """
    reference_frame = None if reference is None else parse_sample(reference, model, "reference")
    if background is not None:
        return reference_frame, parse_sample(background, model, "background")
    if reference_frame is None:
        return None, None
    return reference_frame, default_background(reference_frame)


def default_background(reference: pd.DataFrame) -> pd.DataFrame:
    """Up to 100 rows of the reference, drawn with a fixed seed, in their original order."""
    rows = min(BACKGROUND_ROWS, len(reference))
    sample = reference.sample(n=rows, random_state=BACKGROUND_SEED).sort_index()
    return sample.reset_index(drop=True)


def infer_signature(model: Any, reference: pd.DataFrame | None) -> dict[str, Any]:
    """Describe the model's inputs and outputs, as stored in the ``signature`` column.

    Feature dtypes are known only from a reference sample; the model is run on a few of
    its rows, which also proves the sample fits the model.

    Example:
        >>> infer_signature(LogisticRegression().fit(X, y), None)["task"]
        'classification'
    """
    classes = getattr(model, "classes_", None)
    prediction = _predict_head(model, reference)
    if prediction is not None:
        output_dtype: str | None = str(prediction.dtype)
    elif classes is not None:
        output_dtype = str(np.asarray(classes).dtype)
    else:
        output_dtype = None
    return {
        "inputs": _inputs(model, reference),
        "task": "classification" if classes is not None else "regression",
        "classes": json_or_repr(classes) if classes is not None else None,
        "output_dtype": output_dtype,
        "methods": [method for method in PREDICTION_METHODS if hasattr(model, method)],
    }


def to_parquet(frame: pd.DataFrame | None, parameter: str) -> bytes | None:
    """Encode a sample as Parquet bytes; refuse columns Parquet cannot hold."""
    if frame is None:
        return None
    buffer = io.BytesIO()
    try:
        frame.to_parquet(buffer, engine="pyarrow", index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise RegistryError(
            f"The '{parameter}' sample passed to register() cannot be stored as Parquet "
            f"({exc}). Give every column a single type (numbers, text, booleans or dates)."
        ) from None
    return buffer.getvalue()


def from_parquet(data: bytes) -> pd.DataFrame:
    """Decode a sample stored by :func:`to_parquet`."""
    return pd.read_parquet(io.BytesIO(data), engine="pyarrow")


def _as_frame(sample: object, parameter: str) -> pd.DataFrame:
    if isinstance(sample, pd.DataFrame):
        frame = sample.copy()
        frame.columns = [str(column) for column in frame.columns]
        if frame.columns.duplicated().any():
            raise RegistryError(
                f"The '{parameter}' sample passed to register() has duplicate column names "
                f"{sorted(set(frame.columns[frame.columns.duplicated()]))}; name each once."
            )
        return frame
    array = np.asarray(sample)
    if array.ndim != 2:
        must = "be a DataFrame or a 2-D array (rows x features)"
        got = f"{type(sample).__name__} of shape {array.shape}"
        raise RegistryError(parameter_error(parameter, "register()", must, got))
    return pd.DataFrame(array, columns=default_names(array.shape[1]))


def _select(frame: pd.DataFrame, names: list[str], parameter: str) -> pd.DataFrame:
    """The model's features of ``frame``, in the model's order."""
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise RegistryError(
            f"The '{parameter}' sample passed to register() lacks the model's features "
            f"{missing}. The model was fitted on {names}; got columns "
            f"{list(frame.columns)}. Pass a sample with the columns used in fit()."
        )
    return frame[names]


def _inputs(model: Any, reference: pd.DataFrame | None) -> list[dict[str, str | None]]:
    if reference is not None:
        return [
            {"name": str(name), "dtype": str(dtype)} for name, dtype in reference.dtypes.items()
        ]
    names, count = model_features(model)
    if names is None:
        names = default_names(count or 0)
    return [{"name": name, "dtype": None} for name in names]


def _predict_head(model: Any, reference: pd.DataFrame | None) -> np.ndarray | None:
    if reference is None or not hasattr(model, "predict"):
        return None
    try:
        return np.asarray(model.predict(model_rows(model, reference.head(5))))
    except Exception as exc:
        raise RegistryError(
            f"The model could not predict on the 'reference' sample passed to register() "
            f"({type(exc).__name__}: {exc}). The sample must hold the features the model "
            "was fitted on, with the same types."
        ) from None
