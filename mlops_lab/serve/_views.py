"""An endpoint's traffic over time: requests per model version, and their shares as a chart."""

from __future__ import annotations

import html
import re

import pandas as pd

from mlops_lab.errors import parameter_error
from mlops_lab.serve._errors import EndpointError
from mlops_lab.store import StoreClient

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)")
_SECONDS = {"ms": 0.001, "s": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2")


def seconds(value: str | float, parameter: str) -> float:
    """A duration given as seconds or as text ("10s", "1min", "2h").

    Raises:
        EndpointError: the text is not a positive duration.
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None or float(match.group(1)) <= 0:
        must = "be a positive duration such as 10, '10s', '5min' or '1h'"
        raise EndpointError(parameter_error(parameter, "", must, repr(value)))
    return float(match.group(1)) * _SECONDS[match.group(2)]


def traffic(
    store: StoreClient, endpoint: str, every: str | float, last: str | float | None
) -> pd.DataFrame:
    """Served requests per time bucket (index) and model version (columns)."""
    bucket = seconds(every, "every")
    params: list[object] = [bucket, endpoint]
    window = ""
    if last is not None:
        window = "AND time >= (SELECT max(time) FROM requests WHERE endpoint = ?) - to_seconds(?)"
        params += [endpoint, seconds(last, "last")]
    counts = store.query(
        "SELECT time_bucket(to_seconds(?::DOUBLE), time) AS time, arm, count(*) AS requests "
        f"FROM requests WHERE endpoint = ? AND status = 200 {window} "
        "GROUP BY ALL ORDER BY time, arm",
        params,
    ).to_pandas()
    if counts.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], name="time"))
    table = counts.pivot_table(index="time", columns="arm", values="requests", fill_value=0)
    table.columns.name = None
    return table.astype(int)


class TrafficView:
    """The share of traffic per model version over time: an SVG chart, or text.

    Example:
        >>> lab.endpoint("iris").view(every="5s")
    """

    def __init__(self, counts: pd.DataFrame, endpoint: str) -> None:
        self.counts = counts
        self.endpoint = endpoint

    @property
    def shares(self) -> pd.DataFrame:
        """Each model version's share of the requests in each bucket."""
        totals = self.counts.sum(axis=1)
        return self.counts.div(totals.where(totals > 0, 1), axis=0)

    def __repr__(self) -> str:
        if self.counts.empty:
            return f"Traffic of {self.endpoint}: no requests yet."
        lines = [f"Traffic share of {self.endpoint} per model version:"]
        shares = self.shares
        for when, row in shares.iterrows():
            parts = ", ".join(f"{arm} {share:.0%}" for arm, share in row.items() if share > 0)
            lines.append(f"  {pd.Timestamp(when):%H:%M:%S}  {parts}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if self.counts.empty:
            return f"<p>Traffic of {html.escape(self.endpoint)}: no requests yet.</p>"
        return _stacked_svg(self.shares, self.endpoint)


def _stacked_svg(shares: pd.DataFrame, endpoint: str, width: int = 560, height: int = 200) -> str:
    """Stacked areas of the shares (0 to 1) over the buckets, with a legend."""
    n = len(shares)
    xs = [width * (i / (n - 1) if n > 1 else 0.5) for i in range(n)]
    below = [0.0] * n
    paths, legend = [], []
    for k, arm in enumerate(shares.columns):
        top = [b + s for b, s in zip(below, shares[arm], strict=True)]
        upper = [f"{x:.1f},{height * (1 - t):.1f}" for x, t in zip(xs, top, strict=True)]
        lower = [f"{x:.1f},{height * (1 - b):.1f}" for x, b in zip(xs, below, strict=True)]
        colour = _COLOURS[k % len(_COLOURS)]
        points = " ".join(upper + lower[::-1])
        paths.append(f"<polygon points='{points}' fill='{colour}' opacity='0.85'/>")
        legend.append(
            f"<span style='color:{colour}'>&#9632;</span> {html.escape(str(arm))} "
            f"({shares[arm].iloc[-1]:.0%} now)"
        )
        below = top
    start, end = (pd.Timestamp(shares.index[i]).strftime("%H:%M:%S") for i in (0, -1))
    return (
        f"<div><b>Traffic share of {html.escape(endpoint)}</b> ({start} to {end} UTC)<br>"
        f"<svg width='{width}' height='{height}' style='border:1px solid #ccc'>"
        f"{''.join(paths)}</svg><br>{' &nbsp; '.join(legend)}</div>"
    )
