"""The options of tune, deploy, canary and bandit: declared once, resolved and checked."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path
from typing import Any

import pytest

import mlops_lab
from mlops_lab._options import (
    BANDIT,
    CANARY,
    DEPLOY,
    REQUIRED,
    TUNE,
    OptionGroup,
    check_value,
    flag_help,
    flag_usage,
    resolve,
    shares,
)
from mlops_lab.errors import LabError
from mlops_lab.routing import POLICIES, REWARDS


class Wrong(LabError, ValueError):
    """The error a caller asks resolve() to raise."""


def test_the_declared_defaults_are_the_documented_ones() -> None:
    """Each default is declared once, with the value the API has always had."""
    assert TUNE.defaults() == {
        "target": None, "metric": "accuracy", "mode": "max", "search": "grid",
        "num_samples": 10, "cv": 3, "scheduler": None, "max_concurrent": None, "max_iter": 10,
        "grace_period": 1, "reduction_factor": 3, "name": None, "background": False,
        "progress": True, "seed": 0,
    }  # fmt: skip
    assert TUNE["dataset"].default is REQUIRED
    assert DEPLOY.defaults() == {
        "replicas": 1, "replica_cpus": 0.0, "trusted": (), "allow_pickle": False,
        "isolated": False,
    }  # fmt: skip
    assert CANARY.defaults() == {"steps": (0.05, 0.25, 0.5, 1.0)}
    assert BANDIT.defaults() == {"policy": "thompson", "reward": "accuracy"}


@pytest.mark.parametrize("group", [TUNE, DEPLOY, CANARY, BANDIT], ids=lambda g: g.caller)
def test_every_option_has_help_and_its_default_passes_its_own_rule(group: OptionGroup) -> None:
    """No option is declared without help text, and no default is refused by its rule."""
    for option in group:
        assert option.help, option.name
        if option.default is not REQUIRED:
            assert option.problem(option.default) is None, option.name


def test_bandit_choices_come_from_the_routing_package() -> None:
    """The rewards are the routing rules' own; the help names every bandit policy."""
    assert BANDIT["reward"].choices == REWARDS
    assert all(name in BANDIT["policy"].help for name in POLICIES if name != "split")
    assert "split" not in BANDIT["policy"].help.split(": ")[1]


def test_resolve_fills_every_default_and_keeps_what_was_given() -> None:
    """Options not given take their declared defaults; given ones are kept as given."""
    resolved = resolve(TUNE, {"dataset": "iris", "cv": 5}, Wrong)
    assert resolved == {**TUNE.defaults(), "dataset": "iris", "cv": 5}
    assert list(resolved) == TUNE.names


def test_an_unknown_option_is_refused_with_the_closest_and_every_known_name() -> None:
    """A misspelt option says which one was meant and lists them all, in the caller's error."""
    with pytest.raises(Wrong) as raised:
        resolve(TUNE, {"dataset": "iris", "num_sample": 5}, Wrong)
    message = str(raised.value)
    assert "Got 'num_sample' instead. Did you mean 'num_samples'?" in message
    assert message.startswith("tune() takes the options dataset, target, metric, mode,")
    assert "progress, seed." in message


def test_an_unknown_option_far_from_any_has_no_suggestion() -> None:
    """Without a close name, the message lists the options and suggests nothing."""
    with pytest.raises(Wrong, match="Got 'zzz' instead.$"):
        resolve(DEPLOY, {"zzz": 1}, Wrong)


def test_a_required_option_must_be_given() -> None:
    """tune() without a dataset says what the dataset option is."""
    with pytest.raises(Wrong, match=r"tune\(\) needs dataset=\.\.\.: a registered dataset"):
        resolve(TUNE, {}, Wrong)


