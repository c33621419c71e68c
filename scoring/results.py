"""Write results: deterministic CSV / JSONL, formula-safe cells, atomic directories.

Same data in, same bytes out: floats have a fixed format, rows a stable order, and no
timestamps go into CSV or JSONL. Cells that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) get a leading ``'``
(OWASP's recommendation), except plain numbers such as ``-3.5``.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FLOAT_FORMAT = "%.6g"


def neutralise(series: pd.Series) -> pd.Series:
    """Prefix ``'`` to text cells that would start a spreadsheet formula."""
    s = series.astype("str")
    risky = s.str.startswith(_FORMULA_START, na=False)
    if risky.any():  # plain numbers such as -3.5 stay as they are
        risky &= pd.to_numeric(s.where(risky), errors="coerce").isna()
    return s.where(~risky, "'" + s)


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` as UTF-8 CSV with neutralised text cells and fixed float format."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c].dtype):
            out[c] = neutralise(out[c]).where(out[c].notna(), "")
    out.to_csv(path, index=False, encoding="utf-8", float_format=FLOAT_FORMAT, lineterminator="\n")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (pd.Timestamp, np.datetime64)):
        return str(pd.Timestamp(o).date())
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_jsonl(records, path: Path) -> None:
    """One JSON object per line, keys in the order given, UTF-8, Chinese unescaped."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, default=_json_default) + "\n")


def write_json(obj, path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2, default=_json_default)
        f.write("\n")


@contextlib.contextmanager
def atomic_dir(out: Path):
    """Yield a temporary directory beside ``out``; on success its files replace ``out``'s.

    On an exception the temporary directory is removed and ``out`` is left untouched.
    Files already in ``out`` that the run does not write are kept.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not out.exists():
        os.replace(tmp, out)
        return
    for p in sorted(tmp.rglob("*")):
        if p.is_file():
            dest = out / p.relative_to(tmp)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, dest)
    shutil.rmtree(tmp, ignore_errors=True)
