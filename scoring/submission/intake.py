"""Validate a submission once, at the boundary, and quarantine bad rows.

:func:`load_submission` reads a container (:mod:`scoring.submission.folder`), parses every column by the
contract in :mod:`scoring.schema`, collects *every* failure (lazily, not the first), and
returns a :class:`Submission`: typed tables of accepted rows, and ``rejected`` with one
row per rejected input row (table, row, column, value, message_zh, message_en; the first
failing column names the row, the messages list all its failures). For each table,
``rows_in = rows_accepted + rows_rejected``. Code after intake trusts its inputs.

A service or inspection row whose policy was rejected is rejected too, with that reason.
Rows whose key value is duplicated are all rejected: which copy is right is ambiguous.
"""
from __future__ import annotations

import datetime as dt
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring.submission import parsing
from scoring.submission import uscc
from scoring.arrays import arrow, bool_mask
from scoring.submission.raw import RawTable
from scoring.submission.folder import read_submission
from scoring.messages import TEMPLATES
from scoring.schema import COLUMN_ZH, ID_MAX, TABLES, Column, DateBounds, Table

REJECTED_COLUMNS = ["table", "row", "column", "value", "message_zh", "message_en"]
#: Order in which tables are validated: references point at policies.
ORDER = ("policies", "services", "staff", "inspections", "claims")


@dataclass(frozen=True)
class TableCounts:
    """Row balance of one table: records in, rejected, and the physical lines they came from.

    ``lines_in`` counts the file's data lines (blank lines and the lines of records that span
    several included), so a record that swallowed lines is visible in the counts.
    """

    rows_in: int
    rows_rejected: int
    lines_in: int | None = None
    normalised: tuple[tuple[str, int], ...] = ()  # (id column, cells whose invisible characters were removed)

    @property
    def rows_accepted(self) -> int:
        return self.rows_in - self.rows_rejected


@dataclass(frozen=True)
class Submission:
    """A validated submission.

    Attributes
    ----------
    path : str
        Where it was read from.
    tables : dict of DataFrame
        Accepted rows per table, typed per :mod:`scoring.schema`; a table absent from the
        submission is an empty frame with the right columns.
    present : frozenset of str
        Tables the submission actually held (``staff`` and ``inspections`` are optional).
    rejected : DataFrame
        One row per rejected input row, columns :data:`REJECTED_COLUMNS`.
    counts : dict of TableCounts
        Row balance per present table.
    files : dict of (str, str)
        Per table, the file label and its sha256.
    absent : dict of tuple
        Per present table, the optional columns the file did not have.
    policy_ids : _PolicyIds or None
        The policy ids that references were checked against, for rows validated later
        (:mod:`scoring.submission.chunks`).
    """

    path: str
    tables: dict[str, pd.DataFrame]
    present: frozenset[str]
    rejected: pd.DataFrame
    counts: dict[str, TableCounts]
    files: dict[str, tuple[str, str]]
    absent: dict[str, tuple[str, ...]]
    policy_ids: "_PolicyIds | None" = field(default=None, repr=False, compare=False)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    @cached_property
    def aggregates(self):
        """Per-policy and per-service aggregates shared by checks, features and the pipeline
        (:class:`scoring.submission.aggregates.Aggregates`), computed once per submission."""
        from scoring.submission.aggregates import Aggregates

        return Aggregates(self)

    @cached_property
    def service_policy_pos(self) -> np.ndarray:
        """Each accepted service's row in the accepted policies table (-1 where there is none;
        the intake rejects such services, so there is always one). Computed once per submission."""
        at = pc.index_in(arrow(self.tables["services"]["policy_id"]),
                         value_set=arrow(self.tables["policies"]["policy_id"]))
        return np.asarray(pc.fill_null(at, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


class _Failures:
    """Collects cell failures of one table as (positions, column, value, message) arrays."""

    def __init__(self, file: str, rows: np.ndarray, order: dict[str, int], ends: np.ndarray | None = None,
                 dates: DateBounds = DateBounds()):
        self.file = file
        self.dates = dates
        self.rows = rows
        self.ends = rows if ends is None else ends
        self.order = order
        self.parts: list[pd.DataFrame] = []
        self.normalised: dict[str, int] = {}  # per id column, the cells whose invisible characters were removed

    def add(self, mask: np.ndarray, column: str, key: str, values, rank: int | None = None, **fields) -> None:
        """Record a failure of ``column`` on the rows in ``mask``; ``values`` (and array ``fields``)
        may be Arrow or NumPy arrays: only the failing positions are turned into text.

        Failures of a row are listed by ``rank`` (default: the column's place in the table); the
        first names the row in rejected.csv."""
        pos = np.flatnonzero(mask)
        if len(pos) == 0:
            return
        vals = _take(values, pos)
        texts = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in vals]
        zh_t, en_t = TEMPLATES[key]
        arrays = {k: v for k, v in fields.items() if isinstance(v, (np.ndarray, pa.Array, pa.ChunkedArray))}
        extra = {k: _take(v, pos) for k, v in arrays.items()}
        const = {k: v for k, v in fields.items() if k not in arrays}
        zh, en = [], []
        for i, t in enumerate(texts):
            f = dict(const, value=t)
            for k, arr in extra.items():
                f[k] = _fmt(arr[i])
            zh.append(f"{COLUMN_ZH.get(column, column)}（{column}）" + zh_t.format(**f))
            en.append(f"{column} " + en_t.format(**f))
        self.parts.append(
            pd.DataFrame(
                {"pos": pos, "order": self.order.get(column, -1) if rank is None else rank, "column": column, "value": texts, "zh": zh, "en": en}
            )
        )

    def mask(self, n: int) -> np.ndarray:
        m = np.zeros(n, dtype=bool)
        for p in self.parts:
            m[p["pos"].to_numpy()] = True
        return m

    def frame(self, table: str) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in REJECTED_COLUMNS})
        df = pd.concat(self.parts, ignore_index=True).sort_values(["pos", "order"], kind="stable")
        g = df.groupby("pos", sort=True)
        first = g.first()
        rows = self.rows[first.index.to_numpy()]
        ends = self.ends[first.index.to_numpy()]
        zh_join = g["zh"].agg("；".join)
        en_join = g["en"].agg("; ".join)
        out = pd.DataFrame(
            {
                "table": table,
                "row": rows,
                "column": first["column"].to_numpy(),
                "value": first["value"].to_numpy(),
                "message_zh": [_prefix(0, self.file, r, e) + m for r, e, m in zip(rows, ends, zh_join.to_numpy())],
                "message_en": [_prefix(1, self.file, r, e) + m for r, e, m in zip(rows, ends, en_join.to_numpy())],
            }
        )
        return out


