"""Frames as bytes for the store: Arrow IPC for the full data, Parquet for the sample.

The full data is Arrow IPC (zstd): it brings back every dtype exactly, categoricals
included, so a loaded frame hashes to the version it was loaded from. The reference
sample is Parquet, the format monitors and other tools read; Parquet keeps text
categoricals but brings categoricals of numbers back as plain numbers.
"""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlops_lab.data._errors import bad_parameter

REFERENCE_ROWS = 1_000
REFERENCE_SEED = 0


def to_arrow(frame: pd.DataFrame, caller: str) -> pa.Table:
    """The frame as an Arrow table, or a clear error naming what Arrow refused."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise bad_parameter(
            "data", caller, "hold columns of one type each", f"a column Arrow refused ({exc})",
            fix="Convert that column to one type first, e.g. astype(str).",
        ) from None  # fmt: skip


def encode_data(table: pa.Table) -> bytes:
    """The full data as a compressed Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def decode_data(blob: bytes) -> pd.DataFrame:
    """A frame from :func:`encode_data` bytes, dtypes as registered."""
    return pa.ipc.open_stream(blob).read_all().to_pandas()


def encode_parquet(table: pa.Table) -> bytes:
    """A table as Parquet bytes."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def decode_parquet(blob: bytes) -> pd.DataFrame:
    """A frame from Parquet bytes."""
    return pq.read_table(io.BytesIO(blob)).to_pandas()


def reference_sample(frame: pd.DataFrame, size: int = REFERENCE_ROWS) -> pd.DataFrame:
    """At most ``size`` rows drawn with a fixed seed, kept in their original order.

    The fixed seed makes the sample, like the version, a function of the data alone.
    """
    if len(frame) <= size:
        return frame
    return frame.sample(n=size, random_state=REFERENCE_SEED).sort_index().reset_index(drop=True)
