"""`scoring convert`: validate once, write a partitioned Parquet dataset, score it as the submission."""
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from datasets.synth import write_submission
from scoring.cli import app
from scoring import load_submission

from ..helpers import set_cell, world

OUTPUTS = ("policy_scores.csv", "findings.csv", "explanations.jsonl", "insurer_summary.csv", "rate_adequacy.csv")


@pytest.mark.slow
def test_convert_then_score_gives_the_same_results(tmp_path):
    sub = write_submission(world(600, 11), tmp_path / "s")
    set_cell(sub, "policies", 3, "employees", "0")  # one rejected row: refused once, on conversion
    runner = CliRunner()
    r = runner.invoke(app, ["convert", str(sub), "--out", str(tmp_path / "ds")])
    assert r.exit_code == 0, r.output
    ds = tmp_path / "ds"
    assert (ds / "policies").is_dir() and list((ds / "policies").glob("policy_year=*/province=*/*.parquet"))
    assert list((ds / "services").glob("policy_year=*/province=*/*.parquet")) and (ds / "staff" / "part-0.parquet").exists()
    rejected = pd.read_csv(ds / "rejected.csv", dtype=str, keep_default_na=False)
    assert (rejected["table"] == "policies").sum() == 1 and rejected.loc[rejected["table"] == "policies", "row"].iloc[0] == "5"
    balance = json.loads((ds / "convert.json").read_text(encoding="utf-8"))["tables"]
    assert balance["policies"]["rows_in"] == 600 and balance["policies"]["rows_written"] == 599
    # the dataset read back is the submission as validated: same typed tables, same order
    a, b = load_submission(sub), load_submission(ds)
    for name in ("policies", "services", "staff", "inspections", "claims"):
        pd.testing.assert_frame_equal(a[name].reset_index(drop=True), b[name].reset_index(drop=True), check_dtype=False)
    for src, out in ((sub, "o1"), (ds, "o2")):
        r = runner.invoke(app, ["score", str(src), "--out", str(tmp_path / out), "--quiet"])
        assert r.exit_code == 0, r.output
    for name in OUTPUTS:
        assert (tmp_path / "o1" / name).read_bytes() == (tmp_path / "o2" / name).read_bytes(), name
    # a dataset converts again (SUBMISSION may be a dataset)
    assert runner.invoke(app, ["convert", str(ds), "--out", str(tmp_path / "ds2")]).exit_code == 0


def _lose(ds):
    part = sorted((ds / "services").rglob("*.parquet"))[1]
    part.unlink()
    return part.relative_to(ds).as_posix(), "缺少分区文件"


def _add(ds):
    import shutil

    src = sorted((ds / "services").rglob("*.parquet"))[0]
    extra = src.with_name("part-9.parquet")
    shutil.copy(src, extra)
    return extra.relative_to(ds).as_posix(), "多出转换时没有的文件"


def _edit(ds):
    """The same rows, one value changed: only the digest can tell."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    part = sorted((ds / "services").rglob("*.parquet"))[2]
    t = pq.read_table(part)
    hours = t["onsite_hours"].to_pylist()
    hours[0] = (hours[0] or 0) + 1.0
    pq.write_table(t.set_column(t.column_names.index("onsite_hours"), "onsite_hours", pa.array(hours, t["onsite_hours"].type)), part)
    return part.relative_to(ds).as_posix(), "sha256"


def _cut(ds):
    import pyarrow.parquet as pq

    part = sorted((ds / "policies").rglob("*.parquet"))[0]
    t = pq.read_table(part)
    pq.write_table(t.slice(0, t.num_rows - 1), part)
    return part.relative_to(ds).as_posix(), f"转换时为 {t.num_rows} 行"


def _unrecorded(ds):
    meta = json.loads((ds / "convert.json").read_text(encoding="utf-8"))
    del meta["files"]
    (ds / "convert.json").write_text(json.dumps(meta), encoding="utf-8")
    return "convert.json", "没有逐个分区文件的记录"



@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    base = tmp_path_factory.mktemp("conv")
    sub = write_submission(world(300, 8), base / "s")
    assert CliRunner().invoke(app, ["convert", str(sub), "--out", str(base / "ds")]).exit_code == 0
    return base / "ds"


def _extra_name(ds):
    """A copy of a part under a name that is not *.parquet: Arrow reads it all the same."""
    import shutil

    src = sorted((ds / "services").rglob("*.parquet"))[0]
    shutil.copy(src, src.with_name("extra"))
    return (src.with_name("extra")).relative_to(ds).as_posix(), "多出转换时没有的文件"


def _linked(ds):
    src = sorted((ds / "services").glob("policy_year=*/province=*"))[0]
    link = src.with_name("province=99")
    link.symlink_to(src)
    return link.relative_to(ds).as_posix(), "符号链接"


def _table_file(ds):
    import pandas as pd

    pd.DataFrame({"inspection_id": ["I1"]}).to_csv(ds / "inspections.csv", index=False)
    return "inspections.csv", "多出转换时没有的文件"


def _no_record(ds):
    (ds / "convert.json").unlink()
    return "services", "没有 convert.json"


@pytest.mark.parametrize("engine", ["local", "dask"])
@pytest.mark.parametrize("damage", [_lose, _add, _edit, _cut, _unrecorded, _extra_name, _linked, _table_file, _no_record],
                         ids=["lost", "added", "edited", "cut", "unrecorded", "extra-name", "linked", "table-file", "no-record"])
def test_a_damaged_dataset_is_refused_naming_the_partition(converted, tmp_path, damage, engine):
    import shutil

    ds = tmp_path / "ds"
    shutil.copytree(converted, ds)
    where, says = damage(ds)
    extra = ["--engine", "dask", "--workers", "1"] if engine == "dask" else []
    r = CliRunner().invoke(app, ["score", str(ds), "--out", str(tmp_path / "o"), "--quiet", *extra])
    assert r.exit_code == 2, r.output
    assert where in r.output and says in r.output and "scoring convert" in r.output
    assert not (tmp_path / "o").exists()


def test_an_intact_dataset_passes_its_check(converted):
    from scoring.submission.dataset import verify

    verify(converted)
    recorded = json.loads((converted / "convert.json").read_text(encoding="utf-8"))
    assert sum(f["rows"] for f in recorded["files"].values()) == sum(t["rows_written"] for t in recorded["tables"].values())
