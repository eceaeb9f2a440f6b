"""The ``%mlops`` line and cell magics; each subcommand is one call of the Python API."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from mlops_lab._options import (
    BANDIT,
    CANARY,
    DEPLOY,
    MONITOR,
    TUNE,
    OptionGroup,
    add_flags,
    flag_help,
    flag_usage,
    flag_values,
)
from mlops_lab.errors import LabError

if TYPE_CHECKING:
    from mlops_lab.runtime import Lab

SUBCOMMANDS = (
    "status", "sql", "datasets", "models", "tune", "deploy", "split", "canary", "shadow",
    "bandit", "feedback", "endpoints", "undeploy", "monitor", "drift", "outliers", "explain",
    "alerts",
)  # fmt: skip
# What %mlops monitor EP does besides setting the options.
MONITOR_ACTIONS = ("run", "health", "stop", "results")
# Subcommands that deploy or change an endpoint; their arguments go through one parser.
DEPLOYMENT = ("deploy", "split", "canary", "shadow", "bandit", "feedback", "undeploy")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes are UsageErrors (shown without a traceback)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}\n{self.format_usage()}")


def _tune_parser() -> _Parser:
    parser = _Parser(prog="%mlops tune", add_help=False)
    parser.add_argument("estimator", help="name of an estimator variable in the notebook")
    parser.add_argument("--space", help="parameter space (a dict expression); or the cell body")
    add_flags(parser, TUNE)
    return parser


def _deploy_parser(subcommand: str) -> _Parser:
    parser = _Parser(prog=f"%mlops {subcommand}", add_help=False)
    parser.add_argument("endpoint", help="the endpoint's name")
    if subcommand == "deploy":
        parser.add_argument("model", help="'name@alias' or 'name@version'")
        add_flags(parser, DEPLOY)
    elif subcommand in ("split", "shadow", "bandit"):
        parser.add_argument("models", nargs="*", help="model versions (split: 'name@1=0.9')")
    elif subcommand == "canary":
        parser.add_argument("action", help="a model version, or advance|rollback|promote")
        add_flags(parser, CANARY)
    elif subcommand == "feedback":
        parser.add_argument("data", help="a DataFrame variable: request_id, truth and/or reward")
    if subcommand == "bandit":
        add_flags(parser, BANDIT)
        parser.add_argument("--param", nargs="*", default=[], help="policy parameters: gamma=0.95")
    return parser


def _monitor_parser() -> _Parser:
    parser = _Parser(prog="%mlops monitor", add_help=False)
    parser.add_argument("endpoint", help="the endpoint's name")
    parser.add_argument("action", nargs="?", choices=MONITOR_ACTIONS,
                        help="run a pass now, show its health, stop it, or show its results; "
                        "none: set the options and start it")  # fmt: skip
    add_flags(parser, MONITOR)
    return parser


_WIDTH = 92  # of the usage lines in %mlops?


def _usage(magic: Callable[..., Any]) -> Callable[..., Any]:
    """Write the usage of %mlops into its docstring, the options' flags from their declaration."""
    lines = [
        magic.__doc__ or "",
        "",
        "Subcommands:",
        "  %mlops status              the runtime, the store and the endpoints",
        "  %mlops sql SELECT ...      one read-only SQL query on the store; returns a DataFrame",
        "  %%mlops sql                the query in the cell body",
        "  %mlops datasets            registered datasets, newest first",
        "  %mlops models [NAME]       registered model versions with their aliases",
        *_wrapped("%mlops tune EST --space '{\"max_depth\": [3, 5]}'", TUNE),
        "  %%mlops tune EST --dataset D    with the parameter space in the cell body",
        *_wrapped("%mlops deploy EP MODEL", DEPLOY, "serve a model version at /EP"),
        "  %mlops split EP a@1=0.9 b@2=0.1         a fixed split of traffic",
        *_wrapped("%mlops canary EP MODEL", CANARY),
        "  %mlops canary EP advance|rollback|promote",
        "  %mlops shadow EP [MODEL ...]            shadow models (none: stop shadowing)",
        *_wrapped("%mlops bandit EP a@1 b@2", BANDIT, "", "[--param gamma=0.95 ...]"),
        "  %mlops feedback EP FRAME                a DataFrame: request_id, truth/reward",
        "  %mlops endpoints                        the running endpoints and their routes",
        "  %mlops undeploy EP",
        *_wrapped("%mlops monitor EP", MONITOR, "set the options; start it beside serving"),
        "  %mlops monitor EP run|health|stop|results",
        "  %mlops drift EP                         p-values per feature (columns) and window",
        "  %mlops outliers EP                      the outlier rate per window",
        "  %mlops explain ID [shap|anchors]        why a logged request got its prediction",
        "  %mlops alerts [EP]                      alerts, the open ones first",
    ]
    groups = ((TUNE, "tune"), (DEPLOY, "deploy"), (CANARY, "canary"), (BANDIT, "bandit"),
              (MONITOR, "monitor"))  # fmt: skip
    for group, name in groups:
        lines += ["", f"Options of {name}:", *flag_help(group)]
    lines += [
        "",
        "Examples:",
        "  %mlops sql SELECT endpoint, count(*) AS n FROM requests GROUP BY endpoint",
        "  %mlops tune forest --dataset churn --space '{\"max_depth\": [4, 8, None]}'",
    ]
    magic.__doc__ = "\n".join(lines)
    return magic


