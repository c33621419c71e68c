import json
import shutil

import numpy as np
import pandas as pd
import pytest

from datasets.synth import write_submission
from scoring import RegistryError
from scoring.jobs import run_retrain, run_score
from scoring.model.registry import open_registry, psi

from ..helpers import world

pytestmark = pytest.mark.slow  # each test retrains a model


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("reg")
    full = write_submission(world(12000, 31), root / "full")
    # a weak start: the latest year not inspected yet; in the years before, few labels (30%),
    # 60% of them shuffled, except in the year before the latest (the weak model's own test year), of
    # which half the labels are kept, all correct
    weak = root / "weak"
    shutil.copytree(full, weak)
    insp = pd.read_csv(weak / "inspections.csv", dtype=str, keep_default_na=False)
    year = insp["policy_id"].str[1:5]
    newest = year == year.max()
    latest = year == str(int(year.max()) - 1)
    rng = np.random.default_rng(2)
    keep = ~newest & (rng.random(len(insp)) < np.where(latest, 0.5, 0.3))
    insp = insp[keep].copy()
    noisy = ~latest[keep].to_numpy() & (rng.random(len(insp)) < 0.6)
    insp.loc[noisy, "outcome"] = rng.permutation(insp.loc[noisy, "outcome"].to_numpy())
    insp.to_csv(weak / "inspections.csv", index=False)
    shuffled = root / "shuffled"
    shutil.copytree(full, shuffled)
    insp = pd.read_csv(shuffled / "inspections.csv", dtype=str, keep_default_na=False)
    insp["outcome"] = np.random.default_rng(3).permutation(insp["outcome"].to_numpy())
    insp.to_csv(shuffled / "inspections.csv", index=False)
    return {"full": full, "weak": weak, "shuffled": shuffled, "root": root}


@pytest.fixture(scope="module")
def registry(data):
    reg = data["root"] / "registry"
    first = run_retrain([data["weak"]], reg)
    assert first.action == "promote" and first.champion_before is None, first.reason_en
    return reg


def test_shuffled_labels_are_never_promoted(data, registry):
    before = open_registry(registry).champion
    d = run_retrain([data["shuffled"]], registry)
    assert d.action == "keep"
    assert open_registry(registry).champion == before