def _prefix(lang: int, file: str, row: int, last: int) -> str:
    """``file 第 row 行`` or, for a record over several lines, ``file 第 row–last 行``."""
    key = "row_prefix" if last == row else "rows_prefix"
    return TEMPLATES[key][lang].format(file=file, row=row, last=last)


def _take(values, pos: np.ndarray) -> list:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return pc.take(values, pa.array(pos)).to_pylist()
    return list(np.asarray(values, dtype=object)[pos])


def _fmt(v) -> str:
    return "" if v is None else str(v)


def _bound(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _parse_column(col: Column, text: pa.Array, fails: _Failures, raw_values: np.ndarray):
    t = col.type
    if t in ("str", "id"):
        values = text
    elif t == "int":
        values, bad, big = parsing.parse_int(text)
        fails.add(bad & ~big, col.name, "not_int", raw_values)
        fails.add(big, col.name, "too_large", raw_values)
    elif t in ("money", "float"):
        values, bad, big = parsing.parse_float(text)
        fails.add(bad & ~big, col.name, "not_number", raw_values)
        fails.add(big, col.name, "too_large", raw_values)
    elif t == "date":
        values, bad = parsing.parse_date(text)
        fails.add(bad, col.name, "not_date", raw_values)
        _check_dates(col, values, fails, raw_values)
    elif t == "bool":
        values, bad = parsing.parse_bool(text)
        fails.add(bad, col.name, "not_bool", raw_values)
    elif t == "enum":
        values, bad = parsing.parse_enum(text, col.values)
        fails.add(bad, col.name, "not_enum", raw_values, allowed_zh="、".join(col.values.values()),
                  allowed_en=", ".join(f"{code} ({label})" for code, label in col.values.items()))
    elif t == "region":
        values, bad = parsing.parse_region(text)
        fails.add(bad, col.name, "bad_region", raw_values)
    elif t == "uscc":
        values = text
        present = np.asarray(pc.is_valid(text).to_numpy(zero_copy_only=False), dtype=bool)
        fails.add(present & ~uscc.valid(text), col.name, "bad_uscc", raw_values)
    else:  # pragma: no cover - schema and parser evolve together
        raise AssertionError(f"unknown column type {t}")
    _check_range(col, values, fails, raw_values)
    return values


def _check_dates(col: Column, values: np.ndarray, fails: _Failures, raw_values) -> None:
    """Dates outside the plausible range (:class:`scoring.schema.DateBounds`), and dates of events
    after the run's day, are rejected."""
    b = fails.dates
    with np.errstate(invalid="ignore"):
        out = (values < np.datetime64(b.earliest, "s")) | (values > np.datetime64(b.latest, "s"))
        fails.add(out, col.name, "date_out_of_range", raw_values, earliest=b.earliest.isoformat(), latest=b.latest.isoformat())
        if col.event:
            today = dt.date.today()
            late = ~out & (values > np.datetime64(today + dt.timedelta(days=b.future_grace_days), "s"))
            fails.add(late, col.name, "date_in_future", raw_values, today=today.isoformat())


def _check_range(col: Column, values, fails: _Failures, raw_values) -> None:
    if col.min is not None or col.max is not None:
        v = values.astype(np.float64)
        with np.errstate(invalid="ignore"):
            if col.min is not None:
                low = (v <= col.min) if col.min_exclusive else (v < col.min)
                fails.add(low, col.name, "not_above_min" if col.min_exclusive else "below_min", raw_values, bound=_bound(col.min))
            if col.max is not None:
                fails.add(v > col.max, col.name, "above_max", raw_values, bound=_bound(col.max))


#: First characters that make a spreadsheet cell a formula (``scoring.writers.neutralise`` guards free text).
_FORMULA_FIRST = pa.array(["=", "+", "-", "@"])

#: Columns whose text as written is kept after parsing, for the messages of cross-column rules.
_KEEP_TEXT = {"start_date", "end_date", "hazards_found", "hazards_rectified", "agency_id", "accident_date", "report_date",
              "closed_date"}


def _parse_one(col: Column, raw_values: pa.ChunkedArray, fails: "_Failures", rows: np.ndarray, ends: np.ndarray,
               spans: bool) -> np.ndarray | pa.Array:
    """One column's cells parsed to its type, its failures added to ``fails``."""
    if spans and not col.multiline:
        # a line break in a name, code, date or number is the trace of an unpaired quote
        # that swallowed the lines between into one record
        broken = bool_mask(pc.fill_null(pc.match_substring_regex(raw_values, "[\\r\\n]"), False))
        fails.add(broken & (ends != rows), col.name, "line_break", _shorten(raw_values, broken), first=rows, last=ends)
    if col.type == "id" or col.name.endswith("_id"):
        # invisible characters would part a policy from the records that reference it without them
        raw_values, changed = parsing.normalise_ids(raw_values)
        fails.normalised[col.name] = int(changed.sum())
        raw_values = pa.chunked_array([raw_values])
        long = bool_mask(pc.fill_null(pc.greater(pc.utf8_length(parsing.clean_text(raw_values)), ID_MAX), False))
        fails.add(long, col.name, "id_too_long", _shorten(raw_values, long), limit=ID_MAX)
        # an identifier a spreadsheet would run as a formula cannot be written as it is and still
        # join: refused here, so every output keeps identifiers exactly as submitted
        first = pc.utf8_slice_codeunits(pc.utf8_ltrim_whitespace(raw_values), 0, 1)
        formula = bool_mask(pc.fill_null(pc.is_in(first, value_set=_FORMULA_FIRST), False))
        fails.add(formula, col.name, "formula_id", raw_values)
    fast = parsing.try_fast(col.type, raw_values) if col.default is None else None
    if fast is not None:  # canonical cells: no cleaning needed, only emptiness and ranges
        if col.nonempty:
            fails.add(bool_mask(pc.is_null(raw_values)), col.name, "empty", raw_values)
        _check_range(col, fast, fails, raw_values)
        if col.type == "date":
            _check_dates(col, fast, fails, raw_values)
        return fast
    if col.type == "str" and not col.nonempty:
        # free text kept as written (the reader already made empty cells null)
        return _parse_column(col, raw_values.combine_chunks(), fails, raw_values)
    text = parsing.clean_text(raw_values)
    if col.default is not None:
        text = pc.fill_null(text, col.default)
    if col.nonempty:
        fails.add(bool_mask(pc.is_null(text)), col.name, "empty", raw_values)
    return _parse_column(col, text, fails, raw_values)


def key_values(table: Table, raw_values: pa.ChunkedArray) -> pa.Array:
    """The table's key column as validation reads it (cleaned text), for counting copies of a
    key over a table read in chunks (:mod:`scoring.submission.chunks`)."""
    col = next(c for c in table.columns if c.name == table.key)
    rows = np.zeros(len(raw_values), dtype=np.int64)
    return _parse_one(col, raw_values, _Failures("", rows, {}), rows, rows, False)


def duplicated_keys(keys: pa.Array | pa.ChunkedArray) -> pa.StructArray | None:
    """The keys present more than once, with their counts (``values``, ``counts``), or None."""
    if not _has_duplicates(keys):
        return None
    vc = pc.value_counts(keys.drop_null())
    return vc.filter(pc.greater(vc.field("counts"), 1))


def _validate_table(table: Table, columns: dict[str, pa.ChunkedArray], file: str, rows: np.ndarray,
                    ends: np.ndarray | None = None, duplicates: pa.StructArray | None | bool = True,
                    dates: DateBounds = DateBounds()) -> tuple[dict, _Failures]:
    """Parse and check every column; ``columns`` is emptied as it goes so memory is released.

    ``ends`` holds each row's last line where records may span lines (CSV). ``duplicates``: the
    key's copies are counted within these rows (True), or were counted over the whole table
    (:func:`duplicated_keys`, None for none) when these rows are one chunk of it.
    """
    order = {c.name: i for i, c in enumerate(table.columns)}
    fails = _Failures(file, rows, order, ends, dates)
    spans = ends is not None and bool((ends != rows).any())
    values: dict[str, np.ndarray] = {}
    texts: dict[str, pa.Array] = {}  # cells as written, for messages

    def one(col: Column):
        raw_values = columns.pop(col.name)
        return col.name, raw_values, _parse_one(col, raw_values, fails, rows, ends, spans)

    # Arrow kernels release the GIL: columns are parsed in parallel (failures are ordered later).
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for name, raw_values, parsed in pool.map(one, table.columns):
            values[name] = parsed
            if name in _KEEP_TEXT:
                texts[name] = raw_values

    # Unique key: every copy of a duplicated value is rejected.
    key = values[table.key]
    if duplicates is True:
        duplicates = duplicated_keys(key)
    if duplicates is not None:
        counts = pc.take(duplicates.field("counts"), pc.index_in(key, value_set=duplicates.field("values")))
        dup = bool_mask(pc.fill_null(pc.greater(counts, 1), False)) & bool_mask(pc.is_valid(key))
        fails.add(dup, table.key, "duplicate", key, count=counts)

    # Cross-column rules of the contract.
    if table.name == "policies":
        s, e = values["start_date"], values["end_date"]
        fails.add(~np.isnat(s) & ~np.isnat(e) & (e <= s), "end_date", "end_not_after_start", texts["end_date"], other=texts["start_date"])
    if table.name == "services":
        f, r = values["hazards_found"], values["hazards_rectified"]
        with np.errstate(invalid="ignore"):
            fails.add(r > f, "hazards_rectified", "rectified_gt_found", texts["hazards_rectified"], other=texts["hazards_found"])
        agency = bool_mask(pc.is_null(values["agency_id"]))
        is_agency = bool_mask(pc.fill_null(pc.equal(values["provider_type"], "agency"), False))
        fails.add(is_agency & agency, "agency_id", "agency_required", texts["agency_id"])
    if table.name == "claims":
        acc, rep, closed = values["accident_date"], values["report_date"], values["closed_date"]
        fails.add(~np.isnat(acc) & ~np.isnat(rep) & (rep < acc), "report_date", "report_before_accident",
                  texts["report_date"], other=texts["accident_date"])
        is_open = bool_mask(pc.fill_null(pc.equal(values["status"], "open"), False))
        fails.add(~is_open & np.isnat(closed) & bool_mask(pc.is_valid(values["status"])), "closed_date", "closed_required",
                  texts["closed_date"])
        fails.add(~np.isnat(closed) & ~np.isnat(rep) & (closed < rep), "closed_date", "closed_before_report",
                  texts["closed_date"], other=texts["report_date"])
    return values, fails


def _short_text(v: str | None, limit: int = 200) -> str:
    """``v`` cut to ``limit`` characters with line breaks shown as ⏎, for messages: a record that
    swallowed the rest of a file must not put the file into rejected.csv."""
    v = (v or "").replace("\r\n", "⏎").replace("\n", "⏎").replace("\r", "⏎")
    return v if len(v) <= limit else v[: limit // 2] + " … " + v[-limit // 2:]


def _shorten(values: pa.ChunkedArray, mask: np.ndarray) -> np.ndarray:
    """The cells in ``mask`` as :func:`_short_text`, None elsewhere."""
    out = np.empty(len(mask), dtype=object)
    for i in np.flatnonzero(mask):
        out[i] = _short_text(values[int(i)].as_py())
    return out


def _has_duplicates(key: pa.Array) -> bool:
    """Sorting and comparing neighbours is several times faster than hashing for this test."""
    if len(key) - key.null_count < 2:
        return False
    present = key.drop_null()
    ordered = present.take(pc.sort_indices(present))
    same = pc.equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1))
    return bool(pc.any(same).as_py())