def _wrapped(head: str, group: OptionGroup, what: str = "", extra: str = "") -> list[str]:
    """A subcommand's usage: its arguments, then its flags (never split), then what it does."""
    lines = ["  " + head]
    for part in [*flag_usage(group), *([extra] if extra else [])]:
        if len(lines[-1]) + 1 + len(part) > _WIDTH:
            lines.append(" " * 13 + part)
        else:
            lines[-1] += " " + part
    if what and len(lines) == 1 and len(lines[0]) + 2 + len(what) <= _WIDTH:
        return [f"{lines[0]:<40}  {what}"]
    return lines + ([" " * 13 + what] if what else [])


@magics_class
class MlopsMagics(Magics):
    """``%mlops`` magics; the lab is attached (or started) on first use."""

    @magic_arguments()
    @argument("subcommand", choices=SUBCOMMANDS, help="What to do: " + ", ".join(SUBCOMMANDS))
    @argument("arguments", nargs="*", help="The subcommand's arguments, e.g. a SQL query.")
    @_usage
    @line_cell_magic
    def mlops(self, line: str, cell: str | None = None) -> Any:
        """Work with the lab from a notebook."""
        subcommand, _, rest = line.strip().partition(" ")
        # Only the subcommand goes through the parser: SQL must reach DuckDB verbatim.
        parse_argstring(self.mlops, subcommand)
        handlers: dict[str, Callable[[str, str], Any]] = {
            "status": self._status,
            "sql": self._sql,
            "datasets": self._datasets,
            "models": self._models,
            "tune": self._tune,
            "endpoints": self._endpoints,
            "monitor": self._monitor,
            "drift": self._drift,
            "outliers": self._outliers,
            "explain": self._explain,
            "alerts": self._alerts,
        }
        try:
            if subcommand in DEPLOYMENT:
                return self._deployment(subcommand, rest.strip())
            return handlers[subcommand](rest.strip(), (cell or "").strip())
        except LabError as exc:  # bad input or a state the user can fix: no traceback
            raise UsageError(str(exc)) from None

    def _lab(self) -> Lab:
        # The runtime (Ray, Serve) loads on the first %mlops, not with the extension.
        from mlops_lab.runtime import current_lab

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
        return self._lab().tune(namespace[args.estimator], space, **flag_values(TUNE, args))

    def _endpoints(self, rest: str, cell: str) -> Any:
        _no_arguments("endpoints", rest, cell)
        return self._lab().endpoints()

    def _monitor(self, rest: str, cell: str) -> Any:
        _no_arguments("monitor", "", cell)
        words = shlex.split(rest)
        args = _monitor_parser().parse_args(words)
        monitor = self._lab().endpoint(args.endpoint).monitor
        if args.action is None:
            return monitor(**flag_values(MONITOR, args))
        if len(words) > 2:
            raise UsageError(f"%mlops monitor {args.action} takes no options. Got {rest!r}.")
        if args.action == "results":
            return monitor.results()
        return getattr(monitor, args.action)()

    def _drift(self, rest: str, cell: str) -> Any:
        endpoint = _one_endpoint("drift", rest, cell)
        drift = self._lab().monitoring(endpoint, "drift")
        return drift.pivot_table(index=["window_start", "model", "model_version"],
                                 columns="feature", values="value")  # fmt: skip

    def _outliers(self, rest: str, cell: str) -> Any:
        endpoint = _one_endpoint("outliers", rest, cell)
        rates = self._lab().monitoring(endpoint, "outlier_rate")
        return rates[["window_start", "window_end", "model", "model_version", "value"]].rename(
            columns={"value": "outlier_rate"}
        )

    def _explain(self, rest: str, cell: str) -> Any:
        words = rest.split()
        if cell or not 1 <= len(words) <= 2:
            raise UsageError(
                "%mlops explain takes a request id and, optionally, shap or anchors, e.g. "
                f"`%mlops explain 018f2c... anchors`. Got {rest!r}."
            )
        return self._lab().explain(*words)

    def _alerts(self, rest: str, cell: str) -> Any:
        if cell or len(rest.split()) > 1:
            raise UsageError(f"%mlops alerts takes at most an endpoint's name. Got {rest!r}.")
        return self._lab().alerts(rest or None)

    def _deployment(self, subcommand: str, rest: str) -> Any:
        args = _deploy_parser(subcommand).parse_args(shlex.split(rest))
        lab = self._lab()
        if subcommand == "deploy":
            return lab.deploy(args.endpoint, args.model, **flag_values(DEPLOY, args))
        if subcommand == "feedback":
            namespace = self.shell.user_ns if self.shell is not None else {}
            if args.data not in namespace:
                raise UsageError(f"%mlops feedback: no variable '{args.data}' in the notebook.")
            return lab.feedback(args.endpoint, namespace[args.data])
        endpoint = lab.endpoint(args.endpoint)
        if subcommand == "undeploy":
            endpoint.undeploy()
            return None
        if subcommand == "split":
            return endpoint.split(_pairs(args.models, "split", float))
        if subcommand == "shadow":
            return endpoint.shadow(*args.models)
        if subcommand == "bandit":
            params = _pairs(args.param, "bandit --param", _number)
            return endpoint.bandit(args.models, **flag_values(BANDIT, args), **params)
        if args.action in ("advance", "rollback", "promote"):
            return getattr(endpoint, args.action)()
        return endpoint.canary(args.action, **flag_values(CANARY, args))


def _pairs(items: list[str], where: str, convert: Callable[[str], Any]) -> dict[str, Any]:
    """'a=1' items as a dict of converted values."""
    try:
        pairs = [item.rsplit("=", 1) for item in items]
        return {key: convert(value) for key, value in pairs}
    except ValueError:
        raise UsageError(
            f"%mlops {where}: could not read {items!r}. Write 'name@1=0.9' pairs (weights) "
            "or 'gamma=0.95' pairs (parameters)."
        ) from None


def _number(text: str) -> int | float:
    return int(text) if text.lstrip("-").isdigit() else float(text)


def _one_endpoint(subcommand: str, rest: str, cell: str) -> str:
    if cell or len(rest.split()) != 1:
        raise UsageError(f"%mlops {subcommand} takes one endpoint's name. Got {rest!r}.")
    return rest


def _no_arguments(subcommand: str, rest: str, cell: str) -> None:
    if rest or cell:
        raise UsageError(f"%mlops {subcommand} takes no arguments. Got {(rest or cell)!r}.")
