"""A table as read from any container: canonical column names, every cell text.

Readers (:mod:`~scoring.submission.csvfile`, :mod:`~scoring.submission.workbook`,
:mod:`~scoring.submission.folder` for JSON and Parquet, :mod:`~scoring.submission.dataset`) all return a
:class:`RawTable`, so that :mod:`scoring.submission.intake` parses and validates one shape:
Chinese or English headers mapped to the contract's names (:mod:`scoring.schema`), columns
outside it set aside, every value as text.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scoring.errors import SubmissionError
from scoring.messages import render
from scoring.schema import TABLE_ALIASES, TABLES, Table


EXTENSIONS = (".csv", ".parquet", ".json", ".jsonl")

#: Workbooks: a whole submission, or one table of a folder (``policies.xlsx``).
WORKBOOKS = (".xlsx", ".xlsm")


@dataclass(frozen=True)
class RawTable:
    """One table as read: every cell text (or null), canonical column names.

    ``rows`` holds each data row's number in its file (1-based, header = row 1): for a
    CSV, the physical line on which the record starts, and ``last_rows`` the line on which
    it ends (a quoted value may hold line breaks). ``lines`` counts the physical data lines
    below the header, blank lines included, so that every line is accounted for.
    ``malformed`` lists rows the reader could not split into the header's columns,
    as ``(row, last_row, text)``; intake rejects them.
    """

    name: str
    file: str
    sha256: str
    data: pa.Table
    rows: np.ndarray
    malformed: tuple[tuple[int, int, str], ...] = field(default=())
    extra_columns: tuple[str, ...] = field(default=())
    absent_columns: tuple[str, ...] = field(default=())
    last_rows: np.ndarray | None = None
    lines: int | None = None

    @property
    def ends(self) -> np.ndarray:
        """Each data row's last line (its first line where no record spans lines)."""
        return self.rows if self.last_rows is None else self.last_rows

    @property
    def line_count(self) -> int:
        return self.data.num_rows + len(self.malformed) if self.lines is None else self.lines


def fail(key: str, **fields) -> SubmissionError:
    return SubmissionError(*render(key, **fields))


def _norm_header(h: str) -> str:
    h = str(h).replace("\ufeff", "").strip()
    h = h.replace("（", "(").replace("）", ")").replace(" ", "")
    return h.lower()


def _header_map(table: Table) -> dict[str, str]:
    m: dict[str, str] = {}
    for c in table.columns:
        m[_norm_header(c.name)] = c.name
        m[_norm_header(c.zh)] = c.name
    return m


def canonical(table: Table, data: pa.Table, file: str) -> tuple[pa.Table, tuple[str, ...], tuple[str, ...]]:
    """Rename headers to canonical names, cast every column to text, check required columns."""
    hmap = _header_map(table)
    names, arrays, seen, extra, absent = [], [], set(), [], []
    for name, col in zip(data.column_names, data.columns):
        canon = hmap.get(_norm_header(name))
        if canon is None:
            extra.append(str(name))
            continue
        if canon in seen:
            raise fail("duplicate_column", file=file, column=canon)
        seen.add(canon)
        names.append(canon)
        try:
            arrays.append(_as_text(col))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # a list, struct or binary column holds no cell a contract column can take
            raise fail("nested_column", file=file, column=str(name), type=str(col.type)[:80]) from None
    for c in table.columns:
        if c.name not in seen:
            if not c.optional:
                raise fail("missing_column", file=file, column=c.name, column_zh=c.zh)
            names.append(c.name)
            arrays.append(pa.nulls(data.num_rows, pa.string()))
            absent.append(c.name)
    return pa.table(arrays, names=names), tuple(extra), tuple(absent)


def _as_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col.cast(pa.string())
    if pa.types.is_null(t):
        return col.cast(pa.string())
    if pa.types.is_date(t):
        return col.cast(pa.date32()).cast(pa.string())
    if pa.types.is_timestamp(t):
        # a time of day is kept in the text, so that it is refused as in a CSV, not cut off
        day = col.cast(pa.date32())
        if pc.all(pc.fill_null(pc.equal(day.cast(t), col), True)).as_py():
            return day.cast(pa.string())
        return pc.strftime(col, format="%Y-%m-%dT%H:%M:%S")
    if pa.types.is_dictionary(t):
        return _as_text(col.cast(t.value_type))
    return col.cast(pa.string())


def table_for(stem: str) -> str | None:
    s = stem.strip().lower()
    if s in TABLES:
        return s
    return TABLE_ALIASES.get(stem.strip())


def table_dir_raw(table: Table, data: pa.Table, label: str, digest: str) -> RawTable:
    """Typed rows of a dataset's table (or one partition of it) as a :class:`RawTable` to validate."""
    if data.num_columns == 0:
        raise fail("empty_file", file=label)
    data, extra, absent = canonical(table, data, label)
    return RawTable(table.name, label, digest, data, np.arange(2, data.num_rows + 2, dtype=np.int64), (), extra, absent)


def require_tables(path: Path, found) -> None:
    for t in TABLES.values():
        if t.required and t.name not in found:
            raise fail("missing_table", path=path, table=t.name, table_zh=t.zh)
