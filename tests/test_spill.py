"""Large intermediate data on disk, memory-mapped (scoring.spill), and CSVs written a slice at a time."""
import io
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from datasets.synth import write_submission
from scoring import files, writers
from scoring import load_submission
from scoring import score as run_score
from scoring import load_rulebook
from scoring.rules.run import run_rules
from scoring.spill import Spill, string_schema

from .helpers import world


@pytest.fixture(scope="module")
def sub(tmp_path_factory):
    return write_submission(world(300, 8), tmp_path_factory.mktemp("spill") / "s")


def test_spilled_findings_equal_the_findings_held_in_memory(sub, tmp_path):
    """The same frame, value for value and dtype for dtype, read from a mapped file that is
    already unlinked: nothing is left in the scratch directory while the frame is in use."""
    s, rb = load_submission(sub), load_rulebook()
    held = run_rules(s, rb).findings
    with Spill(tmp_path / "run") as spill:
        mapped = run_rules(s, rb, spill=spill).findings
        assert list(spill.dir.iterdir()) == []
        pd.testing.assert_frame_equal(mapped, held)
        assert len(held) > 100
    assert not spill.dir.exists()


def test_taken_in_batches_equals_one_take(tmp_path, monkeypatch):
    import scoring.spill

    monkeypatch.setattr(scoring.spill, "BATCH_ROWS", 7)
    rng = np.random.default_rng(3)
    t = pa.table({"a": pa.array([f"值{i}" if i % 5 else None for i in range(50)]), "b": pa.array(rng.normal(size=50))})
    order = rng.permutation(50)
    with Spill(tmp_path / "run") as spill:
        got = spill.taken(t, order)
        assert got.equals(t.take(pa.array(order)))
        assert got.column("a").num_chunks == 8  # written and mapped batch by batch
        empty = spill.taken(t, np.empty(0, dtype=np.int64))
        assert empty.num_rows == 0 and empty.schema == t.schema


def test_rows_taken_chunk_by_chunk_equal_arrows_take():
    """The findings arrive as many chunks (partitions, a mapped file): rows are taken from each
    chunk and put back in the order asked for, with nulls, repeats, empty chunks and columns cut
    into chunks in different places."""
    from scoring.arrays import take_rows

    rng = np.random.default_rng(5)
    for _ in range(100):
        sizes = rng.integers(0, 12, rng.integers(1, 7))
        a = [pa.array([None if rng.random() < 0.2 else f"值{rng.integers(100)}" for _ in range(n)], pa.string()) for n in sizes]
        other = np.diff(np.unique(np.r_[0, rng.integers(0, sizes.sum() + 1, 3), sizes.sum()]))  # a column cut elsewhere
        t = pa.table({"a": pa.chunked_array(a, pa.string()), "b": pa.chunked_array([pa.array(rng.normal(size=n)) for n in sizes], pa.float64()),
                      "c": pa.chunked_array([pa.array(rng.integers(0, 9, n)) for n in other], pa.int64())})
        rows = rng.integers(0, max(t.num_rows, 1), rng.integers(0, 25) if t.num_rows else 0)
        assert take_rows(t, rows).equals(t.take(pa.array(rows, pa.int64())))


def test_a_writer_takes_tables_of_other_column_orders_and_null_columns(tmp_path):
    """Partitions' findings arrive with their columns in any order, and a column a partition never
    filled may be typed null: each is written in the file's schema."""
    with Spill(tmp_path / "run") as spill:
        w = spill.writer(string_schema(["x", "y"]))
        w.write(pa.table({"y": pa.array(["1"]), "x": pa.array(["a"])}))
        w.write(pa.table({"x": pa.array(["b", "c"]), "y": pa.nulls(2)}))
        w.write(pa.table({"x": pa.array([], pa.string()), "y": pa.array([], pa.string())}))
        assert w.rows == 3  # where the next table's rows will start
        got = w.mapped()
    assert got.to_pydict() == {"x": ["a", "b", "c"], "y": ["1", None, None]}


def test_score_leaves_no_scratch_directory_whatever_happens(sub, tmp_path):
    out = tmp_path / "run"
    run_score(sub, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    with pytest.raises(Exception):
        run_score(sub, out, model_dir=tmp_path / "no-model-here")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_killed_runs_scratch_directory_is_removed_by_the_next_run(tmp_path):
    from .test_jobs import _dead_pid

    out = tmp_path / "run"
    dead = tmp_path / f".run.spill-{_dead_pid()}-abc"
    dead.mkdir()
    (dead / "0.arrow").write_bytes(b"x" * 1000)
    mine = files.scratch_dir(out)  # this process is alive: its directory stays
    files.clean_stale(out)
    assert not dead.exists() and mine.exists()


def test_csv_written_in_slices_has_the_bytes_of_one_write(monkeypatch):
    """Slices (here of 3 rows) give the same bytes as the whole frame at once, with a text column
    empty in one slice, formula-like cells, floats, integers and booleans."""
    df = pd.DataFrame({
        "id": [f"P{i}" for i in range(10)],
        "note": [None, None, None, "=SUM(A1)", "-3", "正常", None, "+x", "@y", "a,b\"c"],
        "p": [0.1234567891, np.nan, 1e-9, 2.0, 3.5, -1.25, 0.0, 7.0, 8.123, 9.0],
        "n": np.arange(10, dtype=np.int64),
        "ok": [True, False] * 5,
        "obj": pd.Series([None] * 3 + ["x"] * 7, dtype=object),
    })
    whole = io.BytesIO()
    writers.write_csv(df, whole)
    monkeypatch.setattr(writers, "CSV_ROWS", 3)
    sliced = io.BytesIO()
    writers.write_csv(df, sliced)
    assert sliced.getvalue() == whole.getvalue()
    assert whole.getvalue().count(b"\n") == 11
    assert b"'=SUM(A1)" in whole.getvalue()
    empty = io.BytesIO()
    writers.write_csv(df.iloc[0:0], empty)
    assert empty.getvalue() == b"\xef\xbb\xbf" + b'"id","note","p","n","ok","obj"\n'


def test_scratch_directory_sits_beside_the_output(tmp_path):
    spill = Spill(tmp_path / "deep" / "run")
    try:
        assert spill.dir.parent == tmp_path / "deep" and spill.dir.name.startswith(f".run.spill-{os.getpid()}-")
    finally:
        spill.close()


def test_pieces_read_back_in_the_order_of_their_names(tmp_path):
    """Partitions finish in any order; what they wrote is read back in partition order."""
    with Spill(tmp_path / "run") as spill:
        w = spill.writer(pa.schema([("v", pa.int64())]))
        w.write(pa.table({"v": [3, 3]}), part="2024/33")
        w.write(pa.table({"v": pa.array([], pa.int64())}), part="2021/11")  # no rows: no piece
        w.write(pa.table({"v": [1]}), part="2021/12")
        w.write(pa.table({"v": [2, 2, 2]}), part="2023/32")
        assert w.in_part_order()["v"].to_pylist() == [1, 2, 2, 2, 3, 3]
        assert spill.writer(pa.schema([("v", pa.int64())])).in_part_order() is None
