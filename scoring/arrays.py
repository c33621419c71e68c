"""Columns as Arrow arrays: conversions from pandas without a trip through Python objects,
codes and positions through Arrow's hash tables, and rows taken chunk by chunk.

Findings are millions of rows and often memory-mapped in many chunks; these helpers keep them
Arrow buffers instead of a Python string per row.
"""
from __future__ import annotations


import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def arrow_chunks(series) -> pa.ChunkedArray:
    """A pandas column as Arrow in the chunks it holds (no copy of an Arrow-backed column, which
    may be memory-mapped in many chunks; :func:`scoring.arrays.take_rows` reads rows from it)."""
    arr = pa.array(series.array) if hasattr(series.array, "__arrow_array__") else pa.array(series.to_numpy(dtype=object), from_pandas=True)
    return arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])


def arrow(series, large_ok: bool = False) -> pa.Array:
    """A pandas column as an Arrow array without a trip through Python objects.

    Text comes as ``string`` unless ``large_ok`` (then pandas' ``large_string`` is kept: no copy).
    """
    arr = arrow_chunks(series)
    arr = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()  # one chunk: no copy
    return arr.cast(pa.string()) if pa.types.is_large_string(arr.type) and not large_ok else arr


def codes_of(column: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """``pd.factorize`` through Arrow's dictionary encoding, chunk by chunk where the column
    lies: each row's code (int32; -1 where missing) and the distinct values, numbered as they
    first appear. A quarter of pandas' memory at tens of millions of findings."""
    enc = pa.table({"c": pc.dictionary_encode(arrow_chunks(column))}).unify_dictionaries()["c"]
    if not enc.num_chunks:
        return np.empty(0, dtype=np.int32), pa.array([], enc.type.value_type)
    codes = np.empty(len(enc), dtype=np.int32)
    at = 0
    for chunk in enc.chunks:
        codes[at:at + len(chunk)] = pc.fill_null(chunk.indices.cast(pa.int32()), -1).to_numpy()
        at += len(chunk)
    return codes, enc.chunk(0).dictionary


def positions_in(column: pd.Series, index: pd.Index) -> np.ndarray:
    """Each value's position in ``index`` (-1 where absent or missing), through Arrow's hash
    table of the index: no Python string per value (findings are millions)."""
    found = pc.index_in(arrow_chunks(column), value_set=pa.array(np.asarray(index, dtype=object), pa.string()))
    return np.concatenate([pc.fill_null(c, -1).to_numpy() for c in found.chunks]) if found.num_chunks else np.empty(0, dtype=np.int32)


def equal_to(column: pd.Series):
    """``equal_to(column)(value)``: where ``column`` equals ``value``, compared through the
    column's codes (one factorisation, no Python string per row: findings are millions)."""
    codes, values = codes_of(column)
    at = {v: i for i, v in enumerate(values.to_pylist())}
    return lambda value: codes == at.get(value, -2)  # -2: no code, not even missing (-1)


def bool_mask(arr) -> np.ndarray:
    """An Arrow boolean array as a NumPy mask."""
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)


def take_rows(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """``table.take(rows)``, chunk by chunk: Arrow's take on a column of many chunks (a mapped
    file, a concatenation of partitions) first joins the chunks into one, a copy of the whole
    column for every batch taken."""
    rows = np.asarray(rows, dtype=np.int64)
    columns = []
    plans: dict[tuple, tuple] = {}  # per layout of chunks (most columns share one): where each row lies
    for col in table.columns:
        if col.num_chunks <= 1:
            columns.append(col.take(pa.array(rows)))
            continue
        layout = tuple(len(c) for c in col.chunks)
        if layout not in plans:
            starts = np.cumsum((0,) + layout)
            which = np.searchsorted(starts, rows, side="right") - 1
            by_chunk = np.argsort(which, kind="stable")
            bounds = np.searchsorted(which[by_chunk], np.arange(col.num_chunks + 1))
            back = np.empty(len(rows), dtype=np.int64)  # the pieces hold the rows chunk by chunk: back to the order asked for
            back[by_chunk] = np.arange(len(rows))
            plans[layout] = ([(k, pa.array(rows[by_chunk[lo:hi]] - starts[k]))
                              for k, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])) if hi > lo], pa.array(back))
        pieces, back = plans[layout]
        pieces = [col.chunk(k).take(at) for k, at in pieces]
        joined = pa.concat_arrays(pieces) if pieces else pa.array([], col.type)
        columns.append(joined.take(back))
    return pa.table(columns, schema=table.schema)
