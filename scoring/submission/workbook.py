"""Excel workbooks (.xlsx): a whole submission, a sheet per table, or one table of a folder.

A workbook is checked before it is read: its uncompressed size and each sheet's extent against
:data:`XLSX_LIMITS`, and formulas that were never calculated (their value would read as blank).
"""
from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa

from scoring.errors import SubmissionError
from scoring.files import sha256_file
from scoring.schema import TABLES, Table
from scoring.submission.raw import RawTable, canonical, fail, require_tables, table_for


#: Limits on an .xlsx workbook, checked before it is read (a 1 MB file can expand to gigabytes
#: of XML, and one far cell makes a sheet of 17 billion). Each can be raised by its variable.
XLSX_LIMITS = {
    "SCORING_XLSX_MAX_MB": 256,  # uncompressed size of all parts, MiB
    "SCORING_XLSX_MAX_ROWS": 1_048_576,  # rows per sheet (Excel's own limit)
    "SCORING_XLSX_MAX_COLUMNS": 256,  # columns per sheet
}


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
        raise fail("not_a_table", file=path.name, detail=str(e) or type(e).__name__) from None
    limit = _limit("SCORING_XLSX_MAX_MB")
    if size > limit << 20:
        raise fail("xlsx_too_large", file=path.name, size=size >> 20, limit=limit, var="SCORING_XLSX_MAX_MB")
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many types for a file that is not a workbook
        raise fail("not_a_table", file=path.name, detail=str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    try:
        _refuse_uncached_formulas(path, wb)
    except BaseException:
        wb.close()
        raise
    return wb


_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")


def _uncached(xml: bytes, limit: int = 5) -> tuple[list[str], int]:
    """The cells of a worksheet's XML (with or without a namespace prefix) that hold a formula
    (``<f>``, not ``<formula1>`` of a drop-down list) without a cached value: the first ``limit``,
    and how many there are. A text result may be cached empty (``t="str"`` with ``<v></v>``: a
    formula that gave ""); a number's may not."""
    found, n = [], 0
    for m in _CELL.finditer(xml):
        body = m.group(2) or b""
        if not _FORMULA.search(body):
            continue
        value = _VALUE.search(body)
        text = re.search(rb'\bt="(\w+)"', m.group(1))
        cached = value is not None and (value.group(1).strip() != b"" or (text is not None and text.group(1) == b"str"))
        if not cached:
            n += 1
            if len(found) < limit:
                ref = re.search(rb'\br="([A-Z]+[0-9]+)"', m.group(1))
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
            if not _FORMULA.search(xml):
                continue
            cells, n = _uncached(xml)
            if n:
                raise fail("uncached_formula", file=f"{path.name}[{ws.title}]", cells="、".join(cells), n=n)


def read_workbook(path: Path) -> dict[str, RawTable]:
    wb = open_workbook(path)
    digest = sha256_file(path)
    out: dict[str, RawTable] = {}
    allowed = ", ".join(f"{t.name}/{t.zh}" for t in TABLES.values())
    try:
        for ws in wb.worksheets:
            name = table_for(ws.title)
            if name is None:
                raise fail("unknown_sheet", path=path.name, sheet=ws.title, allowed=allowed)
            if name in out:
                raise fail("duplicate_table", path=path.name, table=name, files=ws.title)
            out[name] = sheet_table(ws, name, f"{path.name}[{ws.title}]", digest)
    finally:
        wb.close()
    require_tables(path, out)
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
            raise fail("sheet_too_large", file=label, extent=ws.calculate_dimension(), n=n, what_zh=zh, what_en=en,
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
            raise fail("empty_file", file=label)
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
        raise fail("sheet_unreadable", file=label, row=number + 1, detail=f"{type(e).__name__}: {detail}") from None
    rows = np.array(numbers, dtype=np.int64)
    names = [f"{h}" if h is not None else f"_col{i}" for i, h in enumerate(header)]
    # a list, not a dict: a header written twice must reach the duplicate check, not overwrite
    data = pa.table([pa.array(c, pa.string()) for c in cols], names=names)
    data, extra, absent = canonical(TABLES[name], data, label)
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


def read_table_workbook(table: Table, path: Path) -> RawTable:
    """One table of a folder given as a workbook (``policies.xlsx``): its only sheet, or the sheet
    named for the table."""
    wb = open_workbook(path)
    try:
        sheets = [ws for ws in wb.worksheets if table_for(ws.title) == table.name] or list(wb.worksheets)
        if len(sheets) != 1:
            raise fail("table_workbook_sheets", file=path.name, table=table.name, table_zh=table.zh,
                        sheets="、".join(ws.title for ws in wb.worksheets))
        return sheet_table(sheets[0], table.name, f"{path.name}[{sheets[0].title}]", sha256_file(path))
    finally:
        wb.close()
