"""Estimates a regulator can defend: intervals that cover as often as they say."""
import numpy as np
import pandas as pd
import pytest

from scoring.sampling.estimate import ESTIMATE_COLUMNS, difference_estimate, estimates, wilson_fpc


def test_wilson_matches_the_textbook_and_narrows_to_nothing_when_the_book_is_inspected_whole():
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = wilson_fpc(5, 59, 10**9)  # a huge book: no correction
    ref = proportion_confint(5, 59, alpha=0.05, method="wilson")
    assert lo == pytest.approx(ref[0], abs=1e-6) and hi == pytest.approx(ref[1], abs=1e-6)
    assert wilson_fpc(5, 59, 59) == pytest.approx((5 / 59, 5 / 59))
    small = wilson_fpc(5, 59, 120)
    assert small[1] - small[0] < hi - lo


def test_the_difference_estimator_corrects_a_wrong_model_and_is_exact_with_a_right_one():
    rng = np.random.default_rng(0)
    y_all = (rng.random(2000) < 0.2).astype(int)
    pick = rng.choice(2000, 200, replace=False)
    wrong = np.full(2000, 0.6)  # a model far off
    est, lo, hi = difference_estimate(wrong, y_all[pick], wrong[pick])
    assert est == pytest.approx(y_all[pick].mean())  # a constant model: the sample mean
    right = y_all.astype(float)  # a perfect model: no residual, no width
    est, lo, hi = difference_estimate(right, y_all[pick], right[pick])
    assert est == pytest.approx(y_all.mean()) and hi - lo == pytest.approx(0)


def _sim(rounds):
    """A market of 6 insurers whose true shares differ, a model that ranks but is miscalibrated."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from estimate_coverage import simulate

    rng = np.random.default_rng(1)
    rows, truth = [], {}
    for k, (N, rate) in enumerate([(2000, 0.05), (1200, 0.12), (800, 0.2), (500, 0.08), (300, 0.3), (150, 0.1)]):
        y = (rng.random(N) < rate).astype(int)
        p = np.clip(0.5 * y + rng.normal(0.15, 0.1, N), 0.01, 0.99)  # informative, biased upward
        ids = [f"I{k}-{i}" for i in range(N)]
        rows.append(pd.DataFrame({"policy_id": ids, "insurer_id": f"I{k}", "p_missing": p}))
        truth.update(zip(ids, y))
    return simulate(pd.concat(rows, ignore_index=True), pd.Series(truth), rounds)


def test_both_intervals_cover_about_95_percent_and_the_model_assisted_one_is_narrower():
    out = _sim(150)
    for method in ("random_arm", "model_assisted"):
        assert 0.90 <= out[method]["coverage"] <= 0.99, (method, out[method])
    assert out["model_assisted"]["mean_width"] < out["random_arm"]["mean_width"]


def test_estimates_table_has_every_group_and_says_the_method():
    scores = pd.DataFrame({"policy_id": ["a", "b", "c", "d"], "insurer_id": ["X", "X", "X", "Y"],
                           "p_missing": [0.1, 0.5, 0.2, 0.3], "p_poor_quality": [0.2, 0.2, 0.2, 0.2]})
    insp = pd.DataFrame({"policy_id": ["a", "b", "d"], "outcome": ["missing", "adequate", "missing"],
                         "selection": ["random", "random", "targeted"]})
    t = estimates(scores, insp)
    assert list(t.columns) == ESTIMATE_COLUMNS
    x = t[(t["group_id"] == "X") & (t["class"] == "missing")]
    assert set(x["method"]) == {"random_arm", "model_assisted"} and (x["inspected_random"] == 2).all()
    assert x.loc[x["method"] == "random_arm", "estimate"].item() == 0.5
    y = t[(t["group_id"] == "Y") & (t["class"] == "missing")]
    assert y["method"].tolist() == ["model_only"] and y["lower"].isna().all()  # a targeted inspection estimates nothing


def test_a_scored_submission_with_inspections_carries_its_estimates(tmp_path):
    from datasets.synth import write_submission

    from scoring import score

    from ..helpers import world

    w = world(800, 12)
    score(write_submission(w, tmp_path / "s"), tmp_path / "o")
    est = pd.read_csv(tmp_path / "o" / "estimates.csv")
    ins = pd.read_csv(tmp_path / "o" / "insurer_summary.csv")
    assert set(est["group_id"]) == set(ins["insurer_id"]) and list(est.columns) == ESTIMATE_COLUMNS
    insp = w.tables["inspections"]
    random = insp[insp["selection"] == "random"].merge(w.tables["policies"][["policy_id", "insurer_id"]], on="policy_id")
    counts = random.drop_duplicates("policy_id").groupby("insurer_id").size()
    got = est[(est["class"] == "missing") & (est["method"] == "random_arm")].set_index("group_id")["inspected_random"]
    assert got.to_dict() == counts.to_dict()
    ok = ins["estimate_missing"].notna()
    assert ok.any() and (ins.loc[ok, "estimate_missing_lower"] <= ins.loc[ok, "estimate_missing"]).all()


def test_the_estimate_command_gives_what_score_writes_and_refuses_a_submission_without_inspections(tmp_path):
    import json

    from typer.testing import CliRunner

    from datasets.synth import Config, generate, write_submission
    from scoring import score
    from scoring.cli import app

    from ..helpers import world

    sub = write_submission(world(800, 12), tmp_path / "s")
    score(sub, tmp_path / "run")
    r = CliRunner().invoke(app, ["estimate", str(sub), "--out", str(tmp_path / "est")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "est" / "estimates.csv").read_bytes() == (tmp_path / "run" / "estimates.csv").read_bytes()
    meta = json.loads((tmp_path / "est" / "estimate.json").read_text(encoding="utf-8"))
    assert meta["inspections"]["random"] > 0 and "随机抽查" in r.output
    bare = write_submission(generate(Config(n_policies=300, seed=2, with_inspections=False)), tmp_path / "bare")
    r = CliRunner().invoke(app, ["estimate", str(bare), "--out", str(tmp_path / "none")])
    assert r.exit_code == 2 and "没有核查结果" in r.output and not (tmp_path / "none").exists()
