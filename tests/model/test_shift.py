"""Shift detection: a submission unlike the model's training data is said to be so, never silently ranked."""
import json

import numpy as np
import pytest

from datasets.synth import Config, WorldParams, generate, write_submission, year_slice
from scoring.jobs import prepare, run_score, score_summary
from scoring import load_rulebook
from scoring.model.shift import model_shift, psi, reference_sample

from ..helpers import world

WARN = load_rulebook().model_shift.warn_score
#: A market the default world never shows: few check-ins and photo hashes, half the visits,
#: boilerplate everywhere, poor service with good service's paperwork.
UNSEEN = WorldParams(checkin_coverage=0.3, photo_hash_coverage=0.45, visit_scale=0.6, boilerplate_providers=0.6,
                     boilerplate_genuine_share=0.6, poor_tidiness=1.0, report_text_coverage=0.3)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    w = world(4000, 8)
    return reference_sample(prepare(write_submission(year_slice(w, [2021, 2022, 2023]), tmp / "a")).features), w, tmp


def test_quiet_on_a_later_year_of_its_own_world(reference):
    R, w, tmp = reference
    later = prepare(write_submission(year_slice(w, 2024), tmp / "later")).features
    s = model_shift(R, later, WARN)
    assert s["basis"] == "ended" and s["rows"]["submission"] > 500
    assert s["score"] < 0.6 and not s["warning"]


def test_fires_on_a_world_setting_it_never_saw(reference):
    R, _, tmp = reference
    other = prepare(write_submission(generate(Config(n_policies=1500, seed=5, world=UNSEEN)), tmp / "other")).features
    s = model_shift(R, other, WARN)
    assert s["warning"] and s["score"] >= WARN
    assert len(s["features"]) == 5 and all(s["psi"][f] >= s["psi"][s["features"][-1]] for f in s["features"])


def test_same_input_same_shift(reference):
    R, w, tmp = reference
    later = prepare(write_submission(year_slice(w, 2024), tmp / "later2")).features
    assert model_shift(R, later, WARN) == model_shift(R, later, WARN)


def test_psi_is_zero_for_the_same_distribution_and_grows_with_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=5000)
    assert psi(a, a) == 0
    assert psi(a, a + 0.1) < psi(a, a + 0.5) < psi(a, a + 1.0)
    with_missing = np.where(rng.random(5000) < 0.3, np.nan, a)
    assert psi(a, with_missing) > 0.1  # missing values are a bin of their own


def test_scoring_warns_everywhere_a_person_looks(tmp_path):
    """With the shipped champion, a submission from an unseen market: run.json, the terminal
    summary and the report's first screen all say so, and the priority leans on the findings."""
    sub = write_submission(generate(Config(n_policies=1500, seed=5, world=UNSEEN)), tmp_path / "s")
    run = run_score(sub, tmp_path / "out")
    s = run["model_shift"]
    assert s["warning"] and s["score"] >= WARN and s["features"]
    assert run["model_weight"] == load_rulebook().model_shift.model_weight
    saved = json.loads((tmp_path / "out" / "run.json").read_text())
    assert saved["model_shift"]["warning"] is True
    assert len(saved["model_sha256"]) == 64  # the whole artifact the results came from
    assert score_summary(run, tmp_path / "out").startswith("警告：本提交数据与模型的训练数据差异明显")
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.index("notice-warn") < html.index(">概览</h2>")


def test_a_new_draw_of_a_training_market_is_not_told_apart_by_its_own_median(tmp_path):
    """Training pools several markets, each with its own median visit rate. A feature measured
    against the submission's own median (services_vs_market) gives that median away beside the
    absolute rate, one value per industry, so a classifier would tell any new submission apart.
    A fresh draw of the same market settings must stay quiet."""
    pooled = []
    for seed, scale in ((11, 0.7), (12, 1.4)):
        cfg = Config(n_policies=2500, seed=seed, world=WorldParams(visit_scale=scale))
        pooled.append(prepare(write_submission(generate(cfg), tmp_path / f"t{seed}")).features)
    import pandas as pd

    R = reference_sample(pd.concat(pooled, ignore_index=True))
    fresh = prepare(write_submission(generate(Config(n_policies=2500, seed=13, world=WorldParams(visit_scale=0.7))),
                                     tmp_path / "fresh")).features
    s = model_shift(R, fresh, WARN)
    assert not s["warning"], s["score"]


def test_a_small_submission_of_a_known_market_is_not_called_unlike(tmp_path):
    """Agencies' staff pools grow with their workload, so a small submission lists fewer staff per
    policy. That is the size of the submission, not a different market: a 1,500-policy draw of
    the settings a 15,000-policy reference came from stays quiet (with the absolute staff count
    it scored 0.82)."""
    big = prepare(write_submission(generate(Config(n_policies=15000, seed=21)), tmp_path / "big")).features
    small = prepare(write_submission(generate(Config(n_policies=1500, seed=22)), tmp_path / "small")).features
    s = model_shift(reference_sample(big), small, WARN)
    assert s["basis"] == "ended" and not s["warning"], s["score"]