def _check_references(values: dict, fails: _Failures, table: Table, policies: "_PolicyIds") -> None:
    for col in table.references:
        ids = values[col]
        known = bool_mask(pc.is_in(ids, value_set=policies.all))
        rejected = bool_mask(pc.is_in(ids, value_set=policies.rejected))
        present = bool_mask(pc.is_valid(ids))
        # a row's own failures come first: the cascade from its policy is added after them
        after = len(table.columns) + 1
        fails.add(present & ~known, col, "unknown_policy", ids, rank=after)
        fails.add(present & rejected, col, "policy_rejected", ids, rank=after)


@dataclass(frozen=True)
class _PolicyIds:
    all: pa.Array
    rejected: pa.Array


def _frame(table: Table, values: dict, keep: np.ndarray) -> pd.DataFrame:
    cols = {}
    for c in table.columns:
        v = values[c.name]
        if not keep.all():  # no copy when nothing was rejected
            v = v.filter(pa.array(keep)) if isinstance(v, pa.Array) else v[keep]
        if c.type == "int":
            cols[c.name] = pd.array(v, dtype="Int64") if c.optional else v.astype(np.int64)
        elif c.type in ("money", "float"):
            cols[c.name] = v.astype(np.float64)
        elif c.type == "date":
            cols[c.name] = v.astype("datetime64[s]")
        elif c.type == "bool":
            cols[c.name] = v.astype(bool)
        else:
            cols[c.name] = v.to_pandas() if isinstance(v, pa.Array) else pd.Series(v, dtype="str")
    return pd.DataFrame(cols)


