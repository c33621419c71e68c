"""The evidence index: transparent, deterministic, and pointing the way the regulation does."""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from scoring import load_rulebook
from scoring.model.evidence import evidence_index, part_text

from ..helpers import world


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from datasets.synth import write_submission
    from scoring.jobs import prepare

    w = world(1500, 5)
    return prepare(write_submission(w, tmp_path_factory.mktemp("ev") / "s")), w


def _index(prep, features=None, settings=None):
    settings = settings or load_rulebook().evidence_index
    f = prep.features if features is None else features
    pol = prep.sub["policies"].set_index("policy_id").loc[f.index]
    return evidence_index(f, pol["industry"].to_numpy(), pol["region_code"].to_numpy(), settings)


def test_the_index_is_deterministic_bounded_and_has_a_value_for_every_policy(prepared):
    prep, _ = prepared
    a, b = _index(prep), _index(prep)
    pd.testing.assert_series_equal(a.index, b.index)
    assert a.index.notna().all() and a.index.between(0, 1).all()
    assert len(a.index) == len(prep.features)


def test_more_of_a_good_thing_never_raises_the_index(prepared):
    """Each part in turn: a policy given more of what the regulation asks for (or less of what it
    forbids) than it had never gets a higher index; most get a lower one."""
    prep, _ = prepared
    base = _index(prep).index
    rng = np.random.default_rng(0)
    rows = rng.choice(len(prep.features), 40, replace=False)
    for part in load_rulebook().evidence_index.parts:
        f = prep.features.copy()
        x = f[part.feature].to_numpy(dtype=float).copy()
        better = np.where(part.worse == "lower", x * 1.5 + 1, x * 0.5 - 0.01)
        x[rows] = np.where(np.isnan(x[rows]), np.nan, better[rows])
        f[part.feature] = x
        after = _index(prep, f).index
        moved = after.iloc[rows] - base.iloc[rows]
        assert (moved <= 1e-9).all(), (part.feature, moved.max())
        valued = ~np.isnan(prep.features[part.feature].to_numpy(dtype=float)[rows])
        assert (moved[valued] < 0).mean() > 0.5, part.feature


def test_a_policy_with_no_service_record_has_the_highest_index(prepared):
    prep, _ = prepared
    ev = _index(prep)
    none = prep.features["n_services"].to_numpy() == 0
    assert none.any()
    assert ev.index[none].min() > np.quantile(ev.index[~none], 0.95)


def test_the_index_ranks_missing_service_without_any_label(prepared):
    prep, w = prepared
    ev = _index(prep)
    hidden = w.hidden.set_index("policy_id").loc[ev.index.index]
    auc = roc_auc_score(hidden["quality"] == "missing", ev.index)
    assert auc > 0.68  # 0.72 on this world; 0.62-0.76 on drawn worlds (scripts/evidence_index.py)


def test_a_small_market_is_measured_against_the_industry_or_the_whole(prepared):
    prep, _ = prepared
    settings = load_rulebook().evidence_index.model_copy(update={"min_peers": 10**6})
    ev = _index(prep, settings=settings)
    assert set(ev.basis.stack().unique()) == {"all"}
    narrow = _index(prep)
    assert "industry_province" in set(narrow.basis.stack().unique())


def test_reasons_name_the_part_the_peers_and_the_ratio(prepared):
    prep, _ = prepared
    ev = _index(prep)
    worst = ev.index.sort_values(ascending=False).index[:5]
    texts = ev.reasons(prep.features, worst)
    assert all(t for t in texts)
    assert any("中位数" in t and "同类保单好于此" in t for t in texts)
    assert part_text("services_per_year", 1.0, 4.0, "industry", 0.9).startswith("折算全年服务次数为同行业中位数的 25%")


def test_a_part_naming_no_feature_is_refused_before_anything_is_written(tmp_path):
    from typer.testing import CliRunner

    from scoring.cli import app

    path = tmp_path / "rb.yaml"
    path.write_text("version: t\nbase: shipped\nrules: []\nevidence_index:\n  parts:\n"
                    "    - {feature: no_such_feature, worse: lower, weight: 1}\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["score", "datasets/sample", "--out", str(tmp_path / "o"), "--rulebook", str(path)])
    assert r.exit_code == 2 and "no_such_feature" in r.output and "evidence_index" in r.output
    assert not (tmp_path / "o").exists()


def test_a_warned_run_rests_on_the_index_and_says_so(tmp_path):
    """A submission unlike the model's training data: run.json names the blend, every flag's
    reasons open with the evidence, and policy_scores carries the index."""

    import yaml
    from importlib import resources

    from datasets.synth import write_submission
    from scoring import score

    rb = yaml.safe_load(resources.files("scoring.rules").joinpath("rulebook.yaml").read_text("utf-8"))
    rb["model_shift"]["warn_score"] = 0.51  # any submission counts as unlike
    path = tmp_path / "rb.yaml"
    path.write_text(yaml.safe_dump(rb, allow_unicode=True, sort_keys=False), encoding="utf-8")
    run = score(write_submission(world(800, 12), tmp_path / "s"), tmp_path / "o", rulebook=path)
    assert run["model_shift"]["warning"] and run["priority_basis"]["basis"] == "blend"
    assert run["priority_basis"]["index_weight"] == 0.5
    table = pd.read_csv(tmp_path / "o" / "policy_scores.csv", dtype={"reasons": str}, keep_default_na=False)
    flagged = table[table["flag"] != ""]
    assert len(flagged) and flagged["reasons"].str.startswith("证据指数：").mean() > 0.9
    assert table["evidence_index"].between(0, 1).all()
    assert "主要依据证据指数" in (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
