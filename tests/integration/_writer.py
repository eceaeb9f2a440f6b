"""Append request batches to the lab until killed, recording each acknowledged batch.

Run as ``python -m tests.integration._writer ACK_FILE``. A batch's seed is written to
ACK_FILE (and synced to disk) only after the store acknowledged the batch.
"""

from __future__ import annotations

import os
import sys

import mlops_lab
from mlops_lab.sample_data import request_rows

BATCH_ROWS = 100


def main(ack_path: str) -> None:
    lab = mlops_lab.connect(start=False)
    with open(ack_path, "a") as acks:
        for seed in range(1_000_000, 2_000_000):
            lab.store.append("requests", request_rows(BATCH_ROWS, endpoint="crash", seed=seed))
            acks.write(f"{seed}\n")
            acks.flush()
            os.fsync(acks.fileno())


if __name__ == "__main__":
    main(sys.argv[1])