def _malformed_frame(raw: RawTable) -> pd.DataFrame:
    if not raw.malformed:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in REJECTED_COLUMNS})
    zh_t, en_t = TEMPLATES["malformed_row"]
    texts = [_short_text(t) for _, _, t in raw.malformed]
    return pd.DataFrame(
        {
            "table": raw.name,
            "row": [r for r, _, _ in raw.malformed],
            "column": "",
            "value": texts,
            "message_zh": [_prefix(0, raw.file, r, e) + zh_t.format(value=t) for (r, e, _), t in zip(raw.malformed, texts)],
            "message_en": [_prefix(1, raw.file, r, e) + en_t.format(value=t) for (r, e, _), t in zip(raw.malformed, texts)],
        }
    )


def validate(raws: dict[str, RawTable], path: str = "", dates: DateBounds = DateBounds()) -> Submission:
    """Validate raw tables into a :class:`Submission` (see the module docstring); ``dates``: the
    plausible dates (the rulebook's ``dates``)."""
    tables: dict[str, pd.DataFrame] = {}
    rejected_parts: list[pd.DataFrame] = []
    counts: dict[str, TableCounts] = {}
    policy_ids = None
    files = {n: (r.file, r.sha256) for n, r in raws.items()}
    absent = {n: r.absent_columns for n, r in raws.items()}
    present = frozenset(raws)
    raws = dict(raws)  # tables are released one by one as they are validated
    for name in ORDER:
        table = TABLES[name]
        if name not in raws:
            empty = {c.name: np.array([], dtype=object) for c in table.columns}
            for c in table.columns:
                if c.type == "date":
                    empty[c.name] = np.array([], dtype="datetime64[s]")
                elif c.type in ("int", "money", "float"):
                    empty[c.name] = np.array([], dtype=np.float64)
            tables[name] = _frame(table, empty, np.zeros(0, dtype=bool))
            continue
        # the raw text is released column by column while parsing: no reference is kept here
        tables[name], part, counts[name], ids = validate_raw(raws.pop(name), policy_ids, dates=dates)
        if ids is not None:
            policy_ids = ids
        rejected_parts.append(part)
    return Submission(
        path=path,
        tables=tables,
        present=present,
        rejected=sort_rejected(rejected_parts),
        counts=counts,
        files=files,
        absent=absent,
        policy_ids=policy_ids,
    )


