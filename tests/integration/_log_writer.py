"""Append request rows to a journaling LogBuffer whose store is gone, then wait to be killed.

Run as ``python -m tests.integration._log_writer SPILL_DIR ROWS SEGMENT_BYTES SEED``. Prints
``appended`` once append() has returned for every row, then sleeps until killed. The rows
are those of ``request_rows(ROWS, endpoint=f"log-{SEED}", seed=SEED)``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from mlops_lab.demo import request_rows
from mlops_lab.serve._log import LogBuffer
from mlops_lab.store import Store


def main(spill_dir: str, rows: int, segment_bytes: int, seed: int) -> None:
    spill = Path(spill_dir)
    gone = Store(spill.parent / f"gone-{seed}.duckdb")
    gone.close()  # every write fails: the rows can reach no store
    buffer = LogBuffer(gone, "requests", spill_dir=spill, segment_bytes=segment_bytes)
    for row in request_rows(rows, endpoint=f"log-{seed}", seed=seed).to_pylist():
        buffer.append(row)
    print("appended", flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
