from pathlib import Path
import sys
import textwrap

import pandas as pd
import pytest

from datasets.synth import write_submission
from scoring import RulebookError
from scoring import load_submission
from scoring.rules.apply import FINDING_COLUMNS
from scoring.rules.run import run_rules
from scoring.rules.book import describe, load_rulebook

from ..helpers import world
from .test_checks import P, both, fired, run


def _write(tmp_path, text):
    path = tmp_path / "rb.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


RULE = """
    - code: MY_RULE
      severity: major
      scope: policy
      kind: column_vs_value
      clause: 某省规定
      effective_from: 2020-01-01
      params: {column: employees, op: lt, value: 5}
      message_zh: "从业人员 {observed} 人（{clause}）"
      message_en: "{observed} employees ({clause})"
"""


@pytest.mark.parametrize(
    "change,fragment",
    [
        ("kind: column_vs_value", "kind: no_such_kind"),
        ("severity: major", "severity: fatal"),
        ("op: lt", "op: below"),
        ("{column: employees, op: lt, value: 5}", "{column: employees, op: lt}"),
        ("{observed} 人", "{observd} 人"),
        ("scope: policy", "scope: region"),
    ],
)
def test_bad_rulebook_names_rule_and_field(tmp_path, change, fragment):
    text = "version: t1\nrules:" + RULE.replace(change, fragment)
    with pytest.raises(RulebookError) as e:
        load_rulebook(_write(tmp_path, text))
    assert "MY_RULE" in e.value.message_zh and "MY_RULE" in e.value.message_en


def test_overlapping_effective_periods_are_refused(tmp_path):
    text = "version: t1\nrules:" + RULE + RULE.replace("2020-01-01", "2021-01-01")
    with pytest.raises(RulebookError, match="overlap"):
        load_rulebook(_write(tmp_path, text))


def test_regional_override_may_not_loosen_a_floor(tmp_path):
    text = "version: t1\nrules:" + RULE + """
      overrides:
        - {region_prefix: "64", params: {value: 3}, source: 某文件}
    """
    with pytest.raises(RulebookError, match="stricter"):
        load_rulebook(_write(tmp_path, text))


def test_user_rulebook_extends_shipped_with_a_stricter_provincial_floor(tmp_path):
    shipped = load_rulebook()
    rule = next(r for r in shipped.rules if r.code == "LIMIT_DEATH_BELOW_FLOOR" and r.effective_to is None)
    data = rule.model_dump(mode="json")
    data["overrides"] = [{"region_prefix": "64", "params": {"value": 500000}, "source": "宁夏（示例）"}]
    import yaml

    path = tmp_path / "ningxia.yaml"
    path.write_text(yaml.safe_dump({"version": "nx1", "base": "shipped", "rules": [data]}, allow_unicode=True), encoding="utf-8")
    rb = load_rulebook(path)
    assert rb.version == f"{shipped.version}+nx1"
    assert len(rb.rules) == len(shipped.rules)
    mutate = both(P("start_date", "2025-04-01"), P("end_date", "2026-03-31"), P("death_limit_per_person", 450000))
    from . import test_checks

    old = test_checks.RULEBOOK
    try:
        test_checks.RULEBOOK = rb
        assert fired(run(tmp_path, mutate), "LIMIT_DEATH_BELOW_FLOOR", policy_id="P000")
        test_checks.RULEBOOK = shipped
        assert not fired(run(tmp_path, mutate), "LIMIT_DEATH_BELOW_FLOOR", policy_id="P000")
    finally:
        test_checks.RULEBOOK = old


def test_replacing_rulebook_runs_only_its_rules(tmp_path):
    rb = load_rulebook(_write(tmp_path, "version: t1\nrules:" + RULE))
    assert [r.code for r in rb.rules] == ["MY_RULE"]


def test_describe_lists_every_rule():
    d = describe(load_rulebook())
    assert {"code", "severity", "clause", "params", "effective_from", "effective_to"} <= set(d.columns)
    assert (d["code"] == "LIMIT_DEATH_BELOW_FLOOR").sum() == 2


def _keys(df):
    col = {"policy": "policy_id", "service": "service_id", "region": "region_code", "insurer": "insurer_id"}
    return {(r.rule_code, getattr(r, col[r.scope])) for r in df.itertuples()}


