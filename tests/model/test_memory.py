"""Entity memory: what labels taught about insurers and providers travels with the model."""
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datasets.synth import write_submission, year_slice
from scoring import ModelError
from scoring.model.explain import explanations, memory_reason
from scoring.model.features import FEATURE_NAMES, MEMORY_FEATURES
from scoring.model.memory import fit_memory
from scoring.model.estimator import MONOTONIC, load_model, save_model, train
from scoring.jobs import labelled_set, population, prepare, run_train

from ..helpers import world

pytestmark = pytest.mark.slow  # a model is trained for the module


@pytest.fixture(scope="module")
def one_year(tmp_path_factory):
    """A submission with one labelled policy year, trained on: what a new user has."""
    folder = write_submission(year_slice(world(9000, 21), 2023), tmp_path_factory.mktemp("y") / "s")
    prep = prepare(folder)
    X, labels, years = labelled_set([prep])
    t = train(X.reset_index(drop=True), labels, years, seed=0, population=population([prep]))
    out = save_model(t.model, tmp_path_factory.mktemp("m") / "one-year", name="one-year")
    return prep, X, labels, t, out


def test_one_labelled_year_is_validated_on_its_latest_inspections(one_year):
    prep, X, labels, t, out = one_year
    assert labels["inspection_date"].notna().all() and len(set(labels["inspection_date"].dt.year)) >= 1
    r = t.record
    assert r["method"] == "by_inspection_date" and r["test_year"] is None
    assert r["n_test"] == round(0.25 * len(labels)) and r["n_train"] + r["n_test"] == len(labels)
    held = labels[t.test]["inspection_date"]
    assert held.min() >= labels[t.train]["inspection_date"].max()  # the latest by date are held out
    card = (out / "MODEL_CARD.md").read_text()
    assert "只有一个有标签的年份" in card and "refitted on every label" in card
    assert json.loads((out / "metadata.json").read_text())["label_counts"] == labels["outcome"].value_counts().sort_index().to_dict()


