"""End to end: ``scoring score`` on small generated submissions."""
import hashlib
import os
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from datasets.synth import write_submission
from scoring.cli import app
from scoring import score as run_score

from .helpers import set_cell, world

OUTPUTS = ["policy_scores.csv", "findings.csv", "explanations.jsonl", "insurer_summary.csv", "rejected.csv", "run.json", "report.html"]


@pytest.fixture(scope="module")
def sub(tmp_path_factory):
    return write_submission(world(800, 12), tmp_path_factory.mktemp("score") / "s")


@pytest.fixture(scope="module")
def run1(sub, tmp_path_factory):
    out = tmp_path_factory.mktemp("o") / "run"
    run_score(sub, out)
    return out


def test_every_output_is_written_and_rows_balance(run1):
    for name in OUTPUTS:
        assert (run1 / name).exists(), name
    run = json.loads((run1 / "run.json").read_text())
    w = world(800, 12)
    for table, df in w.tables.items():
        t = run["tables"][table]
        assert t["rows_in"] == len(df) == t["rows_scored"] + t["rows_rejected"]
    scores = pd.read_csv(run1 / "policy_scores.csv", dtype=str, keep_default_na=False)
    assert len(scores) == run["policies_scored"] == len(w.tables["policies"])
    assert sorted(scores["priority"].astype(int)) == list(range(1, len(scores) + 1))
    assert {"model_version", "rulebook_version", "started_at", "finished_at", "tool_version", "input_sha256", "as_of"} <= set(run)


def test_flags_sit_within_capacity_and_find_real_problems(run1):
    scores = pd.read_csv(run1 / "policy_scores.csv", dtype=str, keep_default_na=False)
    run = json.loads((run1 / "run.json").read_text())
    flagged = scores[scores["flag"] != ""]
    assert 0 < len(flagged) <= run["capacity"]
    assert flagged["priority"].astype(int).max() <= run["capacity"]
    hidden = world(800, 12).hidden.set_index("policy_id")["quality"]
    hit = (hidden.reindex(flagged["policy_id"]) != "adequate").mean()
    base = (hidden != "adequate").mean()
    assert hit > base + 0.2  # flags are far richer in missing / poor service than the population
    assert flagged["reasons"].str.startswith("模型：").all()
    expl = [json.loads(line) for line in (run1 / "explanations.jsonl").read_text().splitlines()]
    assert [e["policy_id"] for e in expl] == flagged["policy_id"].tolist()
    for e in expl:
        assert abs(e["base_value"] + sum(c["shap"] for c in e["contributions"]) - e["raw_output"]) < 1e-6


def test_planted_findings_are_in_findings_csv(run1):
    f = pd.read_csv(run1 / "findings.csv", dtype=str, keep_default_na=False)
    truth = world(800, 12).truth
    for code in ("LIMIT_DEATH_BELOW_FLOOR", "PREVENTION_FEE_ACCOUNT_IMPROPER", "SERVICE_REPORT_BEFORE_SERVICE"):
        want = set(truth.loc[truth["rule_code"] == code, "policy_id"])
        assert want and want <= set(f.loc[f["rule_code"] == code, "policy_id"])
    assert list(f.columns[:12]) == ["scope", "policy_id", "insurer_id", "region_code", "rule_code", "severity", "clause",
                                    "observed", "expected", "message_zh", "message_en", "service_id"]


def _digests(folder):
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in OUTPUTS if not n.endswith((".json", ".html"))}


def test_same_input_gives_byte_identical_results(sub, run1, tmp_path):
    run_score(sub, tmp_path / "again")
    assert _digests(run1) == _digests(tmp_path / "again")


