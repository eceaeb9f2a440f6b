"""Ingest throughput of the lab's store, through its actor, against a raw DuckDB insert.

Appends N request rows (every request column, 20 float features) in batches through the
store's client interface (Ray actor, validation, idempotent insert, acknowledgement) and
the same number of rows through a plain DuckDB Arrow insert into the same schema.

Both are measured on the same machine state: once the lab has finished starting, in
rounds that alternate raw and store, each round with rows of its own, so that a burst of
work elsewhere on the machine falls on both sides rather than on one. The ratio is the
median of the rounds' ratios; the pooled figures are printed beside it. The store actor
runs at the lowest CPU priority, so while a lab is still starting its writes wait: how
long one batch took on the lab still starting is reported beside it (``first_append_s``).

    python bench/store_ingest.py --quick
    python bench/store_ingest.py --smoke   # seconds: does it still run?

The last line printed is one JSON object:
    {"rows", "store_rows_per_s", "raw_rows_per_s", "ratio", "duplicates", "first_append_s",
     "settle_s", "rounds", "round_ratios", ...}
Goal: ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from _common import scratch_lab

from mlops_lab.sample_data import request_rows
from mlops_lab.store._migrations import MIGRATIONS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50k rows a round, 5 rounds")
    parser.add_argument("--smoke", action="store_true", help="2 batches of 500 rows, 2 rounds")
    parser.add_argument("--batch", type=int, default=None, help="rows per append")
    args = parser.parse_args()
    rows = 1_000 if args.smoke else 50_000 if args.quick else 500_000
    rounds = 2 if args.smoke else 5
    args.batch = args.batch or (500 if args.smoke else 5_000)
    per_round = rows // args.batch
    batches = [
        [
            request_rows(args.batch, endpoint="bench", seed=r * per_round + s)
            for s in range(per_round)
        ]
        for r in range(rounds)
    ]
    first = request_rows(args.batch, endpoint="bench-first", seed=rounds * per_round)
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as folder:
        measured = _rounds(Path(folder) / "raw.duckdb", first, batches)
    raw_s, store_s = measured["raw_s"], measured["store_s"]
    total = sum(batch.num_rows for batch in batches[0])
    ratios = sorted(raw / store for raw, store in zip(raw_s, store_s, strict=True))
    result = {
        "rows": total,
        "batch_rows": args.batch,
        "rounds": rounds,
        "store_rows_per_s": round(total * rounds / sum(store_s)),
        "raw_rows_per_s": round(total * rounds / sum(raw_s)),
        "ratio": round(statistics.median(ratios), 3),
        "pooled_ratio": round(sum(raw_s) / sum(store_s), 3),
        "round_ratios": [round(r, 3) for r in ratios],
        "duplicates": measured["duplicates"],
        "first_append_s": round(measured["first_s"], 3),
        "settle_s": round(measured["settle_s"], 1),
    }
    print(json.dumps(result))


def _rounds(raw_path: Path, first: pa.Table, batches: list[list[pa.Table]]) -> dict[str, Any]:
    """Raw and store appends in alternate rounds on a lab that has finished starting.

    Every round's rows go through both: a plain DuckDB insert in this process, then the
    lab's store actor. Both tables grow alike, round after round. At the end every batch
    is appended to the store again, as after lost acknowledgements, and the duplicates
    counted.
    """
    raw_s: list[float] = []
    store_s: list[float] = []
    with scratch_lab() as lab, duckdb.connect(str(raw_path)) as con:
        for migration in MIGRATIONS:
            con.execute(migration.sql)
        start = time.perf_counter()
        lab.store.append("requests", first)
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        lab.wait_started(timeout=300)
        settle_s = time.perf_counter() - start
        for round_batches in batches:
            raw_s.append(_raw_insert(con, round_batches))
            start = time.perf_counter()
            for batch in round_batches:
                lab.store.append("requests", batch)
            store_s.append(time.perf_counter() - start)
        for round_batches in batches:
            for batch in round_batches:
                lab.store.append("requests", batch)
        counts = lab.sql("SELECT count(*) AS n, count(DISTINCT request_id) AS ids FROM requests")
    return {
        "raw_s": raw_s,
        "store_s": store_s,
        "duplicates": int(counts.n[0] - counts.ids[0]),
        "first_s": first_s,
        "settle_s": settle_s,
    }


def _raw_insert(con: duckdb.DuckDBPyConnection, batches: list[pa.Table]) -> float:
    """The baseline: the same schema, plain INSERT from Arrow, one process, no checks.

    Columns are matched by name, so a column that a later migration adds (and the rows
    leave out) is filled with its default, as the store fills it.
    """
    before = con.execute("SELECT count(*) FROM requests").fetchall()[0][0]
    start = time.perf_counter()
    for batch in batches:
        con.register("batch", batch)
        con.execute("INSERT INTO requests BY NAME SELECT * FROM batch")
        con.unregister("batch")
    elapsed = time.perf_counter() - start
    after = con.execute("SELECT count(*) FROM requests").fetchall()[0][0]
    assert after - before == sum(b.num_rows for b in batches)
    return elapsed


if __name__ == "__main__":
    main()
