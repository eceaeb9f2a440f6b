"""The options of tune, deploy, canary and bandit, each declared once with its default and help.

An :class:`Option` says everything the lab knows about one keyword option: its default, its
help text, the values it may take and the rule its value must follow, and how ``%mlops``
reads it from a flag. The Python API resolves the options it is given against a group
(:func:`resolve`: an unknown name is refused with the closest one, defaults are filled in,
each value is checked by its rule), and the ``%mlops`` parsers take their flags, defaults,
choices and usage text from the same group (:func:`add_flags`, :func:`flag_usage`).

Pure: this module imports the standard library, the lab's errors and the pure routing
package only.
"""

from __future__ import annotations

import argparse
import difflib
import shlex
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mlops_lab.errors import LabError, listing, parameter_error
from mlops_lab.routing import POLICIES, REWARDS
from mlops_lab.stats._choices import CORRECTIONS, NUMERIC_TESTS

__all__ = [
    "BANDIT",
    "CANARY",
    "DEPLOY",
    "MONITOR",
    "REQUIRED",
    "TUNE",
    "Option",
    "OptionGroup",
    "Rule",
    "add_flags",
    "check_value",
    "flag_help",
    "flag_usage",
    "flag_values",
    "integer_at_least",
    "resolve",
    "shares",
    "value_error",
]


class _Required:
    """The default of an option that has none: the caller must give it."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Rule:
    """What one option's value must be, on its own: the rule's words and its test.

    Example:
        >>> Rule("be even", lambda value: value % 2 == 0).test(4)
        True
    """

    must: str
    test: Callable[[Any], bool]


@dataclass(frozen=True)
class Option:
    """One keyword option: its default, help text, allowed values, rule and ``%mlops`` flag.

    Attributes:
        name: The keyword's name; its flag is ``--`` and the name with '-' for '_'.
        default: The value when the option is not given (:data:`REQUIRED` for none).
        help: What the option does, in a few words.
        choices: The only values allowed, when there is such a list (None may be one).
        rule: What any other value must be, when the option has a rule.
        flag: How ``%mlops`` reads the flag's text (``str``, ``int``, ``float``, a function);
            ``bool`` for a switch, ``list`` for several words, None for no flag.
        metavar: How the usage text shows a flag's value when it has no default to show.
    """

    name: str
    default: Any
    help: str
    choices: tuple[Any, ...] = ()
    rule: Rule | None = None
    flag: Callable[[str], Any] | None = str
    metavar: str = "VALUE"

    def problem(self, value: Any) -> str | None:
        """What ``value`` must be instead, or None when it is allowed.

        Example:
            >>> TUNE["mode"].problem("maximum")
            "be one of ['max', 'min']"
        """
        if self.choices and value not in self.choices:
            return f"be one of {list(self.choices)!r}"
        if self.rule is not None and not self.rule.test(value):
            return self.rule.must
        return None


@dataclass(frozen=True)
class OptionGroup:
    """The options of one call, in the order its usage shows them.

    Example:
        >>> DEPLOY["replicas"].default, DEPLOY.caller
        (1, 'deploy()')
    """

    caller: str
    options: tuple[Option, ...]

    def __getitem__(self, name: str) -> Option:
        for option in self.options:
            if option.name == name:
                return option
        raise KeyError(name)

    def __iter__(self) -> Iterator[Option]:
        return iter(self.options)

    @property
    def names(self) -> list[str]:
        """The options' names, in declaration order."""
        return [option.name for option in self.options]

    def defaults(self) -> dict[str, Any]:
        """Each option's default (required options left out)."""
        return {o.name: o.default for o in self.options if o.default is not REQUIRED}


# Rules shared by several options.


def integer_at_least(lowest: int, *, none: bool = False) -> Rule:
    """An integer (not a bool) of at least ``lowest``; with ``none``, None is also allowed."""

    def test(value: Any) -> bool:
        if value is None:
            return none
        return isinstance(value, int) and not isinstance(value, bool) and value >= lowest

    return Rule(f"be an integer >= {lowest}", test)