def test_hostile_text_is_escaped_and_formulas_neutralised(sub, tmp_path):
    import shutil

    hostile = tmp_path / "h"
    shutil.copytree(sub, hostile)
    pol = pd.read_csv(hostile / "policies.csv", dtype=str, keep_default_na=False)
    out = tmp_path / "o"
    run_score(hostile, out)  # baseline to find a flagged policy
    flagged = pd.read_csv(out / "policy_scores.csv", dtype=str, keep_default_na=False).iloc[0]["policy_id"]
    row = int((pol["policy_id"] == flagged).to_numpy().nonzero()[0][0])
    set_cell(hostile, "policies", row, "enterprise_name", "<script>alert(1)</script>")
    set_cell(hostile, "policies", row + 1, "insurer_id", "=HYPERLINK(\"http://x\")")
    out2 = tmp_path / "o2"
    run_score(hostile, out2)
    html = (out2 / "report.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # a formula identifier is refused at intake; the text quoted in rejected.csv is neutralised
    rejected = (out2 / "rejected.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in rejected and ",=HYPERLINK" not in rejected and ',"=HYPERLINK' not in rejected
    assert "=HYPERLINK" not in (out2 / "policy_scores.csv").read_text(encoding="utf-8-sig")
    assert "http://" not in html.split("<body>")[0]  # no external resources in the head


def test_report_is_self_contained(run1):
    html = (run1 / "report.html").read_text(encoding="utf-8")
    import re

    assert "<link" not in html and "src=" not in html.split("<svg")[0] and "<script src" not in html
    for script in re.findall(r"<script>(.*?)</script>", html, flags=re.S):  # inline only, and it stays in the page
        assert not re.search(r"fetch\(|XMLHttpRequest|https?:|import\(|\.src\s*=", script)
    assert html.count("<svg") >= 2
    assert "通知61号（四）" in html and "通知61号（六）" in html


def test_report_numbers_stay_on_one_line(run1):
    """Printed, the insurer table broke four-digit policy counts over two lines ("112" / "7")
    once a submission had 1,000+ policies per insurer: number cells never wrap."""
    import re

    html = (run1 / "report.html").read_text(encoding="utf-8")
    assert re.search(r"td\.num\s*\{[^}]*white-space:\s*nowrap", html)
    assert '<td class="num">' in html


def test_failed_run_leaves_nothing_half_written(sub, tmp_path, monkeypatch):
    import scoring.jobs

    out = tmp_path / "out"
    out.mkdir()
    (out / "policy_scores.csv").write_text("old results\n")
    (out / "run.json").write_text('{"tool_version": "0"}')  # an earlier result set

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(scoring.jobs, "render_report", boom)
    with pytest.raises(RuntimeError):
        run_score(sub, out)
    assert sorted(p.name for p in out.iterdir()) == ["policy_scores.csv", "run.json"]
    assert (out / "policy_scores.csv").read_text() == "old results\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp")]


