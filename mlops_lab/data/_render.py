"""A dataset version as plain text and as HTML, built from the same summaries."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lab.data._version import DatasetVersion

_TOP_SHOWN = 3
_NUMERIC_SHOWN = ("mean", "std", "min", "max")


def headline(version: DatasetVersion) -> str:
    """``iris@3f2a9c1b7d4e: 150 rows, 5 columns, target 'species'``."""
    target = f"target {version.target!r}" if version.target else "no target"
    return f"{version.ref}: {version.n_rows} rows, {len(version.columns)} columns, {target}"


def facts(version: DatasetVersion) -> list[tuple[str, str]]:
    """The lines under the headline: when, from what, how, and the description."""
    lines = [
        ("created", f"{version.created_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("parents", ", ".join(version.parents) or "none"),
        ("prep", prep_summary(version.prep)),
    ]
    return [*lines, ("description", version.description)] if version.description else lines


def prep_summary(prep: dict[str, Any] | None) -> str:
    """One line about a prep description, e.g. ``sklearn.pipeline.Pipeline (scale, pca)``."""
    if prep is None:
        return "none"
    if prep.get("type") == "callable":
        return f"{prep.get('module')}.{prep.get('qualname')} (callable)"
    steps = [str(step.get("name")) for step in prep.get("steps", [])]
    return f"{prep.get('class')} ({', '.join(steps)})" if steps else str(prep.get("class"))


def column_summary(stats: dict[str, Any]) -> str:
    """One line about a column's profile, fit for its kind."""
    parts = [f"{stats['nulls']} nulls"] if stats.get("nulls") else []
    kind = stats.get("kind")
    if kind == "numeric" and stats.get("mean") is not None:
        parts.append(", ".join(f"{key} {_number(stats.get(key))}" for key in _NUMERIC_SHOWN))
    elif kind == "datetime" and stats.get("min") is not None:
        parts.append(f"{stats['min']} .. {stats['max']}")
    elif "distinct" in stats:
        top = ", ".join(f"{t['value']} ({t['count']})" for t in stats["top"][:_TOP_SHOWN])
        parts.append(f"{stats['distinct']} distinct" + (f", top {top}" if top else ""))
    return "; ".join(parts)


def column_rows(version: DatasetVersion) -> list[tuple[str, str, str, str]]:
    """Per column: name (``*`` marks the target), dtype, kind and profile summary."""
    rows = []
    for column in version.schema.get("columns", []):
        name = column["name"] + (" *" if column.get("target") else "")
        summary = column_summary(version.profile.get(column["name"], {}))
        rows.append((name, column.get("dtype", ""), column.get("kind", ""), summary))
    return rows


def render_text(version: DatasetVersion) -> str:
    """The version as aligned plain text: headline, facts, then one line per column."""
    lines = [f"Dataset {headline(version)}"]
    lines += [f"  {label + ':':<13}{value}" for label, value in facts(version)]
    rows = [("column", "dtype", "kind", "profile"), *column_rows(version)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines += [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  " + row[3]
        for row in rows
    ]  # fmt: skip
    return "\n".join(line.rstrip() for line in lines)


def render_html(version: DatasetVersion) -> str:
    """The version as a small HTML table for notebooks."""
    esc = html.escape
    facts_html = "".join(f"<div><b>{esc(k)}</b>: {esc(v)}</div>" for k, v in facts(version))
    header = "".join(f"<th>{h}</th>" for h in ("column", "dtype", "kind", "profile"))
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>"
        for row in column_rows(version)
    )
    return (
        f"<div class='mlops-dataset'><div><b>Dataset {esc(headline(version))}</b></div>"
        f"{facts_html}<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"
