"""The %mlops parsers take their flags, defaults and choices from the options' declaration, and
a mistake in them is a UsageError with the usage."""

from __future__ import annotations

import shlex
import subprocess
import sys
from typing import Any

import pytest
from IPython.core.error import UsageError

from mlops_lab._options import BANDIT, CANARY, DEPLOY, MONITOR, TUNE, flag_values
from mlops_lab.magics import MlopsMagics, _deploy_parser, _monitor_parser, _tune_parser


def tune_call(line: str) -> dict[str, Any]:
    """The keyword options %mlops tune passes to lab.tune() for ``line``."""
    return flag_values(TUNE, _tune_parser().parse_args(shlex.split(line)))


def test_tune_with_only_a_dataset_passes_every_declared_default() -> None:
    """Flags not written take the defaults lab.tune() itself would take."""
    call = tune_call("forest --dataset iris")
    expected = {name: value for name, value in TUNE.defaults().items()
                if name not in ("progress", "seed")}  # fmt: skip
    assert call == {**expected, "dataset": "iris"}


def test_tune_reads_every_flag_with_its_type() -> None:
    """Each flag reaches its option, converted as declared."""
    call = tune_call(
        "forest --dataset iris@2 --target y --metric f1 --mode min --search random "
        "--num-samples 4 --cv 5 --scheduler asha --max-concurrent 2 --max-iter 8 "
        "--grace-period 2 --reduction-factor 2.5 --name trees --background"
    )
    assert call == {
        "dataset": "iris@2", "target": "y", "metric": "f1", "mode": "min", "search": "random",
        "num_samples": 4, "cv": 5, "scheduler": "asha", "max_concurrent": 2, "max_iter": 8,
        "grace_period": 2, "reduction_factor": 2.5, "name": "trees", "background": True,
    }  # fmt: skip


def test_tune_keeps_its_estimator_and_space_apart_from_the_options() -> None:
    """The estimator and --space are the magic's own; they are not tune() options."""
    parsed = _tune_parser().parse_args(shlex.split("forest --dataset d --space '{\"a\": [1]}'"))
    assert (parsed.estimator, parsed.space) == ("forest", '{"a": [1]}')
    assert "space" not in flag_values(TUNE, parsed)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("forest", "the following arguments are required: --dataset"),
        ("forest --dataset d --mode up", "argument --mode: invalid choice: 'up'"),
        ("forest --dataset d --scheduler none", "argument --scheduler: invalid choice: 'none'"),
        ("forest --dataset d --num-samples many", "argument --num-samples: invalid int value"),
        ("forest --dataset d --reduction-factor x", "argument --reduction-factor: invalid float"),
        ("forest --dataset d --seed 3", "unrecognized arguments: --seed 3"),
    ],
)
def test_bad_tune_flags_are_usage_errors_with_the_usage(line: str, message: str) -> None:
    """A wrong flag names itself and shows the usage, without a traceback."""
    with pytest.raises(UsageError, match=message) as raised:
        _tune_parser().parse_args(shlex.split(line))
    assert "usage: %mlops tune [--space SPACE] --dataset DATASET" in str(raised.value)


@pytest.mark.parametrize(
    ("subcommand", "line", "group", "expected"),
    [
        ("deploy", "iris iris@1", DEPLOY, {"replicas": 1, "trusted": []}),
        ("deploy", "iris iris@1 --replicas 3 --trusted a.B c.D", DEPLOY,
         {"replicas": 3, "trusted": ["a.B", "c.D"]}),
        ("canary", "iris iris@2", CANARY, {"steps": (0.05, 0.25, 0.5, 1.0)}),
        ("canary", "iris iris@2 --steps 0.1,1", CANARY, {"steps": (0.1, 1.0)}),
        ("bandit", "iris a@1 b@2", BANDIT, {"policy": "thompson", "reward": "accuracy"}),
        ("bandit", "iris a@1 b@2 --policy ucb1 --reward reward", BANDIT,
         {"policy": "ucb1", "reward": "reward"}),
    ],
)  # fmt: skip
def test_deployment_flags_parse_to_the_call_arguments(
    subcommand: str, line: str, group: Any, expected: dict[str, Any]
) -> None:
    """deploy, canary and bandit pass their declared options, defaults filled in."""
    parsed = _deploy_parser(subcommand).parse_args(shlex.split(line))
    assert flag_values(group, parsed) == expected


