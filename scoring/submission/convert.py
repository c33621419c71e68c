"""``scoring convert``: validate a submission once and write it as a partitioned Parquet dataset
(:mod:`scoring.submission.dataset` describes the layout), with ``rejected.csv`` and ``convert.json``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from scoring.messages import both
from scoring.files import atomic_dir, check_output_dir
from scoring.schema import TABLES
from scoring.submission.chunks import chunks, data_lines, scan, streamable
from scoring.submission.dataset import PARTITIONS, manifest, partition_keys
from scoring.submission.folder import read_submission
from scoring.submission.intake import ORDER, TableCounts, sort_rejected, validate, validate_raw
from scoring.writers import write_csv, write_json


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
    check_output_dir(out, kind="convert.json", inputs=[submission])
    services = streamable(submission)
    sub = validate(read_submission(submission, without=("services",) if services else ()), str(submission))
    by_policy = partition_keys(sub["policies"]).set_index("policy_id")
    files, counts, rejected = dict(sub.files), dict(sub.counts), [sub.rejected]
    with atomic_dir(Path(out), kind="convert.json", inputs=[submission]) as tmp:
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


def summary(balance: dict, out) -> str:
    lines = ["表 / table        读入 in   写出 written   拒收 rejected"]
    for name, b in balance.items():
        lines.append(f"{name:<16} {b['rows_in']:>8} {b['rows_written']:>12} {b['rows_rejected']:>12}")
    lines.append(both("convert.where", out=out, rejected=Path(out) / "rejected.csv"))
    return "\n".join(lines)
