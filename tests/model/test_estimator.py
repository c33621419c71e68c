import json
import shutil

import numpy as np
import pandas as pd
import pytest

from datasets.synth import write_submission
from scoring.model import estimator as model_mod
from scoring import ModelError
from scoring.model.explain import explain, explanations
from scoring.writers import explanation_lines
from scoring.model.features import FEATURE_NAMES, MEMORY_FEATURES, build_features, rule_roles
from scoring import load_rulebook
from scoring import load_submission
from scoring.model.estimator import load_model, save_model, train_and_validate
from scoring.jobs import labelled_set, prepare, run_evaluate

from ..helpers import world


@pytest.fixture(scope="module")
def prep(tmp_path_factory):
    return prepare(write_submission(world(6000, 8), tmp_path_factory.mktemp("m") / "s"))


@pytest.fixture(scope="module")
def trained(prep, tmp_path_factory):
    X, labels, years = labelled_set([prep])
    model, record = train_and_validate(X.reset_index(drop=True), labels, years, seed=3)
    out = save_model(model, tmp_path_factory.mktemp("models") / "m1", name="test-model")
    return model, record, out, X


@pytest.mark.slow
def test_training_never_sees_the_test_year(prep, monkeypatch):
    X, labels, years = labelled_set([prep])
    seen = {}
    real_fit = model_mod.fit

    def spy(Xtr, outcome, seed=0):
        seen.setdefault("index", Xtr.index)  # the first fit is the held-out one; the second, the refit on all
        seen["refit"] = len(Xtr)
        return real_fit(Xtr, outcome, seed)

    monkeypatch.setattr(model_mod, "fit", spy)
    _, record = train_and_validate(X.reset_index(drop=True), labels, years, seed=0)
    trained_years = set(years.iloc[seen["index"]])
    assert max(trained_years) < record["test_year"]
    assert record["test_year"] == years.max() or (years == years.max()).sum() < model_mod.MIN_TEST_LABELS
    assert record["n_test"] == int((years == record["test_year"]).sum())
    assert record["method"] == "temporal" and record["refit_on_all_labels"]
    assert seen["refit"] == len(labels)  # the saved model is refit on every label


def test_validation_reports_every_metric_for_model_and_baselines(trained):
    _, record, _, _ = trained
    assert set(record["models"]) == {"model", "logistic_regression", "rule_count"}
    m = record["models"]["model"]["all"]["missing"]
    for key in ("roc_auc", "average_precision", "precision_at_capacity", "recall_at_capacity", "brier", "reliability"):
        assert key in m
    assert 0.5 < m["roc_auc"] <= 1.0
    assert "random" in record["models"]["model"]


def test_explanations_are_additive(trained, prep):
    model, _, _, X = trained
    rows = prep.features.iloc[:25]
    for cls in ("missing", "poor_quality"):
        recs = explain(model, rows, cls)
        raw = model.raw(rows, cls)
        for r, rw in zip(recs, raw):
            total = r["base_value"] + sum(c["shap"] for c in r["contributions"])
            assert abs(total - r["raw_output"]) < 1e-6
            assert abs(r["raw_output"] - rw) < 1e-9
            assert len(r["contributions"]) == len(FEATURE_NAMES)
            assert r["link"] == "logit"
            assert all(c["text_zh"] for c in r["contributions"])
        shaps = [c["shap"] for c in recs[0]["contributions"]]
        assert shaps == sorted(shaps, reverse=True)


def test_saved_model_loads_and_predicts_the_same(trained, prep):
    model, _, out, _ = trained
    loaded = load_model(out)
    a = model.predict(prep.features)
    b = loaded.predict(prep.features)
    pd.testing.assert_frame_equal(a, b)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["features"] == list(FEATURE_NAMES)
    assert len(meta["training_data_sha256"]) == 64
    assert (out / "MODEL_CARD.md").read_text().count("ROC AUC") >= 1