def test_scoring_train_cli_accepts_one_labelled_year(tmp_path):
    from typer.testing import CliRunner

    from scoring.cli import app

    folder = write_submission(year_slice(world(9000, 21), 2023), tmp_path / "s")
    res = CliRunner().invoke(app, ["train", str(folder), "--out", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    assert "只有一个有标签的年份" in res.output and "n=" in res.output and "positives" in res.output
    assert (tmp_path / "m" / "memory.json").exists()


def test_too_few_labels_of_a_class_says_how_many(one_year):
    _, X, labels, _, _ = one_year
    keep = labels["outcome"] != "missing"
    keep |= (labels["outcome"] == "missing").cumsum() <= 3
    with pytest.raises(ModelError) as e:
        train(X.reset_index(drop=True)[keep.to_numpy()], labels[keep].reset_index(drop=True),
              pd.Series([2023] * int(keep.sum())))
    assert "服务缺失 3 个" in e.value.message_zh and "至少需要 5 个" in e.value.message_zh
    assert "missing 3" in e.value.message_en and "at least 5" in e.value.message_en


def test_memory_survives_save_and_load(one_year):
    prep, _, _, t, out = one_year
    loaded = load_model(out)
    assert loaded.memory.to_dict() == json.loads(json.dumps(t.model.memory.to_dict()))
    a = t.model.predict(t.model.design(prep.features))
    b = loaded.predict(loaded.design(prep.features))
    pd.testing.assert_frame_equal(a, b)
    meta = json.loads((out / "metadata.json").read_text())
    assert {"memory", "reference"} <= set(meta["files"])


def test_tampered_memory_is_refused(one_year, tmp_path):
    import shutil

    dst = tmp_path / "m"
    shutil.copytree(one_year[4], dst)
    mem = json.loads((dst / "memory.json").read_text())
    mem["prior"]["missing"] = 0.0
    (dst / "memory.json").write_text(json.dumps(mem))
    with pytest.raises(ModelError, match="sha256"):
        load_model(dst)


def test_memory_counts_are_the_labels(one_year):
    _, X, labels, t, _ = one_year
    mem = t.model.memory
    for col in ("insurer_key", "provider_key"):
        keys = X[col].reset_index(drop=True)
        for key, entry in list(mem.labels[col].items())[:10]:
            mine = labels["outcome"][(keys == key).to_numpy()]
            assert entry["n"] == len(mine)
            assert entry["missing"] == int((mine == "missing").sum())
            assert entry["poor_quality"] == int((mine == "poor_quality").sum())


def test_cross_fitted_memory_never_sees_its_own_label(one_year):
    """With labels that have nothing to do with who did the work, the cross-fitted memory carries
    no signal, where in-sample encodings (each row's own label in its entity's rate) would."""
    from sklearn.metrics import roc_auc_score

    _, X, labels, _, _ = one_year
    X = X.reset_index(drop=True)
    rng = np.random.default_rng(0)
    y = pd.Series(rng.permutation(labels["outcome"].astype(str).to_numpy()))
    memory, cf = fit_memory(X, y, seed=4)
    target = (y == "missing").to_numpy()
    crossfit_auc = roc_auc_score(target, cf["provider_memory_missing"])
    in_sample = memory.fill(X)["provider_memory_missing"]
    assert abs(crossfit_auc - 0.5) < 0.07
    assert roc_auc_score(target, in_sample) > crossfit_auc + 0.05


def test_unseen_entity_gets_the_prior_and_its_reason_says_so(one_year):
    prep, _, _, t, _ = one_year
    model = t.model
    X = prep.features.iloc[:30].copy()
    X["insurer_key"] = "NEVER-SEEN-INSURER"
    X["provider_key"] = "AG-NEVER-SEEN"
    d = model.design(X)
    assert (d["provider_memory_missing"] == model.memory.prior["missing"]).all()
    assert (d["insurer_memory_poor"] == model.memory.prior["poor_quality"]).all()
    e = explanations(model, X, "missing")
    rec = e.record(0)
    texts = {c["feature"]: c["text_zh"] for c in rec["contributions"]}
    assert texts["provider_memory_missing"].startswith("新出现的服务机构，无以往核查记录")
    assert texts["insurer_memory_missing"].startswith("新出现的保险机构，无以往核查记录")


def test_a_known_entity_reason_names_the_evidence(one_year):
    _, _, _, t, _ = one_year
    model = t.model
    key, c = max(model.memory.labels["provider_key"].items(), key=lambda kv: kv[1]["n"])
    text = memory_reason(model, "missing", "provider_memory_missing", key, 0.3)
    assert text == f"该服务主体以往核查 {c['n']} 件中服务缺失 {c['missing']} 件，推高服务缺失的可能"


def test_explanations_stay_additive_with_memory(one_year):
    prep, _, _, t, _ = one_year
    for cls in ("missing", "poor_quality"):
        e = explanations(t.model, prep.features.iloc[:60], cls)
        assert np.abs(e.base_value + e.shap.sum(axis=1) - e.raw).max() < 1e-6
        assert set(e.features) == set(FEATURE_NAMES)


@pytest.mark.parametrize("cls,feature,direction", [(c, f, d) for c, fs in MONOTONIC.items() for f, d in fs.items()])
def test_monotonic_constraints_hold(one_year, cls, feature, direction):
    prep, _, _, t, _ = one_year
    model = t.model
    X = model.design(prep.features.iloc[:200])
    j = list(FEATURE_NAMES).index(feature)
    M = X[list(FEATURE_NAMES)].to_numpy(dtype=float)
    lo = np.nanmin(M[:, j]) if np.isfinite(M[:, j]).any() else 0.0
    hi = np.nanmax(M[:, j]) if np.isfinite(M[:, j]).any() else 1.0

    @settings(max_examples=25, deadline=None)
    @given(row=st.integers(0, len(M) - 1), a=st.floats(0, 1), b=st.floats(0, 1))
    def raising_never_goes_the_wrong_way(row, a, b):
        x = np.repeat(M[row:row + 1], 2, axis=0)
        x[0, j], x[1, j] = lo + min(a, b) * (hi - lo), lo + max(a, b) * (hi - lo)
        raw = model.estimators[cls].decision_function(x)
        assert direction * (raw[1] - raw[0]) >= -1e-12

    raising_never_goes_the_wrong_way()


def test_monotonic_constraints_are_in_the_estimators(one_year):
    for cls, est in one_year[3].model.estimators.items():
        cst = list(est.monotonic_cst)
        assert cst == [MONOTONIC[cls].get(f, 0) for f in FEATURE_NAMES]
    assert not set(MONOTONIC["poor_quality"]) & set(MEMORY_FEATURES)


def test_run_train_saves_memory_and_reference(tmp_path, one_year):
    prep = one_year[0]
    meta = run_train([prep.sub], tmp_path / "m", seed=1)
    assert meta["memory_summary"]["provider_key"] > 3
    m = load_model(tmp_path / "m")
    assert m.reference is not None and len(m.reference) > 100


def test_the_memory_oracle_is_the_same_model_with_ids_so_it_keeps_the_constraints():
    """scripts/transfer.py compares the memory with trees given the ids instead; those trees keep
    the model's monotonic constraints, or the gap would measure the constraints, not the memory."""
    import importlib.util
    from pathlib import Path

    from scoring.model.features import SUBMISSION_FEATURES

    path = Path(__file__).resolve().parents[2] / "scripts" / "transfer.py"
    spec = importlib.util.spec_from_file_location("transfer_script", path)
    transfer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(transfer)
    rng = np.random.default_rng(0)
    n = 1200
    X = pd.DataFrame({f: rng.random(n) for f in SUBMISSION_FEATURES})
    X["insurer_key"] = rng.choice(["A", "B", "C"], n)
    X["provider_key"] = rng.choice(["P", "Q"], n)
    # labels that contradict the regulation's direction: missing rises with the share of the fee spent
    y = np.where(rng.random(n) < X["spend_ratio"].to_numpy(), "missing", "adequate")
    grid = pd.concat([X.iloc[[0]]] * 11, ignore_index=True)
    grid["spend_ratio"] = np.linspace(0, 1, 11)
    p = transfer._oracle_scores(X, y, grid, seed=0)["missing"]
    assert MONOTONIC["missing"]["spend_ratio"] == -1
    assert np.all(np.diff(p) <= 1e-12)  # never rises, though the labels say it should


def test_typical_values_are_the_industrys_policies_not_the_inspected_ones(one_year):
    """"同行业通常为" in a reason is the median of every training policy of the industry. The
    inspected ones are picked for visible risk (few visits, low spend), so their median would
    make a normal policy read as busy."""
    prep, X, labels, t, _ = one_year
    typical = t.model.metadata["typical"]["services_per_year"]
    pop = population([prep])
    assert typical["all"] == pytest.approx(float(pop["services_per_year"].median()), abs=1e-6)
    inspected = float(X["services_per_year"].median())
    assert inspected < typical["all"]  # the targeting this guards against