@pytest.mark.parametrize("n,seed", [(1500, 21), (2500, 4)])
def test_generated_violations_found_exactly(tmp_path, n, seed):
    """Precision and recall 1.0 per code against the generator's truth."""
    w = world(n, seed)
    sub = load_submission(write_submission(w, tmp_path / "s"))
    result = run_rules(sub)
    assert list(result.findings.columns) == FINDING_COLUMNS
    found, truth = _keys(result.findings), _keys(w.truth)
    codes = {c for c, _ in truth}
    assert codes == {c for c, _ in found}
    for code in sorted(codes):
        f = {k for c, k in found if c == code}
        t = {k for c, k in truth if c == code}
        assert f == t, (code, len(f - t), len(t - f))


def test_findings_are_in_a_stable_order(tmp_path):
    w = world(400, 3)
    sub = load_submission(write_submission(w, tmp_path / "s"))
    a = run_rules(sub).findings
    b = run_rules(sub).findings
    pd.testing.assert_frame_equal(a, b)
    assert a["scope"].map({"policy": 0, "service": 1, "region": 2, "insurer": 3}).is_monotonic_increasing


def test_background_rules_give_the_same_findings(tmp_path, monkeypatch):
    """On large submissions the duplicate photo / report checks run in a thread beside the others;
    the findings (and their order) are those of running everything in turn."""
    import scoring.rules.background as rulebook_mod

    w = world(1500, 21)
    sub = load_submission(write_submission(w, tmp_path / "s"))
    inline = run_rules(sub).findings
    monkeypatch.setattr(rulebook_mod, "BACKGROUND_ROWS", 1)
    threaded = run_rules(sub).findings
    assert {"INTEGRITY_DUPLICATE_PHOTO", "INTEGRITY_DUPLICATE_REPORT", "INSURER_BLACKLIST_CANDIDATE"} <= set(threaded["rule_code"])
    pd.testing.assert_frame_equal(inline, threaded)


def _die(i):
    import os

    os._exit(9)


def test_background_worker_dying_loses_no_findings(tmp_path, monkeypatch):
    """If the worker process dies (e.g. killed for memory), its rules are run in this process."""
    import scoring.rules.background as rulebook_mod

    w = world(600, 5)
    sub = load_submission(write_submission(w, tmp_path / "s"))
    inline = run_rules(sub).findings
    monkeypatch.setattr(rulebook_mod, "BACKGROUND_ROWS", 1)
    monkeypatch.setattr(rulebook_mod, "_run_forked", _die)
    pd.testing.assert_frame_equal(inline, run_rules(sub).findings)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_forked_rule_worker_ends_with_its_parent(tmp_path, sig):
    """A killed `scoring score` must not leave its rule worker running under PID 1 with its memory."""
    import os
    import signal
    import subprocess
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
        "from scoring.rules.background import worker_pool\n"
        "pool = worker_pool()\n"
        "import os\n"
        "print(pool.submit(os.getpid).result(), flush=True)\n"
        "pool.submit(time.sleep, 60)\n"
        "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    os.kill(worker, 0)  # alive
    parent.send_signal(getattr(signal, sig))
    parent.wait(timeout=10)
    for _ in range(50):
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        try:  # reaped by init, or still a zombie of ours: both are gone from the machine's memory
            with open(f"/proc/{worker}/status") as f:
                if "State:\tZ" in f.read():
                    return
        except FileNotFoundError:
            return
        time.sleep(0.1)
    os.kill(worker, signal.SIGKILL)
    raise AssertionError(f"worker {worker} outlived its parent ({sig})")


BAD_RULES = """
version: test
base: shipped
rules:
  - code: TEST_TYPO
    severity: major
    scope: policy
    kind: column_vs_value
    clause: 测试条款
    effective_from: 2020-01-01
    params: {column: onsite_hour, op: lt, value: 1, when_in: {industry: [coal, construction]}}
    message_zh: "{observed}"
    message_en: "{observed}"
  - code: TEST_SCOPE
    severity: majr
    scope: region
    kind: item_missing
    clause: 测试条款
    effective_from: 2020-01-01
    params: {item: risk_assessment, industries: high_risk}
    message_zh: "{observed}"
    message_en: "{observed}"
"""


