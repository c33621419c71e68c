"""Read a submission container into raw string tables.

A submission is a folder of ``.csv`` / ``.parquet`` / ``.json`` / ``.jsonl`` files or one
``.xlsx`` workbook (``docs/spec/submission-format.md``). This module finds the
tables, detects CSV encodings, maps Chinese headers to canonical names and returns every
cell as text, so that :mod:`scoring.submission.intake` parses and validates one uniform shape.
Structural problems raise :class:`~scoring.errors.SubmissionError`.
"""
from __future__ import annotations

import codecs
import contextlib
import csv
from array import array
from concurrent.futures import ThreadPoolExecutor
import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from scoring.errors import SubmissionError
from scoring.files import sha256_file, sha256_known
from scoring.messages import render
from scoring.schema import TABLE_ALIASES, TABLES, Table

EXTENSIONS = (".csv", ".parquet", ".json", ".jsonl")
#: Workbooks: a whole submission, or one table of a folder (``policies.xlsx``).
WORKBOOKS = (".xlsx", ".xlsm")
_HASHER = ThreadPoolExecutor(max_workers=1)
_CHUNK = 1 << 24
#: Largest CSV field read (characters): Arrow's block size. Larger fields are refused by row.
FIELD_LIMIT = 1 << 24
#: Limits on an .xlsx workbook, checked before it is read (a 1 MB file can expand to gigabytes
#: of XML, and one far cell makes a sheet of 17 billion). Each can be raised by its variable.
XLSX_LIMITS = {
    "SCORING_XLSX_MAX_MB": 256,  # uncompressed size of all parts, MiB
    "SCORING_XLSX_MAX_ROWS": 1_048_576,  # rows per sheet (Excel's own limit)
    "SCORING_XLSX_MAX_COLUMNS": 256,  # columns per sheet
}


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


def _fail(key: str, **fields) -> SubmissionError:
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


def _canonical(table: Table, data: pa.Table, file: str) -> tuple[pa.Table, tuple[str, ...], tuple[str, ...]]:
    """Rename headers to canonical names, cast every column to text, check required columns."""
    hmap = _header_map(table)
    names, arrays, seen, extra, absent = [], [], set(), [], []
    for name, col in zip(data.column_names, data.columns):
        canon = hmap.get(_norm_header(name))
        if canon is None:
            extra.append(str(name))
            continue
        if canon in seen:
            raise _fail("duplicate_column", file=file, column=canon)
        seen.add(canon)
        names.append(canon)
        try:
            arrays.append(_as_text(col))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # a list, struct or binary column holds no cell a contract column can take
            raise _fail("nested_column", file=file, column=str(name), type=str(col.type)[:80]) from None
    for c in table.columns:
        if c.name not in seen:
            if not c.optional:
                raise _fail("missing_column", file=file, column=c.name, column_zh=c.zh)
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


def _line_at(path: Path, offset: int) -> int:
    """The 1-based physical line holding byte ``offset`` of the file."""
    n, at = 1, 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            if at + len(chunk) > offset:
                return n + chunk.count(b"\n", 0, offset - at)
            n += chunk.count(b"\n")
            at += len(chunk)
    return n


#: A line is taken as written in UTF-8, in a file that is not, when it decodes as UTF-8 and holds at
#: least this many CJK characters: text in GBK forms valid UTF-8 by chance only over a few bytes.
UTF8_WITNESS = 8


def _utf8_witness(path: Path) -> int | None:
    """The first line of a GB18030 file that is plainly UTF-8 (:data:`UTF8_WITNESS`), or None."""
    with open(path, "rb") as f:
        for n, line in enumerate(f, start=1):
            if line.isascii():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if sum(1 for ch in text if "\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff") >= UTF8_WITNESS:
                return n
    return None


