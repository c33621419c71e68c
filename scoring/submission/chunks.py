"""A table too large to read whole, read and validated in chunks (``scoring convert``).

A national submission's services file holds tens of millions of records: read whole, its text
and the typed copy made from it need about 6 GB per million policies. ``scoring convert``
therefore reads the other tables whole and the services file (CSV or Parquet) twice, a block at
a time:

1. **Scan.** Every record is parsed once and only its key, as validation reads it, is kept,
   with the malformed records and whether records and lines part ways (a blank line, a quoted
   value over several lines). Copies of a key anywhere in the file are counted here, so that
   every copy is rejected with the count ``scoring validate`` gives.
2. **Chunks.** The records are read again :data:`CHUNK_ROWS` at a time and each chunk is
   validated as the whole table would be, against the validated policies, with each record's
   file row and last line as the whole-file reader numbers them.

The accepted rows, rejected rows and counts are those of validating the file whole
(``tests/submission/test_dataset.py`` compares them); memory holds one chunk and the keys.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from scoring.files import sha256_file
from scoring.submission.csvfile import (Lines, csv_failure, csv_text_options, detect_encoding, has_blank_line, has_line_break,
                                       maybe_not_utf8, record_lines)
from scoring.submission.folder import HASHER, read_file
from scoring.submission.raw import RawTable, canonical, fail, table_for
from scoring.submission.intake import duplicated_keys, key_values
from scoring.schema import TABLES

#: Records validated at a time: about 1 GB of text and typed values for service records.
CHUNK_ROWS = 1_000_000


@dataclass(frozen=True)
class Scan:
    """What the first pass learns of a file (see the module docstring)."""

    encoding: str | None  # None: not a CSV
    records: int  # records read, malformed ones included
    malformed: np.ndarray  # 0-based record numbers of the malformed records, ascending
    texts: list[str]  # their text
    duplicates: pa.StructArray | None  # keys present more than once, with their counts
    lines: "Lines | None"  # each record's first and last line, where records and lines part ways
    sha256: str


def streamable(submission) -> Path | None:
    """The services file of a folder submission when it can be read in chunks (CSV or Parquet)."""
    folder = Path(submission)
    if not folder.is_dir():
        return None
    found = [p for p in sorted(folder.iterdir()) if p.is_file() and table_for(p.stem) == "services"
             and p.suffix.lower() in (".csv", ".parquet")]
    if len(found) != 1 or (found[0].is_symlink() and not found[0].resolve().is_relative_to(folder.resolve())):
        return None  # the whole-file reader names the problem
    return found[0]


def _csv_batches(path: Path, enc: str, threads: bool, invalid=None) -> Iterator[pa.RecordBatch]:
    parse = pacsv.ParseOptions(invalid_row_handler=invalid or (lambda row: "skip"), newlines_in_values=True)
    reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(encoding=enc, use_threads=threads, block_size=1 << 24),
                            parse_options=parse, convert_options=csv_text_options(path, enc))
    try:
        yield from reader
    finally:
        reader.close()


def _batches(path: Path, enc: str | None, invalid=None) -> Iterator[pa.Table]:
    """The file's records in order, as text tables of about 16 MB; ``invalid`` is called with each
    malformed CSV record."""
    if enc is None:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536):
            yield pa.Table.from_batches([batch])
        return
    for batch in _csv_batches(path, enc, True, invalid):
        yield pa.Table.from_batches([batch])


def scan(path: Path) -> Scan:
    """The first pass over the services file ``path``."""
    table, label = TABLES["services"], path.name
    if path.stat().st_size == 0:
        raise fail("empty_file", file=label)
    digest = HASHER.submit(sha256_file, path)
    csv = path.suffix.lower() == ".csv"
    enc = "utf-8" if csv else None
    while True:
        keys, records, bad, spans = [], 0, [], False
        try:
            for data in _batches(path, enc, lambda row: bad.append(row.text) or "skip"):
                spans = spans or (csv and has_line_break(data))
                data, _, _ = canonical(table, data, label)
                keys.append(key_values(table, data.column(table.key)))
                records += data.num_rows
            break
        except (UnicodeDecodeError, pa.ArrowInvalid, OSError) as e:
            if csv and enc == "utf-8" and maybe_not_utf8(e, path):
                enc = detect_encoding(path)
                continue
            if csv:
                raise csv_failure(e, path, enc, label) from None
            raise fail("not_a_table", file=label, detail=str(e).splitlines()[0]) from None
    malformed, texts, lines = np.zeros(0, dtype=np.int64), [], None
    if bad:
        # the parallel reader does not number the records it skips: one more pass, in order
        numbered = []
        for _ in _csv_batches(path, enc, False, lambda row: numbered.append((row.number, row.text)) or "skip"):
            pass
        numbered.sort()
        malformed = np.array([n - 2 for n, _ in numbered], dtype=np.int64)
        texts = [t for _, t in numbered]
        records += len(numbered)
    if csv and (spans or has_blank_line(path) or any("\n" in t or "\r" in t for t in texts)):
        lines = record_lines(path, enc, label)
        if len(lines.starts) != records:
            raise fail("ambiguous_quotes", file=label, records=records, found=len(lines.starts))
    all_keys = pa.chunked_array(keys, pa.string()).combine_chunks() if keys else pa.array([], pa.string())
    return Scan(enc, records, malformed, texts, duplicated_keys(all_keys), lines, digest.result())


def chunks(path: Path, sc: Scan, rows: int | None = None) -> Iterator[RawTable]:
    """The second pass: the file's good records ``rows`` at a time as raw tables numbered as the
    whole-file reader numbers them. The malformed records come with the first chunk."""
    table, label, rows = TABLES["services"], path.name, rows or CHUNK_ROWS
    skip = sc.malformed - np.arange(len(sc.malformed))
    if sc.lines is None:
        first, last = sc.malformed + 2, sc.malformed + 2
    else:
        first, last = sc.lines.starts[sc.malformed], sc.lines.ends[sc.malformed]
    malformed = tuple((int(a), int(b), t) for a, b, t in zip(first, last, sc.texts))
    done = 0

    def raw(parts: list[pa.Table]) -> RawTable:
        nonlocal done, malformed
        data = pa.concat_tables(parts)
        good = np.arange(done, done + data.num_rows, dtype=np.int64)
        record = good + np.searchsorted(skip, good, side="right")  # the k-th good record is record k + malformed before it
        done += data.num_rows
        data, extra, absent = canonical(table, data, label)
        first = record + 2 if sc.lines is None else sc.lines.starts[record]
        last = None if sc.lines is None else sc.lines.ends[record]
        out = RawTable(table.name, label, sc.sha256, data, first, malformed, extra, absent, last)
        malformed = ()
        return out

    pending, held = [], 0
    for data in _batches(path, sc.encoding):
        pending.append(data)
        held += data.num_rows
        if held >= rows:
            yield raw(pending)
            pending, held = [], 0
    if pending:
        yield raw(pending)
    elif done == 0:  # no good record: the file is small, read whole
        yield read_file(table, path)


def data_lines(sc: Scan) -> int:
    """Physical data lines below the header, as the whole-file reader counts them."""
    return sc.records if sc.lines is None else sc.lines.data_lines