def _number_above_one(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and value > 1


def _number_not_below_zero(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and value >= 0


def _number_above_zero(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and value > 0


def _share(value: Any) -> bool:
    return _number_above_zero(value) and value < 1


def _not_an_integer_below_two(value: Any) -> bool:
    # cv may also be a splitter object, which scikit-learn checks when it splits.
    return not (isinstance(value, int) and value < 2)


def shares(text: str) -> tuple[float, ...]:
    """Canary steps written as ``%mlops`` takes them: shares joined by commas.

    Example:
        >>> shares("0.1,0.5,1")
        (0.1, 0.5, 1.0)
    """
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"could not read {text!r}; write increasing traffic shares such as 0.05,0.25,1.0"
        ) from None


TUNE = OptionGroup(
    "tune()",
    (
        Option("dataset", REQUIRED, "a registered dataset, 'name' or 'name@version'; in Python "
               "also a tuple (X, y)", metavar="DATASET"),
        Option("target", None, "the target column, instead of the dataset's", metavar="COLUMN"),
        Option("metric", "accuracy", "a scikit-learn scorer name", metavar="SCORER"),
        Option("mode", "max", "whether a higher or a lower metric is better",
               choices=("max", "min")),
        Option("search", "grid", "grid: every configuration; random: num_samples draws",
               choices=("grid", "random")),
        Option("num_samples", 10, "configurations a random search draws",
               rule=integer_at_least(1), flag=int),
        Option("cv", 3, "cross-validation folds; in Python also a splitter",
               rule=Rule("be at least 2", _not_an_integer_below_two), flag=int),
        Option("scheduler", None, "asha stops poor trials early, for estimators that train "
               "in steps (partial_fit, warm_start ensembles, histogram gradient boosting)",
               choices=("asha", None)),
        Option("max_concurrent", None, "trials run at once (default: one per CPU)",
               rule=integer_at_least(1, none=True), flag=int),
        Option("max_iter", 10, "iterations of a trial under ASHA",
               rule=integer_at_least(1), flag=int),
        Option("grace_period", 1, "iterations before ASHA may stop a trial",
               rule=integer_at_least(1), flag=int),
        Option("reduction_factor", 3, "ASHA keeps one trial in this many at each rung",
               rule=Rule("be a number above 1 (ASHA keeps one trial in that many at each rung)",
                         _number_above_one), flag=float),
        Option("name", None, "the experiment's name (default: the estimator's class)",
               metavar="NAME"),
        Option("background", False, "return at once; the search goes on in a thread",
               flag=bool),
        Option("progress", True, "show the trials live as they run", flag=None),
        Option("seed", 0, "seed of the random draws and of the folds' order", flag=None),
    ),
)  # fmt: skip

DEPLOY = OptionGroup(
    "deploy()",
    (
        Option("replicas", 1, "router replicas", rule=integer_at_least(1), flag=int),
        Option("replica_cpus", 0.0, "CPUs reserved for each replica",
               rule=Rule("be a number >= 0", _number_not_below_zero), flag=None),
        Option("trusted", (), "types the model's artifact is trusted with", flag=list,
               metavar="TYPE"),
        Option("allow_pickle", False, "load a pickle artifact", flag=None),
        Option("isolated", False, "serve from processes of the endpoint's own, as an endpoint "
               "with more than one replica or reserved CPUs always is", flag=None),
    ),
)  # fmt: skip

CANARY = OptionGroup(
    "canary()",
    (Option("steps", (0.05, 0.25, 0.5, 1.0), "the candidate's traffic share at each step",
            flag=shares, metavar="SHARES"),),
)  # fmt: skip

BANDIT = OptionGroup(
    "bandit()",
    (
        Option("policy", "thompson", "the bandit policy: "
               + listing(sorted(set(POLICIES) - {"split"}), limit=len(POLICIES)),
               metavar="POLICY"),
        Option("reward", "accuracy", "accuracy: the truth equals the prediction; reward: the "
               "reward sent with the feedback", choices=REWARDS),
    ),
)  # fmt: skip


OUTLIER_DETECTORS = ("iforest", "mahalanobis", None)
MULTIVARIATE_TESTS = ("classifier", "mmd", "lsdd")

MONITOR = OptionGroup(
    "monitor()",
    (
        Option("every", 5.0, "seconds between two passes of the monitor beside serving",
               rule=Rule("be a number > 0", _number_above_zero), flag=float),
        Option("window_rows", 1000, "a window closes when it holds this many served requests",
               rule=integer_at_least(2), flag=int),
        Option("window_seconds", 3600.0, "or when its first request is this old, so that low "
               "traffic is still checked", rule=Rule("be a number > 0", _number_above_zero),
               flag=float),
        Option("alpha", 0.05, "the level of the drift and accuracy tests",
               rule=Rule("be a number between 0 and 1", _share), flag=float),
        Option("correction", "bonferroni", "how per-feature p-values are corrected for "
               "testing every feature", choices=CORRECTIONS),
        Option("min_effect", 0.1, "the smallest distance that counts as drift (Wasserstein "
               "in reference standard deviations, or Jensen-Shannon)",
               rule=Rule("be a number >= 0", _number_not_below_zero), flag=float),
        Option("numeric_test", "ks", "ks: Kolmogorov-Smirnov; cvm: Cramér-von Mises",
               choices=NUMERIC_TESTS),
        Option("multivariate", True, "test the whole input at once too, with a classifier "
               "trained to tell the window from the reference (--no-multivariate: do not)",
               flag=bool),
        Option("multivariate_test", "classifier", "classifier: a random forest told to tell "
               "the window from the reference; mmd or lsdd: kernel two-sample tests (maximum "
               "mean discrepancy, least-squares density difference), which need PyTorch "
               "(pip install 'mlops-lab[torch]')", choices=MULTIVARIATE_TESTS),
        Option("online_ert", None, "also feed each request to online drift detectors whose "
               "false alarms come once in this many requests on average (None: none)",
               rule=integer_at_least(100, none=True), flag=int),
        Option("categorical", (), "features to test as categories, beside those whose "
               "reference column holds text or booleans", flag=list, metavar="FEATURE"),
        Option("outliers", "iforest", "the outlier detector fitted on the reference: an "
               "isolation forest, or Mahalanobis distance (whose mean and covariance follow the "
               "stream)", choices=OUTLIER_DETECTORS),
        Option("outlier_rate", 0.01, "the share of the reference the outlier detector "
               "flags, which sets its threshold",
               rule=Rule("be a number between 0 and 1", _share), flag=float),
        Option("importance_rows", 20, "requests of each window explained with SHAP for the "
               "features' mean |SHAP| (0: none)", rule=integer_at_least(0), flag=int),
        Option("confidence", 0.95, "the confidence of the intervals around accuracy and errors",
               rule=Rule("be a number between 0 and 1", _share), flag=float),
        Option("metrics", {}, "business metrics by name: a SQL aggregate over the window's "
               "requests and their feedback, or a function of (features, prediction, truth, "
               "reward) whose mean is taken", flag=None),
        Option("alerts", ("drift", "accuracy < reference", "outlier_rate > 0.05"),
               "alert rules: drift, multivariate_drift, online_drift, prediction_drift, "
               "accuracy < reference, "
               "or a metric "
               "compared with a number (accuracy, expected_accuracy, mae, rmse, outlier_rate, "
               "labelled_share, a business metric)", flag=list, metavar="RULE"),
    ),
)  # fmt: skip


def resolve(
    group: OptionGroup, given: Mapping[str, Any], error: type[LabError], *, check: bool = True
) -> dict[str, Any]:
    """Every option of ``group``: the ones given, and the defaults of the others.

    Args:
        group: The declared options of the call.
        given: The keyword options the caller passed.
        error: The error to raise, such as ``TuneError``.
        check: Also check each value by its option's rule (otherwise the caller does).

    Returns:
        The options by name, in declaration order.

    Raises:
        LabError: of class ``error``: an unknown or missing option, or a value its rule
            refuses.

    Example:
        >>> resolve(DEPLOY, {"replicas": 2}, LabError)["replicas"], DEPLOY.defaults()["trusted"]
        (2, ())
    """
    for name in given:
        if name not in group.names:
            raise error(_unknown(group, name))
    values = {option.name: given.get(option.name, option.default) for option in group}
    for option in group:
        if values[option.name] is REQUIRED:
            raise error(f"{group.caller} needs {option.name}=...: {option.help}.")
        if check:
            check_value(group, option.name, values[option.name], error)
    return values


def check_value(group: OptionGroup, name: str, value: Any, error: type[LabError]) -> None:
    """Raise ``error`` when the option's choices or rule refuse ``value``.

    Example:
        >>> check_value(DEPLOY, "replicas", 0, LabError)
        Traceback (most recent call last):
        ...
        mlops_lab.errors.LabError: The 'replicas' parameter of deploy() must be an integer >= 1. Got 0 instead.
    """  # noqa: E501
    message = value_error(group, name, value)
    if message is not None:
        raise error(message)


def value_error(group: OptionGroup, name: str, value: Any) -> str | None:
    """The message refusing ``value`` for the option, or None when its choices and rule allow it.

    Example:
        >>> value_error(TUNE, "mode", "min") is None
        True
    """
    must = group[name].problem(value)
    return None if must is None else parameter_error(name, group.caller, must, repr(value))


def _unknown(group: OptionGroup, name: str) -> str:
    close = difflib.get_close_matches(str(name), group.names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (
        f"{group.caller} takes the options {listing(group.names, limit=len(group.names))}. "
        f"Got {name!r} instead.{hint}"
    )


# The options as %mlops flags.


def _flag(option: Option) -> str:
    return "--" + option.name.replace("_", "-")


def _switch(option: Option) -> str:
    """A switch as the user writes it: its --no- form when it is on by default."""
    flag = _flag(option)
    return "--no-" + flag[2:] if option.default else flag


def _flags(group: OptionGroup) -> list[Option]:
    return [option for option in group if option.flag is not None]


def add_flags(parser: argparse.ArgumentParser, group: OptionGroup) -> None:
    """Add a flag for each option of ``group`` that has one, with its default and choices."""
    for option in _flags(group):
        known: dict[str, Any] = {"dest": option.name, "help": option.help}
        if option.flag is bool:
            # A switch that is on by default is turned off by its --no- form.
            action = argparse.BooleanOptionalAction if option.default else "store_true"
            known.update(action=action, default=option.default)
        elif option.flag is list:
            known.update(nargs="*", default=list(option.default), metavar=option.metavar)
        else:
            choices = [choice for choice in option.choices if choice is not None]
            known.update(type=option.flag, choices=choices or None, metavar=_metavar(option))
            if option.default is REQUIRED:
                known.update(required=True)
            else:
                known.update(default=option.default)
        parser.add_argument(_flag(option), **known)


def flag_values(group: OptionGroup, parsed: argparse.Namespace) -> dict[str, Any]:
    """The options of ``group`` that ``%mlops`` read from flags, by name."""
    return {option.name: getattr(parsed, option.name) for option in _flags(group)}


def flag_usage(group: OptionGroup) -> list[str]:
    """The flags of ``group`` as a usage line shows them: each with its default or choices.

    Example:
        >>> flag_usage(CANARY)
        ['[--steps 0.05,0.25,0.5,1]']
    """
    parts = []
    for option in _flags(group):
        if option.flag is bool:
            text = _switch(option)
        elif option.choices or option.default in (None, (), REQUIRED):
            text = f"{_flag(option)} {_metavar(option)}"
        else:
            text = f"{_flag(option)} {_default(option)}"
        parts.append(text if option.default is REQUIRED else f"[{text}]")
    return parts


def flag_help(group: OptionGroup, width: int = 92) -> list[str]:
    """Lines that describe each flag of ``group``: the flag, its help and its default.

    Example:
        >>> flag_help(DEPLOY)[0]
        '  --replicas N              router replicas (default: 1)'
    """
    lines = []
    for option in _flags(group):
        head = _switch(option) if option.flag is bool else f"{_flag(option)} {_metavar(option)}"
        text = option.help
        if option.default is REQUIRED:
            text += " (required)"
        elif option.flag is not bool and option.default not in (None, ()):
            text += f" (default: {_default(option)})"
        lines += textwrap.wrap(
            text, width, initial_indent=f"  {head:<24}  ", subsequent_indent=" " * 28
        )
    return lines


def _metavar(option: Option) -> str:
    """How a flag's value is named: its choices, N or X for numbers, or its metavar."""
    choices = [str(choice) for choice in option.choices if choice is not None]
    if choices:
        return "|".join(choices)
    if option.flag is int:
        return "N"
    if option.flag is float:
        return "X"
    return option.metavar + (" ..." if option.flag is list else "")


def _default(option: Option) -> str:
    """A default as it would be written on the command line."""
    if option.flag is list:
        return shlex.join(str(value) for value in option.default)
    if isinstance(option.default, tuple):
        return ",".join(f"{value:g}" for value in option.default)
    if isinstance(option.default, float):
        return f"{option.default:g}"
    return str(option.default)
