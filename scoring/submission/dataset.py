"""A submission as a partitioned Parquet dataset (``scoring convert``; cli.md v1.1).

Layout of ``DATASET_DIR``::

    policies/policy_year=2024/province=32/part-0.parquet   accepted rows, typed
    services/policy_year=…/province=…/…                     partitioned with their policies
    inspections/…, claims/…                                 likewise
    staff/part-0.parquet                                    not partitioned (staff cross provinces)
    rejected.csv                                            what validation refused, as ``scoring validate`` writes it
    convert.json                                            source files, their sha256 and the row balance

Validation happens once, on conversion, exactly as intake does; a dataset holds only accepted
rows. Reading it back (:func:`scoring.submission.io.read_submission` on the folder) gives the same typed
values: dates, numbers, booleans and text round-trip through Parquet without loss, and the
partition columns ``policy_year`` and ``province`` are dropped as columns outside the contract.
A dataset partitioned this way is also what a distributed engine reads one partition at a time.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from scoring.submission.chunks import chunks, data_lines, scan, streamable
from scoring.submission.intake import ORDER, TableCounts, sort_rejected, validate, validate_raw
from scoring.submission.io import read_submission
from scoring.files import atomic_dir, check_output_dir
from scoring.writers import write_csv, write_json
from scoring.schema import TABLES

PARTITIONS = ["policy_year", "province"]
#: Tables partitioned with their policies (the others are written whole).
WITH_POLICY = ("services", "inspections", "claims")


def partition_keys(policies: pd.DataFrame) -> pd.DataFrame:
    """Per policy, the partition it belongs to: its policy year and province (the 2-digit region
    prefix). The Dask engine partitions by the same keys (:mod:`scoring.engines.dask`)."""
    return pd.DataFrame({"policy_id": policies["policy_id"].to_numpy(),
                         "policy_year": pd.to_datetime(policies["start_date"]).dt.year.astype("int32").to_numpy(),
                         "province": policies["region_code"].astype(str).str[:2].to_numpy()})


def _arrow(name: str, df: pd.DataFrame) -> pa.Table:
    """The table's contract columns, typed as validated (dates as dates, optional ints nullable)."""
    cols = {}
    for c in TABLES[name].columns:
        v = df[c.name]
        if c.type == "date":
            cols[c.name] = pa.array(v.to_numpy().astype("datetime64[D]"), pa.date32(), from_pandas=True)
        elif c.type == "int":
            cols[c.name] = pa.array(v, pa.int64(), from_pandas=True)
        elif c.type in ("money", "float"):
            cols[c.name] = pa.array(v.to_numpy(dtype=float, na_value=np.nan), pa.float64(), from_pandas=True)
        elif c.type == "bool":
            cols[c.name] = pa.array(v.to_numpy(dtype=bool), pa.bool_())
        else:
            cols[c.name] = pa.array(v.astype(object).where(v.notna(), None), pa.string())
    return pa.table(cols)


def convert(submission, out) -> dict:
    """Validate ``submission`` and write it as a dataset in ``out`` (atomically). Returns the balance.

    A services file in CSV or Parquet is read and validated in chunks (:mod:`scoring.submission.chunks`),
    the other tables whole: the dataset, rejected.csv and the balance are those of reading it whole.
    """
    check_output_dir(out)
    services = streamable(submission)
    sub = validate(read_submission(submission, without=("services",) if services else ()), str(submission))
    by_policy = partition_keys(sub["policies"]).set_index("policy_id")
    files, counts, rejected = dict(sub.files), dict(sub.counts), [sub.rejected]
    with atomic_dir(Path(out)) as tmp:
        for name in sub.present:
            _write(tmp, name, sub[name], by_policy, 0)
        if services:
            sc = scan(services)
            rows_in = rows_rejected = written = 0
            for k, raw in enumerate(chunks(services, sc)):
                frame, part, c, _ = validate_raw(raw, sub.policy_ids, duplicates=sc.duplicates)
                del raw
                rejected.append(part)
                rows_in, rows_rejected = rows_in + c.rows_in, rows_rejected + c.rows_rejected
                _write(tmp, "services", frame, by_policy, written, k)
                written += len(frame)
            # in the order the folder lists its files, as the whole-file reader gives them
            files = dict(sorted({**files, "services": (services.name, sc.sha256)}.items(), key=lambda kv: kv[1][0]))
            counts["services"] = TableCounts(rows_in, rows_rejected, data_lines(sc))
        write_csv(sort_rejected(rejected), tmp / "rejected.csv")
        balance = {name: {"rows_in": counts[name].rows_in, "rows_written": counts[name].rows_accepted,
                          "rows_rejected": counts[name].rows_rejected} for name in ORDER if name in counts}
        write_json({"source": str(submission), "input_sha256": dict(files.values()), "tables": balance, "partitioning": PARTITIONS,
                    "files": manifest(tmp)}, tmp / "convert.json")
    return balance