def test_cli_score_exit_codes(sub, tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "services.csv").write_text("service_id\n")
    r = runner.invoke(app, ["score", str(bad), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and not (tmp_path / "x").exists()
    r = runner.invoke(app, ["score", str(sub), "--out", str(tmp_path / "y"), "--capacity", "20", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "报告 " in r.output and " / report: " in r.output
    scores = pd.read_csv(tmp_path / "y" / "policy_scores.csv", dtype=str, keep_default_na=False)
    assert (scores["flag"] != "").sum() <= 20
    r = runner.invoke(app, ["score", str(sub), "--out", str(tmp_path / "z"), "--model", str(tmp_path / "nomodel")])
    assert r.exit_code == 1 and "metadata.json" in r.output


def test_jsonl_from_arrow_writes_exactly_the_lines(tmp_path):
    import pyarrow as pa

    from scoring.writers import write_jsonl

    lines = ['{"a": 1}\n', '{"b": "中文"}\n', '{"c": 3}\n', '{"d": 4}\n']
    chunked = pa.chunked_array([pa.array(lines[:1]), pa.array([], pa.string()), pa.array(["x"] + lines[1:]).slice(1)])
    write_jsonl(chunked, tmp_path / "a.jsonl")
    write_jsonl(lines, tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes() == "".join(lines).encode()


def test_jsonl_from_arrow_in_a_given_order(tmp_path):
    import pyarrow as pa

    from scoring.writers import write_jsonl

    lines = [f'{{"n": {i}}}\n' for i in range(7)]
    chunked = pa.chunked_array([pa.array(lines[:3]), pa.array([], pa.string()), pa.array(["x"] + lines[3:]).slice(1)])
    order = [6, 0, 3, 2, 5, 1, 4]
    write_jsonl(chunked, tmp_path / "a.jsonl", order=order)
    assert (tmp_path / "a.jsonl").read_text() == "".join(lines[i] for i in order)


@pytest.mark.parametrize("case", ["out_is_a_file", "parent_not_writable", "capacity_zero", "capacity_negative"])
def test_bad_arguments_stop_before_any_work(tmp_path, monkeypatch, case):
    """Checked before the submission is read: no work is wasted and nothing is written."""
    import os

    from scoring import jobs as pipeline
    from scoring import OptionError

    read = []
    monkeypatch.setattr(pipeline.Engine, "load", lambda *a, **k: read.append(1) or (_ for _ in ()).throw(AssertionError))
    out, capacity = tmp_path / "out", None
    if case == "out_is_a_file":
        out.write_text("not a directory")
    elif case == "parent_not_writable":
        if os.geteuid() == 0:
            pytest.skip("root can write anywhere")
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        out = locked / "out"
    else:
        capacity = 0 if case == "capacity_zero" else -5
    with pytest.raises(OptionError) as e:
        pipeline.run_score(tmp_path / "nowhere", out, capacity=capacity)
    assert not read
    assert ("--out" in e.value.message_en) if case.startswith(("out", "parent")) else ("--capacity" in e.value.message_zh)


@pytest.mark.parametrize("spoil, says", [
    (lambda df: df.iloc[0:0], "只有表头"),  # a header-only policies file
    (lambda df: df.assign(employees="0"), "全部被拒收"),  # every policy rejected
])
def test_nothing_to_score_still_explains_itself(sub, tmp_path, spoil, says):
    """No policy survives validation: exit 2, and rejected.csv, run.json and a report say why."""
    import shutil

    s = tmp_path / "s"
    shutil.copytree(sub, s)
    pol = pd.read_csv(s / "policies.csv", dtype=str, keep_default_na=False)
    pol = spoil(pol)
    pol.to_csv(s / "policies.csv", index=False)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["score", str(s), "--out", str(out), "--quiet"])
    assert r.exit_code == 2 and says in r.output and "no policy can be scored" in r.output
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["policies_scored"] == 0 and run["status"] == "nothing_scored" and says in run["message_zh"]
    assert all(t["balanced"] for t in run["tables"].values())
    rejected = pd.read_csv(out / "rejected.csv", dtype=str, keep_default_na=False)
    assert len(rejected) == run["rows_rejected_total"] >= len(pol) + len(pd.read_csv(s / "services.csv"))
    assert list(pd.read_csv(out / "policy_scores.csv").columns)[:3] == ["policy_id", "insurer_id", "region_code"]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert says in html and "保险机构评级" not in html


def _dead_pid() -> int:
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two_renames"])
def test_result_set_is_swapped_whole(tmp_path, monkeypatch, exchange):
    """The new set replaces the old one in one switch: no file of the old set survives beside the
    new ones, except the review database, which is carried over by name."""
    import scoring.files as results

    if not exchange:
        monkeypatch.setattr(results, "_exchange", lambda a, b: False)
    out = tmp_path / "run"
    manifest = b'{"tool_version": "0"}'
    with results.atomic_dir(out) as tmp:
        (tmp / "policy_scores.csv").write_text("old\n")
        (tmp / "findings.csv").write_text("old\n")
        (tmp / "rate_adequacy.csv").write_text("old\n")  # not written by the next run: must not survive it
        (tmp / "run.json").write_bytes(manifest)
    (out / "review.sqlite").write_bytes(b"verdicts")
    before = out.stat().st_ino
    with results.atomic_dir(out) as tmp:
        (tmp / "policy_scores.csv").write_text("new\n")
        (tmp / "findings.csv").write_text("new\n")
        (tmp / "run.json").write_bytes(manifest)
    assert out.stat().st_ino != before  # a different directory, switched in whole
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {
        "policy_scores.csv": b"new\n", "findings.csv": b"new\n", "run.json": manifest, "review.sqlite": b"verdicts"}
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_temporaries_of_killed_runs_are_cleaned_and_a_set_left_aside_is_restored(tmp_path):
    from scoring.files import atomic_dir

    dead, out = _dead_pid(), tmp_path / "run"
    (tmp_path / f".run.tmp-{dead}-abc").mkdir()
    (tmp_path / f".run.tmp-{dead}-abc" / "big.csv").write_text("x" * 1000)
    (tmp_path / f".run.old-{dead}-def" / "set").mkdir(parents=True)  # killed between two renames
    (tmp_path / f".run.old-{dead}-def" / "set" / "policy_scores.csv").write_text("previous\n")
    (tmp_path / f".run.old-{dead}-def" / "set" / "run.json").write_text('{"tool_version": "0"}')
    live = tmp_path / f".run.tmp-{os.getpid()}-ghi"  # a run still going: left alone
    live.mkdir()
    with pytest.raises(RuntimeError):
        with atomic_dir(out):
            raise RuntimeError("stop")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["run", live.name])
    assert (out / "policy_scores.csv").read_text() == "previous\n"


@pytest.mark.slow
def test_killed_score_leaves_only_a_temporary_the_next_run_removes(sub, tmp_path):
    """SIGKILL of `scoring score` while it writes: the old results stay whole, and the next run
    removes what the killed one left."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    run_score(sub, out)
    first = (out / "policy_scores.csv").read_bytes()
    proc = subprocess.Popen([sys.executable, "-m", "scoring", "score", str(sub), "--out", str(out), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob(".run.tmp-*")) and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / "policy_scores.csv").read_bytes() == first
    run_score(sub, out)
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_as_of_means_as_known_on_that_date(sub, tmp_path):
    """Policies starting after --as-of are not scored; services and inspections dated after it are
    not used; run.json counts both."""
    pol = pd.read_csv(sub / "policies.csv", dtype=str, keep_default_na=False)
    svc = pd.read_csv(sub / "services.csv", dtype=str, keep_default_na=False)
    insp = pd.read_csv(sub / "inspections.csv", dtype=str, keep_default_na=False)
    as_of = sorted(pol["start_date"])[len(pol) // 2]
    out = tmp_path / "o"
    run_score(sub, out, as_of=as_of)
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    later = set(pol.loc[pol["start_date"] > as_of, "policy_id"])
    svc_after = (svc["service_date"] > as_of) | svc["policy_id"].isin(later)
    insp_after = (insp["inspection_date"] > as_of) | insp["policy_id"].isin(later)
    clm = pd.read_csv(sub / "claims.csv", dtype=str, keep_default_na=False)
    clm_after = (clm["report_date"] > as_of) | clm["policy_id"].isin(later)
    assert run["out_of_scope"] == {"as_of": as_of, "policies_not_started": len(later), "services_after": int(svc_after.sum()),
                                   "inspections_after": int(insp_after.sum()), "claims_after": int(clm_after.sum())}
    assert 0 < len(later) < len(pol)
    scores = pd.read_csv(out / "policy_scores.csv", dtype=str, keep_default_na=False)
    assert set(scores["policy_id"]) == set(pol["policy_id"]) - later and run["policies_scored"] == len(pol) - len(later)
    findings = pd.read_csv(out / "findings.csv", dtype=str, keep_default_na=False)
    assert not set(findings["policy_id"]) & later
    assert not set(findings["service_id"]) & set(svc.loc[svc_after, "service_id"])
    assert "其后起保的" in (out / "report.html").read_text(encoding="utf-8")


def test_run_records_the_rulebook_in_force(run1):
    from scoring import load_rulebook

    run = json.loads((run1 / "run.json").read_text(encoding="utf-8"))
    rb = load_rulebook()
    assert run["rulebook_sha256"] == rb.sha256 and len(rb.sha256) == 64
    assert run["rules_match_model"]["in_force"] == rb.rules_sha256 and run["rules_match_model"]["match"] is True
    assert run["out_of_scope"]["policies_not_started"] == 0


def test_rules_unlike_the_models_warn(sub, tmp_path):
    """A rulebook whose rules decide findings differently from those the model was trained with
    (here one severity changed) warns on the terminal and in the report, and run.json says so."""
    (tmp_path / "rb.yaml").write_text("""
version: local
base: shipped
rules:
  - code: SERVICE_NOT_SIGNED
    name_zh: 服务记录无投保单位签字
    severity: critical
    scope: service
    kind: column_equals
    clause: AQ9010 第6章：服务记录经双方确认
    effective_from: 2020-02-01
    params: {column: enterprise_signed, value: false}
    message_zh: 服务记录无投保单位签字确认（{clause}）
    message_en: the record is not signed by the insured enterprise ({clause})
""", encoding="utf-8")
    r = CliRunner().invoke(app, ["score", str(sub), "--out", str(tmp_path / "o"), "--rulebook", str(tmp_path / "rb.yaml"), "--quiet"])
    assert r.exit_code == 0, r.output
    assert "规则不同" in r.output and "differ from those the model was trained with" in r.output
    run = json.loads((tmp_path / "o" / "run.json").read_text(encoding="utf-8"))
    assert run["rules_match_model"]["match"] is False
    assert "规则不同" in (tmp_path / "o" / "report.html").read_text(encoding="utf-8")


def test_csv_outputs_open_in_excel_on_chinese_windows(run1):
    """results-format v1.1: every CSV starts with a UTF-8 byte-order mark, without which Excel on a
    Chinese Windows decodes the file as GBK; readers that strip a BOM see the same header."""
    for name in ("policy_scores.csv", "findings.csv", "insurer_summary.csv", "rejected.csv"):
        raw = (run1 / name).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), name
        assert not raw[3:].startswith(b"\xef\xbb\xbf")
        assert pd.read_csv(run1 / name, nrows=0).columns[0] in ("policy_id", "scope", "insurer_id", "table")


def test_no_reason_pushes_from_a_typical_value(run1):
    """A reason that says "X is v (typically v), pushing up …" contradicts itself: such a
    contribution is kept in explanations.jsonl (as_reason false, said in words) and not offered
    as a reason in policy_scores.csv or the report."""
    import re

    pattern = re.compile(r"为 ([^（，；]+)（同行业通常为 ([^）]+)）")
    scores = pd.read_csv(run1 / "policy_scores.csv", dtype=str, keep_default_na=False)
    shown = [m for text in scores["reasons"] for m in pattern.findall(text)]
    assert shown and all(v != t for v, t in shown)
    n_kept = 0
    with open(run1 / "explanations.jsonl", encoding="utf-8") as f:
        for line in f:
            for c in json.loads(line)["contributions"]:
                m = pattern.search(c["text_zh"])
                if c["as_reason"]:
                    assert not (m and m.group(1) == m.group(2)), c
                else:
                    n_kept += 1
                    assert "与同行业通常水平相同" in c["text_zh"]
    assert n_kept > 0
    html = (run1 / "report.html").read_text(encoding="utf-8")
    assert all(v != t for v, t in pattern.findall(html))
    assert "为 无记录" not in html and "为 无记录" not in "".join(scores["reasons"])


def test_report_names_rules_and_severities_in_chinese(run1):
    """Rule codes appear only small beside their Chinese names; severities read 严重/较重/一般;
    tables are named in Chinese; the page fits a 1366 px window (measured where Chromium is)."""
    import re

    from scoring import load_rulebook

    html = (run1 / "report.html").read_text(encoding="utf-8")
    codes = {r.code for r in load_rulebook().rules}
    bare = re.sub(r'<small class="code">[^<]*</small>', "", html)
    bare = re.sub(r"<script>.*?</script>", "", bare, flags=re.S)
    assert not [c for c in codes if re.search(rf"\b{c}\b", bare)]
    assert 'class="sev-critical">严重<' in html and ">critical<" not in bare and ">major<" not in bare
    assert "<td>保单<small" in html and "<td>policies</td>" not in html
    findings = pd.read_csv(run1 / "findings.csv", dtype=str, keep_default_na=False)
    assert (findings["rule_name_zh"] != "").all() and set(findings["severity_zh"]) <= {"严重", "较重", "一般"}


@pytest.mark.skipif(__import__("shutil").which("chromium") is None, reason="needs Debian's chromium")
def test_report_fits_a_1366_px_window(run1):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "report_width.py"
    r = subprocess.run([sys.executable, str(script), str(run1 / "report.html"), "1366"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("value", ["20211231", "2021-W52-1", "2021-12-32", "9999-12-31", "tomorrow", "2021-12-31 08:30", "2021-12/31",
                                   "2021年12-31", "2098-01-01"])
def test_an_as_of_date_that_is_not_one_exits_2_before_any_work(sub, tmp_path, value):
    r = CliRunner().invoke(app, ["score", str(sub), "--out", str(tmp_path / "o"), "--quiet", "--as-of", value])
    assert r.exit_code == 2 and "--as-of" in r.output and "不是有效日期" in r.output and "not a valid date" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "o").exists()


def test_the_as_of_date_reads_every_form_the_data_accepts():
    from scoring.jobs import as_of_option

    days = {str(as_of_option(v)) for v in ("2025-12-31", "2025/12/31", "2025年12月31日", " 2025-12-31 ")}
    assert days == {"2025-12-31"}
