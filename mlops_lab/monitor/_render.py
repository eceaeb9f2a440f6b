"""What the monitor found, drawn for a person: HTML for a notebook, text for a terminal.

One snapshot of an endpoint's results: a heatmap of the per-feature drift p-values (a row
per window, a column per feature; drifted cells marked), the multivariate drift and outlier
rate per window, accuracy per model version with its interval and labelled share beside
the accuracy expected before labels, the business metrics, the features each model version
leans on most in the latest window (mean |SHAP|), and the open alerts.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import pandas as pd

from mlops_lab.monitor._read import METRICS, alerts_frame, monitoring
from mlops_lab.store import StoreClient

_ESTIMATES = ("accuracy", "expected_accuracy", "mae", "rmse")
# Features shown per model version by mean |SHAP|.
_TOP_FEATURES = 5


@dataclass(frozen=True)
class Snapshot:
    """An endpoint's monitoring results at one moment."""

    endpoint: str
    results: pd.DataFrame
    alerts: pd.DataFrame

    @property
    def windows(self) -> list[str]:
        """The closed windows, oldest first."""
        return list(dict.fromkeys(self.results["window_id"]))

    @property
    def signature(self) -> tuple[int, object, int]:
        """What changes when something new is found: a view redraws only then."""
        latest = self.results["time"].max() if len(self.results) else None
        return len(self.results), latest, len(self.alerts)


def snapshot(store: StoreClient, endpoint: str) -> Snapshot:
    """Read the endpoint's results and open alerts."""
    alerts = alerts_frame(store, endpoint, open_only=True)
    return Snapshot(endpoint, monitoring(store, endpoint), alerts)


def render_html(shot: Snapshot) -> str:
    """The snapshot as HTML: heatmap, per-window rates, estimates, business metrics, alerts."""
    name = html.escape(shot.endpoint)
    if shot.results.empty:
        return f"<div class='mlops-monitor'><b>Monitor of {name}</b>: no window closed yet.</div>"
    parts = [
        f"<div class='mlops-monitor'><b>Monitor of {name}</b>: {len(shot.windows)} windows, "
        f"last closed {_window_time(shot.results)}",
        _heatmap(shot.results),
        _per_window(shot.results),
        _estimates(shot.results),
        _importance_html(shot.results),
        _alerts_html(shot.alerts),
        "</div>",
    ]
    return "".join(parts)


def render_text(shot: Snapshot) -> str:
    """The snapshot as plain text."""
    if shot.results.empty:
        return f"Monitor of {shot.endpoint}: no window closed yet."
    lines = [f"Monitor of {shot.endpoint}: {len(shot.windows)} windows"]
    drifted = shot.results[shot.results["metric"] == "drifted_features"]
    for row in drifted.itertuples():
        features = ", ".join(row.details.get("features", [])) or "none"
        lines.append(f"  {row.window_id} {row.model}@{row.model_version}: drifted {features}")
    for row in shot.results[shot.results["metric"].isin(_ESTIMATES)].itertuples():
        lines.append(f"  {row.window_id} {row.model}@{row.model_version}: {row.metric} "
                     f"{_number(row.value)} [{_number(row.low)}, {_number(row.high)}]")  # fmt: skip
    for (model, version), top in _importance(shot.results).items():
        ranked = ", ".join(f"{feature} {_number(value)}" for feature, value in top)
        lines.append(f"  {model}@{version} leans on (mean |SHAP|): {ranked}")
    lines.append(f"Open alerts: {len(shot.alerts)}")
    lines += [f"  [{a.severity}] {a.message}" for a in shot.alerts.itertuples()]
    return "\n".join(lines)


