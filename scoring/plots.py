"""Plots for the report, as inline SVG whose labels stay text (the browser draws the Chinese)."""
from __future__ import annotations

import io
import logging
import re
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

from .features import BY_NAME, show  # noqa: E402


# Glyph warnings: the SVG keeps the text and the reader's browser renders it with its CJK fonts.
warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)


def _subplots(figsize):
    """A figure outside pyplot's global state, so the review app can draw in several threads."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog: inline in HTML


def shap_bars(record: dict, cls_zh: str, top: int = 8) -> str:
    """Horizontal bars of the largest contributions to one policy's log-odds."""
    contrib = sorted(record["contributions"], key=lambda c: -abs(c["shap"]))[:top][::-1]
    labels = [f"{BY_NAME[c['feature']].zh} = {show(c['feature'], float('nan') if c['value'] is None else c['value'])}" for c in contrib]
    values = [c["shap"] for c in contrib]
    fig, ax = _subplots((7.0, 0.38 * len(values) + 0.9))
    ax.barh(range(len(values)), values, color=["#c0392b" if v > 0 else "#2471a3" for v in values])
    ax.set_yticks(range(len(values)), labels, fontsize=9)
    ax.axvline(0, color="#555", lw=0.8)
    ax.set_xlabel(f"对“{cls_zh}”对数几率的贡献（SHAP）；基准 {record['base_value']:.2f} → 本保单 {record['raw_output']:.2f}", fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig)


def bar_chart(labels: list[str], values: list[float], xlabel: str) -> str:
    fig, ax = _subplots((7.0, 0.35 * len(values) + 0.9))
    ax.barh(range(len(values))[::-1], values, color="#7d6608")
    ax.set_yticks(range(len(values))[::-1], labels, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _svg(fig)


def strip_ids(svg: str, prefix: str) -> str:
    """Make element ids unique per plot so several inline SVGs can share one page."""
    return re.sub(r'(id="|url\(#|href="#)([^")]+)', lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