def validate_raw(raw: RawTable, policy_ids: "_PolicyIds | None", duplicates=True, dates: DateBounds = DateBounds()):
    """Validate one raw table (or one chunk of it) whose references point at ``policy_ids``.

    Returns the accepted rows, the rejected ones (unsorted), the row balance, and for the policies
    table the ids that later tables' references are checked against (else None). ``duplicates``
    as :func:`_validate_table`. A caller that keeps no reference to ``raw`` has its text released
    column by column while parsing.
    """
    table = TABLES[raw.name]
    n_rows, malformed, lines = raw.data.num_rows, _malformed_frame(raw), raw.line_count
    columns = {c: raw.data.column(c) for c in raw.data.column_names}
    file, rows, ends = raw.file, raw.rows, raw.last_rows
    del raw
    values, fails = _validate_table(table, columns, file, rows, ends, duplicates, dates)
    if table.references:
        _check_references(values, fails, table, policy_ids)
    bad = fails.mask(n_rows)
    ids = None
    if table.name == "policies":
        key = values["policy_id"]
        ids = _PolicyIds(pc.unique(key.filter(pc.is_valid(key))), pc.unique(key.filter(pa.array(bad)).drop_null()))
    part = pd.concat([fails.frame(table.name), malformed], ignore_index=True)
    counts = TableCounts(rows_in=n_rows + len(malformed), rows_rejected=int(bad.sum()) + len(malformed), lines_in=lines,
                         normalised=tuple((c, n) for c, n in fails.normalised.items() if n))
    return _frame(table, values, ~bad), part, counts, ids


