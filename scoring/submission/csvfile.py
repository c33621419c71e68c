"""CSV files: the encoding (UTF-8 or GB18030, one per file), the records as text, and the
physical line on which each starts and ends, so that every message names the line a person sees.
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import mmap
import os
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from scoring.errors import SubmissionError
from scoring.submission.raw import fail


CHUNK = 1 << 24

#: Largest CSV field read (characters): Arrow's block size. Larger fields are refused by row.
FIELD_LIMIT = 1 << 24


def _line_at(path: Path, offset: int) -> int:
    """The 1-based physical line holding byte ``offset`` of the file."""
    n, at = 1, 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            if at + len(chunk) > offset:
                return n + chunk.count(b"\n", 0, offset - at)
            n += chunk.count(b"\n")
            at += len(chunk)
    return n

#: A line is taken as written in UTF-8, in a file that is not, when it decodes as UTF-8 and holds at
#: least this many CJK characters: GBK text forms valid UTF-8 by chance only over a few bytes (for
#: four characters, all of a line's other bytes as well, about one line in ten million).
UTF8_WITNESS = 4


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


def detect_encoding(path: Path) -> str:
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
            for chunk in iter(lambda: f.read(CHUNK), b""):
                dec.decode(chunk)
                at += len(chunk)
            dec.decode(b"", final=True)
        return "utf-8"
    except UnicodeDecodeError as e:
        bad_line = _line_at(path, at + max(e.start, 0))
    if head == codecs.BOM_UTF8:
        raise fail("bom_not_utf8", file=path.name, line=bad_line)
    utf8_line = _utf8_witness(path)
    if utf8_line is not None:
        raise fail("mixed_encoding", file=path.name, utf8_line=utf8_line, gbk_line=bad_line)
    dec = codecs.getincrementaldecoder("gb18030")()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                dec.decode(chunk)
            dec.decode(b"", final=True)
    except UnicodeDecodeError:
        raise fail("bad_encoding", file=path.name) from None
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
class Lines:
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
                    raise fail("field_too_large", file=label, row=prev + 1, limit=FIELD_LIMIT) from None
                raise fail("not_a_table", file=label, detail=f"line {prev + 1}: {e}") from None
    finally:
        csv.field_size_limit(old)


def record_lines(path: Path, enc: str, label: str) -> Lines:
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
    return Lines(s[1:], e[1:], prev - header_end)


def csv_failure(e: Exception, path: Path, enc: str, label: str) -> SubmissionError:
    """The error to raise when Arrow cannot read the CSV ``path``: a field too large for Arrow is
    named by its line (:func:`record_lines` raises that itself), an empty file as empty, anything
    else as not a table."""
    try:
        record_lines(path, enc, label)
    except UnicodeDecodeError:
        pass
    if "Empty CSV file" in str(e):
        return fail("empty_file", file=label)
    return fail("not_a_table", file=label, detail=str(e).splitlines()[0])


def maybe_not_utf8(e: Exception, path: Path) -> bool:
    """Whether a read as UTF-8 failed because the file is not UTF-8: Arrow says so, or a malformed
    record's text could not be decoded for its report (Arrow then names the record instead)."""
    text = str(e).lower()
    return isinstance(e, UnicodeDecodeError) or "utf8" in text or "utf-8" in text or detect_encoding(path) != "utf-8"


def has_blank_line(path: Path) -> bool:
    """Whether the file holds an empty line (Arrow skips it, so records and lines part ways), with
    any of the line endings Arrow and the CSV grammar accept: \n, \r\n and a lone \r."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return False
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            # a line ending right after another (\r\n being one): \n\n, \n\r (\n\r\n included), \r\r
            return any(m.find(p) >= 0 for p in (b"\n\n", b"\n\r", b"\r\r")) or m[:1] in (b"\n", b"\r")


def has_line_break(table: pa.Table) -> bool:
    """Whether any cell holds a line break (a quoted value over several lines)."""
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            for ch in ("\n", "\r"):
                if pc.any(pc.match_substring(col, ch)).as_py():
                    return True
    return False


def read_csv(path: Path, label: str) -> tuple[pa.Table, np.ndarray, np.ndarray, int, list[tuple[int, int, str]]]:
    """Read a CSV as text columns. UTF-8 is tried first (Arrow validates it while reading);
    a file that is not UTF-8 is checked whole against GB18030 before it is read as such.

    Returns the table, each row's first and last physical line, the number of data lines
    and the malformed records as ``(line, last line, text)``. Where records and lines may part
    ways (a blank line, a cell holding a line break) every record's lines are found by
    :func:`record_lines`; otherwise record k is line k + 1 and no second pass is needed.
    """
    enc = "utf-8"
    try:
        try:
            table, bad = _read_csv_as(path, enc, True)
        except (UnicodeDecodeError, pa.ArrowInvalid) as e:
            if not maybe_not_utf8(e, path):
                raise
            enc = detect_encoding(path)
            table, bad = _read_csv_as(path, enc, True)
        spans = has_blank_line(path) or has_line_break(table)
        if bad or spans:
            # The fast reader splits blocks at line breaks: a record over several lines is read
            # again allowing them, single-threaded so that malformed rows get their numbers.
            table, bad = _read_csv_as(path, enc, False, newlines=True)
            spans = spans or has_line_break(table) or any("\n" in t or "\r" in t for _, t in bad)
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
    where = record_lines(path, enc, label)
    if len(where.starts) != records:
        # the two readers disagree on where records end: no row number could be trusted
        raise fail("ambiguous_quotes", file=label, records=records, found=len(where.starts))
    malformed = [(int(where.starts[i]), int(where.ends[i]), t) for i, (_, t) in zip(skipped, sorted(bad))]
    return table, where.starts[keep], where.ends[keep], where.data_lines, malformed