def test_more_correct_labels_are_promoted_and_recorded(data, registry):
    before = open_registry(registry).champion
    d = run_retrain([data["full"]], registry)
    assert d.action == "promote", d.reason_en
    reg = open_registry(registry)
    assert reg.champion == d.challenger != before
    last = reg.history[-1]
    dumped = last.model_dump()
    assert {"metrics", "feature_psi", "label_drift", "evaluated_on", "data_sha256", "input_sha256"} <= set(dumped)
    assert dumped["evaluated_on"]["n"] > 0 and "ap_difference_ci" in dumped["evaluated_on"]
    md = (registry / "decisions.md").read_text(encoding="utf-8")
    assert d.challenger in md and "晋升条件" in md
    card = (registry / d.challenger / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "晋升规则" in card


def test_too_few_labels_means_no_promotion(tmp_path):
    sub = write_submission(world(1500, 5), tmp_path / "s")
    d = run_retrain([sub], tmp_path / "reg")
    assert d.action == "keep"
    assert "too few labels" in d.reason_en and "标签不足" in d.reason_zh
    assert open_registry(tmp_path / "reg").champion is None


def test_rollback_restores_byte_identical_scores(data, registry, tmp_path):
    reg = open_registry(registry)
    first = reg.history[0].challenger
    small = write_submission(world(300, 9), tmp_path / "s")
    run_score(small, tmp_path / "direct", model_dir=registry / first)
    d = run_retrain([], registry, rollback_to=first)
    assert d.action == "rollback" and open_registry(registry).champion == first
    run_score(small, tmp_path / "via_registry", model_dir=registry)
    for name in ("policy_scores.csv", "explanations.jsonl"):
        assert (tmp_path / "direct" / name).read_bytes() == (tmp_path / "via_registry" / name).read_bytes()
    with pytest.raises(RegistryError):
        run_retrain([], registry, rollback_to="v999-nothing")


@pytest.mark.parametrize("where", ["../elsewhere", "absolute", "planted"])
def test_rollback_takes_only_versions_in_the_history(data, registry, tmp_path, where):
    """A model elsewhere, or one dropped into the registry by hand, would bypass the promotion rule."""
    reg = open_registry(registry)
    source = registry / reg.history[0].challenger
    if where == "../elsewhere":
        shutil.copytree(source, registry.parent / "elsewhere", dirs_exist_ok=True)
        version = "../elsewhere"
    elif where == "absolute":
        shutil.copytree(source, tmp_path / "abs")
        version = str(tmp_path / "abs")
    else:
        shutil.copytree(source, registry / "v900-planted", dirs_exist_ok=True)
        version = "v900-planted"
    before = reg.champion
    with pytest.raises(RegistryError) as e:
        run_retrain([], registry, rollback_to=version)
    assert "只能回滚到" in e.value.message_zh and version in e.value.message_en
    assert open_registry(registry).champion == before


def test_corrupt_registry_is_refused_and_left_alone(data, tmp_path):
    reg = tmp_path / "reg"
    reg.mkdir()
    (reg / "registry.json").write_text("{\"champion\": 3, oops", encoding="utf-8")
    with pytest.raises(RegistryError) as e:
        run_retrain([data["weak"]], reg)
    assert "损坏" in e.value.message_zh and "corrupt" in e.value.message_en
    assert (reg / "registry.json").read_text(encoding="utf-8") == "{\"champion\": 3, oops"
    assert sorted(p.name for p in reg.iterdir()) == ["registry.json"]


def test_psi_sees_a_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, 5000)
    assert psi(a, rng.normal(0, 1, 5000)) < 0.05
    assert psi(a, rng.normal(1.0, 1, 5000)) > 0.25


def test_small_evaluations_carry_n_positives_and_an_interval():
    from scoring.model.registry import _eval

    rng = np.random.default_rng(0)
    y = (rng.random(60) < 0.3).astype(int)
    m = _eval(y, y * 0.4 + rng.random(60) * 0.6)
    assert m["n"] == 60 and m["positives"] == int(y.sum())
    lo, hi = m["average_precision_ci"]
    assert lo <= m["average_precision"] <= hi and hi - lo > 0
    big = _eval(np.r_[y, y], np.r_[y, y] * 0.4 + rng.random(120) * 0.6)
    assert big["n"] == 120 and "average_precision_ci" not in big


def test_concurrent_retrains_lose_no_decision(data, tmp_path):
    import threading

    reg = tmp_path / "reg"
    errors = []

    def go():
        try:
            run_retrain([data["weak"]], reg)
        except Exception as e:  # noqa: BLE001 - the test reports whatever happened
            errors.append(e)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    history = open_registry(reg).history
    assert len(history) == 2 and len({d.challenger for d in history}) == 2
    assert history[1].champion_before == history[0].champion_after  # the second saw the first's decision
    # the second had nothing left to judge on (the first, now champion, trained on every one of those labels)
    assert history[1].action == "keep" and history[1].evaluated_on["n"] == 0


def test_a_busy_registry_stops_with_a_message(tmp_path):
    from scoring.model.registry import registry_lock

    with registry_lock(tmp_path / "reg"):
        with pytest.raises(RegistryError) as e:
            with registry_lock(tmp_path / "reg", wait=0.3):
                pass
    assert "正被另一个" in e.value.message_zh and "in use" in e.value.message_en
    with registry_lock(tmp_path / "reg", wait=0.3):  # released when the first ended
        pass


