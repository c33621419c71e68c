"""A submission as a partitioned Parquet dataset (``scoring convert``; cli.md v1.1).

Layout of ``DATASET_DIR``::

    policies/policy_year=2024/province=32/part-0.parquet   accepted rows, typed
    services/policy_year=…/province=…/…                     partitioned with their policies
    inspections/…, claims/…                                 likewise
    staff/part-0.parquet                                    not partitioned (staff cross provinces)
    rejected.csv                                            what validation refused, as ``scoring validate`` writes it
    convert.json                                            source files, their sha256 and the row balance

Validation happens once, on conversion, exactly as intake does; a dataset holds only accepted
rows. Reading it back (:func:`scoring.submission.folder.read_submission` on the folder) gives the same typed
values: dates, numbers, booleans and text round-trip through Parquet without loss, and the
partition columns ``policy_year`` and ``province`` are dropped as columns outside the contract.
A dataset partitioned this way is also what a distributed engine reads one partition at a time.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from scoring.errors import SubmissionError
from scoring.files import sha256_file, sha256_known
from scoring.messages import render
from scoring.schema import TABLES, province_of

PARTITIONS = ["policy_year", "province"]

#: Tables partitioned with their policies (the others are written whole).
WITH_POLICY = ("services", "inspections", "claims")


def partition_keys(policies: pd.DataFrame) -> pd.DataFrame:
    """Per policy, the partition it belongs to: its policy year and province (the 2-digit region
    prefix). The Dask engine partitions by the same keys (:mod:`scoring.engines.dask`)."""
    return pd.DataFrame({"policy_id": policies["policy_id"].to_numpy(),
                         "policy_year": pd.to_datetime(policies["start_date"]).dt.year.astype("int32").to_numpy(),
                         "province": province_of(policies["region_code"]).to_numpy()})


def _parquet_files(dataset: Path) -> list[Path]:
    """Every Parquet file of the dataset's tables, in path order."""
    return sorted(p for name in TABLES if (dataset / name).is_dir() for p in (dataset / name).rglob("*.parquet"))


#: Files a dataset holds beside its table directories.
TOP_FILES = ("convert.json", "rejected.csv")


def _stray(dataset: Path) -> tuple[list[str], list[str]]:
    """What no conversion writes: links anywhere in the dataset, and files at its top other than
    :data:`TOP_FILES` or inside a table directory that are not a Parquet part (read by Arrow all
    the same). Returns (links, files)."""
    links, files = [], []
    for p in sorted(dataset.rglob("*")):
        rel = p.relative_to(dataset).as_posix()
        if p.is_symlink():
            links.append(rel)
        elif p.is_file() and ((len(p.relative_to(dataset).parts) == 1 and p.name not in TOP_FILES)
                              or (p.relative_to(dataset).parts[0] in TABLES and p.suffix != ".parquet")):
            files.append(rel)
    return links, files


def manifest(dataset: Path) -> dict[str, dict]:
    """Per Parquet file of ``dataset`` (its path inside it): its rows and sha256, as ``convert.json``
    records them so that a dataset that lost, gained or changed a file is refused (:func:`verify`)."""
    return {p.relative_to(dataset).as_posix(): {"rows": pq.ParquetFile(p).metadata.num_rows, "sha256": sha256_file(p)}
            for p in _parquet_files(dataset)}


def verify(dataset) -> None:
    """Refuse a dataset whose files are not those ``scoring convert`` wrote: a partition missing, one
    added, or one whose rows or bytes differ from ``convert.json`` (every difference named at once).

    Raises
    ------
    SubmissionError
        Naming each file that differs and how.
    """
    dataset = Path(dataset)
    try:
        recorded = json.loads((dataset / "convert.json").read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError) as e:
        raise SubmissionError(*render("dataset_manifest_unreadable", path=dataset, detail=str(e).splitlines()[0])) from None
    if not isinstance(recorded, dict):
        raise SubmissionError(*render("dataset_no_manifest", path=dataset))
    found = {p.relative_to(dataset).as_posix(): p for p in _parquet_files(dataset)}
    problems = []
    links, files = _stray(dataset)
    problems += [render("dataset_link", file=name) for name in links]
    problems += [render("dataset_file_added", file=name) for name in files]
    for name in sorted(set(recorded) - set(found)):
        problems.append(render("dataset_file_missing", file=name, rows=recorded[name].get("rows")))
    for name in sorted(set(found) - set(recorded)):
        problems.append(render("dataset_file_added", file=name))
    for name in sorted(set(found) & set(recorded)):
        want = recorded[name]
        try:
            rows = pq.ParquetFile(found[name]).metadata.num_rows
        except (OSError, pa.ArrowInvalid):
            rows = None
        if rows != want.get("rows"):
            problems.append(render("dataset_file_rows", file=name, rows=rows if rows is not None else "?", want=want.get("rows")))
        elif sha256_known(found[name]) != want.get("sha256"):
            problems.append(render("dataset_file_changed", file=name))
    if problems:
        more = render("dataset_more", n=len(problems)) if len(problems) > 20 else ("", "")
        zh = "；".join(z for z, _ in problems[:20]) + more[0]
        en = "; ".join(e for _, e in problems[:20]) + more[1]
        raise SubmissionError(*render("dataset_changed", path=dataset, problems_zh=zh, problems_en=en))


def read_table_dir(path: Path, with_rows: bool = False):
    """One table directory of a dataset (or one partition's directory), in the order it was
    validated, without the partition columns. ``with_rows``: also each row's position in the
    whole table as validated (``_row``), as ``(table, rows)``."""
    ds = pads.dataset(path, format="parquet", partitioning="hive")
    table = ds.to_table()
    rows = np.arange(table.num_rows, dtype=np.int64)
    if "_row" in table.column_names:
        order = pa.compute.sort_indices(table, [("_row", "ascending")])
        table = table.take(order)
        rows = table["_row"].to_numpy()
        table = table.drop_columns(["_row"])
    table = table.drop_columns([c for c in PARTITIONS if c in table.column_names])
    return (table, rows) if with_rows else table


def partition_dir(dataset: Path, table: str, year: int, province: str) -> Path:
    """Where a table's rows of one policy year and province are (the directory may not exist)."""
    return Path(dataset) / table / f"policy_year={year}" / f"province={province}"


def is_dataset(path) -> bool:
    """Whether ``path`` is a dataset written by ``scoring convert``."""
    p = Path(path)
    return p.is_dir() and (p / "convert.json").is_file() and (p / "policies").is_dir()


def dir_digest(path: Path) -> str:
    """The sha256 of a dataset's table directory: each Parquet file's path and content, in path order."""
    h = hashlib.sha256()
    for f in sorted(path.rglob("*.parquet")):
        h.update(str(f.relative_to(path)).encode() + bytes.fromhex(sha256_known(f)))
    return h.hexdigest()
