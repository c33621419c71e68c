"""Write tables and records: deterministic CSV / JSONL / JSON, formula-safe cells.

Same data in, same bytes out: floats are rounded to 6 significant digits, rows come in a
stable order, and no timestamps go into CSV or JSONL. Cells that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) get a leading ``'``
(OWASP's recommendation), except plain numbers such as ``-3.5``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from scoring.arrays import arrow

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"
SIGNIFICANT = 6


def round_sig(values, digits: int = SIGNIFICANT) -> np.ndarray:
    """Round to 6 decimals, then to ``digits`` significant digits: the float a person should read.

    Arrow prints a double by its shortest round-trip text, so the rounded value is written
    without float noise (0.123457, 300000, 1234570).
    """
    v = np.round(np.asarray(values, dtype=float), 6)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.floor(np.log10(np.abs(v)))
    d = np.clip(np.where(np.isfinite(mag), digits - 1 - mag, 0), -15, 15).astype(int)
    up, down = 10.0 ** np.maximum(d, 0), 10.0 ** np.maximum(-d, 0)
    return np.where(d >= 0, np.round(v * up) / up, np.round(v / down) * down)


def _strings(series: pd.Series) -> pa.Array:
    arr = arrow(series, large_ok=True)  # pandas' large_string kept: no copy of the text
    return arr if pa.types.is_large_string(arr.type) or pa.types.is_string(arr.type) else arr.cast(pa.string())


def neutralise(values: pa.Array) -> pa.Array:
    """Prefix ``'`` to text cells that would start a spreadsheet formula (plain numbers stay).

    Only cells whose first byte is a formula start are looked at further (all such starts are
    ASCII), and only those that are not plain numbers are rewritten.
    """
    raw = values.cast(pa.large_binary() if pa.types.is_large_string(values.type) else pa.binary())
    first = pc.binary_slice(raw, 0, 1)
    risky = pc.fill_null(pc.is_in(first, value_set=pa.array([s.encode() for s in _FORMULA_START], first.type)), False)
    if not pc.any(risky).as_py():
        return values
    idx = np.flatnonzero(risky.to_numpy(zero_copy_only=False))
    cand = values.take(pa.array(idx))
    plain = np.asarray(pc.fill_null(pc.match_substring_regex(cand, _PLAIN_NUMBER), False).to_numpy(zero_copy_only=False), dtype=bool)
    if plain.all():
        return values
    mask = np.zeros(len(values), dtype=bool)
    mask[idx[~plain]] = True
    fixed = pc.binary_join_element_wise(pa.scalar("'", values.type), cand.filter(pa.array(~plain)), pa.scalar("", values.type))
    return pc.replace_with_mask(values, pa.array(mask), fixed)


#: UTF-8 byte-order mark: Excel on a Chinese Windows reads a CSV without it as GBK (garbage).
BOM = b"\xef\xbb\xbf"


def write_csv(df: pd.DataFrame, path) -> None:
    """Write ``df`` as UTF-8 CSV with a byte-order mark (Arrow's writer) to a path or binary
    file: neutralised text, missing as empty, floats rounded.

    Text cells are quoted, numbers are not; the same frame always gives the same bytes.
    """
    if isinstance(path, (str, Path)):
        with open(path, "wb") as f:
            write_csv(df, f)
        return
    path.write(BOM)
    if not len(df.columns):
        return
    writer = schema = None
    for a in range(0, max(len(df), 1), CSV_ROWS):  # a slice at a time: the text is never converted whole
        table = _csv_table(df.iloc[a:a + CSV_ROWS])
        if writer is None:
            schema = table.schema
            writer = pacsv.CSVWriter(path, schema, write_options=pacsv.WriteOptions(quoting_style="needed"))
        writer.write_table(table.cast(schema))
    writer.close()


#: Rows converted and written at a time by :func:`write_csv`.
CSV_ROWS = 200_000


def _csv_table(df: pd.DataFrame) -> pa.Table:
    """``df`` as the Arrow table :func:`write_csv` writes: neutralised text, missing as empty,
    floats rounded, booleans spelled out."""
    cols = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_bool_dtype(s.dtype):
            cols[c] = pa.array(np.where(s.to_numpy(dtype=bool), "True", "False"), pa.string())
        elif pd.api.types.is_float_dtype(s.dtype):
            cols[c] = pa.array(round_sig(s.to_numpy(dtype=float, na_value=np.nan)), pa.float64(), from_pandas=True)
        elif pd.api.types.is_integer_dtype(s.dtype):
            cols[c] = pa.array(s.to_numpy(), pa.int64())
        else:
            text = neutralise(_strings(s))
            cols[c] = pc.fill_null(text, pa.scalar("", text.type))
    return pa.table(cols)


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


def json_line(record) -> str:
    """One record as a JSONL line (keys in the order given, Chinese unescaped, with the newline)."""
    return json.dumps(record, ensure_ascii=False, default=_json_default) + "\n"


def json_numbers(x: np.ndarray) -> pa.Array:
    """JSON numbers: shortest round-trip text of each float (as ``float.__repr__`` gives, in Arrow's
    spelling, e.g. ``3`` and ``1e-7``: valid JSON that reads back to the same float); NaN is ``null``."""
    x = np.asarray(x, dtype=float)
    text = pc.cast(pa.array(x), pa.string())
    return pc.if_else(pa.array(np.isnan(x)), pa.scalar("null"), text)


def json_strings(values) -> pa.Array:
    """JSON string literals of ``values`` (Chinese kept as is); only the values that need escaping
    (quotes, backslashes, control characters) go through :func:`json.dumps`."""
    arr = pa.array(values, pa.string()) if not isinstance(values, pa.Array) else values.cast(pa.string())
    quoted = pc.binary_join_element_wise('"', arr, '"', "")
    needs = pc.match_substring_regex(arr, r'["\\\x00-\x1f]')
    if not pc.any(needs).as_py():
        return quoted
    escaped = [json.dumps(v, ensure_ascii=False) for v in arr.filter(needs).to_pylist()]
    return pc.replace_with_mask(quoted, needs, pa.array(escaped, pa.string()))


def explanation_lines(ids, probabilities, head: dict, bodies: pa.ChunkedArray) -> pa.ChunkedArray:
    """explanations.jsonl lines for many policies at once: ``{"policy_id": …, "flag": …,
    "probability": …, <head's other members>, <body>}`` with the body from
    :meth:`scoring.model.explain.Explanations.json_bodies` (same keys and order as :func:`json_line`)."""
    rest = json.dumps({k: v for k, v in head.items() if k != "flag"}, ensure_ascii=False, default=_json_default)[1:-1]
    lines = pc.binary_join_element_wise(
        '{"policy_id": ', json_strings([str(i) for i in ids]), ', "flag": ' + json.dumps(head["flag"], ensure_ascii=False) + ', "probability": ',
        json_numbers(probabilities), ", " + rest + ", ", bodies, "}\n", "")
    return lines


def write_jsonl(records, path: Path, order=None) -> None:
    """One JSON object per line; ``records`` may also be ready lines from :func:`json_line`, or an
    Arrow string array (or chunked array) of such lines, written straight from its buffers —
    in the positions ``order`` gives when given (no reordered copy of the text is made)."""
    if isinstance(records, (pa.Array, pa.ChunkedArray)):
        chunks = [c for c in (records.chunks if isinstance(records, pa.ChunkedArray) else [records])]
        if any(c.null_count for c in chunks):
            raise ValueError("JSONL lines may not be null")
        chunks = [c.cast(pa.large_string()) for c in chunks]
        data = [memoryview(c.buffers()[2]) if len(c) else None for c in chunks]
        offsets = [np.frombuffer(c.buffers()[1], dtype=np.int64)[c.offset: c.offset + len(c) + 1] for c in chunks]
        with open(path, "wb") as f:
            if order is None:
                for d, o in zip(data, offsets):
                    if d is not None:
                        f.write(d[int(o[0]): int(o[-1])])
                return
            order = np.asarray(order, dtype=np.int64)
            starts = np.cumsum([0] + [len(c) for c in chunks])
            which = np.searchsorted(starts, order, side="right") - 1
            local = order - starts[which]
            for k, i in zip(which.tolist(), local.tolist()):
                o = offsets[k]
                f.write(data[k][int(o[i]): int(o[i + 1])])
        return
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in records:
            f.write(r if isinstance(r, str) else json_line(r))


def write_json(obj, path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2, default=_json_default)
        f.write("\n")