def test_a_new_registry_starts_with_the_shipped_champion(tmp_path):
    """`scoring retrain --registry R --start-with-champion` gives an empty registry a champion, so
    `scoring score --model R` works before any local retraining; a second seeding is refused."""
    from typer.testing import CliRunner

    from scoring.cli import app
    from scoring.jobs import default_model_dir

    reg = tmp_path / "reg"
    r = CliRunner().invoke(app, ["retrain", "--registry", str(reg), "--start-with-champion"])
    assert r.exit_code == 0, r.output
    assert "设定初始冠军" in r.output and "None" not in r.output
    champion = open_registry(reg).champion
    shipped = json.loads((default_model_dir() / "metadata.json").read_text(encoding="utf-8"))
    assert champion == f"v000-{shipped['version']}"
    assert "设定初始冠军" in (reg / "decisions.md").read_text(encoding="utf-8")
    sub = write_submission(world(300, 9), tmp_path / "s")
    r = CliRunner().invoke(app, ["score", str(sub), "--out", str(tmp_path / "o"), "--model", str(reg), "--quiet"])
    assert r.exit_code == 0, r.output
    run = json.loads((tmp_path / "o" / "run.json").read_text(encoding="utf-8"))
    assert run["model_sha256"] == shipped["artifact_sha256"]
    r = CliRunner().invoke(app, ["retrain", "--registry", str(reg), "--start-with-champion"])
    assert r.exit_code == 1 and "已有冠军" in r.output


@pytest.fixture
def seeded(tmp_path):
    from scoring.jobs import default_model_dir
    from scoring.model.registry import seed

    reg = tmp_path / "reg"
    seed(reg, default_model_dir())
    return reg


@pytest.mark.parametrize("champion", ["../elsewhere", "v009-handmade", "/tmp/outside"])
def test_a_champion_that_no_decision_chose_is_refused(seeded, tmp_path, champion):
    """registry.json edited to point its champion elsewhere (outside, or a directory dropped in)
    is refused by score --model REGISTRY as rollback refuses such a version."""
    from typer.testing import CliRunner

    from scoring.cli import app

    (seeded / "v009-handmade").mkdir()
    shutil.copytree(seeded / open_registry(seeded).champion, seeded / "v009-handmade", dirs_exist_ok=True)
    doc = json.loads((seeded / "registry.json").read_text(encoding="utf-8"))
    doc["champion"] = champion
    (seeded / "registry.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(RegistryError) as e:
        open_registry(seeded)
    assert "决策记录" in e.value.message_zh
    sub = write_submission(world(200, 9), tmp_path / "s")
    r = CliRunner().invoke(app, ["score", str(sub), "--out", str(tmp_path / "o"), "--model", str(seeded), "--quiet"])
    assert r.exit_code == 1 and "决策记录" in r.output and not (tmp_path / "o").exists()


def test_what_a_killed_retrain_left_is_cleaned_by_the_next_run(seeded):
    """A hidden temporary, an orphan version directory, a half-written .registry.json.* and a
    decision log one decision behind registry.json: the next run under the lock leaves none."""
    from scoring.model.registry import rollback

    champion = open_registry(seeded).champion
    shutil.copytree(seeded / champion, seeded / "v001-0rphan00")  # saved, never decided
    (seeded / ".v002-abcdef12.tmp-999999-x").mkdir()
    (seeded / ".v002-abcdef12.tmp-999999-x" / "missing.skops").write_bytes(b"half")
    (seeded / ".registry.json.k1ll3d").write_text('{"champ')
    log = (seeded / "decisions.md").read_text(encoding="utf-8")
    (seeded / "decisions.md").write_text(log.split("## ")[0], encoding="utf-8")  # the decision not yet logged
    rollback(seeded, champion)
    names = sorted(p.name for p in seeded.iterdir())
    assert names == sorted([".lock", "decisions.md", "registry.json", champion])
    reg = open_registry(seeded)
    text = (seeded / "decisions.md").read_text(encoding="utf-8")
    assert text.count("## ") == len(reg.history) == 2 and "设定初始冠军" in text and "回滚" in text