def sort_rejected(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Rejected rows of all tables in one frame, by table (:data:`ORDER`) and row."""
    rejected = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=REJECTED_COLUMNS)
    order = {n: i for i, n in enumerate(ORDER)}
    rejected = (
        rejected.assign(_t=rejected["table"].map(order))
        .sort_values(["_t", "row"], kind="stable")
        .drop(columns="_t")
        .reset_index(drop=True)
    )
    rejected["row"] = rejected["row"].astype(np.int64)
    return rejected[REJECTED_COLUMNS]


def validate_one(raw: RawTable, policy_ids, dates: DateBounds = DateBounds()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate one table on its own, its ``policy_id`` references checked against ``policy_ids``.

    Returns the accepted rows and the rejected ones (``REJECTED_COLUMNS``), as for a submission.
    """
    known = _PolicyIds(pa.array(list(policy_ids), pa.string()), pa.array([], pa.string()))
    accepted, rejected, _, _ = validate_raw(raw, known, dates=dates)
    return accepted, rejected[REJECTED_COLUMNS].sort_values("row", kind="stable").reset_index(drop=True)


def load_submission(path: str | Path, dates: DateBounds = DateBounds()) -> Submission:
    """Read and validate the submission at ``path`` (folder or ``.xlsx``); ``dates``: the
    plausible dates (the rulebook's ``dates``).

    Raises
    ------
    SubmissionError
        When the submission is structurally unreadable (nothing is returned).
    """
    return validate(read_submission(path), str(path), dates)


#: Date columns that say how far a submission reaches (for the default as-of date).
AS_OF_COLUMNS = {
    "policies": ("start_date",),
    "services": ("service_date", "report_date", "followup_date"),
    "inspections": ("inspection_date",),
    "claims": ("report_date", "closed_date"),
}


def latest_date(tables: dict[str, pd.DataFrame], also=()) -> np.datetime64:
    """The latest date found in a submission (and in ``also``, dates of tables read elsewhere):
    the default as-of date of a run."""
    found = [np.datetime64(d, "D") for d in also if d is not None]
    for name, cols in AS_OF_COLUMNS.items():
        df = tables.get(name)
        if df is None or df.empty:
            continue
        for c in cols:
            v = pd.to_datetime(df[c]).max()
            if pd.notna(v):
                found.append(np.datetime64(v.date(), "D"))
    return max(found) if found else np.datetime64("today", "D")


def latest_date_of(sub: Submission) -> np.datetime64:
    """:func:`latest_date` of a submission, with the dates of tables it holds only in part (a
    dataset whose service records stay with the workers: ``services_latest``)."""
    return latest_date(sub.tables, also=(getattr(sub, "services_latest", None),))
