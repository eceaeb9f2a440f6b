"""One registered model version, as :meth:`Registry.get` returns it."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ModelVersion:
    """A registered version of a model: what it is, where it came from, how it scored.

    Attributes:
        name: The model's name.
        version: Its version number, counting from 1.
        created_at: When it was registered (UTC).
        flavor: How the artifact was written: "skops", or "pickle" when opted in.
        signature: Inputs (name, dtype), task, classes or output dtype, methods.
        metrics: Metric name to value.
        params: The estimator's parameters, as JSON.
        trial_id: The tuning trial it came from, if any.
        dataset: The dataset reference it was trained on ("iris@abc123"), if any.
        description: Free text.
        aliases: The aliases now pointing at this version.
        untrusted_types: Types that ``load`` must be told to trust (``trusted=[...]``).

    Example:
        >>> print(registry.get("iris@champion"))
        iris@3 (skops, classification), registered 2026-03-01 09:30:00 UTC ...
    """

    name: str
    version: int
    created_at: datetime
    flavor: str
    signature: dict[str, Any] = field(hash=False)
    metrics: dict[str, float] = field(hash=False)
    params: dict[str, Any] = field(hash=False)
    trial_id: str | None = None
    dataset: str | None = None
    description: str | None = None
    aliases: tuple[str, ...] = ()
    untrusted_types: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """The exact reference of this version, "name@version"."""
        return f"{self.name}@{self.version}"

    def __str__(self) -> str:
        title, *facts = self._facts()
        lines = [title[1]] + [f"  {label}: {text}" for label, text in facts]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        title, *facts = self._facts()
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(label)}</th>"
            f"<td style='text-align:left'>{html.escape(text)}</td></tr>"
            for label, text in facts
        )
        return f"<div><strong>{html.escape(title[1])}</strong><table>{rows}</table></div>"

    def _facts(self) -> list[tuple[str, str]]:
        """(label, text) pairs shared by the text and HTML views; the first is the title."""
        task = self.signature.get("task", "unknown task")
        when = f"{self.created_at:%Y-%m-%d %H:%M:%S} UTC"
        facts = [("model", f"{self.ref} ({self.flavor}, {task}), registered {when}")]
        optional = {
            "aliases": ", ".join(self.aliases),
            "metrics": ", ".join(f"{key}={value:.4g}" for key, value in self.metrics.items()),
            "inputs": _describe_inputs(self.signature.get("inputs", [])),
            "classes": _short(self.signature.get("classes")),
            "dataset": self.dataset,
            "trial": self.trial_id,
            "description": self.description,
            "load with": _load_hint(self),
        }
        facts.extend((label, text) for label, text in optional.items() if text)
        return facts


def _describe_inputs(inputs: list[dict[str, Any]]) -> str:
    shown = ", ".join(f"{item['name']} ({item['dtype'] or '?'})" for item in inputs[:8])
    more = f", ... ({len(inputs)} features)" if len(inputs) > 8 else ""
    return shown + more


def _short(values: list[Any] | None) -> str:
    if not values:
        return ""
    shown = ", ".join(str(value) for value in values[:10])
    return shown + (", ..." if len(values) > 10 else "")


def _load_hint(version: ModelVersion) -> str:
    if version.flavor == "pickle":
        return f"registry.load({version.ref!r}, allow_pickle=True)"
    if version.untrusted_types:
        return f"registry.load({version.ref!r}, trusted={list(version.untrusted_types)!r})"
    return ""
