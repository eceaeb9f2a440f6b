"""Append request rows to a journaling LogBuffer whose store is gone, then wait to be killed.

Run as ``python -m tests.integration._log_writer SPILL_DIR ROWS SEGMENT_BYTES SEED [poison]``.
Prints ``appended`` once append() has returned for every row, then sleeps until killed. The
rows are those of ``request_rows(ROWS, endpoint=f"log-{SEED}", seed=SEED)``; with ``poison``,
the two rows of :func:`poison_rows` come after the tenth.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mlops_lab.sample_data import request_rows
from mlops_lab.serve._log import LogBuffer
from mlops_lab.store import Store


def poison_rows(endpoint: str, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two rows a router may log: one the store refuses, one it takes once its text is escaped.

    The first is the row of a model whose label holds a lone surrogate: the router writes the
    prediction as JSON text with the surrogate's JSON escape, which DuckDB refuses as JSON.
    The second is the refusal of a request whose JSON key is a lone surrogate, named in its
    error text.
    """
    first, second = request_rows(2, endpoint=endpoint, seed=seed + 1000).to_pylist()
    refused = {**first, "prediction": json.dumps("label \ud800")}
    escaped = {**second, "status": 422, "prediction": None, "error": "unknown_feature: '\ud800'"}
    return refused, escaped


def start_writer(
    spill: Path, rows: int, seed: int, errors: Path, segment_bytes: int, poison: bool = False
) -> subprocess.Popen[str]:
    """Start this module as a process; its standard error goes to ``errors``."""
    root = Path(__file__).parents[2]
    command = [
        sys.executable, "-m", "tests.integration._log_writer", str(spill), str(rows),
        str(segment_bytes), str(seed), *(["poison"] if poison else []),
    ]  # fmt: skip
    with errors.open("w") as sink:
        return subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=sink, text=True)


def wait_appended(writer: subprocess.Popen[str], errors: Path) -> None:
    """Wait until the writer says append() has returned for every row."""
    assert writer.stdout is not None
    line = writer.stdout.readline()
    assert line.strip() == "appended", errors.read_text()[-3000:]


def main(spill_dir: str, rows: int, segment_bytes: int, seed: int, poison: bool) -> None:
    spill = Path(spill_dir)
    gone = Store(spill.parent / f"gone-{seed}.duckdb")
    gone.close()  # every write fails: the rows can reach no store
    buffer = LogBuffer(gone, "requests", spill_dir=spill, segment_bytes=segment_bytes)
    for index, row in enumerate(request_rows(rows, endpoint=f"log-{seed}", seed=seed).to_pylist()):
        buffer.append(row)
        if poison and index == 9:
            for bad in poison_rows(f"log-{seed}", seed):
                buffer.append(bad)
    print("appended", flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    poisoned = sys.argv[5:] == ["poison"]
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), poisoned)