def _heatmap(results: pd.DataFrame) -> str:
    drift = results[results["metric"] == "drift"]
    if drift.empty:
        return ""
    table = drift.pivot_table(index=["window_start", "window_id"], columns="feature",
                              values="value", aggfunc="min")  # fmt: skip
    marked = {(r.window_id, r.feature) for r in drift.itertuples() if r.details.get("drifted")}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for (start, window_id), values in table.iterrows():
        cells = "".join(_p_cell(values[c], (window_id, c) in marked) for c in table.columns)
        rows.append(f"<tr><th>{_label(start, window_id)}</th>{cells}</tr>")
    return (
        "<p><b>Drift per feature</b> (corrected p-values; &#9679; drifted)</p>"
        f"<table class='mlops-heatmap'><thead><tr><th>window</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _p_cell(p: float, drifted: bool) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "<td>-</td>"
    strength = min(1.0, -math.log10(max(p, 1e-12)) / 6)  # 1e-6 and below: full colour
    colour = f"rgba(214, 39, 40, {0.08 + 0.85 * strength:.2f})"
    mark = " &#9679;" if drifted else ""
    return f"<td style='background:{colour}' title='p = {p:.3g}'>{p:.3f}{mark}</td>"


def _per_window(results: pd.DataFrame) -> str:
    wanted = {"outlier_rate": "outlier rate", "multivariate_drift": "multivariate p",
              "prediction_drift": "prediction drift p"}  # fmt: skip
    rows = results[results["metric"].isin(wanted)]
    if rows.empty:
        return ""
    table = rows.pivot_table(index=["window_start", "window_id", "model", "model_version"],
                             columns="metric", values="value", aggfunc="first")  # fmt: skip
    head = "".join(f"<th>{wanted[c]}</th>" for c in table.columns)
    body = "".join(
        f"<tr><th>{_label(start, window_id)}</th><td>{html.escape(f'{model}@{version}')}</td>"
        + "".join(f"<td>{_number(v)}</td>" for v in values)
        + "</tr>"
        for (start, window_id, model, version), values in table.iterrows()
    )  # fmt: skip
    return (f"<p><b>Per window</b></p><table><thead><tr><th>window</th><th>model</th>{head}"
            f"</tr></thead><tbody>{body}</tbody></table>")  # fmt: skip


def _estimates(results: pd.DataFrame) -> str:
    business = sorted(set(results["metric"]) - set(METRICS))
    rows = results[results["metric"].isin((*_ESTIMATES, *business))]
    if rows.empty:
        return ""
    body = []
    for row in rows.itertuples():
        interval = "" if math.isnan(row.low if row.low is not None else math.nan) else (
            f" [{_number(row.low)}, {_number(row.high)}]")  # fmt: skip
        share = row.details.get("labelled_share")
        labelled = "" if share is None else f"{share:.0%} labelled"
        body.append(
            f"<tr><th>{_label(row.window_start, row.window_id)}</th>"
            f"<td>{html.escape(f'{row.model}@{row.model_version}')}</td>"
            f"<td>{html.escape(row.metric.replace('_', ' '))}</td>"
            f"<td class='mlops-estimate'>{_number(row.value)}{interval}</td>"
            f"<td>{labelled}</td></tr>"
        )
    return ("<p><b>Accuracy, errors and business metrics</b> (with their intervals)</p>"
            "<table><thead><tr><th>window</th><th>model</th><th>metric</th><th>value</th><th>labels</th></tr>"
            f"</thead><tbody>{''.join(body)}</tbody></table>")  # fmt: skip


def _importance(results: pd.DataFrame) -> dict[tuple[str, int], list[tuple[str, float]]]:
    """Per model version, its top features by mean |SHAP| in its latest window."""
    rows = results[results["metric"] == "importance"]
    found = {}
    for (model, version), group in rows.groupby(["model", "model_version"], sort=True):
        latest = group[group["window_start"] == group["window_start"].max()]
        top = latest.nlargest(_TOP_FEATURES, "value")
        found[(str(model), int(version))] = list(zip(top["feature"], top["value"], strict=True))
    return found


def _importance_html(results: pd.DataFrame) -> str:
    ranked = _importance(results)
    if not ranked:
        return ""
    body = "".join(
        f"<tr><td>{html.escape(f'{model}@{version}')}</td><td>"
        + ", ".join(f"{html.escape(str(feature))} {_number(value)}" for feature, value in top)
        + "</td></tr>"
        for (model, version), top in ranked.items()
    )  # fmt: skip
    return ("<p><b>Features each model leans on</b> (mean |SHAP|, latest window)</p>"
            f"<table><tbody>{body}</tbody></table>")  # fmt: skip


def _alerts_html(alerts: pd.DataFrame) -> str:
    if alerts.empty:
        return "<p><b>Open alerts</b>: none</p>"
    items = "".join(
        f"<li class='mlops-alert mlops-{html.escape(a.severity)}'><b>{html.escape(a.severity)}"
        f"</b> {html.escape(a.message)}</li>"
        for a in alerts.itertuples()
    )
    return f"<p><b>Open alerts</b> ({len(alerts)})</p><ul>{items}</ul>"


def _label(start: object, window_id: str) -> str:
    """A window as a row names it: its first request's time, and its arrival numbers."""
    numbers = html.escape(str(window_id).rsplit(":", 1)[-1])
    return f"{pd.Timestamp(start):%H:%M:%S} <small>#{numbers}</small>"  # type: ignore[arg-type]


def _window_time(results: pd.DataFrame) -> str:
    return f"{pd.Timestamp(results['window_end'].max()):%Y-%m-%d %H:%M:%S} UTC"


def _number(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{float(value):.3f}"  # type: ignore[arg-type]
