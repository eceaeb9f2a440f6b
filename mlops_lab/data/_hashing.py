"""The content hash that names a dataset version.

The hash covers the column names, their dtypes, the values and which column is the
target. Row order is part of the content (shuffling rows gives a new version, as it may
change a split or a time series); the index is not (it is dropped on registration).
Values are hashed column by column with pandas' vectorised ``hash_pandas_object``, so
hashing a large frame costs one pass over it and no serialisation.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

VERSION_LENGTH = 12


def content_hash(frame: pd.DataFrame, target: str | None) -> str:
    """The sha256 (hex) of a frame's names, dtypes, values and target, index excluded.

    Example:
        >>> a = pd.DataFrame({"x": [1, 2]}, index=[7, 9])
        >>> content_hash(a, None) == content_hash(a.reset_index(drop=True), None)
        True
    """
    header = {
        "columns": [[str(name), dtype_token(frame[name].dtype)] for name in frame.columns],
        "rows": len(frame),
        "target": target,
    }
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    for name in frame.columns:
        column = _canonical_nans(frame[name])
        hashes = pd.util.hash_pandas_object(column, index=False, categorize=True)
        digest.update(hashes.to_numpy(dtype=np.dtype("<u8")).tobytes())
    return digest.hexdigest()


def _canonical_nans(column: pd.Series) -> pd.Series:
    """Give every NaN one bit pattern, since floats are hashed by their bits.

    A stored NaN (a null in Arrow) comes back as the canonical one, whatever sign or
    payload it had, so without this a loaded frame could hash to another version.
    """
    if not (isinstance(column.dtype, np.dtype) and column.dtype.kind == "f"):
        return column
    values = column.to_numpy(copy=True)
    values[np.isnan(values)] = np.nan
    return pd.Series(values, name=column.name)


def version_of(digest: str) -> str:
    """The version id: the first 12 hex characters of the content hash."""
    return digest[:VERSION_LENGTH]


def dtype_token(dtype: object) -> str:
    """A dtype as text; a categorical's categories and order are part of it."""
    if isinstance(dtype, pd.CategoricalDtype):
        categories = [repr(value) for value in dtype.categories.tolist()]
        return f"category(ordered={bool(dtype.ordered)}, categories={categories})"
    return str(dtype)
