"""A submission as given: a folder of table files (CSV, Parquet, JSON, JSON lines, a workbook per
table, or a converted dataset's table directories) or one workbook, read into raw tables by name.
Structural problems raise :class:`~scoring.errors.SubmissionError`.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from scoring.errors import SubmissionError
from scoring.files import sha256_file
from scoring.schema import TABLES, Table
from scoring.submission.csvfile import read_csv
from scoring.submission.dataset import dir_digest, read_table_dir, verify
from scoring.submission.raw import EXTENSIONS, WORKBOOKS, RawTable, canonical, fail, require_tables, table_dir_raw, table_for
from scoring.submission.workbook import read_table_workbook, read_workbook


HASHER = ThreadPoolExecutor(max_workers=1)


def read_json(path: Path, label: str) -> pa.Table:
    if path.stat().st_size == 0:
        raise fail("empty_file", file=label)
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
                    raise fail("nested_value", file=label, row=i + 2, record=i + 1, column=k)
        cols = {k: [None if r.get(k) is None else str(r[k]) for r in records] for k in keys}
        return pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()})
    except SubmissionError:
        raise
    except RecursionError:
        raise fail("not_a_table", file=label, detail="nested too deeply / 嵌套层数过多") from None
    except (ValueError, pa.ArrowInvalid) as e:
        raise fail("not_a_table", file=label, detail=str(e).splitlines()[0]) from None


def read_file(table: Table, path: Path) -> RawTable:
    label = path.name
    if path.stat().st_size == 0:
        raise fail("empty_file", file=label)
    malformed: list[tuple[int, int, str]] = []
    suffix = path.suffix.lower()
    digest = HASHER.submit(sha256_file, path)  # hashing runs beside the parse (hashlib releases the GIL)
    last_rows, lines = None, None
    if suffix == ".csv":
        data, rows, last_rows, lines, malformed = read_csv(path, label)
    else:
        if suffix == ".parquet":
            try:
                data = pq.read_table(path)
            except (pa.ArrowInvalid, OSError) as e:
                raise fail("not_a_table", file=label, detail=str(e).splitlines()[0]) from None
        else:
            data = read_json(path, label)
        rows = np.arange(2, data.num_rows + 2, dtype=np.int64)
    if data.num_columns == 0:
        raise fail("empty_file", file=label)
    data, extra, absent = canonical(table, data, label)
    return RawTable(table.name, label, digest.result(), data, rows, tuple(malformed), extra, absent, last_rows, lines)


def _read_table_dir(table: Table, path: Path) -> RawTable:
    """A table directory of a partitioned Parquet dataset (``scoring convert``; scoring.submission.dataset)."""
    label = f"{path.name}/"
    try:
        data = read_table_dir(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise fail("not_a_table", file=label, detail=str(e).splitlines()[0]) from None
    return table_dir_raw(table, data, label, dir_digest(path))


def _read_folder(folder: Path, without: tuple[str, ...] = ()) -> dict[str, RawTable]:
    if (folder / "convert.json").is_file():  # a dataset: checked whole against convert.json before any table is read
        verify(folder)
    else:
        parts = [p.name for p in sorted(folder.iterdir()) if p.is_dir() and table_for(p.name) and any(p.rglob("*.parquet"))]
        if parts:  # table directories without the record of their conversion cannot be checked
            raise fail("dataset_without_record", path=folder, tables="、".join(parts))
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
                    raise fail("link_outside", file=p.name, path=folder, target=p.resolve())
                found.setdefault(name, []).append(p)
    for name, paths in found.items():
        if len(paths) > 1:
            raise fail("duplicate_table", path=folder, table=name, files=", ".join(p.name for p in paths))
    require_tables(folder, found)
    return {name: _reader(paths[0])(TABLES[name], paths[0]) for name, paths in found.items() if name not in without}


def _reader(path: Path):
    if path.is_dir():
        return _read_table_dir
    return read_table_workbook if path.suffix.lower() in WORKBOOKS else read_file


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
        raise fail("no_submission", path=p)
    if p.is_dir():
        return _read_folder(p, without)
    if p.suffix.lower() in WORKBOOKS:
        return read_workbook(p)
    raise fail("not_container", path=p)