@pytest.mark.parametrize(
    ("group", "name", "good", "bad", "message"),
    [
        (TUNE, "mode", "min", "maximum",
         "The 'mode' parameter of tune() must be one of ['max', 'min']. Got 'maximum' instead."),
        (TUNE, "search", "random", "bayes",
         "The 'search' parameter of tune() must be one of ['grid', 'random']. Got 'bayes' "
         "instead."),
        (TUNE, "scheduler", None, "hyperband",
         "The 'scheduler' parameter of tune() must be one of ['asha', None]. Got 'hyperband' "
         "instead."),
        (TUNE, "num_samples", 1, 0,
         "The 'num_samples' parameter of tune() must be an integer >= 1. Got 0 instead."),
        (TUNE, "max_concurrent", None, True,
         "The 'max_concurrent' parameter of tune() must be an integer >= 1. Got True instead."),
        (TUNE, "max_iter", 3, 2.5,
         "The 'max_iter' parameter of tune() must be an integer >= 1. Got 2.5 instead."),
        (TUNE, "grace_period", 2, -1,
         "The 'grace_period' parameter of tune() must be an integer >= 1. Got -1 instead."),
        (TUNE, "reduction_factor", 1.5, 1,
         "The 'reduction_factor' parameter of tune() must be a number above 1 (ASHA keeps one "
         "trial in that many at each rung). Got 1 instead."),
        (TUNE, "cv", object(), 1,
         "The 'cv' parameter of tune() must be at least 2. Got 1 instead."),
        (DEPLOY, "replicas", 3, 0,
         "The 'replicas' parameter of deploy() must be an integer >= 1. Got 0 instead."),
        (DEPLOY, "replica_cpus", 0.5, -1,
         "The 'replica_cpus' parameter of deploy() must be a number >= 0. Got -1 instead."),
        (BANDIT, "reward", "reward", "profit",
         "The 'reward' parameter of bandit() must be one of ['accuracy', 'reward']. Got "
         "'profit' instead."),
    ],
)  # fmt: skip
def test_each_declared_rule_passes_a_good_value_and_names_a_bad_one(
    group: OptionGroup, name: str, good: Any, bad: Any, message: str
) -> None:
    """check_value lets the good value through and refuses the bad one with its message."""
    check_value(group, name, good, Wrong)
    with pytest.raises(Wrong) as raised:
        check_value(group, name, bad, Wrong)
    assert str(raised.value) == message


def test_resolve_checks_values_unless_told_the_caller_does() -> None:
    """With check=False a wrong value comes back as given, for the caller's own rules."""
    with pytest.raises(Wrong, match="'replicas' parameter of deploy"):
        resolve(DEPLOY, {"replicas": 0}, Wrong)
    assert resolve(DEPLOY, {"replicas": 0}, Wrong, check=False)["replicas"] == 0


def test_shares_reads_canary_steps_or_says_how_to_write_them() -> None:
    """'0.1,0.5,1' is three shares; text that is not numbers is an argparse type error."""
    assert shares("0.1,0.5,1") == (0.1, 0.5, 1.0)
    with pytest.raises(argparse.ArgumentTypeError, match="could not read 'half'"):
        shares("half")


def test_usage_shows_each_flag_with_its_default_or_choices() -> None:
    """Required flags bare, others in brackets, switches without a value, lists with '...'."""
    usage = flag_usage(TUNE)
    assert usage[:4] == ["--dataset DATASET", "[--target COLUMN]", "[--metric accuracy]",
                         "[--mode max|min]"]  # fmt: skip
    assert "[--background]" in usage and "[--num-samples 10]" in usage
    assert not any("progress" in part or "seed" in part for part in usage)
    assert flag_usage(DEPLOY) == ["[--replicas 1]", "[--trusted TYPE ...]"]
    assert flag_usage(BANDIT) == ["[--policy thompson]", "[--reward accuracy|reward]"]


def test_flag_help_gives_each_flag_its_help_and_default() -> None:
    """One entry per flag, help text and default from the declaration."""
    text = "\n".join(flag_help(TUNE))
    assert "  --num-samples N           configurations a random search draws (default: 10)" in text
    assert "(required)" in text and "--seed" not in text
    assert flag_help(CANARY)[0].startswith("  --steps SHARES            the candidate's")


@pytest.mark.parametrize(("method", "group"), [("tune", TUNE), ("deploy", DEPLOY)])
def test_the_lab_method_documents_every_declared_option(method: str, group: OptionGroup) -> None:
    """``Lab.tune`` and ``Lab.deploy`` take ``**options``: their docstrings name each one."""
    source = (Path(mlops_lab.__file__).parent / "runtime.py").read_text()
    lab = next(
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef) and node.name == "Lab"
    )
    function = next(
        node for node in lab.body if isinstance(node, ast.FunctionDef) and node.name == method
    )
    doc = ast.get_docstring(function) or ""
    assert [name for name in group.names if f"``{name}``" not in doc] == []
