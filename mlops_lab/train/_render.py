"""Draw a search's trials as an HTML table with an SVG chart, or as plain text."""

from __future__ import annotations

import html
import math

from mlops_lab.train._recorder import TrialRecorder, TrialState

WIDTH, HEIGHT, PAD = 520, 180, 28
BEST, OTHER = "#d62728", "#9bb7d4"


def render_text(recorder: TrialRecorder, metric: str, limit: int = 10) -> str:
    """The search as text: a summary line and the best trials."""
    trials = _ranked(recorder)
    lines = [summary(recorder, metric)]
    for trial in trials[:limit]:
        score = "-" if trial.metric is None else f"{trial.metric:.4f}"
        lines.append(f"  {trial.trial_id}  {trial.status:<9} {score:>8}  {_params(trial)}")
    return "\n".join(lines)


def summary(recorder: TrialRecorder, metric: str) -> str:
    """One line: how many trials ended, and the best score so far."""
    trials = recorder.trials
    ended = sum(t.status in ("completed", "stopped", "error", "cancelled") for t in trials)
    best = recorder.best()
    best_text = f"best {metric} {best.metric:.4f} ({best.trial_id})" if best else "no score yet"
    return f"{recorder.experiment_id}: {ended}/{len(trials)} trials ended, {best_text}"


def render_html(recorder: TrialRecorder, metric: str, limit: int = 25) -> str:
    """The search as HTML: the chart, then the trials best first (best highlighted)."""
    best = recorder.best()
    rows = []
    for trial in _ranked(recorder)[:limit]:
        style = " style='background:#fde0dd;font-weight:bold'" if trial is best else ""
        score = "" if trial.metric is None else f"{trial.metric:.4f}"
        error = html.escape((trial.error or "")[:80])
        rows.append(
            f"<tr{style}><td>{trial.index}</td><td>{html.escape(_params(trial))}</td>"
            f"<td>{score}</td><td>{len(trial.scores)}</td><td>{trial.status}</td>"
            f"<td>{trial.duration_s:.2f}</td><td>{error}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>" for h in ("#", "params", metric, "iters", "status", "seconds", "error")
    )
    return (
        f"<div><b>{html.escape(summary(recorder, metric))}</b><br>{chart(recorder)}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def chart(recorder: TrialRecorder) -> str:
    """Score per iteration for each trial (one point per trial when there is one iteration)."""
    trials = [t for t in recorder.trials if any(math.isfinite(s) for s in t.scores)]
    if not trials:
        return f"<svg width='{WIDTH}' height='{HEIGHT}'></svg>"
    scores = [s for t in trials for s in t.scores if math.isfinite(s)]
    low, high = min(scores), max(scores)
    span = (high - low) or 1.0
    longest = max(len(t.scores) for t in trials)
    best = recorder.best()

    def point(x_index: int, x_count: int, score: float) -> str:
        x = PAD + (WIDTH - 2 * PAD) * (x_index / max(x_count - 1, 1))
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * ((score - low) / span)
        return f"{x:.1f},{y:.1f}"

    marks = []
    for trial in sorted(trials, key=lambda t: t is best):
        colour = BEST if trial is best else OTHER
        if len(trial.scores) == 1:  # one score: a dot (by trial, or at the first iteration)
            x_index, x_count = (trial.index, len(recorder.trials)) if longest == 1 else (0, longest)
            x, y = point(x_index, x_count, trial.scores[0]).split(",")
            marks.append(f"<circle cx='{x}' cy='{y}' r='4' fill='{colour}'/>")
        else:
            points = " ".join(point(i, longest, s) for i, s in enumerate(trial.scores))
            marks.append(f"<polyline points='{points}' fill='none' stroke='{colour}'/>")
    axis = "trial" if longest == 1 else "iteration"
    labels = (
        f"<text x='2' y='{PAD - 8}' font-size='11'>{high:.4f}</text>"
        f"<text x='2' y='{HEIGHT - 4}' font-size='11'>{low:.4f}  ({axis})</text>"
    )
    return f"<svg width='{WIDTH}' height='{HEIGHT}'>{labels}{''.join(marks)}</svg>"


def _ranked(recorder: TrialRecorder) -> list[TrialState]:
    sign = -1 if recorder.mode == "max" else 1

    def key(trial: TrialState) -> tuple[int, float]:
        has_score = trial.metric is not None and math.isfinite(trial.metric)
        return (0 if has_score else 1, sign * trial.metric if has_score else 0.0)  # type: ignore[operator]

    return sorted(recorder.trials, key=key)


def _params(trial: TrialState) -> str:
    return ", ".join(f"{k}={v}" for k, v in trial.params.items())
