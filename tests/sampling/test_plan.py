"""The inspection plan: a stratified random arm sized by attribute sampling, then the risk arm."""
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scoring.cli import app
from scoring.sampling.plan import PLAN_COLUMNS, make_plan
from scoring.sampling.size import sample_size


def _scores(n=3000, insurers=("A", "B", "C", "D"), seed=0):
    rng = np.random.default_rng(seed)
    sizes = rng.multinomial(n, [0.55, 0.3, 0.13, 0.02])
    ins = np.repeat(insurers, sizes)
    return pd.DataFrame({"policy_id": [f"P{i:05d}" for i in range(n)], "insurer_id": ins,
                         "region_code": rng.choice(["320500", "330100", "140200"], n),
                         "industry": rng.choice(["construction", "fishery"], n),
                         "priority": rng.permutation(n) + 1})


def test_each_stratum_gets_its_attribute_sample_and_the_risk_arm_fills_the_rest():
    s = _scores()
    plan = make_plan(s, capacity=400, confidence=0.95, tolerable=0.05, expected=0.0)
    r = plan.rows
    assert list(r.columns) == PLAN_COLUMNS and r["policy_id"].is_unique and len(r) == 400
    random = r[r["arm"] == "random"]
    for ins, group in random.groupby("stratum"):
        N = int((s["insurer_id"] == ins).sum())
        assert len(group) == sample_size(0.95, 0.05, 0.0, population=N)
        assert np.allclose(group["inclusion_probability"], len(group) / N)
    risk = r[r["arm"] == "risk"]
    assert (risk["inclusion_probability"] == 1).all()
    # the risk arm is the best-ranked of the policies not drawn, in priority order
    rest = s[~s["policy_id"].isin(random["policy_id"])].sort_values("priority")
    assert risk["policy_id"].tolist() == rest["policy_id"].head(len(risk)).tolist()


def test_the_draw_is_fixed_by_the_seed_and_each_stratum_by_its_own_stream():
    s = _scores()
    a = make_plan(s, 400, 0.95, 0.05, 0.0, seed=3).rows
    b = make_plan(s.sample(frac=1, random_state=1), 400, 0.95, 0.05, 0.0, seed=3).rows  # scores reordered
    pd.testing.assert_frame_equal(a, b)
    other = make_plan(s, 400, 0.95, 0.05, 0.0, seed=4).rows
    assert set(other.loc[other["arm"] == "random", "policy_id"]) != set(a.loc[a["arm"] == "random", "policy_id"])
    # dropping insurer D's policies changes no other insurer's draw
    without = make_plan(s[s["insurer_id"] != "D"], 400, 0.95, 0.05, 0.0, seed=3).rows
    keep = lambda t: t[(t["arm"] == "random") & (t["stratum"] != "D")]["policy_id"].tolist()  # noqa: E731
    assert keep(without) == keep(a)


def test_a_random_arm_larger_than_the_capacity_is_kept_whole_and_said():
    plan = make_plan(_scores(), capacity=50, confidence=0.95, tolerable=0.05, expected=0.0)
    assert plan.random_over_capacity and (plan.rows["arm"] == "random").all()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from datasets.synth import write_submission

    from scoring import score

    from ..helpers import world

    tmp = tmp_path_factory.mktemp("plan")
    score(write_submission(world(800, 12), tmp / "s"), tmp / "run", capacity=600)
    return tmp / "run"


def test_the_command_writes_the_same_bytes_for_the_same_run_settings_and_seed(run_dir, tmp_path):
    runner = CliRunner()
    for name in ("a.csv", "b.csv"):
        r = runner.invoke(app, ["sample", str(run_dir), "--out", str(tmp_path / name), "--seed", "7"])
        assert r.exit_code == 0, r.output
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert "随机组" in r.output and "random arm" in r.output
    plan = pd.read_csv(tmp_path / "a.csv", dtype={"policy_id": str})
    assert len(plan) == 600 and set(plan["arm"]) == {"random", "risk"} and (plan["seed"] == 7).all()
    r = runner.invoke(app, ["sample", str(run_dir), "--out", str(tmp_path / "c.csv"), "--seed", "8"])
    assert (tmp_path / "c.csv").read_bytes() != (tmp_path / "a.csv").read_bytes()


@pytest.mark.parametrize("args, says", [
    (["--expected", "0.06"], "应小于可容忍比例"),
    (["--confidence", "1.5"], "--confidence"),
    (["--strata", "region"], "--strata"),
    (["--capacity", "0"], "capacity"),
])
def test_settings_that_cannot_work_exit_2_naming_them(run_dir, tmp_path, args, says):
    r = CliRunner().invoke(app, ["sample", str(run_dir), "--out", str(tmp_path / "p.csv"), *args])
    assert r.exit_code == 2 and says in r.output and not (tmp_path / "p.csv").exists()


def test_a_file_that_is_not_a_plan_is_never_overwritten(run_dir, tmp_path):
    mine = tmp_path / "notes.csv"
    mine.write_text("my,own\n1,2\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["sample", str(run_dir), "--out", str(mine)])
    assert r.exit_code == 2 and mine.read_text(encoding="utf-8") == "my,own\n1,2\n"
    r = CliRunner().invoke(app, ["sample", str(tmp_path), "--out", str(tmp_path / "p.csv")])
    assert r.exit_code == 2 and "不是评分结果目录" in r.output


def test_without_a_seed_each_plan_draws_a_fresh_one_and_records_it(run_dir, tmp_path):
    runner = CliRunner()
    for name in ("x.csv", "y.csv"):
        assert runner.invoke(app, ["sample", str(run_dir), "--out", str(tmp_path / name)]).exit_code == 0
    x, y = (pd.read_csv(tmp_path / n, dtype={"policy_id": str}) for n in ("x.csv", "y.csv"))
    assert x["seed"].nunique() == 1 and x["seed"].iloc[0] != y["seed"].iloc[0]  # not foreseeable from the rulebook
    again = tmp_path / "x-again.csv"
    runner.invoke(app, ["sample", str(run_dir), "--out", str(again), "--seed", str(x["seed"].iloc[0])])
    assert again.read_bytes() == (tmp_path / "x.csv").read_bytes()  # but drawn again from its own rows
