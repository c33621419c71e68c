"""Large intermediate Arrow data on disk, memory-mapped, while ``scoring score`` runs.

At a million policies the findings (three or four per policy, with their Chinese and English
messages) take about 1.7 GB and the explanation lines about 0.7 GB, and both are held from the
moment they are computed until the results are written. A scoring job writes them once to an
Arrow IPC file in a scratch directory beside the output folder and reads them back
memory-mapped: pandas and Arrow read the same bytes without a copy (string columns stay Arrow
buffers), and the pages are the operating system's file cache, which it can drop and read
again under pressure, instead of the process's own memory. Every file is unlinked as soon as it
is mapped (the mapping keeps it readable, and its disk space is freed with the last reference),
and the scratch directory is removed when the job ends, however it ends. The out-of-core Dask
path also parks there the key pairs of the cross-partition checks, a file per rule and bucket
(:mod:`scoring.engines.dask`).

Rows are taken from such tables chunk by chunk (:func:`take_rows`): a mapped file or a
concatenation of partitions has many chunks, and Arrow's own take would join them first.

Values do not change on the way: the IPC format stores Arrow's buffers as they are.
"""
from __future__ import annotations

import contextlib
import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow as pa

from scoring.arrays import take_rows

#: Rows per record batch when a table is written in a new order.
BATCH_ROWS = 250_000


class Spill:
    """A scratch directory for memory-mapped Arrow tables: beside ``out`` (the output folder,
    named so that the next run there removes it if this one is killed), else in the system's
    temporary directory."""

    def __init__(self, out: str | Path | None = None):
        from scoring.files import scratch_dir

        self.dir = scratch_dir(Path(out)) if out is not None else Path(tempfile.mkdtemp(prefix="scoring-spill-"))
        self._n = itertools.count()

    def __enter__(self) -> "Spill":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def writer(self, schema: pa.Schema) -> "SpillWriter":
        """A file to append tables of ``schema`` to, one by one; :meth:`SpillWriter.mapped` ends it."""
        return SpillWriter(self.dir / f"{next(self._n)}.arrow", schema)

    def table(self, batches: Iterable[pa.RecordBatch | pa.Table], schema: pa.Schema) -> pa.Table:
        """``batches`` written out and mapped back as one table (empty if there were none)."""
        w = self.writer(schema)
        for b in batches:
            w.write(b)
        return w.mapped()

    def taken(self, table: pa.Table, order: np.ndarray | pa.Array, schema: pa.Schema | None = None) -> pa.Table:
        """``table.take(order)`` (in ``schema``, default the table's) without holding the
        reordered copy: taken a batch at a time, written out, mapped back."""
        order = np.asarray(order)
        return self.table((take_rows(table, order[a:a + BATCH_ROWS]) for a in range(0, len(order), BATCH_ROWS)),
                          schema or table.schema)




class SpillWriter:
    """An Arrow IPC file being written in a :class:`Spill` directory (``rows``: written so far)."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path, self.schema, self.rows = path, schema, 0
        self._sink = pa.OSFile(str(path), "wb")
        self._writer = pa.ipc.new_file(self._sink, schema)
        self._parts: dict[str, tuple[int, int]] = {}

    def write(self, data: pa.RecordBatch | pa.Table, part: str | None = None) -> None:
        """Append ``data``, its columns put in the file's order and cast to its types; ``part``
        names the piece (a partition), for :meth:`in_part_order`."""
        if data.num_rows:
            if part is not None:
                self._parts[part] = (self.rows, data.num_rows)
            self._writer.write(data.select(self.schema.names).cast(self.schema) if data.schema != self.schema else data)
            self.rows += data.num_rows

    def in_part_order(self) -> pa.Table | None:
        """The named pieces, mapped, in the order of their names whatever order they were written
        in (None if none had rows): results that arrive as workers finish read back the same every run."""
        mapped = self.mapped()
        return pa.concat_tables([mapped.slice(*self._parts[p]) for p in sorted(self._parts)]) if self._parts else None

    def mapped(self) -> pa.Table:
        """Close the file and read it back memory-mapped; the file itself is unlinked."""
        self._writer.close()
        self._sink.close()
        source = pa.memory_map(str(self.path))
        table = pa.ipc.open_file(source).read_all()
        with contextlib.suppress(OSError):  # a system that cannot unlink a mapped file: the directory goes at the end
            self.path.unlink()
        return table


def string_schema(names: list[str]) -> pa.Schema:
    """A schema of text columns: what findings tables hold (a column may arrive all null)."""
    return pa.schema([(n, pa.string()) for n in names])
