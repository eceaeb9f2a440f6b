"""The live views draw what the recorder knows: best trial highlighted, text fallback."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_lab.train._recorder import TrialRecorder
from mlops_lab.train._render import chart, render_html, render_text
from mlops_lab.train._space import TuneError, check_space, expand


def recorder(mode: str = "max") -> TrialRecorder:
    configs = [{"max_depth": d} for d in (2, 4, 8)]
    rec = TrialRecorder(store=None, experiment_id="exp", configs=configs, mode=mode)  # type: ignore[arg-type]
    for index, scores in enumerate([[0.7, 0.8], [0.9, 0.95], [0.6]]):
        for iteration, score in enumerate(scores, 1):
            rec.on_result(_result(index, score, done=iteration == len(scores)))
    return rec


def _result(index: int, score: float, done: bool, error: str = "") -> dict[str, Any]:
    return {"config_index": index, "score": score, "duration_s": 0.1, "config_done": done,
            "config_error": error}  # fmt: skip


def _fold(index: int, fold: int, score: float, pid: int = 1) -> dict[str, Any]:
    return {"config_index": index, "fold": fold, "folds": 3, "score": score, "duration_s": 0.1,
            "config_error": "", "node_ip": "10.0.0.1", "pid": pid}  # fmt: skip


class _RecordingStore:
    """Takes the recorder's writes and keeps them."""

    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []

    def write(self, batches: dict[str, Any]) -> None:
        self.writes.append(batches)


def test_best_follows_the_mode() -> None:
    """The best trial is the highest score under max and the lowest under min."""
    assert recorder("max").best().trial_id == "exp-0001"
    assert recorder("min").best().trial_id == "exp-0002"


def test_html_highlights_the_best_and_draws_a_line_per_trial() -> None:
    """The best row is highlighted; the chart draws a line per multi-iteration trial and a
    dot for a trial with one score."""
    rec = recorder()
    page = render_html(rec, "accuracy")
    assert page.count("background:#fde0dd") == 1
    assert "max_depth=4</td><td>0.9500" in page
    drawing = chart(rec)
    assert (drawing.count("<polyline"), drawing.count("<circle")) == (2, 1)


def test_text_lists_trials_best_first() -> None:
    """The text fallback starts with the summary, then the best trial."""
    lines = render_text(recorder(), "accuracy").splitlines()
    assert lines[0] == "exp: 3/3 trials ended, best accuracy 0.9500 (exp-0001)"
    assert lines[1].split()[:3] == ["exp-0001", "completed", "0.9500"]


def test_an_error_is_shown_and_never_best() -> None:
    """A failed configuration is listed with its error and does not count as best."""
    rec = TrialRecorder(store=None, experiment_id="e", configs=[{"a": 1}, {"a": 2}], mode="max")  # type: ignore[arg-type]
    rec.on_result(_result(0, 0.5, done=True))
    rec.on_result(_result(1, -1e300, done=True, error="ValueError: bad a"))
    assert rec.best().index == 0
    assert "ValueError: bad a" in render_html(rec, "accuracy")
    assert rec.trials[1].status == "error" and rec.trials[1].scores == []


def test_folds_are_averaged_once_all_are_in() -> None:
    """A configuration scored fold by fold (by any trial) completes with the mean of its
    folds, recorded once, with the processes it ran in."""
    rec = TrialRecorder(store=None, experiment_id="e", configs=[{"a": 1}], mode="max")  # type: ignore[arg-type]
    rec.on_result(_fold(0, 0, 0.5, pid=1))
    assert (rec.trials[0].status, rec.trials[0].scores) == ("running", [])
    rec.on_result(_fold(0, 2, 0.7, pid=2))
    rec.on_result(_fold(0, 1, 0.9, pid=1))
    trial = rec.trials[0]
    assert trial.status == "completed" and trial.metric == pytest.approx(0.7)
    [row] = rec._results
    assert row["metrics"]["fold_scores"] == [0.5, 0.9, 0.7]
    assert row["metrics"]["workers"] == ["10.0.0.1:1", "10.0.0.1:2"]


def test_a_failed_fold_fails_its_configuration() -> None:
    """One fold that raises fails the configuration; its other folds are then ignored."""
    rec = TrialRecorder(store=None, experiment_id="e", configs=[{"a": 1}], mode="max")  # type: ignore[arg-type]
    rec.on_result(_fold(0, 0, 0.5))
    rec.on_result({**_fold(0, 1, -1e300), "config_error": "ValueError: bad a"})
    rec.on_result(_fold(0, 2, 0.7))
    assert rec.trials[0].status == "error" and rec.trials[0].scores == []


def test_what_did_not_finish_is_stopped_or_cancelled() -> None:
    """At the end, a configuration with some folds in was stopped, one never started was
    cancelled, and a failed shared trial fails what was left unfinished."""
    configs = [{"a": 1}, {"a": 2}]
    rec = TrialRecorder(store=_RecordingStore(), experiment_id="e", configs=configs, mode="max")  # type: ignore[arg-type]
    rec.on_result(_fold(0, 0, 0.5))
    rec.close()
    assert [t.status for t in rec.trials] == ["stopped", "cancelled"]
    failed = TrialRecorder(store=_RecordingStore(), experiment_id="f", configs=configs, mode="max")  # type: ignore[arg-type]
    failed.on_result(_fold(0, 0, 0.5))
    failed.on_tune_trial_ended([], error="RayActorError: died")
    failed.close()
    assert failed.trials[0].status == "error" and failed.trials[0].error == "RayActorError: died"


def test_a_failed_asha_trial_fails_its_configuration() -> None:
    """An ASHA trial holds one configuration: its failure is that configuration's, even
    before the first result; a trial stopped after some iterations is stopped."""
    rec = TrialRecorder(store=None, experiment_id="e", configs=[{"a": 1}, {"a": 2}], mode="max")  # type: ignore[arg-type]
    rec.on_tune_trial_ended([0], error="RayActorError: died")
    rec.on_result(_result(1, 0.5, done=False))
    rec.on_tune_trial_ended([1])
    assert [t.status for t in rec.trials] == ["error", "stopped"]
    assert rec.trials[0].error == "RayActorError: died"


def test_grids_expand_and_random_draws_are_seeded() -> None:
    """A grid is the product of its lists; a random search is reproducible by seed."""
    grid = expand({"a": [1, 2], "b": ["x", "y", "z"]}, "grid", 1, 0)
    assert len(grid) == 6 and {"a": 2, "b": "z"} in grid
    draws = expand({"a": [1, 2, 3], "b": [0.1, 0.2]}, "random", 5, seed=7)
    assert draws == expand({"a": [1, 2, 3], "b": [0.1, 0.2]}, "random", 5, seed=7)
    assert len(draws) == 5


def test_a_grid_needs_lists() -> None:
    """A distribution in a grid is refused, pointing at random search."""
    from sklearn.tree import DecisionTreeClassifier

    with pytest.raises(TuneError, match="use search='random'"):
        check_space(DecisionTreeClassifier(), {"max_depth": 3}, "grid")