def _detect_encoding(path: Path) -> str:
    """Return ``utf-8`` or ``gb18030``: the one in which the whole file is written.

    A file that is not UTF-8 is read as GB18030 only if all of it decodes so and no line of it is
    plainly UTF-8: a file half in each (rows appended by another program) is refused naming the
    first line of each, as is a UTF-8 byte order mark followed by text that is not UTF-8, since
    either read would turn one half into mojibake without a word.
    """
    dec = codecs.getincrementaldecoder("utf-8")()
    at = 0
    try:
        with open(path, "rb") as f:
            head = f.read(3)
            f.seek(0)
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                dec.decode(chunk)
                at += len(chunk)
            dec.decode(b"", final=True)
        return "utf-8"
    except UnicodeDecodeError as e:
        bad_line = _line_at(path, at + max(e.start, 0))
    if head == codecs.BOM_UTF8:
        raise _fail("bom_not_utf8", file=path.name, line=bad_line)
    utf8_line = _utf8_witness(path)
    if utf8_line is not None:
        raise _fail("mixed_encoding", file=path.name, utf8_line=utf8_line, gbk_line=bad_line)
    dec = codecs.getincrementaldecoder("gb18030")()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                dec.decode(chunk)
            dec.decode(b"", final=True)
    except UnicodeDecodeError:
        raise _fail("bad_encoding", file=path.name) from None
    return "gb18030"


def _read_csv_as(path: Path, enc: str, threads: bool, newlines: bool = False):
    bad: list[tuple[int | None, str]] = []

    def handler(row):
        bad.append((row.number, row.text))
        return "skip"

    parse = pacsv.ParseOptions(invalid_row_handler=handler, newlines_in_values=newlines)
    table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(encoding=enc, use_threads=threads, block_size=1 << 24),
                           parse_options=parse, convert_options=csv_text_options(path, enc))
    return table, bad


def csv_text_options(path: Path, enc: str) -> pacsv.ConvertOptions:
    """Every column of the CSV read as text: the header's names are read first (no type inference).

    The header (the first record that is not a blank line, as for Arrow) is read by
    :func:`_csv_records`, not by Arrow: Arrow would parse the whole first block, and a malformed
    record in it whose text is not UTF-8 makes Arrow print a traceback on the terminal. Arrow
    drops a byte order mark from the names, in GB18030 too, and so does this. A file that is not
    in ``enc`` raises :class:`UnicodeDecodeError`, as a read by Arrow would.
    """
    with contextlib.closing(_csv_records(path, enc, path.name)) as records:
        names = next((rec for rec, _ in records if rec), [])
    if names:
        names[0] = names[0].removeprefix("\ufeff")
    # only an empty cell is empty: Arrow's default null markers would erase an enterprise
    # named "NULL" and hide an "N/A" written in a number column
    return pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, null_values=[""], strings_can_be_null=True,
                                quoted_strings_can_be_null=True)


@dataclass(frozen=True)
class _Lines:
    """Where each CSV record lies in the file: first and last physical line (1-based)."""

    starts: np.ndarray
    ends: np.ndarray
    data_lines: int  # physical lines below the header, blank lines included


def _csv_records(path: Path, enc: str, label: str) -> Iterator[tuple[list[str], int]]:
    """Each record of the CSV by the standard CSV grammar (a blank line is ``[]``) with the
    physical line it ends on. A field larger than :data:`FIELD_LIMIT`, or a record the grammar
    cannot read, is refused naming the line it starts on."""
    prev = 0
    old = csv.field_size_limit(FIELD_LIMIT)
    try:
        with open(path, encoding="utf-8-sig" if enc == "utf-8" else enc, newline="") as f:
            reader = csv.reader(f)
            try:
                for rec in reader:
                    line = reader.line_num
                    yield rec, line
                    prev = line
            except csv.Error as e:
                if "field larger than field limit" in str(e):
                    raise _fail("field_too_large", file=label, row=prev + 1, limit=FIELD_LIMIT) from None
                raise _fail("not_a_table", file=label, detail=f"line {prev + 1}: {e}") from None
    finally:
        csv.field_size_limit(old)


def _record_lines(path: Path, enc: str, label: str) -> _Lines:
    """Walk the file with the standard CSV grammar and note each record's first and last line.

    Arrow reports records, not lines: a quoted value with line breaks or a blank line would
    shift every later row number. A field larger than :data:`FIELD_LIMIT` is refused here,
    naming its line, instead of as an Arrow block error without one.
    """
    starts, ends = array("q"), array("q")
    prev = 0
    for rec, line in _csv_records(path, enc, label):
        if rec:  # a blank line holds no record
            starts.append(prev + 1)
            ends.append(line)
        prev = line
    s, e = np.frombuffer(starts, dtype=np.int64), np.frombuffer(ends, dtype=np.int64)
    header_end = int(e[0]) if len(e) else 0
    return _Lines(s[1:], e[1:], prev - header_end)


