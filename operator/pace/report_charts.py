"""PNG charts for the demo report: time series as lines or steps, metrics as grouped bars.

Pure drawing: the series come in (see ``pace.adapters.prometheus_api.Series``), a PNG goes
out. matplotlib is imported inside the functions, with the Agg canvas and no pyplot, so
importing this module costs nothing and no global figure state or display is involved.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pace.adapters.prometheus_api import Series

MAX_LINES = 8
"""More series than this make an unreadable legend; the lowest ones are kept."""

_SIZE = (9.0, 4.5)
_DPI = 100


LOG_FLOOR = 1e-12


def line_chart(
    series: list[Series],
    *,
    title: str,
    ylabel: str,
    label_key: str | Callable[[Series], str],
    path: Path,
    hline: float | None = None,
    step: bool = False,
    t0: float | None = None,
    log_y: bool = False,
) -> Path:
    """One line per series against seconds since ``t0`` (default: the first timestamp).

    ``label_key`` names the label shown in the legend, or computes the legend text.
    ``hline`` draws a dashed horizontal line (a threshold); ``step`` draws steps (a weight
    that changes at discrete moments). Writes the PNG at ``path`` and returns it.
    """
    shown = lowest_series(series, MAX_LINES)
    if len(shown) < len(series):
        title = f"{title} ({len(shown)} of {len(series)} series, lowest minimum)"
    fig, ax = _figure(title)
    drawn = [s for s in shown if s.points]
    if not drawn:
        _no_data(ax)
        return _save(fig, path)
    origin = t0 if t0 is not None else min(t for s in drawn for t, _ in s.points)
    for s in drawn:
        xs = [t - origin for t, _ in s.points]
        # On a log axis a p-value of exactly 0 would vanish: draw it at the floor instead.
        ys = [max(v, LOG_FLOOR) if log_y else v for _, v in s.points]
        label = legend_label(s, label_key)
        if step:
            ax.step(xs, ys, where="post", label=label)
        else:
            ax.plot(xs, ys, marker=".", markersize=3, label=label)
    if hline is not None:
        ax.axhline(hline, linestyle="--", color="grey", linewidth=1, label=f"threshold {hline:g}")
    if log_y:
        ax.set_yscale("log", nonpositive="clip")
    elif all(v.is_integer() for s in drawn for _, v in s.points):
        _integer_ticks(ax)  # version numbers, percentages: no 1.2, 1.4 ticks
    ax.set_xlabel("seconds")
    ax.set_ylabel(ylabel)
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path)


def bar_chart(values: dict[str, dict[str, float]], *, title: str, path: Path) -> Path:
    """Grouped bars: one group per metric, one bar per version (``values[version][metric]``).

    A metric a version lacks leaves a gap. Writes the PNG at ``path`` and returns it.
    """
    fig, ax = _figure(title)
    versions = sorted(values, key=natural_key)
    metrics = sorted({m for by_metric in values.values() for m in by_metric}, key=natural_key)
    if not metrics:
        _no_data(ax)
        return _save(fig, path)
    width = 0.8 / len(versions)
    for i, version in enumerate(versions):
        offset = (i - (len(versions) - 1) / 2) * width
        present = [(j, values[version][m]) for j, m in enumerate(metrics) if m in values[version]]
        xs = [j + offset for j, _ in present]
        bars = ax.bar(xs, [v for _, v in present], width=width, label=version)
        ax.bar_label(bars, fmt="%.3g", fontsize="small")
    ax.set_xticks(range(len(metrics)), metrics)
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path)


def lowest_series(series: list[Series], limit: int) -> list[Series]:
    """At most ``limit`` series: those whose minimum value is lowest, in their given order.

    For p-values the lowest are the interesting ones (closest to drift).
    """
    if len(series) <= limit:
        return list(series)
    keep = sorted(range(len(series)), key=lambda i: _minimum(series[i]))[:limit]
    return [series[i] for i in sorted(keep)]


def legend_label(series: Series, label_key: str | Callable[[Series], str]) -> str:
    if callable(label_key):
        return label_key(series)
    return series.labels.get(label_key, "")


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders v2 before v10."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part
    )


def _minimum(series: Series) -> float:
    return min((v for _, v in series.points), default=float("inf"))


def _figure(title: str) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=_SIZE, dpi=_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _integer_ticks(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _no_data(ax: Any) -> None:
    ax.text(
        0.5,
        0.5,
        "no data",
        ha="center",
        va="center",
        fontsize="x-large",
        color="grey",
        transform=ax.transAxes,
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path