def _copy(out, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(out, dst)
    return dst


def test_tampered_estimator_is_refused(trained, tmp_path):
    dst = _copy(trained[2], tmp_path)
    f = dst / "missing.skops"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_model(dst)


def test_feature_mismatch_is_refused(trained, tmp_path):
    dst = _copy(trained[2], tmp_path)
    meta = json.loads((dst / "metadata.json").read_text())
    meta["features"] = meta["features"][:-1] + ["something_else"]
    meta["artifact_sha256"] = model_mod.artifact_digest(meta)  # a sealed model of another version
    (dst / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError) as e:
        load_model(dst)
    assert "something_else" in e.value.message_en and "重新训练" in e.value.message_zh


@pytest.mark.parametrize("edit", ["thresholds", "calibration", "typical", "version"])
def test_edited_metadata_is_refused(trained, tmp_path, edit):
    """Thresholds and calibration live in metadata.json: editing them must not pass under the same version."""
    dst = _copy(trained[2], tmp_path)
    meta = json.loads((dst / "metadata.json").read_text())
    if edit == "thresholds":
        meta["thresholds"]["missing"] = 0.99  # would switch every missing flag off
    elif edit == "calibration":
        meta["calibration"]["missing"] = [0.0, -20.0]
    elif edit == "typical":
        meta["typical"]["premium"]["all"] = 1.0
    else:
        meta["version"] = "champion-trusted"
    (dst / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError) as e:
        load_model(dst)
    assert "artifact_sha256" in e.value.message_en and "拒绝加载" in e.value.message_zh


def test_an_edited_and_resealed_artifact_runs_under_another_version(trained, tmp_path):
    """Whoever edits a threshold and recomputes artifact_sha256 gets a model that loads, but never
    under the version of the one it was: the version carries the artifact's digest."""
    original = load_model(trained[2])
    dst = _copy(trained[2], tmp_path)
    meta = json.loads((dst / "metadata.json").read_text())
    meta["thresholds"]["missing"] = 0.99
    meta["artifact_sha256"] = model_mod.artifact_digest(meta)
    (dst / "metadata.json").write_text(json.dumps(meta))
    edited = load_model(dst)
    assert edited.name == original.name and edited.version != original.version
    assert original.version == f"{original.name}@{original.metadata['artifact_sha256'][:12]}"


def test_untrusted_types_are_refused_even_with_matching_hash(trained, tmp_path):
    import functools
    import hashlib
    import os

    import skops.io as sio

    dst = _copy(trained[2], tmp_path)
    sio.dump(functools.partial(os.system, "echo pwned"), dst / "missing.skops")
    meta = json.loads((dst / "metadata.json").read_text())
    meta["estimators"]["missing"]["sha256"] = hashlib.sha256((dst / "missing.skops").read_bytes()).hexdigest()
    meta["artifact_sha256"] = model_mod.artifact_digest(meta)
    (dst / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="untrusted"):
        load_model(dst)


@pytest.mark.slow
def test_training_is_deterministic_for_a_seed(prep, trained):
    X, labels, years = labelled_set([prep])
    a = trained[0]  # seed 3, trained by the fixture
    b, _ = train_and_validate(X.reset_index(drop=True), labels, years, seed=3)
    Xs = prep.features.iloc[:200]
    np.testing.assert_array_equal(a.raw(Xs, "missing"), b.raw(Xs, "missing"))
    np.testing.assert_array_equal(a.predict(Xs).to_numpy(), b.predict(Xs).to_numpy())


def test_features_ignore_inspections_and_later_records(tmp_path):
    w = world(400, 3)
    folder = write_submission(w, tmp_path / "s")
    sub = load_submission(folder)
    base = build_features(sub, np.datetime64("2025-06-30"), roles=rule_roles(load_rulebook()))
    # different outcomes: same features
    insp = pd.read_csv(folder / "inspections.csv", dtype=str)
    insp["outcome"] = "adequate"
    insp.to_csv(folder / "inspections.csv", index=False)
    # a record dated after the scoring date: same features
    svc = pd.read_csv(folder / "services.csv", dtype=str, keep_default_na=False)
    extra = svc.iloc[[0]].copy()
    extra["service_id"] = "LATE1"
    extra[["service_date", "report_date", "followup_date"]] = "2025-12-01"
    pd.concat([svc, extra]).to_csv(folder / "services.csv", index=False)
    again = build_features(load_submission(folder), np.datetime64("2025-06-30"), roles=rule_roles(load_rulebook()))
    pd.testing.assert_frame_equal(base, again)


def test_visits_are_also_measured_against_the_submissions_own_market(prep):
    """services_vs_market: the policy's yearly visits over the median of its industry in the same
    submission, so a market whose contracts ask for twice the visits reads the same (worlds draw
    visit_scale from 0.6 to 1.6)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from scoring.model.features import _vs_market

    f = prep.features
    industry = prep.sub["policies"].set_index("policy_id").loc[f.index, "industry"].to_numpy(dtype=object)
    median = pd.Series(f["services_per_year"].to_numpy()).groupby(industry).transform("median").to_numpy()
    np.testing.assert_allclose(f["services_vs_market"].to_numpy(), f["services_per_year"].to_numpy() / median)
    assert f["services_vs_market"].notna().mean() > 0.9

    @settings(max_examples=30, deadline=None)
    @given(scale=st.floats(0.1, 10))
    def scaling_every_visit_changes_nothing(scale):
        v = f["services_per_year"].to_numpy(dtype=float)
        np.testing.assert_allclose(_vs_market(v * scale, industry), _vs_market(v, industry), rtol=1e-9)

    scaling_every_visit_changes_nothing()
    # the staff who served a policy are read the same way: each industry's median is 1
    for col in ("services_vs_market", "staff_vs_market"):
        medians = pd.Series(f[col].to_numpy()).groupby(industry).median()
        np.testing.assert_allclose(medians.dropna().to_numpy(), 1.0)


def test_peer_features_are_leave_one_out_means(prep):
    from scoring.model.features import PEERS

    f = prep.features
    for col, (key, source) in PEERS.items():
        for k, g in list(f.groupby(key))[:5]:
            vals = g[source].to_numpy(dtype=float)
            for i in range(min(len(g), 3)):
                others = np.delete(vals, i)
                others = others[~np.isnan(others)]
                want = others.mean() if len(others) else np.nan
                got = g[col].iloc[i]
                assert (np.isnan(want) and np.isnan(got)) or abs(got - want) < 1e-9, (col, k, i)
    # a one-year submission has them too: no history needed
    assert f["provider_peer_hours"].notna().mean() > 0.9


def test_evaluate_on_a_labelled_submission(trained, prep):
    res = run_evaluate(prep.sub, trained[2])
    assert res["model_version"].startswith("test-model@") and len(res["model_version"]) == len("test-model@") + 12
    assert 0.5 < res["all"]["missing"]["roc_auc"] <= 1
    assert res["all"]["n"] == len(prep.sub["inspections"]["policy_id"].unique())


def test_shipped_champion_loads():
    from pathlib import Path

    m = load_model(Path(__file__).resolve().parents[2] / "models" / "champion")
    v = m.metadata["validation"]
    assert v["method"] == "temporal" and v["test_year"] > max(v["train_years"])
    assert m.metadata["training_data"] == "synthetic"
    w = m.metadata["worlds"]
    assert w["n_worlds"] >= 8 and len(w["held_out"]) == w["n_worlds"]
    # on worlds the model never saw: missing holds 0.85 at the median and stays within 0.01 of the
    # 0.80 bar in its hardest world (W006: 0.795); poor quality holds 0.65 at the median, and its
    # hardest world (W004, 0.664) stays above the 0.61 that a model trained on that world's own
    # labels reaches (datasets/README.md, "Worlds")
    assert w["summary"]["missing"]["roc_auc_median"] >= 0.85
    assert w["summary"]["missing"]["roc_auc_min"] >= 0.79
    assert w["summary"]["poor_quality"]["roc_auc_median"] >= 0.65
    assert w["summary"]["poor_quality"]["roc_auc_min"] >= 0.62
    assert all(r["missing"]["roc_auc"] > 0.5 and r["poor_quality"]["roc_auc"] > 0.5 for r in w["held_out"] + w["fresh"])
    card = (Path(__file__).resolve().parents[2] / "models" / "champion" / "MODEL_CARD.md").read_text()
    assert "Trained on synthetic data only" in card and "Leave-one-world-out" in card


def test_training_survives_a_feature_with_no_values(prep):
    X, labels, years = labelled_set([prep])
    X = X.reset_index(drop=True).copy()
    X["insurer_peer_services"] = np.nan
    from scoring.model.estimator import fit

    m = fit(X, labels["outcome"], seed=0)
    assert np.isfinite(m.predict(X.iloc[:50]).to_numpy()).all()


def test_explanation_lines_read_back_as_the_records(trained, prep):
    """The column-wise JSON lines say exactly what the per-row records say, keys in the same order."""
    model = trained[0]
    rows = prep.features.iloc[:40].copy()
    rows.index = [f'P"{i}\\<é>' if i % 3 == 0 else str(pid) for i, pid in enumerate(rows.index)]
    assert rows.isna().any().any()  # missing values must come out as null
    e = explanations(model, rows, "poor_quality")
    head = {"flag": "poor_quality", "threshold": 0.37, "model_version": "v007"}
    probs = np.round(np.linspace(0, 1, len(rows)) ** 3, 6)
    lines = explanation_lines(rows.index, probs, head, e.json_bodies(chunk=7)).to_pylist()
    assert len(lines) == len(rows)
    # built a slice at a time (as the score job writes them) they are the same lines
    sliced = [line for a in range(0, len(rows), 9)
              for line in explanation_lines(rows.index[a:a + 9], probs[a:a + 9], head, e.json_bodies(a, a + 9, chunk=4)).to_pylist()]
    assert sliced == lines
    for i, line in enumerate(lines):
        assert line.endswith("}\n") and "\n" not in line[:-1]
        got = json.loads(line)
        want = {"policy_id": rows.index[i], "flag": "poor_quality", "probability": probs[i], "threshold": 0.37,
                "model_version": "v007", **e.record(i)}
        assert list(got) == list(want)
        assert [list(c) for c in got["contributions"]] == [list(c) for c in want["contributions"]]
        assert got == want
    tops = e.top_texts(2)
    r0 = e.record(0)["contributions"]
    assert tops[0] == "；".join([c["text_zh"] for c in r0 if c["shap"] > 0 and c["as_reason"]][:2])


def test_reason_texts_built_per_distinct_value_match_one_by_one(trained, prep):
    from scoring.model.explain import _texts, reason

    model = trained[0]
    X = prep.features.iloc[:300]
    M = model.matrix(X)
    ind = X["industry"].to_numpy(dtype=float).copy()
    ind[::17] = np.nan  # unknown industry: the reference falls back to all industries
    shap = np.random.default_rng(1).normal(size=M.shape)
    shap[::11] = 0.0
    for j, f in enumerate(model.features):
        if f in MEMORY_FEATURES:
            continue  # their reasons name the entity's inspections (tests/model/test_memory.py)
        codes, texts, _ = _texts(model, "missing", f, M[:, j], shap[:, j], ind)
        got = [texts[c] for c in codes]
        assert got == [reason(model, "missing", f, M[i, j], shap[i, j], ind[i]) for i in range(len(X))], f


def test_shap_per_tree_pattern_equals_shap_row_by_row(trained, prep):
    """Explaining each tree once per distinct path (the fast way) gives shap's own row-by-row values,
    also for values exactly at a split threshold and for missing values."""
    import shap

    from scoring.model.explain import shap_values

    model = trained[0]
    M = model.matrix(prep.features.iloc[:400]).copy()
    for cls in ("missing", "poor_quality"):
        est = model.estimators[cls]
        tree = shap.TreeExplainer(est).model.trees[0]
        node = int(np.flatnonzero(tree.children_left >= 0)[0])
        X = M.copy()
        X[::5, tree.features[node]] = tree.thresholds[node]  # ties at a split
        X[1::7, tree.features[node]] = np.nan
        fast, base_fast = shap_values(est, X, by_tree=True)
        slow, base_slow = shap_values(est, X, by_tree=False)
        assert base_fast == base_slow
        assert np.abs(fast - slow).max() < 1e-9
        assert np.abs(base_fast + fast.sum(axis=1) - est.decision_function(X)).max() < 1e-6


def test_calibration_never_turns_a_ranking_round():
    """Out-of-fold log-odds that rank a class backwards (a model with no skill for it on few
    labels) must not become probabilities that rank it backwards: the slope is held at its floor."""
    from scoring.model.estimator import MIN_CALIBRATION_SLOPE, platt

    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.25).astype(int)
    raw = -1.5 * y + rng.normal(0, 1, 400)  # anti-correlated with the label
    (a, b), slope = platt(raw, y)
    assert slope < 0 and a == MIN_CALIBRATION_SLOPE
    p = 1 / (1 + np.exp(-(a * raw + b)))
    assert (np.diff(p[np.argsort(raw)]) >= 0).all()  # the estimator's order is kept
    assert abs(p.mean() - y.mean()) < 0.02  # and the probabilities sit at the base rate
    good = 1.5 * y + rng.normal(0, 1, 400)
    (a2, _), slope2 = platt(good, y)
    assert a2 == slope2 > 1.0  # a class the log-odds rank keeps its fitted slope


def test_model_card_warns_when_a_class_had_no_out_of_fold_skill(trained):
    from scoring.model.card import model_card

    meta = {**trained[0].metadata, "calibration_held": {"poor_quality": -0.0932}}
    card = model_card(meta)
    assert "服务质量差 poor_quality：训练标签的交叉验证未显示排序能力" in card and "-0.0932" in card
    assert "未显示排序能力" not in model_card({**trained[0].metadata, "calibration_held": {}})