def csv_failure(e: Exception, path: Path, enc: str, label: str) -> SubmissionError:
    """The error to raise when Arrow cannot read the CSV ``path``: a field too large for Arrow is
    named by its line (:func:`_record_lines` raises that itself), an empty file as empty, anything
    else as not a table."""
    try:
        _record_lines(path, enc, label)
    except UnicodeDecodeError:
        pass
    if "Empty CSV file" in str(e):
        return _fail("empty_file", file=label)
    return _fail("not_a_table", file=label, detail=str(e).splitlines()[0])


def _maybe_not_utf8(e: Exception, path: Path) -> bool:
    """Whether a read as UTF-8 failed because the file is not UTF-8: Arrow says so, or a malformed
    record's text could not be decoded for its report (Arrow then names the record instead)."""
    text = str(e).lower()
    return isinstance(e, UnicodeDecodeError) or "utf8" in text or "utf-8" in text or _detect_encoding(path) != "utf-8"


def _has_blank_line(path: Path) -> bool:
    """Whether the file holds an empty line (Arrow skips it, so records and lines part ways), with
    any of the line endings Arrow and the CSV grammar accept: \n, \r\n and a lone \r."""
    import mmap

    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return False
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            # a line ending right after another (\r\n being one): \n\n, \n\r (\n\r\n included), \r\r
            return any(m.find(p) >= 0 for p in (b"\n\n", b"\n\r", b"\r\r")) or m[:1] in (b"\n", b"\r")


def _has_line_break(table: pa.Table) -> bool:
    """Whether any cell holds a line break (a quoted value over several lines)."""
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            for ch in ("\n", "\r"):
                if pc.any(pc.match_substring(col, ch)).as_py():
                    return True
    return False


def _read_csv(path: Path, label: str) -> tuple[pa.Table, np.ndarray, np.ndarray, int, list[tuple[int, int, str]]]:
    """Read a CSV as text columns. UTF-8 is tried first (Arrow validates it while reading);
    a file that is not UTF-8 is checked whole against GB18030 before it is read as such.

    Returns the table, each row's first and last physical line, the number of data lines
    and the malformed records as ``(line, last line, text)``. Where records and lines may part
    ways (a blank line, a cell holding a line break) every record's lines are found by
    :func:`_record_lines`; otherwise record k is line k + 1 and no second pass is needed.
    """
    enc = "utf-8"
    try:
        try:
            table, bad = _read_csv_as(path, enc, True)
        except (UnicodeDecodeError, pa.ArrowInvalid) as e:
            if not _maybe_not_utf8(e, path):
                raise
            enc = _detect_encoding(path)
            table, bad = _read_csv_as(path, enc, True)
        spans = _has_blank_line(path) or _has_line_break(table)
        if bad or spans:
            # The fast reader splits blocks at line breaks: a record over several lines is read
            # again allowing them, single-threaded so that malformed rows get their numbers.
            table, bad = _read_csv_as(path, enc, False, newlines=True)
            spans = spans or _has_line_break(table) or any("\n" in t or "\r" in t for _, t in bad)
    except pa.ArrowInvalid as e:
        raise csv_failure(e, path, enc, label) from None
    records = table.num_rows + len(bad)
    # Arrow numbers records from 1 (the header); skipped records are those numbers.
    skipped = np.array(sorted(n for n, _ in bad), dtype=np.int64) - 2
    keep = np.ones(records, dtype=bool)
    keep[skipped] = False
    if not spans:  # one record per line
        lines = np.arange(2, records + 2, dtype=np.int64)
        malformed = [(int(lines[i]), int(lines[i]), t) for i, (_, t) in zip(skipped, sorted(bad))]
        return table, lines[keep], lines[keep], records, malformed
    where = _record_lines(path, enc, label)
    if len(where.starts) != records:
        # the two readers disagree on where records end: no row number could be trusted
        raise _fail("ambiguous_quotes", file=label, records=records, found=len(where.starts))
    malformed = [(int(where.starts[i]), int(where.ends[i]), t) for i, (_, t) in zip(skipped, sorted(bad))]
    return table, where.starts[keep], where.ends[keep], where.data_lines, malformed


