"""The ``%mlops`` line and cell magics; each subcommand is one call of the Python API."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from mlops_lab.config import ConfigError
from mlops_lab.data import DatasetError
from mlops_lab.registry import RegistryError
from mlops_lab.runtime import Lab, LabConnectionError, current_lab
from mlops_lab.store import StoreError
from mlops_lab.train import TuneError

SUBCOMMANDS = ("status", "sql", "datasets", "models", "tune")
USER_ERRORS = (StoreError, ConfigError, LabConnectionError, DatasetError, RegistryError, TuneError)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes are UsageErrors (shown without a traceback)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}\n{self.format_usage()}")


def _tune_parser() -> _Parser:
    parser = _Parser(prog="%mlops tune", add_help=False)
    parser.add_argument("estimator", help="name of an estimator variable in the notebook")
    parser.add_argument("--dataset", required=True, help="registered dataset, 'name[@version]'")
    parser.add_argument("--space", help="parameter space (a dict expression); or the cell body")
    parser.add_argument("--metric", default="accuracy")
    parser.add_argument("--mode", default="max", choices=("max", "min"))
    parser.add_argument("--search", default="grid", choices=("grid", "random"))
    parser.add_argument("--num-samples", type=int, default=10)
    parser.add_argument("--cv", type=int, default=3)
    parser.add_argument("--scheduler", choices=("asha",))
    parser.add_argument("--max-iter", type=int, default=10)
    parser.add_argument("--grace-period", type=int, default=1)
    parser.add_argument("--reduction-factor", type=float, default=3)
    parser.add_argument("--max-concurrent", type=int)
    parser.add_argument("--target")
    parser.add_argument("--name")
    parser.add_argument("--background", action="store_true")
    return parser


@magics_class
class MlopsMagics(Magics):
    """``%mlops`` magics; the lab is attached (or started) on first use."""

    @magic_arguments()
    @argument("subcommand", choices=SUBCOMMANDS, help="What to do: " + ", ".join(SUBCOMMANDS))
    @argument("arguments", nargs="*", help="The subcommand's arguments, e.g. a SQL query.")
    @line_cell_magic
    def mlops(self, line: str, cell: str | None = None) -> Any:
        """Work with the lab from a notebook.

        Subcommands:
          %mlops status              the runtime, the store and the endpoints
          %mlops sql SELECT ...      one read-only SQL query on the store; returns a DataFrame
          %%mlops sql                the query in the cell body
          %mlops datasets            registered datasets, newest first
          %mlops models [NAME]       registered model versions with their aliases
          %mlops tune EST --dataset D --space '{"max_depth": [3, 5]}' [--metric M]
                     [--search grid|random] [--num-samples N] [--cv K] [--scheduler asha]
                     [--max-iter N] [--grace-period N] [--reduction-factor F]
                     [--max-concurrent N] [--background]
          %%mlops tune EST --dataset D    with the parameter space in the cell body

        Examples:
          %mlops sql SELECT endpoint, count(*) AS n FROM requests GROUP BY endpoint
          %mlops tune forest --dataset churn --space '{"max_depth": [4, 8, None]}'
        """
        subcommand, _, rest = line.strip().partition(" ")
        # Only the subcommand goes through the parser: SQL must reach DuckDB verbatim.
        parse_argstring(self.mlops, subcommand)
        handlers: dict[str, Callable[[str, str], Any]] = {
            "status": self._status,
            "sql": self._sql,
            "datasets": self._datasets,
            "models": self._models,
            "tune": self._tune,
        }
        try:
            return handlers[subcommand](rest.strip(), (cell or "").strip())
        except USER_ERRORS as exc:
            raise UsageError(str(exc)) from None

    def _lab(self) -> Lab:
        return current_lab()

    def _status(self, rest: str, cell: str) -> Any:
        _no_arguments("status", rest, cell)
        return self._lab().status()

    def _datasets(self, rest: str, cell: str) -> Any:
        _no_arguments("datasets", rest, cell)
        return self._lab().datasets.list()

    def _models(self, rest: str, cell: str) -> Any:
        if cell or len(rest.split()) > 1:
            raise UsageError(f"%mlops models takes at most a model name. Got {rest!r}.")
        return self._lab().registry.list(rest or None)

    def _sql(self, rest: str, cell: str) -> Any:
        body = "\n".join(part for part in (rest, cell) if part)
        if not body:
            raise UsageError(
                "%mlops sql needs a query, e.g. `%mlops sql SELECT count(*) FROM requests`, "
                "or the query in the body of a %%mlops sql cell."
            )
        return self._lab().sql(body)

    def _tune(self, rest: str, cell: str) -> Any:
        args = _tune_parser().parse_args(shlex.split(rest))
        namespace = self.shell.user_ns if self.shell is not None else {}
        if args.estimator not in namespace:
            raise UsageError(
                f"%mlops tune: no variable '{args.estimator}' in the notebook. Define the "
                "estimator first, e.g. `forest = RandomForestClassifier()`."
            )
        space_text = args.space or cell
        if not space_text:
            raise UsageError("%mlops tune needs a parameter space: --space '{...}' or a cell body.")
        try:
            space = eval(space_text, namespace)  # the user's own expression, in their kernel
        except Exception as exc:
            raise UsageError(f"%mlops tune: the parameter space does not evaluate: {exc}") from None
        return self._lab().tune(
            namespace[args.estimator], space, dataset=args.dataset, metric=args.metric,
            mode=args.mode, search=args.search, num_samples=args.num_samples, cv=args.cv,
            scheduler=args.scheduler, max_iter=args.max_iter, grace_period=args.grace_period,
            reduction_factor=args.reduction_factor, max_concurrent=args.max_concurrent,
            target=args.target, name=args.name, background=args.background,
        )  # fmt: skip


def _no_arguments(subcommand: str, rest: str, cell: str) -> None:
    if rest or cell:
        raise UsageError(f"%mlops {subcommand} takes no arguments. Got {(rest or cell)!r}.")
