"""The ``mlops-lab`` command: up, down, status, sql."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import pandas as pd

from mlops_lab.config import load_settings
from mlops_lab.errors import LabError
from mlops_lab.runtime import LabNotRunningError, connect
from mlops_lab.store import Store


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 1 not running, 2 bad input)."""
    parser = _parser()
    args = parser.parse_args(argv)
    # A command's driver exits at once: it has no next search to start workers ahead for.
    overrides = {"home": args.home, "warm_workers": 0}
    try:
        return int(args.run(args, overrides))
    except LabNotRunningError as exc:
        print(exc, file=sys.stderr)
        return 1
    except LabError as exc:  # bad input, or a state the user can change
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _up(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    lab = connect(serve_port=args.serve_port, num_cpus=args.num_cpus, **overrides)
    lab.wait_started()  # `up` returns a lab that serves
    print(lab.status())
    lab.disconnect()
    return 0


def _down(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    try:
        lab = connect(start=False, **overrides)
    except LabNotRunningError as exc:
        print(f"Nothing to stop: {exc}")
        return 0
    lab.shutdown()
    print(f"mlops-lab stopped; the store stays at {lab.settings.store_path}")
    return 0


def _status(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    lab = connect(start=False, **overrides)
    print(lab.status())
    lab.disconnect()
    return 0


def _sql(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    query = " ".join(args.query)
    try:
        lab = connect(start=False, **overrides)
    except LabNotRunningError:
        # No lab holds the file: read it directly, as several readers may.
        with Store(load_settings(**overrides).store_path, read_only=True) as store:
            frame = store.sql(query)
    else:
        frame = lab.sql(query)
        lab.disconnect()
    _print_frame(frame, args.format)
    return 0


def _print_frame(frame: pd.DataFrame, fmt: str) -> None:
    if fmt == "csv":
        print(frame.to_csv(index=False), end="")
    elif fmt == "json":
        print(frame.to_json(orient="records", date_format="iso"))
    else:
        with pd.option_context("display.max_rows", 200, "display.width", 200):
            print(frame.to_string(index=False))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops-lab", description="Run and inspect the mlops-lab runtime."
    )
    parser.add_argument("--home", help="Folder of the lab's files (default ./.mlops_lab).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser("up", help="Start the lab runtime (or attach) and print its status.")
    up.add_argument("--serve-port", type=int, help="Port of the Serve HTTP proxy.")
    up.add_argument("--num-cpus", type=int, help="CPUs the local Ray head offers.")
    up.set_defaults(run=_up)
    down = commands.add_parser("down", help="Stop the lab runtime; the store file stays.")
    down.set_defaults(run=_down)
    status = commands.add_parser("status", help="Print the runtime, store and endpoints.")
    status.set_defaults(run=_status)
    sql = commands.add_parser("sql", help="Run one read-only SQL query on the store.")
    sql.add_argument("query", nargs="+", help="The query, e.g. 'SELECT count(*) FROM requests'.")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.set_defaults(run=_sql)
    return parser


if __name__ == "__main__":
    sys.exit(main())
