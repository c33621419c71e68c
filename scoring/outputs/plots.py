"""Plots for the report, as inline SVG whose labels stay text (the browser draws the Chinese)."""
from __future__ import annotations

import io
import logging
import re
import unicodedata
import warnings

import matplotlib

matplotlib.use("Agg")
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # CJK fonts live in the reader's browser
from matplotlib.figure import Figure  # noqa: E402

matplotlib.rcParams.update({
    "svg.fonttype": "none",  # text stays text in the SVG
    "font.family": ["Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", "WenQuanYi Micro Hei", "sans-serif"],
    "svg.hashsalt": "ancx",  # stable ids: same data, same SVG
    "axes.unicode_minus": False,
})

from scoring.messages import zh_text
from scoring.model.features import BY_NAME, show  # noqa: E402


# Glyph warnings: the SVG keeps the text and the reader's browser renders it with its CJK fonts.
warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)


def text_inches(text: str, size: float) -> float:
    """Width of ``text`` at ``size`` points as a browser draws it: a full em for CJK (wide)
    characters, about 0.6 em for the rest. Margins come from this estimate rather than from
    matplotlib's measurement, which (a) draws the figure twice and (b) depends on the fonts of
    the machine that made the report, not of the one that shows it."""
    em = sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.6 for ch in text)
    return em * size / 72


def _barh_figure(labels: list[str], plot_width: float = 4.8, size: float = 9):
    """A horizontal bar chart's figure, wide enough for its longest label, outside pyplot's global
    state (so the review app can draw in several threads)."""
    label_w = max((text_inches(t, size) for t in labels), default=0.0) + 0.25
    width, height = label_w + plot_width + 0.3, 0.38 * len(labels) + 0.9
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=label_w / width, right=1 - 0.3 / width, bottom=0.6 / height, top=1 - 0.15 / height)
    return fig, fig.subplots()


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog: inline in HTML


def shap_bars(record: dict, cls_zh: str, top: int = 8) -> str:
    """Horizontal bars of the largest contributions to one policy's log-odds."""
    contrib = sorted(record["contributions"], key=lambda c: -abs(c["shap"]))[:top][::-1]
    labels = [f"{BY_NAME[c['feature']].zh} = {show(c['feature'], float('nan') if c['value'] is None else c['value'])}" for c in contrib]
    values = [c["shap"] for c in contrib]
    fig, ax = _barh_figure(labels)
    ax.barh(range(len(values)), values, color=["#c0392b" if v > 0 else "#2471a3" for v in values])
    ax.set_yticks(range(len(values)), labels, fontsize=9)
    ax.axvline(0, color="#555", lw=0.8)
    ax.set_xlabel(zh_text("plot.shap_axis", cls=cls_zh, base=f"{record['base_value']:.2f}", own=f"{record['raw_output']:.2f}"), fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig)


def bar_chart(labels: list[str], values: list[float], xlabel: str) -> str:
    fig, ax = _barh_figure(labels)
    ax.barh(range(len(values))[::-1], values, color="#7d6608")
    ax.set_yticks(range(len(values))[::-1], labels, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig)


def loss_ratio_chart(labels: list[str], values: list[float], credibility: list[float], band: tuple[float, float],
                     own: list[float] | None = None, cap: float = 2.0) -> str:
    """Credible loss ratio per cell (bar shade: credibility) with the band the rules accept, and the
    cell's own loss ratio as a marker (shown at ``cap`` when above it)."""
    fig, ax = _barh_figure(labels, plot_width=5.6)
    low, high = band
    ax.axvspan(low, high, color="#d5f5e3", zorder=0)
    colors = [(0.49, 0.4, 0.03, 0.35 + 0.65 * min(1.0, max(0.0, z))) for z in credibility]
    ys = list(range(len(values))[::-1])
    ax.barh(ys, [min(v, cap) for v in values], color=colors, zorder=2)
    if own is not None:
        ax.scatter([min(v, cap) for v in own], ys, marker="D", s=18, color="#1f3a5f", zorder=3)
    ax.set_xlim(0, cap * 1.05)
    ax.set_yticks(ys, labels, fontsize=9)
    ax.set_xlabel(zh_text("plot.loss_axis", cap=f"{cap:.0%}"), fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig)


def strip_ids(svg: str, prefix: str) -> str:
    """Make element ids unique per plot so several inline SVGs can share one page."""
    return re.sub(r'(id="|url\(#|href="#)([^")]+)', lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
