"""The jobs behind the commands, as library functions the CLI calls."""
from __future__ import annotations

from pathlib import Path

from .intake import Submission, load_submission
from .results import atomic_dir, write_csv


def balance_summary(sub: Submission) -> str:
    """Per-table row balance, Chinese first, one line per table."""
    lines = ["表 / table        读入 in   接收 accepted   拒收 rejected"]
    for name, c in sub.counts.items():
        lines.append(f"{name:<16} {c.rows_in:>8} {c.rows_accepted:>14} {c.rows_rejected:>14}")
    missing = [t for t in ("staff", "inspections") if t not in sub.present]
    if missing:
        lines.append("未提供的可选表 / optional tables not supplied: " + ", ".join(missing))
    return "\n".join(lines)


def run_validate(submission: str | Path, out: str | Path | None = None) -> str:
    """Validate ``submission``; with ``out``, write ``rejected.csv`` there. Returns the summary."""
    sub = load_submission(submission)
    text = balance_summary(sub)
    if out is not None:
        with atomic_dir(Path(out)) as tmp:
            write_csv(sub.rejected, tmp / "rejected.csv")
        text += f"\n拒收明细 / rejected rows: {Path(out) / 'rejected.csv'}"
    return text