def _parquet_files(dataset: Path) -> list[Path]:
    """Every Parquet file of the dataset's tables, in path order."""
    return sorted(p for name in TABLES if (dataset / name).is_dir() for p in (dataset / name).rglob("*.parquet"))


def manifest(dataset: Path) -> dict[str, dict]:
    """Per Parquet file of ``dataset`` (its path inside it): its rows and sha256, as ``convert.json``
    records them so that a dataset that lost, gained or changed a file is refused (:func:`verify`)."""
    from scoring.files import sha256_file

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
    import json

    from scoring.errors import SubmissionError
    from scoring.files import sha256_known
    from scoring.messages import render

    dataset = Path(dataset)
    try:
        recorded = json.loads((dataset / "convert.json").read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError) as e:
        raise SubmissionError(*render("dataset_manifest_unreadable", path=dataset, detail=str(e).splitlines()[0])) from None
    if not isinstance(recorded, dict):
        raise SubmissionError(*render("dataset_no_manifest", path=dataset))
    found = {p.relative_to(dataset).as_posix(): p for p in _parquet_files(dataset)}
    problems = []
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
        zh = "；".join(z for z, _ in problems[:20]) + (f"；等共 {len(problems)} 处" if len(problems) > 20 else "")
        en = "; ".join(e for _, e in problems[:20]) + (f"; {len(problems)} in all" if len(problems) > 20 else "")
        raise SubmissionError(*render("dataset_changed", path=dataset, problems_zh=zh, problems_en=en))


def _write(tmp: Path, name: str, frame: pd.DataFrame, by_policy: pd.DataFrame, first_row: int, chunk: int | None = None) -> None:
    """Write a table's accepted rows (or a chunk of them, ``chunk``, whose first row is ``first_row``)
    into the dataset, partitioned with their policies (``by_policy``: :func:`partition_keys`
    indexed by policy id)."""
    table = _arrow(name, frame)
    if name == "staff":
        (tmp / name).mkdir()
        pq.write_table(table, tmp / name / "part-0.parquet")
        return
    part = by_policy.reindex(frame["policy_id"])
    table = table.append_column("policy_year", pa.array(part["policy_year"].to_numpy(), pa.int32()))
    table = table.append_column("province", pa.array(part["province"].to_numpy(), pa.string()))
    # rows in the order validated, so that a dataset read back is the same submission
    table = table.append_column("_row", pa.array(np.arange(first_row, first_row + len(table)), pa.int64()))
    pads.write_dataset(table, tmp / name, format="parquet", partitioning=PARTITIONS, partitioning_flavor="hive",
                       basename_template="part-{i}.parquet" if chunk is None else f"part-{chunk}-{{i}}.parquet",
                       existing_data_behavior="error" if not chunk else "overwrite_or_ignore")


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


def summary(balance: dict, out) -> str:
    lines = ["表 / table        读入 in   写出 written   拒收 rejected"]
    for name, b in balance.items():
        lines.append(f"{name:<16} {b['rows_in']:>8} {b['rows_written']:>12} {b['rows_rejected']:>12}")
    lines.append(f"数据集 dataset: {out}；拒收明细 rejected rows: {Path(out) / 'rejected.csv'}")
    return "\n".join(lines)

