"""Plots as PNG bytes: the funnel of a run and its product's distributions.

Figures are drawn on matplotlib's Agg canvas without pyplot (no global state,
no display), with fixed sizes, fonts and no timestamp metadata, so the same
numbers give the same bytes.
"""

import io

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from corpusio.report import stage_order
from runreport.profiles import Categories, Distribution

DPI = 100
IN_COLOR = "#adb5bd"
OUT_COLOR = "#2f9e44"
BAR_COLOR = "#1c7ed6"
REASON_COLORS = [
    "#e8590c",
    "#c92a2a",
    "#862e9c",
    "#f08c00",
    "#5f3dc4",
    "#a61e4d",
    "#d9480f",
    "#364fc7",
    "#e64980",
    "#495057",
    "#0b7285",
    "#74b816",
]
_FONT = {"family": "DejaVu Sans"}


def _png(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


def _style(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=9)


def reason_colors(manifest: dict) -> dict[str, str]:
    """One colour per reject reason, the same in every stage that uses it."""
    reasons = sorted({r for s in manifest["stages"].values() for r in s["rejected_by_reason"]})
    return {r: REASON_COLORS[i % len(REASON_COLORS)] for i, r in enumerate(reasons)}


def funnel_png(manifest: dict) -> bytes:
    """Per stage, in data-flow order: a bar for `in`, under it kept + rejects by reason."""
    stages = manifest["stages"]
    order = stage_order(manifest)
    colors = reason_colors(manifest)
    legend_rows = -(-(len(colors) + 2) // 4)
    fig = Figure(
        figsize=(10, 1.3 + 0.62 * max(len(order), 1) + 0.28 * legend_rows), layout="constrained"
    )
    ax = fig.add_subplot()
    top = max([stages[n]["in"] for n in order] + [stages[n]["out"] for n in order] + [1])
    drawn = set()
    for row, name in enumerate(order):
        counts = stages[name]
        y = row
        ax.barh(y - 0.18, counts["in"], height=0.3, color=IN_COLOR, label="in")
        ax.barh(y + 0.18, counts["out"], height=0.3, color=OUT_COLOR, label="kept (out)")
        left = counts["out"]
        for reason, n in counts["rejected_by_reason"].items():
            label = None if reason in drawn else f"rejected: {reason}"
            drawn.add(reason)
            ax.barh(y + 0.18, n, left=left, height=0.3, color=colors[reason], label=label)
            left += n
        ax.text(top * 1.01, y - 0.18, f"in {counts['in']:,}", va="center", fontsize=8)
        ax.text(
            max(left, counts["out"]) + top * 0.01,
            y + 0.18,
            f"out {counts['out']:,}"
            + (f" · rejected {counts['rejected']:,}" if counts["rejected"] else ""),
            va="center",
            fontsize=8,
        )
    ax.set_yticks(range(len(order)), order, **_FONT)
    ax.set_ylim(max(len(order), 1) - 0.5, -0.5)
    ax.set_xlim(0, top * 1.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("items", fontsize=9)
    ax.set_title(f"Funnel: {manifest['pipeline']}", fontsize=11, loc="left")
    _style(ax)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=False))
    fig.legend(
        unique.values(),
        unique.keys(),
        loc="outside lower center",
        ncol=4,
        fontsize=8,
        frameon=False,
    )
    return _png(fig)


def _bins(values: np.ndarray, integer: bool, log_x: bool) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    if log_x:
        low = max(low, 1.0)
        high = max(high, low * 2)
        return np.geomspace(low, high * 1.0001, 31)
    if integer and high - low <= 60:
        return np.arange(low - 0.5, high + 1.5)
    if high == low:
        return np.array([low - 0.5, high + 0.5])
    edges = np.histogram_bin_edges(values, bins="auto")
    return edges if len(edges) <= 51 else np.linspace(low, high, 51)


def _human(value: float) -> str:
    """Axis numbers a person reads at a glance: 950, 12k, 3.4M."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def _summary(values: np.ndarray) -> str:
    p50, p90 = np.percentile(values, [50, 90])
    parts = [("n", len(values)), ("median", p50), ("mean", values.mean()), ("p90", p90)]
    parts.append(("max", values.max()))
    return "   ".join(f"{name} {_human(v)}" for name, v in parts)


def histogram_png(dist: Distribution) -> bytes:
    values = np.asarray(dist.values, dtype=float)
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.add_subplot()
    shown = np.clip(values, 1.0, None) if dist.log_x else values
    bins = _bins(values, dist.integer, dist.log_x)
    rwidth = 0.9 if dist.integer and not dist.log_x else None
    ax.hist(shown, bins=bins, rwidth=rwidth, color=BAR_COLOR, edgecolor="white")
    if dist.log_x:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _human(v)))
        decades = np.log10(max(shown.max(), 1.0) / max(shown.min(), 1.0))
        minor = FuncFormatter(lambda v, _: _human(v)) if decades < 1.5 else NullFormatter()
        ax.xaxis.set_minor_formatter(minor)
    elif dist.integer:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(dist.title, fontsize=11, loc="left")
    ax.set_title(_summary(values), fontsize=8, loc="right", color="#495057")
    ax.set_xlabel(dist.xlabel, fontsize=9)
    ax.set_ylabel(dist.ylabel, fontsize=9)
    _style(ax)
    return _png(fig)


def categories_png(cats: Categories) -> bytes:
    labels = [label for label, _ in cats.counts]
    counts = [n for _, n in cats.counts]
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.bar(range(len(labels)), counts, color=BAR_COLOR)
    ax.bar_label(bars, [f"{n:,}" for n in counts], fontsize=8)
    ax.set_xticks(range(len(labels)), labels, fontsize=9)
    ax.set_ylim(0, max(counts + [1]) * 1.15)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(cats.title, fontsize=11, loc="left")
    ax.set_ylabel(cats.ylabel, fontsize=9)
    _style(ax)
    return _png(fig)


def item_png(item: Distribution | Categories) -> bytes:
    return histogram_png(item) if isinstance(item, Distribution) else categories_png(item)