def test_every_error_of_a_rulebook_is_reported_at_once_before_scoring(tmp_path):
    """An unknown column, a misspelled enum value, a bad severity and a kind on the wrong scope:
    exit 2 from `scoring rules`, all four in one message, each naming its rule and field, and
    no library English in the Chinese lines."""
    import re

    from typer.testing import CliRunner

    from scoring.cli import app

    path = tmp_path / "bad.yaml"
    path.write_text(BAD_RULES, encoding="utf-8")
    r = CliRunner().invoke(app, ["rules", "--rulebook", str(path)])
    assert r.exit_code == 2
    zh, _, en = r.output.partition("Error:")
    for needle in ("TEST_TYPO 的 params.column", "onsite_hour", "TEST_TYPO 的 params.when_in.industry", "coal 不是列 industry",
                   "TEST_SCOPE 的 severity", "TEST_SCOPE 的 scope", "只适用于 policy"):
        assert needle in zh, needle
    assert "4 处错误" in zh and "4 error(s)" in en
    for line in zh.splitlines()[1:]:
        words = re.findall(r"[A-Za-z]{3,}", re.sub(r"'[^']*'|[A-Za-z_]+[._][A-Za-z_.\[\]0-9]*|[A-Z_]{4,}", "", line))
        assert not [w for w in words if w.lower() in {"input", "should", "field", "required", "value", "error", "expected"}], line
    r = CliRunner().invoke(app, ["score", str(Path(__file__).parents[2] / "datasets" / "sample"), "--out", str(tmp_path / "o"), "--rulebook", str(path)])
    assert r.exit_code == 2 and not (tmp_path / "o").exists()


def test_rulebook_identity_follows_its_content_not_its_version(tmp_path):
    """Editing a rule changes the hashes even when the hand-typed version stays the same; a
    comment or the order of rules in the file does not."""
    import yaml

    from scoring.rules.book import SHIPPED, load_rulebook

    shipped = load_rulebook()
    data = yaml.safe_load((Path(__file__).parents[2] / "scoring" / "rules" / SHIPPED).read_text(encoding="utf-8"))
    data["rules"] = data["rules"][::-1]
    (tmp_path / "reordered.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    same = load_rulebook(tmp_path / "reordered.yaml")
    assert same.rules_sha256 == shipped.rules_sha256
    data["rules"][0]["name_zh"] = "改过的名称"  # rewording is not a different rule
    (tmp_path / "renamed.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    renamed = load_rulebook(tmp_path / "renamed.yaml")
    assert renamed.rules_sha256 == shipped.rules_sha256 and renamed.sha256 != shipped.sha256
    data["rules"][0]["severity"] = "minor" if data["rules"][0]["severity"] != "minor" else "major"
    (tmp_path / "edited.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    edited = load_rulebook(tmp_path / "edited.yaml")
    assert edited.version == shipped.version
    assert edited.rules_sha256 != shipped.rules_sha256 and edited.sha256 != shipped.sha256


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    """A kilobyte of nested aliases hung `scoring rules`: aliases are refused, exit 2."""
    from typer.testing import CliRunner

    from scoring.cli import app

    lines = ['version: "x"', 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    lines += ["rules: *a9"]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    assert bomb.stat().st_size < 1200
    r = CliRunner().invoke(app, ["rules", "--rulebook", str(bomb)])
    assert r.exit_code == 2 and "别名" in r.output and "aliases" in r.output


@pytest.mark.parametrize("spoil, says", [
    ("nested", "嵌套层数过多"), ("device", "不是普通文件"), ("huge", "超过上限"), ("many", "另有"),
])
def test_a_hostile_rulebook_is_refused_with_one_short_message(tmp_path, spoil, says):
    from typer.testing import CliRunner

    from scoring.cli import app

    path = tmp_path / "rb.yaml"
    if spoil == "nested":
        path.write_text("version: x\nrules: " + "[" * 3000 + "]" * 3000 + "\n")
    elif spoil == "device":
        path = "/dev/zero"
    elif spoil == "huge":
        path.write_text("version: x\n# " + "x" * (5 << 20) + "\nrules: []\n")
    else:
        path.write_text("version: x\nrules:\n" + "".join(f"  - {{code: R{i}, kind: nope}}\n" for i in range(300)))
    r = CliRunner().invoke(app, ["rules", "--rulebook", str(path)])
    assert r.exit_code == 2 and says in r.output and "Traceback" not in r.output
    assert len(r.output.splitlines()) < 130


@pytest.mark.parametrize("family, seed", [("drawn", 3), ("held_out", 201)])
def test_generated_violations_found_exactly_in_other_worlds(tmp_path, family, seed):
    """A drawn world (partial photo hashes, other coverage) and a world of the held-out family
    (group trainings sharing photos and texts): the checks find exactly the generator's truth."""
    from datasets.synth import draw_held_out, draw_world, generate

    w = generate((draw_world if family == "drawn" else draw_held_out)(seed, 1500))
    result = run_rules(load_submission(write_submission(w, tmp_path / "s")))
    found = {k for k in _keys(result.findings) if not k[0].startswith(("MARKET_", "INSURER_", "LOSS_RATIO"))}
    truth = {k for k in _keys(w.truth) if not k[0].startswith(("MARKET_", "INSURER_", "LOSS_RATIO"))}
    assert found == truth, (sorted(found - truth)[:3], sorted(truth - found)[:3])