def _read_json(path: Path, label: str) -> pa.Table:
    if path.stat().st_size == 0:
        raise _fail("empty_file", file=label)
    try:
        if path.suffix.lower() == ".jsonl":
            return pajson.read_json(path)
        with open(path, encoding="utf-8-sig") as f:
            records = json.load(f)
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ValueError("expected an array of records / 应为记录数组")
        keys: dict[str, None] = {}
        for i, r in enumerate(records):
            keys.update(dict.fromkeys(r))
            for k, v in r.items():
                if isinstance(v, (dict, list)):
                    raise _fail("nested_value", file=label, row=i + 2, record=i + 1, column=k)
        cols = {k: [None if r.get(k) is None else str(r[k]) for r in records] for k in keys}
        return pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()})
    except SubmissionError:
        raise
    except RecursionError:
        raise _fail("not_a_table", file=label, detail="nested too deeply / 嵌套层数过多") from None
    except (ValueError, pa.ArrowInvalid) as e:
        raise _fail("not_a_table", file=label, detail=str(e).splitlines()[0]) from None


def _read_file(table: Table, path: Path) -> RawTable:
    label = path.name
    if path.stat().st_size == 0:
        raise _fail("empty_file", file=label)
    malformed: list[tuple[int, int, str]] = []
    suffix = path.suffix.lower()
    digest = _HASHER.submit(sha256_file, path)  # hashing runs beside the parse (hashlib releases the GIL)
    last_rows, lines = None, None
    if suffix == ".csv":
        data, rows, last_rows, lines, malformed = _read_csv(path, label)
    else:
        if suffix == ".parquet":
            try:
                data = pq.read_table(path)
            except (pa.ArrowInvalid, OSError) as e:
                raise _fail("not_a_table", file=label, detail=str(e).splitlines()[0]) from None
        else:
            data = _read_json(path, label)
        rows = np.arange(2, data.num_rows + 2, dtype=np.int64)
    if data.num_columns == 0:
        raise _fail("empty_file", file=label)
    data, extra, absent = _canonical(table, data, label)
    return RawTable(table.name, label, digest.result(), data, rows, tuple(malformed), extra, absent, last_rows, lines)


def table_for(stem: str) -> str | None:
    s = stem.strip().lower()
    if s in TABLES:
        return s
    return TABLE_ALIASES.get(stem.strip())


