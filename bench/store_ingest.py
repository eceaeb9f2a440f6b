"""Ingest throughput of the lab's store, through its actor, against a raw DuckDB insert.

Appends N request rows (every request column, 20 float features) in batches through the
store's client interface (Ray actor, validation, idempotent insert, acknowledgement) and
the same rows through a plain DuckDB Arrow insert into the same schema, in one run.

The store actor runs at the lowest CPU priority, so while a lab is still starting (Serve's
processes and the trial workers it starts ahead import their code) its writes wait. The
throughput is measured once the lab has finished starting; how long one batch took on the
lab still starting is reported beside it (``first_append_s``).

    python bench/store_ingest.py --quick
    python bench/store_ingest.py --smoke   # seconds: does it still run?

The last line printed is one JSON object:
    {"rows", "store_rows_per_s", "raw_rows_per_s", "ratio", "duplicates", "first_append_s",
     "settle_s", ...}
Goal: ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
from _common import scratch_lab

from mlops_lab.sample_data import request_rows
from mlops_lab.store._migrations import MIGRATIONS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50k rows instead of 500k")
    parser.add_argument("--smoke", action="store_true", help="2 batches of 500 rows")
    parser.add_argument("--batch", type=int, default=None, help="rows per append")
    args = parser.parse_args()
    rows = 1_000 if args.smoke else 50_000 if args.quick else 500_000
    args.batch = args.batch or (500 if args.smoke else 5_000)
    batches = [
        request_rows(args.batch, endpoint="bench", seed=s) for s in range(rows // args.batch)
    ]
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as folder:
        raw_s = _raw_insert(Path(folder) / "raw.duckdb", batches)
    first = request_rows(args.batch, endpoint="bench-first", seed=len(batches))
    store_s, duplicates, first_s, settle_s = _through_the_lab(first, batches)
    total = sum(batch.num_rows for batch in batches)
    result = {
        "rows": total,
        "batch_rows": args.batch,
        "store_rows_per_s": round(total / store_s),
        "raw_rows_per_s": round(total / raw_s),
        "ratio": round(raw_s / store_s, 3),
        "duplicates": duplicates,
        "first_append_s": round(first_s, 3),
        "settle_s": round(settle_s, 1),
    }
    print(json.dumps(result))


def _raw_insert(path: Path, batches: list[pa.Table]) -> float:
    """The baseline: the same schema, plain INSERT from Arrow, one process, no checks.

    Columns are matched by name, so a column that a later migration adds (and the rows
    leave out) is filled with its default, as the store fills it.
    """
    with duckdb.connect(str(path)) as con:
        for migration in MIGRATIONS:
            con.execute(migration.sql)
        start = time.perf_counter()
        for batch in batches:
            con.register("batch", batch)
            con.execute("INSERT INTO requests BY NAME SELECT * FROM batch")
            con.unregister("batch")
        elapsed = time.perf_counter() - start
        assert con.execute("SELECT count(*) FROM requests").fetchone()[0] == sum(
            b.num_rows for b in batches
        )
    return elapsed


def _through_the_lab(first: pa.Table, batches: list[pa.Table]) -> tuple[float, int, float, float]:
    """Append through the lab's store actor; then retry every batch and count duplicates.

    Returns:
        Seconds for the batches, duplicates after the retry, seconds for ``first`` appended
        as soon as the lab returned, and seconds waited for the lab to finish starting.
    """
    with scratch_lab() as lab:
        start = time.perf_counter()
        lab.store.append("requests", first)
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        lab.wait_started(timeout=300)
        settle_s = time.perf_counter() - start
        start = time.perf_counter()
        for batch in batches:
            lab.store.append("requests", batch)
        elapsed = time.perf_counter() - start
        for batch in batches:  # a retry of every batch, as after lost acknowledgements
            lab.store.append("requests", batch)
        counts = lab.sql("SELECT count(*) AS n, count(DISTINCT request_id) AS ids FROM requests")
    return elapsed, int(counts.n[0] - counts.ids[0]), first_s, settle_s


if __name__ == "__main__":
    main()
