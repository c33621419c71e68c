"""`scoring convert`: validate once, write a partitioned Parquet dataset, score it as the submission."""
import json

import pandas as pd
from typer.testing import CliRunner

from datasets.synth import write_submission
from scoring.cli import app
from scoring.intake import load_submission

from .helpers import set_cell, world

OUTPUTS = ("policy_scores.csv", "findings.csv", "explanations.jsonl", "insurer_summary.csv", "rate_adequacy.csv")


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