def _read_table_dir(table: Table, path: Path) -> RawTable:
    """A table directory of a partitioned Parquet dataset (``scoring convert``; scoring.submission.dataset)."""
    from scoring.submission.dataset import read_table_dir

    label = f"{path.name}/"
    try:
        data = read_table_dir(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise _fail("not_a_table", file=label, detail=str(e).splitlines()[0]) from None
    return table_dir_raw(table, data, label, dir_digest(path))


def dir_digest(path: Path) -> str:
    """The sha256 of a dataset's table directory: each Parquet file's path and content, in path order."""
    h = hashlib.sha256()
    for f in sorted(path.rglob("*.parquet")):
        h.update(str(f.relative_to(path)).encode() + bytes.fromhex(sha256_known(f)))
    return h.hexdigest()


def table_dir_raw(table: Table, data: pa.Table, label: str, digest: str) -> RawTable:
    """Typed rows of a dataset's table (or one partition of it) as a :class:`RawTable` to validate."""
    if data.num_columns == 0:
        raise _fail("empty_file", file=label)
    data, extra, absent = _canonical(table, data, label)
    return RawTable(table.name, label, digest, data, np.arange(2, data.num_rows + 2, dtype=np.int64), (), extra, absent)


def _read_folder(folder: Path, without: tuple[str, ...] = ()) -> dict[str, RawTable]:
    from scoring.submission.dataset import verify

    if (folder / "convert.json").is_file():  # a dataset: checked whole against convert.json before any table is read
        verify(folder)
    found: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.is_dir() and not p.is_symlink() and table_for(p.name) and any(p.rglob("*.parquet")):
            found.setdefault(table_for(p.name), []).append(p)  # a table of a partitioned dataset
            continue
        if p.is_file() and p.suffix.lower() in EXTENSIONS + WORKBOOKS:
            name = table_for(p.stem)
            if name:
                # a link that leads out of the submission folder would read any file the user can
                if p.is_symlink() and not p.resolve().is_relative_to(folder.resolve()):
                    raise _fail("link_outside", file=p.name, path=folder, target=p.resolve())
                found.setdefault(name, []).append(p)
    for name, paths in found.items():
        if len(paths) > 1:
            raise _fail("duplicate_table", path=folder, table=name, files=", ".join(p.name for p in paths))
    _require_tables(folder, found)
    return {name: _reader(paths[0])(TABLES[name], paths[0]) for name, paths in found.items() if name not in without}


def _reader(path: Path):
    if path.is_dir():
        return _read_table_dir
    return _read_table_workbook if path.suffix.lower() in WORKBOOKS else _read_file


def _read_table_workbook(table: Table, path: Path) -> RawTable:
    """One table of a folder given as a workbook (``policies.xlsx``): its only sheet, or the sheet
    named for the table."""
    wb = open_workbook(path)
    try:
        sheets = [ws for ws in wb.worksheets if table_for(ws.title) == table.name] or list(wb.worksheets)
        if len(sheets) != 1:
            raise _fail("table_workbook_sheets", file=path.name, table=table.name, table_zh=table.zh,
                        sheets="、".join(ws.title for ws in wb.worksheets))
        return sheet_table(sheets[0], table.name, f"{path.name}[{sheets[0].title}]", sha256_file(path))
    finally:
        wb.close()


def _require_tables(path: Path, found) -> None:
    for t in TABLES.values():
        if t.required and t.name not in found:
            raise _fail("missing_table", path=path, table=t.name, table_zh=t.zh)


def _limit(name: str) -> int:
    try:
        return int(os.environ.get(name, XLSX_LIMITS[name]))
    except ValueError:
        return XLSX_LIMITS[name]


def open_workbook(path: Path):
    """Open an .xlsx read-only after checking its uncompressed size against :data:`XLSX_LIMITS`.

    The zip directory is read first: the sizes it states bound what decompression may produce
    (a part that expands beyond its stated size fails its check).
    """
    import openpyxl

    try:
        with zipfile.ZipFile(path) as zf:
            size = sum(i.file_size for i in zf.infolist())
    except (zipfile.BadZipFile, OSError) as e:
        raise _fail("not_a_table", file=path.name, detail=str(e) or type(e).__name__) from None
    limit = _limit("SCORING_XLSX_MAX_MB")
    if size > limit << 20:
        raise _fail("xlsx_too_large", file=path.name, size=size >> 20, limit=limit, var="SCORING_XLSX_MAX_MB")
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many types for a file that is not a workbook
        raise _fail("not_a_table", file=path.name, detail=str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    try:
        _refuse_uncached_formulas(path, wb)
    except BaseException:
        wb.close()
        raise
    return wb


def _uncached(xml: bytes, limit: int = 5) -> tuple[list[str], int]:
    """The cells of a worksheet's XML that hold a formula (``<f>``, not ``<formula1>`` of a
    drop-down list) without a cached value: the first ``limit``, and how many there are."""
    import re

    found, n, done = [], 0, -1
    for m in re.finditer(rb"<f[\s>/]", xml):
        at = m.start()
        if at < done:
            continue
        start = xml.rfind(b"<c ", 0, at)
        end = xml.find(b"</c>", at)
        done = end if end >= 0 else len(xml)
        if start < 0 or (xml.rfind(b"</c>", 0, at) > start):
            continue  # not inside a cell
        cell = xml[start:done]
        if not re.search(rb"<v>[^<]+</v>", cell):
            n += 1
            if len(found) < limit:
                ref = re.search(rb'\br="([A-Z]+[0-9]+)"', cell)
                found.append(ref.group(1).decode() if ref else "?")
    return found, n


def _refuse_uncached_formulas(path: Path, wb) -> None:
    """Refuse a workbook whose sheets hold formulas that were never calculated (written by a
    program, not saved by Excel): read for their values they would be empty cells, silently."""
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        for ws in wb.worksheets:
            part = getattr(ws, "_worksheet_path", None)  # openpyxl keeps each sheet's part name here
            if part not in names:
                continue
            xml = zf.read(part)
            if b"<f>" not in xml and b"<f " not in xml and b"<f/" not in xml:
                continue
            cells, n = _uncached(xml)
            if n:
                raise _fail("uncached_formula", file=f"{path.name}[{ws.title}]", cells="、".join(cells), n=n)


def _read_workbook(path: Path) -> dict[str, RawTable]:
    wb = open_workbook(path)
    digest = sha256_file(path)
    out: dict[str, RawTable] = {}
    allowed = ", ".join(f"{t.name}/{t.zh}" for t in TABLES.values())
    try:
        for ws in wb.worksheets:
            name = table_for(ws.title)
            if name is None:
                raise _fail("unknown_sheet", path=path.name, sheet=ws.title, allowed=allowed)
            if name in out:
                raise _fail("duplicate_table", path=path.name, table=name, files=ws.title)
            out[name] = sheet_table(ws, name, f"{path.name}[{ws.title}]", digest)
    finally:
        wb.close()
    _require_tables(path, out)
    return out


def _check_dimensions(ws, label: str) -> None:
    """Refuse a sheet whose stated extent is beyond :data:`XLSX_LIMITS` before iterating it:
    the reader pads every row to the sheet's width and every gap up to its last row."""
    from openpyxl.utils import range_boundaries

    try:
        _, _, cols, rows = range_boundaries(ws.calculate_dimension())
    except (ValueError, TypeError):
        return  # no stated extent: only the cells present are read
    for var, n, zh, en in (("SCORING_XLSX_MAX_ROWS", rows, "行", "rows"), ("SCORING_XLSX_MAX_COLUMNS", cols, "列", "columns")):
        if n is not None and n > _limit(var):
            raise _fail("sheet_too_large", file=label, extent=ws.calculate_dimension(), n=n, what_zh=zh, what_en=en,
                        limit=_limit(var), var=var)


def sheet_table(ws, name: str, label: str, digest: str) -> RawTable:
    """One worksheet (openpyxl) as the raw table ``name``: header row, then data rows as text.

    Blank sheet rows are skipped; each data row keeps its sheet row number for messages. A row
    with a value beyond the header's columns is malformed (its value would have no column). A
    sheet beyond :data:`XLSX_LIMITS`, or whose XML cannot be read (truncated, or declaring
    entities), is refused naming the row where reading stopped.
    """
    _check_dimensions(ws, label)
    number = 1
    try:
        it = ws.iter_rows(values_only=True)
        header = next(it, None)
        if header is None or all(h is None for h in header):
            raise _fail("empty_file", file=label)
        width = max(i for i, h in enumerate(header) if h is not None) + 1  # rows are padded to the sheet's width
        header = header[:width]
        cols: list[list] = [[] for _ in range(width)]
        numbers: list[int] = []
        malformed: list[tuple[int, int, str]] = []
        for number, r in enumerate(it, start=2):
            if r is None or all(v is None for v in r):
                continue  # a blank sheet row is not a data row; numbering stays the sheet's
            if any(v is not None for v in r[width:]):
                malformed.append((number, number, ",".join("" if v is None else _cell_text(v) for v in r)))
                continue
            numbers.append(number)
            for i in range(width):
                cols[i].append(_cell_text(r[i] if i < len(r) else None))
    except SubmissionError:
        raise
    except Exception as e:  # the XML parser's many errors: truncated parts, forbidden entities
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise _fail("sheet_unreadable", file=label, row=number + 1, detail=f"{type(e).__name__}: {detail}") from None
    rows = np.array(numbers, dtype=np.int64)
    names = [f"{h}" if h is not None else f"_col{i}" for i, h in enumerate(header)]
    # a list, not a dict: a header written twice must reach the duplicate check, not overwrite
    data = pa.table([pa.array(c, pa.string()) for c in cols], names=names)
    data, extra, absent = _canonical(TABLES[name], data, label)
    return RawTable(name, label, digest, data, rows, tuple(malformed), extra, absent, None, number - 1)


def _cell_text(v) -> str | None:
    import datetime as dt

    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v)


def read_submission(path: str | Path, without: tuple[str, ...] = ()) -> dict[str, RawTable]:
    """Read the submission at ``path`` (folder or ``.xlsx``) into raw tables by name; the tables
    named in ``without`` are checked to be there but not read (a folder only).

    Raises
    ------
    SubmissionError
        When the container, a table, a header or the encoding cannot be read.
    """
    p = Path(path)
    if not p.exists():
        raise _fail("no_submission", path=p)
    if p.is_dir():
        return _read_folder(p, without)
    if p.suffix.lower() in WORKBOOKS:
        return _read_workbook(p)
    raise _fail("not_container", path=p)