def test_bandit_keeps_its_models_and_policy_parameters() -> None:
    """Models and --param are the magic's own arguments, beside the declared options."""
    parsed = _deploy_parser("bandit").parse_args(
        shlex.split("iris a@1 b@2 --param gamma=0.9 seed=1")
    )
    assert (parsed.endpoint, parsed.models, parsed.param) == (
        "iris", ["a@1", "b@2"], ["gamma=0.9", "seed=1"]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("subcommand", "line", "message"),
    [
        ("deploy", "iris", "the following arguments are required: model"),
        ("deploy", "iris m@1 --replicas two", "argument --replicas: invalid int value: 'two'"),
        ("deploy", "iris m@1 --allow-pickle", "unrecognized arguments: --allow-pickle"),
        ("canary", "iris m@2 --steps half", "argument --steps: could not read 'half'"),
        ("bandit", "iris a@1 b@2 --reward profit", "argument --reward: invalid choice: 'profit'"),
    ],
)
def test_bad_deployment_flags_are_usage_errors(subcommand: str, line: str, message: str) -> None:
    """A wrong flag of deploy, canary or bandit is a UsageError naming it, with the usage."""
    with pytest.raises(UsageError, match=message) as raised:
        _deploy_parser(subcommand).parse_args(shlex.split(line))
    assert f"usage: %mlops {subcommand} " in str(raised.value)


def test_a_misspelt_policy_reaches_the_policy_check() -> None:
    """--policy has no fixed choices in the parser, so the routing package's check, which
    suggests the closest policy, answers a misspelt one."""
    parsed = _deploy_parser("bandit").parse_args(shlex.split("iris a@1 b@2 --policy thompsen"))
    assert parsed.policy == "thompsen"


def test_help_shows_each_subcommand_with_the_declared_flags_and_defaults() -> None:
    """%mlops? shows the usage lines and each option's flag, help and default."""
    doc = MlopsMagics.mlops.__doc__ or ""
    assert "%mlops bandit EP a@1 b@2 [--policy thompson] [--reward accuracy|reward]" in doc
    assert "%mlops canary EP MODEL [--steps 0.05,0.25,0.5,1]" in doc
    assert "%mlops deploy EP MODEL [--replicas 1] [--trusted TYPE ...]" in doc
    assert "[--num-samples 10]" in doc and "[--reduction-factor 3]" in doc
    assert "Options of tune:" in doc and "Options of bandit:" in doc
    assert "  --max-iter N              iterations of a trial under ASHA (default: 10)" in doc
    assert "%mlops monitor EP [--every 5] [--window-rows 1000]" in doc
    assert "[--alerts drift 'accuracy < reference' 'outlier_rate > 0.05']" in doc
    for group in (TUNE, DEPLOY, CANARY, BANDIT, MONITOR):
        for option in group:
            shown = option.flag is not None
            flag = option.name.replace("_", "-")
            if option.flag is bool and option.default:  # a switch on by default: its --no- form
                flag = "no-" + flag
            assert (f"--{flag}" in doc) == shown, option.name


def test_the_magics_load_without_the_runtime() -> None:
    """Loading the magics (and so their parsers) loads neither Ray nor DuckDB: the runtime
    loads on the first %mlops."""
    probe = "import sys, mlops_lab.magics; print(sorted({'ray', 'duckdb'} & set(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert loaded.stdout.strip().splitlines()[-1] == "[]"


def monitor_call(line: str) -> dict[str, Any]:
    """The keyword options %mlops monitor passes to the endpoint's monitor for ``line``."""
    return flag_values(MONITOR, _monitor_parser().parse_args(shlex.split(line)))


# The declared defaults of the flags, as the parser gives them: several words as a list.
MONITOR_DEFAULTS = {
    option.name: list(option.default) if isinstance(option.default, tuple) else option.default
    for option in MONITOR
    if option.flag is not None  # business metrics are given in Python only
}


def test_monitor_without_flags_passes_every_declared_default() -> None:
    """Flags not written take the defaults the monitor itself would take."""
    parsed = _monitor_parser().parse_args(["churn"])
    assert (parsed.endpoint, parsed.action) == ("churn", None)
    assert monitor_call("churn") == MONITOR_DEFAULTS


def test_monitor_reads_its_flags_and_alert_rules_as_shell_words() -> None:
    """Numbers are converted as declared; each quoted rule is one rule."""
    call = monitor_call(
        "churn --window-rows 500 --alpha 0.01 --correction fdr --categorical plan region "
        "--alerts drift 'accuracy < reference' --outlier-rate 0.02"
    )
    assert call == {
        **MONITOR_DEFAULTS, "window_rows": 500, "alpha": 0.01, "correction": "fdr",
        "categorical": ["plan", "region"], "alerts": ["drift", "accuracy < reference"],
        "outlier_rate": 0.02,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "the following arguments are required: endpoint"),
        ("churn rerun", "argument action: invalid choice: 'rerun'"),
        ("churn --window-rows many", "argument --window-rows: invalid int value"),
        ("churn --correction holm", "argument --correction: invalid choice: 'holm'"),
    ],
)
def test_bad_monitor_flags_are_usage_errors(line: str, message: str) -> None:
    """A wrong action, a flag's bad value or a missing endpoint is a UsageError."""
    with pytest.raises(UsageError, match=message):
        _monitor_parser().parse_args(shlex.split(line))
