import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import SubmissionError
from scoring import load_submission
from scoring import validate as run_validate
from scoring.schema import TABLES

from ..helpers import set_cell, world, write


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return write(tmp_path_factory.mktemp("clean"))


@pytest.fixture
def sub(clean, tmp_path):
    dst = tmp_path / "sub"
    shutil.copytree(clean, dst)
    return dst


def test_generated_submission_is_accepted_whole(clean):
    s = load_submission(clean)
    w = world()
    for name, df in w.tables.items():
        assert s.counts[name].rows_in == len(df)
        assert s.counts[name].rows_rejected == 0
        assert len(s[name]) == len(df)
    assert s.rejected.empty
    assert s["policies"]["start_date"].dtype == "datetime64[s]"
    assert s["services"]["hazards_found"].dtype == np.int64
    assert s["policies"]["covers_rescue"].dtype == bool


# (table, 0-based data row, column, bad value, column named in rejected.csv, message fragment)
BAD_CELLS = [
    ("policies", 5, "policy_id", "", "policy_id", "为空"),
    ("policies", 5, "insurer_id", " ", "insurer_id", "为空"),
    ("policies", 6, "enterprise_id", "91110000600037341X", "enterprise_id", "GB 32100"),
    ("policies", 6, "enterprise_id", "9111000060003734", "enterprise_id", "统一社会信用代码"),
    ("policies", 7, "region_code", "990200", "region_code", "GB/T 2260"),
    ("policies", 7, "region_code", "64020", "region_code", "行政区划代码"),
    ("policies", 8, "industry", "mining", "industry", "不在允许范围内"),
    ("policies", 9, "employees", "0", "employees", "小于下限 1"),
    ("policies", 9, "employees", "3.5", "employees", "不是整数"),
    ("policies", 10, "start_date", "2023-13-01", "start_date", "不是有效日期"),
    ("policies", 10, "start_date", "2023-02-30", "start_date", "不是有效日期"),
    ("policies", 11, "end_date", "2001-01-01", "end_date", "不晚于保险起期"),
    ("policies", 12, "premium", "-5", "premium", "应大于 0"),
    ("policies", 12, "premium", "abc", "premium", "不是有效数字"),
    ("policies", 12, "premium", "1,2,3", "premium", "不是有效数字"),
    ("policies", 13, "premium_base", "0", "premium_base", "应大于 0"),
    ("policies", 14, "death_limit_per_person", "-1", "death_limit_per_person", "小于下限 0"),
    ("policies", 15, "covers_rescue", "maybe", "covers_rescue", "不是布尔值"),
    ("policies", 16, "standardization_grade", "4", "standardization_grade", "不在允许范围内"),
    ("policies", 17, "prevention_fee_account", "bank", "prevention_fee_account", "不在允许范围内"),
    ("policies", 18, "commission_rate", "1.5", "commission_rate", "大于上限 1"),
    ("policies", 19, "enterprise_lat", "95", "enterprise_lat", "大于上限 90"),
    ("policies", 20, "premium_base_type", "", "premium_base_type", "为空"),
    ("services", 3, "policy_id", "P_NOT_THERE", "policy_id", "不在保单表中"),
    ("services", 4, "service_item", "party", "service_item", "不在允许范围内"),
    ("services", 5, "staff_ids", "", "staff_ids", "为空"),
    ("services", 6, "service_date", "2023/02/30", "service_date", "不是有效日期"),
    ("services", 7, "onsite_hours", "-1", "onsite_hours", "小于下限 0"),
    ("services", 8, "hazards_rectified", "99", "hazards_rectified", "大于发现隐患数"),
    ("services", 9, "enterprise_signed", "x", "enterprise_signed", "不是布尔值"),
    ("services", 10, "photo_count", "-1", "photo_count", "小于下限 0"),
    ("services", 11, "satisfaction", "6", "satisfaction", "大于上限 5"),
    ("services", 12, "cost", "free", "cost", "不是有效数字"),
    ("services", 13, "followup_date", "soon", "followup_date", "不是有效日期"),
    ("staff", 2, "qualification", "phd", "qualification", "不在允许范围内"),
    ("staff", 3, "years_experience", "-2", "years_experience", "小于下限 0"),
    ("inspections", 1, "outcome", "good", "outcome", "不在允许范围内"),
    ("inspections", 2, "policy_id", "P_NOT_THERE", "policy_id", "不在保单表中"),
    ("inspections", 3, "inspection_date", "yesterday", "inspection_date", "不是有效日期"),
    ("inspections", 4, "selection", "lottery", "selection", "不在允许范围内"),
    # numbers that cannot be held are rejected, not wrapped round or made infinite
    ("policies", 21, "employees", "99999999999999999999", "employees", "超出可表示的数值范围"),
    ("policies", 22, "premium", "1e999", "premium", "超出可表示的数值范围"),
    ("services", 14, "cost", "-1e400", "cost", "超出可表示的数值范围"),
    # only an empty cell is empty: null markers in a number column are text, shown as written
    ("policies", 23, "employees", "NULL", "employees", '值 "NULL" 不是整数'),
    ("services", 15, "cost", "N/A", "cost", '值 "N/A" 不是有效数字'),
    ("policies", 24, "premium", "NaN", "premium", '值 "NaN" 不是有效数字'),
]


@pytest.mark.parametrize("table,row,column,value,named,fragment", BAD_CELLS, ids=[f"{c[0]}.{c[2]}={c[3]!r}" for c in BAD_CELLS])
def test_bad_cell_is_rejected_with_its_place(sub, tmp_path, table, row, column, value, named, fragment):
    set_cell(sub, table, row, column, value)
    out = tmp_path / "out"
    run_validate(sub, out)
    rej = pd.read_csv(out / "rejected.csv", dtype=str, keep_default_na=False)
    hit = rej[(rej["table"] == table) & (rej["row"] == str(row + 2))]
    assert len(hit) == 1, rej
    assert hit["column"].iloc[0] == named
    assert fragment in hit["message_zh"].iloc[0]
    assert f"{table}.csv 第 {row + 2} 行" in hit["message_zh"].iloc[0]
    assert f"{table}.csv row {row + 2}" in hit["message_en"].iloc[0]
    s = load_submission(sub)
    c = s.counts[table]
    assert c.rows_in == c.rows_accepted + c.rows_rejected


def test_agency_service_requires_agency_id(sub):
    svc = pd.read_csv(sub / "services.csv", dtype=str, keep_default_na=False)
    row = int(np.flatnonzero(svc["provider_type"] == "agency")[0])
    set_cell(sub, "services", row, "agency_id", "")
    rej = load_submission(sub).rejected
    assert rej[(rej["table"] == "services") & (rej["row"] == row + 2)]["column"].tolist() == ["agency_id"]


def test_duplicate_key_rejects_every_copy(sub):
    pol = pd.read_csv(sub / "policies.csv", dtype=str, keep_default_na=False)
    set_cell(sub, "policies", 30, "policy_id", pol.loc[31, "policy_id"])
    rej = load_submission(sub).rejected
    dup = rej[(rej["table"] == "policies") & (rej["column"] == "policy_id")]
    assert sorted(dup["row"].tolist()) == [32, 33]
    assert dup["message_zh"].str.contains("重复").all()


def test_services_of_a_rejected_policy_are_rejected_with_that_reason(sub):
    svc = pd.read_csv(sub / "services.csv", dtype=str, keep_default_na=False)
    pid = svc.loc[0, "policy_id"]
    pol = pd.read_csv(sub / "policies.csv", dtype=str, keep_default_na=False)
    prow = int(np.flatnonzero(pol["policy_id"] == pid)[0])
    set_cell(sub, "policies", prow, "employees", "-3")
    s = load_submission(sub)
    rows = np.flatnonzero(svc["policy_id"] == pid) + 2
    rej = s.rejected[s.rejected["table"] == "services"]
    assert set(rows) <= set(rej["row"])
    assert rej[rej["row"].isin(rows)]["message_zh"].str.contains("已被拒收").all()
    assert pid not in set(s["services"]["policy_id"])


@pytest.mark.parametrize("table, column, bad", [("services", "cost", "-1"), ("inspections", "outcome", "很好")])
def test_a_rows_own_failure_comes_before_its_policys(sub, table, column, bad):
    """A row rejected for its own cell and for its rejected policy is named by its own cell;
    the cascade reason follows in the message."""
    rows = pd.read_csv(sub / f"{table}.csv", dtype=str, keep_default_na=False)
    pid = rows.loc[0, "policy_id"]
    pol = pd.read_csv(sub / "policies.csv", dtype=str, keep_default_na=False)
    set_cell(sub, "policies", int(np.flatnonzero(pol["policy_id"] == pid)[0]), "employees", "-3")
    set_cell(sub, table, 0, column, bad)
    rej = load_submission(sub).rejected
    row = rej[(rej["table"] == table) & (rej["row"] == 2)].iloc[0]
    assert (row["column"], row["value"]) == (column, bad)
    assert row["message_zh"].index(column) < row["message_zh"].index("已被拒收")
    assert row["message_en"].index(column) < row["message_en"].index("was rejected")


@pytest.mark.parametrize("table, column, value", [
    ("policies", "policy_id", "-2+3"),
    ("policies", "insurer_id", "=HYPERLINK(\"http://x\")"),
    ("services", "service_id", "@SUM(A1)"),
    ("services", "agency_id", "+86"),
    ("inspections", "inspection_id", " =1+1"),
])
def test_identifier_that_a_spreadsheet_would_run_is_refused(sub, table, column, value):
    """One policy for identifiers: refused at intake, so that every output keeps the ids it
    writes exactly as submitted (a neutralised '-2+3 in one file and -2+3 in another would not join)."""
    set_cell(sub, table, 4, column, value)
    rej = load_submission(sub).rejected
    row = rej[(rej["table"] == table) & (rej["row"] == 6)].iloc[0]
    assert row["column"] == column and "电子表格会把它当作公式" in row["message_zh"] and "formula" in row["message_en"]


def test_identifiers_with_a_slash_or_a_minus_inside_are_kept(sub):
    set_cell(sub, "staff", 2, "staff_id", "ST/2023-01")
    s = load_submission(sub)
    assert s.rejected.empty and "ST/2023-01" in set(s["staff"]["staff_id"])


def test_malformed_csv_row_is_rejected_not_dropped(sub):
    with open(sub / "services.csv", "a", encoding="utf-8") as f:
        f.write("SVX,P1,training\n")
    s = load_submission(sub)
    n = len(world().tables["services"])
    rej = s.rejected[s.rejected["table"] == "services"]
    assert rej["row"].tolist() == [n + 2]
    assert "列数与表头不符" in rej["message_zh"].iloc[0]
    assert s.counts["services"].rows_in == n + 1


def test_every_failure_of_a_row_is_listed(sub):
    set_cell(sub, "policies", 4, "employees", "0")
    set_cell(sub, "policies", 4, "covers_rescue", "maybe")
    rej = load_submission(sub).rejected
    msg = rej[(rej["table"] == "policies") & (rej["row"] == 6)]["message_zh"].iloc[0]
    assert "employees" in msg and "covers_rescue" in msg


def test_spellings_of_dates_money_and_booleans(sub):
    set_cell(sub, "policies", 0, "start_date", "2021年1月1日")
    set_cell(sub, "policies", 0, "end_date", "2021/12/31")
    set_cell(sub, "policies", 0, "premium", "1,234.50")
    set_cell(sub, "policies", 0, "covers_rescue", "否")
    set_cell(sub, "policies", 0, "covers_employees", "Y")
    set_cell(sub, "policies", 0, "industry", "煤矿")
    s = load_submission(sub)
    assert s.rejected.empty
    p = s["policies"].iloc[0]
    assert str(p["start_date"].date()) == "2021-01-01" and str(p["end_date"].date()) == "2021-12-31"
    assert p["premium"] == 1234.5
    assert not p["covers_rescue"] and p["covers_employees"]
    assert p["industry"] == "coal_mining"


@pytest.mark.parametrize(
    "fmt,encoding,zh",
    [("csv", "gbk", True), ("csv", "gb18030", False), ("csv", "utf-8-sig", True), ("parquet", "utf-8", False), ("jsonl", "utf-8", True)],
)
def test_containers_encodings_and_chinese_headers(tmp_path, fmt, encoding, zh):
    folder = write(tmp_path / "s", fmt=fmt, encoding=encoding, zh_headers=zh)
    s = load_submission(folder)
    w = world()
    assert s.rejected.empty
    assert {k: c.rows_accepted for k, c in s.counts.items()} == {k: len(v) for k, v in w.tables.items()}
    pd.testing.assert_series_equal(
        s["policies"]["enterprise_name"].astype(object), w.tables["policies"]["enterprise_name"].astype(object), check_names=False
    )


def test_json_records_array(tmp_path):
    folder = write(tmp_path / "s", fmt="jsonl")
    for f in folder.glob("*.jsonl"):
        df = pd.read_json(f, lines=True, dtype=False)
        df.to_json(f.with_suffix(".json"), orient="records", force_ascii=False, date_format="iso")
        f.unlink()
    s = load_submission(folder)
    assert s.rejected.empty and s.counts["policies"].rows_in == len(world().tables["policies"])


def test_xlsx_with_chinese_sheets(tmp_path):
    from datasets.synth import write_xlsx

    w = world(120, 5)
    path = write_xlsx(w, tmp_path / "sub.xlsx")
    s = load_submission(path)
    assert s.rejected.empty
    assert s.counts["services"].rows_in == len(w.tables["services"])
    assert s.files["policies"][0] == "sub.xlsx[保单]"


def _expect_structural(path, fragment_zh, tmp_path):
    out = tmp_path / "never"
    with pytest.raises(SubmissionError) as e:
        run_validate(path, out)
    assert fragment_zh in e.value.message_zh
    assert e.value.message_en
    assert not out.exists()
    return e.value


def test_structural_missing_policies(sub, tmp_path):
    (sub / "policies.csv").unlink()
    _expect_structural(sub, "缺少必需的表 policies", tmp_path)


def test_structural_missing_required_column(sub, tmp_path):
    df = pd.read_csv(sub / "services.csv", dtype=str).drop(columns=["cost"])
    df.to_csv(sub / "services.csv", index=False)
    e = _expect_structural(sub, "缺少必需的列 cost", tmp_path)
    assert "services.csv" in e.message_zh


def test_structural_empty_file(sub, tmp_path):
    (sub / "staff.csv").write_bytes(b"")
    _expect_structural(sub, "staff.csv 是空文件", tmp_path)


def test_structural_undecodable_encoding(sub, tmp_path):
    (sub / "staff.csv").write_bytes(b"staff_id,agency_id\n\x80\xff\xfe,\x81\n")
    _expect_structural(sub, "编码无法识别", tmp_path)


def test_structural_not_a_table(sub, tmp_path):
    (sub / "policies.csv").unlink()
    (sub / "policies.parquet").write_bytes(b"this is not parquet at all")
    _expect_structural(sub, "policies.parquet 无法作为表格读取", tmp_path)


def test_structural_unknown_sheet(tmp_path):
    from datasets.synth import write_xlsx
    import openpyxl

    path = write_xlsx(world(60, 5), tmp_path / "sub.xlsx")
    wb = openpyxl.load_workbook(path)
    wb.create_sheet("备忘")
    wb.save(path)
    _expect_structural(path, "无法识别的工作表 备忘", tmp_path)


@pytest.fixture(scope="module")
def small_xlsx(tmp_path_factory):
    from datasets.synth import write_xlsx

    return write_xlsx(world(60, 5), tmp_path_factory.mktemp("xlsx") / "sub.xlsx")


def _patched_sheet(src, dst, change):
    """Copy the workbook ``src`` to ``dst`` with the first sheet's XML passed through ``change``."""
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(info, change(data) if info.filename == "xl/worksheets/sheet1.xml" else data)
    return dst


def _far_cell(src, dst):
    import openpyxl

    wb = openpyxl.load_workbook(src)
    wb.worksheets[0]["XFD1048576"] = "x"
    wb.save(dst)
    return dst


def _duplicate_header(src, dst):
    import openpyxl

    wb = openpyxl.load_workbook(src)
    ws = wb.worksheets[0]
    ws.cell(1, ws.max_column + 1, ws.cell(1, 2).value)
    wb.save(dst)
    return dst


XXE = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><worksheet'

# (how the workbook is spoiled, fragment of the Chinese message)
HOSTILE_XLSX = [
    (_far_cell, "超过上限 256"),  # one cell at XFD1048576: refused before 17 billion cells are padded
    (_duplicate_header, "出现多次"),  # the CSV path exits 2 for the same input
    (lambda s, d: _patched_sheet(s, d, lambda x: x.replace(b"<worksheet", XXE, 1)), "无法作为表格读取"),
    (lambda s, d: _patched_sheet(s, d, lambda x: x[: len(x) // 2]), "行附近的内容无法读取"),
]


@pytest.mark.parametrize("spoil, fragment", HOSTILE_XLSX)
def test_hostile_workbook_exits_2_naming_it(small_xlsx, tmp_path, spoil, fragment):
    path = spoil(small_xlsx, tmp_path / "bad.xlsx")
    e = _expect_structural(path, fragment, tmp_path)
    assert "bad.xlsx" in e.message_zh and "bad.xlsx" in e.message_en


def test_workbook_over_the_size_limit_is_refused_before_reading(small_xlsx, tmp_path, monkeypatch):
    monkeypatch.setenv("SCORING_XLSX_MAX_MB", "0")
    e = _expect_structural(small_xlsx, "超过上限 0 MiB", tmp_path)
    assert "SCORING_XLSX_MAX_MB" in e.message_zh and "SCORING_XLSX_MAX_MB" in e.message_en
    monkeypatch.setenv("SCORING_XLSX_MAX_MB", "64")
    assert load_submission(small_xlsx).rejected.empty


def test_xlsx_value_beyond_the_header_is_a_rejected_row(small_xlsx, tmp_path):
    """A value in a column without a header would be lost: its row is rejected as malformed."""
    import openpyxl

    wb = openpyxl.load_workbook(small_xlsx)
    ws = wb.worksheets[0]
    ws.cell(4, ws.max_column + 2, "多出的值")
    ws.insert_rows(3)  # a blank row above: numbers stay the sheet's
    wb.save(tmp_path / "wide.xlsx")
    s = load_submission(tmp_path / "wide.xlsx")
    rej = s.rejected[s.rejected["table"] == "policies"]
    assert rej["row"].tolist() == [5] and "列数与表头不符" in rej["message_zh"].iloc[0]
    assert s.counts["policies"].rows_in == len(world(60, 5).tables["policies"])
    assert s.counts["policies"].lines_in == s.counts["policies"].rows_in + 1


def _list_parquet(sub):
    import pyarrow as pa
    import pyarrow.parquet as pq

    st = pd.read_csv(sub / "staff.csv", dtype=str, keep_default_na=False)
    (sub / "staff.csv").unlink()
    t = pa.Table.from_pandas(st).set_column(1, "agency_id", pa.array([[x] for x in st["agency_id"]], pa.list_(pa.string())))
    pq.write_table(t, sub / "staff.parquet")


def _nested_json(sub):
    import json

    recs = pd.read_csv(sub / "staff.csv", dtype=str, keep_default_na=False).to_dict("records")
    recs[3]["agency_id"] = {"x": [1, 2]}
    (sub / "staff.csv").unlink()
    (sub / "staff.json").write_text(json.dumps(recs, ensure_ascii=False), encoding="utf-8")


def _deep(sub, suffix, text):
    (sub / "staff.csv").unlink()
    (sub / f"staff{suffix}").write_text(text, encoding="utf-8")


def _huge_field(sub):
    from scoring.submission.csvfile import FIELD_LIMIT

    lines = (sub / "staff.csv").read_text(encoding="utf-8").split("\n")
    lines[5] = lines[5].replace(",", ',"' + "甲" * (FIELD_LIMIT + 1) + '",', 1)
    (sub / "staff.csv").write_text("\n".join(lines), encoding="utf-8")


# (how a table is spoiled, fragment of the Chinese message): each exits 2 naming the file and, where
# one exists, the row, instead of an Arrow or Python traceback
UNREADABLE = [
    (_list_parquet, "staff.parquet 的列 agency_id 是嵌套或二进制类型"),
    (_nested_json, "staff.json 第 4 条记录（第 5 行）的 agency_id 是对象或数组"),
    (lambda sub: _deep(sub, ".json", "[" * 100_000 + "]" * 100_000), "staff.json 无法作为表格读取"),
    (lambda sub: _deep(sub, ".jsonl", '{"staff_id":' + '{"a":' * 2000 + "1" + "}" * 2001 + "\n"), "staff.jsonl 的列 staff_id"),
    (_huge_field, "staff.csv 第 6 行起的一个字段超过"),
]


@pytest.mark.parametrize("spoil, fragment", UNREADABLE)
def test_unreadable_table_exits_2_naming_file_and_row(sub, tmp_path, spoil, fragment):
    spoil(sub)
    _expect_structural(sub, fragment, tmp_path)


def test_cli_exit_code_2_on_structural_error(sub, tmp_path):
    from typer.testing import CliRunner

    from scoring.cli import app

    (sub / "policies.csv").unlink()
    r = CliRunner().invoke(app, ["validate", str(sub), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "缺少必需的表" in r.output and "has no policies table" in r.output
    assert not (tmp_path / "o").exists()


TYPED = [(t.name, c.name) for t in TABLES.values() if t.name not in ("inspections", "claims") for c in t.columns if c.type not in ("str", "id")]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(TYPED), st.integers(0, 40)), min_size=1, max_size=8))
def test_rows_balance_under_random_corruption(clean, tmp_path_factory, cells):
    sub = tmp_path_factory.mktemp("h") / "s"
    shutil.copytree(clean, sub)
    for (table, column), row in cells:
        set_cell(sub, table, row, column, "#?!")
    s = load_submission(sub)
    for table, c in s.counts.items():
        n = len(pd.read_csv(sub / f"{table}.csv", dtype=str))
        assert c.rows_in == n == c.rows_accepted + c.rows_rejected
        assert len(s[table]) == c.rows_accepted
        assert (s.rejected["table"] == table).sum() == c.rows_rejected
    rejected = set(zip(s.rejected["table"], s.rejected["row"]))
    for (table, _), row in cells:
        assert (table, row + 2) in rejected


def test_quoted_line_breaks_in_free_text_are_kept(sub):
    set_cell(sub, "services", 2, "report_summary", "第一行\n第二行，含逗号")
    s = load_submission(sub)
    assert s.rejected.empty
    texts = s["services"]["report_summary"]
    assert (texts == "第一行\n第二行，含逗号").sum() == 1


@pytest.mark.parametrize("marker", ["NULL", "NA", "N/A", "NaN", "null", "#N/A"])
def test_null_markers_in_text_columns_are_text(sub, marker):
    """An enterprise named NULL is an enterprise named NULL, not a missing name."""
    set_cell(sub, "policies", 3, "enterprise_name", marker)
    s = load_submission(sub)
    pol = s["policies"].set_index("policy_id")
    pid = pd.read_csv(sub / "policies.csv", dtype=str, keep_default_na=False)["policy_id"].iloc[3]
    assert pol.at[pid, "enterprise_name"] == marker


def test_cross_column_message_shows_the_rows_other_value(sub, tmp_path):
    pol = pd.read_csv(sub / "policies.csv", dtype=str, keep_default_na=False)
    start = pol.at[11, "start_date"]
    set_cell(sub, "policies", 11, "end_date", "2001-01-01")
    run_validate(sub, tmp_path / "out")
    rej = pd.read_csv(tmp_path / "out" / "rejected.csv", dtype=str, keep_default_na=False)
    msg = rej.loc[rej["row"] == "13"].iloc[0]
    assert f"不晚于保险起期 {start}（" in msg["message_zh"] and f"is not after start_date {start} (" in msg["message_en"]
    assert "[" not in msg["message_zh"] and len(msg["message_en"]) < 300


def test_a_link_out_of_the_submission_folder_is_refused(tmp_path):
    """A submission folder whose services.csv links to a file elsewhere must not be read (exit 2)."""
    import shutil

    from typer.testing import CliRunner

    from scoring.cli import app
    from scoring import SubmissionError

    from ..helpers import write

    src = write(tmp_path / "src")
    outside = tmp_path / "elsewhere" / "secret.csv"
    outside.parent.mkdir()
    shutil.copy(src / "services.csv", outside)
    sub = tmp_path / "sub"
    shutil.copytree(src, sub)
    (sub / "services.csv").unlink()
    (sub / "services.csv").symlink_to(outside)
    with pytest.raises(SubmissionError) as e:
        load_submission(sub)
    assert "services.csv" in e.value.message_zh and "文件夹之外" in e.value.message_zh and "outside the folder" in e.value.message_en
    assert CliRunner().invoke(app, ["validate", str(sub)]).exit_code == 2
    # a link that stays inside the folder is just a file of the submission
    (sub / "data").mkdir()
    shutil.copy(outside, sub / "data" / "services.csv")
    (sub / "services.csv").unlink()
    (sub / "services.csv").symlink_to(sub / "data" / "services.csv")
    assert load_submission(sub).counts["services"].rows_in > 0


def _lines(path) -> list[str]:
    """A CSV rewritten with minimal quoting (as a spreadsheet saves it), as physical lines."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.to_csv(path, index=False)
    return path.read_text(encoding="utf-8").split("\n")


def _save(path, lines: list[str]) -> None:
    path.write_text("\n".join(lines), encoding="utf-8")


def _open_quote(line: str, field: int, closing: bool = False) -> str:
    f = line.split(",")
    f[field] = f[field] + '"' if closing else '"' + f[field]
    return ",".join(f)


@pytest.mark.parametrize("column", ["enterprise_name", "insurer_id", "premium"])
def test_stray_quote_swallowing_lines_is_rejected_naming_its_lines(sub, column):
    """A quote opened on line 6 and closed on line 9 makes one record of four lines: the record
    is rejected naming lines 6-9, and the counts say 4 lines were read as one record."""
    path = sub / "policies.csv"
    lines = _lines(path)
    field = lines[0].split(",").index(column)
    lines[5] = _open_quote(lines[5], field)
    lines[8] = _open_quote(lines[8], field, closing=True)
    _save(path, lines)
    s = load_submission(sub)
    n = len(world().tables["policies"])
    c = s.counts["policies"]
    assert (c.lines_in, c.rows_in) == (n, n - 3)
    rej = s.rejected[s.rejected["table"] == "policies"]
    assert rej["row"].tolist() == [6]
    assert rej["column"].iloc[0] == column
    assert "第 6–9 行" in rej["message_zh"].iloc[0] and "lines 6-9" in rej["message_en"].iloc[0]


def test_blank_lines_do_not_shift_row_numbers(sub):
    """Rows are physical lines: two blank lines above a bad cell do not move its number."""
    set_cell(sub, "policies", 10, "employees", "0")
    path = sub / "policies.csv"
    lines = _lines(path)
    lines[3:3] = ["", "\r"]
    _save(path, lines)
    s = load_submission(sub)
    rej = s.rejected[s.rejected["table"] == "policies"]
    assert rej["row"].tolist() == [14]  # header + 10 data rows + 2 blank lines + 1
    assert "第 14 行" in rej["message_zh"].iloc[0]
    n = len(world().tables["policies"])
    assert (s.counts["policies"].lines_in, s.counts["policies"].rows_in) == (n + 2, n)


def test_blank_lines_above_the_header(sub):
    """Arrow skips blank lines above the header: the names that make every column text are
    read from the same record, so no column's type is guessed, and rows keep their lines."""
    import pyarrow.csv as pacsv

    from scoring.submission.csvfile import csv_text_options

    set_cell(sub, "policies", 10, "employees", "0")
    path = sub / "policies.csv"
    _save(path, ["", "\r"] + _lines(path))
    types = csv_text_options(path, "utf-8").column_types
    assert set(types) == set(pacsv.read_csv(path).column_names) and {str(t) for t in types.values()} == {"string"}
    s = load_submission(sub)
    rej = s.rejected[s.rejected["table"] == "policies"]
    assert rej["row"].tolist() == [14]  # 2 blank lines + header + 10 data rows + 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["quote", "close", "blank", "truncate"]),
                          st.integers(1, 60), st.integers(0, 12)), min_size=1, max_size=6))
def test_every_physical_line_is_accounted_for(clean, tmp_path_factory, corruptions):
    """Random stray quotes, blank lines and truncated lines: the records' line spans and the blank
    lines between them cover every line of the file once, and the counts balance."""
    from scoring.submission.folder import read_submission

    sub = tmp_path_factory.mktemp("corrupt")
    shutil.copy(clean / "policies.csv", sub / "policies.csv")
    shutil.copy(clean / "services.csv", sub / "services.csv")
    path = sub / "policies.csv"
    lines = _lines(path)[:62]
    for kind, at, field in corruptions:
        if kind == "blank":
            lines.insert(at, "")
        elif kind == "truncate":
            lines[at] = lines[at][: len(lines[at]) // (field + 2)]
        else:
            f = lines[at].split(",")
            f[field % len(f)] = f[field % len(f)] + '"' if kind == "close" else '"' + f[field % len(f)]
            lines[at] = ",".join(f)
    _save(path, lines)
    physical = path.read_text(encoding="utf-8").split("\n")
    if physical[-1] == "":
        physical.pop()  # the last line's line break ends it, it does not start another
    try:
        raw = read_submission(sub)["policies"]
    except SubmissionError as e:  # a quote left open to the end of the file: refused whole, by name
        assert "policies.csv" in e.message_en
        return
    spans = sorted([(int(a), int(b)) for a, b in zip(raw.rows, raw.ends)] + [(r, e) for r, e, _ in raw.malformed])
    covered = set()
    for a, b in spans:
        assert 2 <= a <= b <= len(physical)
        assert covered.isdisjoint(range(a, b + 1))
        covered.update(range(a, b + 1))
    for line in set(range(2, len(physical) + 1)) - covered:
        assert physical[line - 1].strip("\r") == "", (line, physical[line - 1])
    assert raw.line_count == len(physical) - 1
    s = load_submission(sub)
    c = s.counts["policies"]
    assert c.rows_in == len(spans) and c.lines_in == len(physical) - 1
    assert c.rows_in == len(s["policies"]) + c.rows_rejected


CLAIM_COLUMNS = ["claim_id", "policy_id", "accident_date", "report_date", "accident_level", "deaths", "injuries", "status",
                 "paid_amount", "reserve_amount", "closed_date", "denial_reason"]


def _claims(pid: str) -> list[list[str]]:
    good = [pid, "2023-03-01", "2023-03-02", "general", "1", "2", "paid", "400000", "0", "2023-04-01", ""]
    rows = {
        "C-OK1": good,
        "C-OK2": [pid, "2023-05-01", "2023-05-03", "", "0", "1", "open", "0", "50000", "", ""],
        "C-DENIED": [pid, "2023-06-01", "2023-06-02", "一般", "0", "1", "拒赔", "0", "0", "2023-06-20", "不属于保险责任"],
        "C-REPORT": [pid, "2023-03-05", "2023-03-01", "", "0", "1", "open", "0", "1", "", ""],  # reported before the accident
        "C-CLOSED": [pid, "2023-03-05", "2023-03-06", "", "0", "1", "paid", "1", "0", "", ""],  # paid, never closed
        "C-EARLY": [pid, "2023-03-05", "2023-03-06", "", "0", "1", "paid", "1", "0", "2023-03-01", ""],  # closed before report
        "C-NEG": [pid, "2023-03-05", "2023-03-06", "", "0", "1", "open", "-5", "0", "", ""],
        "C-STATUS": [pid, "2023-03-05", "2023-03-06", "", "0", "1", "pending", "0", "0", "", ""],
        "C-LEVEL": [pid, "2023-03-05", "2023-03-06", "huge", "0", "1", "open", "0", "0", "", ""],
        "C-DEATHS": [pid, "2023-03-05", "2023-03-06", "", "x", "1", "open", "0", "0", "", ""],
        "C-POLICY": ["NO-SUCH-POLICY", "2023-03-05", "2023-03-06", "", "0", "1", "open", "0", "0", "", ""],
    }
    return [[cid, *r] for cid, r in rows.items()]


# claim id -> (column named in rejected.csv, fragment of the Chinese message)
CLAIM_REJECTS = {
    "C-REPORT": ("report_date", "早于事故日期"),
    "C-CLOSED": ("closed_date", "必须填写结案日期"),
    "C-EARLY": ("closed_date", "早于报案日期"),
    "C-NEG": ("paid_amount", "小于下限 0"),
    "C-STATUS": ("status", "未决、已赔付结案、拒赔、撤案"),
    "C-LEVEL": ("accident_level", "不在允许范围内"),
    "C-DEATHS": ("deaths", "不是整数"),
    "C-POLICY": ("policy_id", "不在保单表中"),
}


@pytest.mark.parametrize("chinese", [False, True], ids=["claims.csv", "赔案.csv"])
def test_claims_table_is_validated_by_its_contract(sub, chinese):
    """Every rule of the claims contract (v1.1): each bad row rejected naming its column; Chinese
    headers, Chinese enum labels and the file name 赔案 accepted; every row accounted for."""
    from scoring.schema import TABLES

    pid = pd.read_csv(sub / "policies.csv", dtype=str, keep_default_na=False)["policy_id"].iloc[0]
    (sub / "claims.csv").unlink(missing_ok=True)  # the generated claims: this test brings its own
    header = [TABLES["claims"].column(c).zh for c in CLAIM_COLUMNS] if chinese else CLAIM_COLUMNS
    pd.DataFrame(_claims(pid), columns=header).to_csv(sub / ("赔案.csv" if chinese else "claims.csv"), index=False)
    s = load_submission(sub)
    assert "claims" in s.present and s.counts["claims"].rows_in == 11 == s.counts["claims"].rows_accepted + s.counts["claims"].rows_rejected
    assert set(s["claims"]["claim_id"]) == {"C-OK1", "C-OK2", "C-DENIED"}
    assert s["claims"].set_index("claim_id").at["C-DENIED", "status"] == "denied"
    rej = s.rejected[s.rejected["table"] == "claims"]
    assert len(rej) == len(CLAIM_REJECTS)
    for row, (column, fragment) in zip(rej.itertuples(), CLAIM_REJECTS.values()):
        assert row.column == column and fragment in row.message_zh, (row.column, row.message_zh)


INVISIBLE = ["\x00", "\u200b", "\ufeff", "\u200d", "\u2060", "\u202e", "\u00ad", "\t", "\u3164", "\uffa0", "\u034f", "\ufe0f",
             "\u2800", "\u00a0", "\u3000", "\u180b"]


@pytest.mark.parametrize("char", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
@pytest.mark.parametrize("side", ["policy", "service"])
def test_an_invisible_character_never_parts_a_policy_from_its_services(sub, char, side):
    """A policy id with an invisible character on one side of a reference is the same id: its
    services join it; the cells read without the character are counted."""
    pol = pd.read_csv(sub / "policies.csv", dtype=str, keep_default_na=False)
    svc = pd.read_csv(sub / "services.csv", dtype=str, keep_default_na=False)
    pid = pol.loc[3, "policy_id"]
    mine = svc["policy_id"] == pid
    assert mine.any()
    if side == "policy":
        pol.loc[3, "policy_id"] = pid + char
    else:
        svc.loc[mine, "policy_id"] = char + pid
    pol.to_csv(sub / "policies.csv", index=False)
    svc.to_csv(sub / "services.csv", index=False)
    s = load_submission(sub)
    assert s.rejected.empty, s.rejected["message_en"].tolist()
    assert (s["services"]["policy_id"] == pid).sum() == mine.sum()
    assert pid in set(s["policies"]["policy_id"])
    table = "policies" if side == "policy" else "services"
    assert dict(s.counts[table].normalised) == {"policy_id": 1 if side == "policy" else int(mine.sum())}


def test_ids_equal_once_invisible_characters_are_removed_are_duplicates(sub):
    pol = pd.read_csv(sub / "policies.csv", dtype=str, keep_default_na=False)
    pid = pol.loc[4, "policy_id"]
    pol.loc[5, "policy_id"] = pid + "\u200b"
    pol.to_csv(sub / "policies.csv", index=False)
    s = load_submission(sub)
    dup = s.rejected[(s.rejected["table"] == "policies") & (s.rejected["column"] == "policy_id")]
    assert sorted(dup["row"].tolist()) == [6, 7] and dup["message_zh"].str.contains("重复").all()


def test_full_width_ids_are_the_ascii_ids(sub):
    pol = pd.read_csv(sub / "policies.csv", dtype=str, keep_default_na=False)
    pid = pol.loc[2, "policy_id"]
    pol.loc[2, "policy_id"] = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in pid)
    pol.to_csv(sub / "policies.csv", index=False)
    s = load_submission(sub)
    assert s.rejected.empty and pid in set(s["policies"]["policy_id"])


def test_an_id_longer_than_the_limit_is_rejected(sub):
    from scoring.schema import ID_MAX

    set_cell(sub, "policies", 6, "policy_id", "P" * (ID_MAX + 1))
    s = load_submission(sub)
    r = s.rejected[(s.rejected["table"] == "policies") & (s.rejected["column"] == "policy_id")]
    assert len(r) == 1 and f"超过 {ID_MAX} 个字符" in r["message_zh"].iloc[0]


_ID_TEXT = st.text(st.sampled_from("ABCXYZ0123456789-_/年保单"), min_size=1, max_size=12).filter(lambda t: t.strip() == t)
_NOISE = st.text(st.sampled_from(INVISIBLE + ["\u200c", "\u2028", "\x1f", "\x7f"]), min_size=1, max_size=3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=_ID_TEXT, noise=_NOISE, where=st.sampled_from(["policy_start", "policy_end", "service_start", "service_end",
                                                           "service_middle"]))
def test_no_policy_is_parted_from_its_services_silently(tmp_path_factory, base, noise, where):
    """Property: whatever invisible characters sit on one side of a reference, each service
    either joins its policy or is rejected with a message; none is lost or orphaned quietly."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    w = world()
    folder = tmp_path_factory.mktemp("inv")
    pol = w.tables["policies"].head(3).copy()
    svc = w.tables["services"][w.tables["services"]["policy_id"].isin(pol["policy_id"])].copy()
    target = pol["policy_id"].iloc[0]
    pid = "P" + base
    mid = len(pid) // 2
    policy_side = {"policy_start": noise + pid, "policy_end": pid + noise}.get(where, pid)
    service_side = {"service_start": noise + pid, "service_end": pid + noise, "service_middle": pid[:mid] + noise + pid[mid:]}.get(where, pid)
    pol["policy_id"] = pol["policy_id"].where(pol["policy_id"] != target, policy_side)
    svc["policy_id"] = svc["policy_id"].where(svc["policy_id"] != target, service_side)
    for name, df in (("policies", pol), ("services", svc)):
        t = pa.Table.from_pandas(df.astype(str).where(df.notna(), ""), preserve_index=False)
        pacsv.write_csv(t, folder / f"{name}.csv")
    s = load_submission(folder)
    rej = s.rejected[s.rejected["table"] == "services"]
    assert len(s["services"]) + len(rej) == len(svc)
    joined = s["services"]["policy_id"].isin(set(s["policies"]["policy_id"]))
    assert joined.all()  # no accepted service without its policy
    ours = (svc["policy_id"] == service_side).sum()
    got = (s["services"]["policy_id"] == pid).sum()
    if where == "service_middle":  # an invisible character inside the id: the same id without it
        assert got == ours
    else:
        assert got + len(rej) == ours and (rej["message_zh"] != "").all()


def _halves(sub, first: str, second: str, bom: bool = False) -> tuple[int, int]:
    """policies.csv with its first half of lines in ``first`` and the rest in ``second``; returns the
    first line of each part."""
    lines = (sub / "policies.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    cut = len(lines) // 2
    data = (b"\xef\xbb\xbf" if bom else b"") + "".join(lines[:cut]).encode(first) + "".join(lines[cut:]).encode(second)
    (sub / "policies.csv").write_bytes(data)
    return 1, cut + 1


@pytest.mark.parametrize("first, second", [("utf-8", "gbk"), ("gbk", "utf-8")])
def test_a_file_half_utf8_half_gbk_is_refused_naming_a_line_of_each(sub, first, second):
    a, b = _halves(sub, first, second)
    with pytest.raises(SubmissionError) as e:
        load_submission(sub)
    msg = e.value.message_zh
    assert "混用了两种编码" in msg and "policies.csv" in msg and "mixes two encodings" in e.value.message_en
    # the GBK line named is the first that is not UTF-8 (line 1, the header, is ASCII); the UTF-8 one
    # the first with enough Chinese in the UTF-8 part
    gbk_line = b if first == "utf-8" else 2
    assert f"第 {gbk_line} 行不是" in msg
    named = int(msg.split("第 ")[1].split(" 行")[0])
    assert (a <= named < b) if first == "utf-8" else named >= b


def test_a_utf8_byte_order_mark_before_gbk_text_is_refused(sub):
    _halves(sub, "gbk", "gbk", bom=True)
    with pytest.raises(SubmissionError) as e:
        load_submission(sub)
    assert "字节顺序标记" in e.value.message_zh and "byte order mark" in e.value.message_en
    assert "缺少必需的列" not in e.value.message_zh


def test_a_whole_gbk_file_is_still_read(sub):
    _halves(sub, "gbk", "gbk")
    s = load_submission(sub)
    assert s.rejected.empty and s["policies"]["enterprise_name"].str.contains("有限").any()


@pytest.mark.parametrize("table, column, value, says", [
    ("services", "service_date", "9999-12-31", "不在合理的日期范围"),
    ("policies", "start_date", "1899-01-01", "不在合理的日期范围"),
    ("services", "service_date", "2999-01-01", "不在合理的日期范围"),
    ("services", "service_date", "2021-12/31", "不是有效日期"),
    ("services", "service_date", "2021年12-31", "不是有效日期"),
    ("inspections", "inspection_date", "2098-01-01", "晚于今天"),
    ("claims", "report_date", "2097-06-30", "晚于今天"),
])
def test_implausible_dates_are_rejected_and_do_not_move_the_as_of_date(sub, table, column, value, says):
    from scoring.submission.intake import latest_date

    before = latest_date(load_submission(sub).tables)
    set_cell(sub, table, 1, column, value)
    s = load_submission(sub)
    r = s.rejected[(s.rejected["table"] == table) & (s.rejected["column"] == column)]
    assert len(r) == 1 and says in r["message_zh"].iloc[0]
    assert latest_date(s.tables) <= before


def test_a_policy_may_end_in_the_future_but_a_service_may_not_happen_there(sub):
    set_cell(sub, "policies", 1, "end_date", "2090-01-01")
    s = load_submission(sub)
    assert not (s.rejected["column"] == "end_date").any()


def _with_time(folder, fmt):
    """policies row 2 (0-based) starting at 08:30 on its day, written as the container writes times."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    if fmt == "csv":
        pol = pd.read_csv(folder / "policies.csv", dtype=str, keep_default_na=False)
        pol.loc[2, "start_date"] = pol.loc[2, "start_date"] + " 08:30:00"
        pol.to_csv(folder / "policies.csv", index=False)
    elif fmt == "parquet":
        t = pq.read_table(folder / "policies.parquet")
        days = t["start_date"].to_pylist()
        stamps = [dt.datetime.combine(d, dt.time(8, 30) if i == 2 else dt.time(0)) for i, d in enumerate(days)]
        t = t.set_column(t.column_names.index("start_date"), "start_date", pa.array(stamps, pa.timestamp("s")))
        pq.write_table(t, folder / "policies.parquet")
    elif fmt == "jsonl":
        pol = pd.read_json(folder / "policies.jsonl", lines=True, dtype=False)
        pol["start_date"] = pd.to_datetime(pol["start_date"]).dt.strftime("%Y-%m-%dT00:00:00")
        pol.loc[2, "start_date"] = pol.loc[2, "start_date"].replace("T00:00:00", "T08:30:00")
        pol.to_json(folder / "policies.jsonl", orient="records", lines=True, force_ascii=False)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl", "xlsx"])
def test_a_date_with_a_time_of_day_is_rejected_in_every_container(tmp_path, fmt):
    import datetime as dt

    if fmt == "xlsx":
        import openpyxl

        from datasets.synth import write_xlsx

        path = write_xlsx(world(120, 5), tmp_path / "sub.xlsx")
        wb = openpyxl.load_workbook(path)
        ws = wb["保单"]
        col = [c.value for c in ws[1]].index("保险起期") + 1
        cell = ws.cell(row=4, column=col)
        cell.value = dt.datetime.combine(pd.Timestamp(cell.value).date(), dt.time(8, 30))
        wb.save(path)
    else:
        path = write(tmp_path / "s", 120, 5, fmt=fmt)
        _with_time(path, fmt)
    s = load_submission(path)
    r = s.rejected[(s.rejected["table"] == "policies")]
    assert r["column"].tolist() == ["start_date"] and r["row"].tolist() == [4], r["message_en"].tolist()
    assert "不是有效日期" in r["message_zh"].iloc[0] and "08:30" in r["value"].iloc[0]


def test_a_formula_without_a_calculated_value_is_refused_not_read_as_blank(tmp_path):
    import openpyxl

    from datasets.synth import write_xlsx

    path = write_xlsx(world(120, 5), tmp_path / "sub.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["保单"]
    col = [c.value for c in ws[1]].index("保费") + 1
    ws.cell(row=3, column=col, value="=1000*2")  # openpyxl writes formulas without their values
    wb.save(path)
    with pytest.raises(SubmissionError) as e:
        load_submission(path)
    letter = openpyxl.utils.get_column_letter(col)
    assert "没有计算结果" in e.value.message_zh and f"{letter}3" in e.value.message_zh and "[保单]" in e.value.message_zh


def test_a_formula_with_its_value_is_read_as_the_value(tmp_path):
    """A formula that Excel calculated and saved is read for its value: only the uncached are refused."""
    from scoring.submission.workbook import _uncached

    xml = (b'<sheetData><row r="2"><c r="A2"><f>1+1</f><v>2</v></c><c r="B2" t="str"><f>"a"</f><v>a</v></c>'
           b'<c r="C2"><f t="shared" si="0"/><v></v></c><c r="D2"><f>X</f><v /></c><c r="E2" t="str"><f>IF(1,"","")</f><v></v></c>'
           b'<x:c r="F2"><x:f>1+2</x:f></x:c><x:c r="G2"><x:f>1+3</x:f><x:v>4</x:v></x:c></row>'
           b'<dataValidation><formula1>"a,b"</formula1></dataValidation></sheetData>')
    assert _uncached(xml) == (["C2", "D2", "F2"], 3)


@pytest.mark.parametrize("ending", ["\r", "\r\n", "mixed"])
def test_row_numbers_after_a_blank_line_with_any_line_ending(sub, ending):
    """A blank line in a file with CR-only or mixed line endings shifted every later row number by one."""
    set_cell(sub, "policies", 6, "employees", "0")  # data row 6: file line 8, line 9 once a blank line is above it
    lines = (sub / "policies.csv").read_text(encoding="utf-8").splitlines()
    lines.insert(5, "")
    ends = ["\r\n" if i % 2 else "\r" for i in range(len(lines))] if ending == "mixed" else [ending] * len(lines)
    (sub / "policies.csv").write_bytes("".join(t + e for t, e in zip(lines, ends)).encode("utf-8"))
    s = load_submission(sub)
    r = s.rejected[s.rejected["table"] == "policies"]
    assert r["row"].tolist() == [9] and r["column"].tolist() == ["employees"]
    assert s.counts["policies"].lines_in == len(lines) - 1


def _as_workbook(csv_path, xlsx_path):
    import openpyxl

    df = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(list(df.columns))
    for row in df.itertuples(index=False):
        ws.append([v if v != "" else None for v in row])
    wb.save(xlsx_path)


def test_a_workbook_beside_a_csv_of_the_same_table_is_refused(sub):
    _as_workbook(sub / "policies.csv", sub / "policies.xlsx")
    with pytest.raises(SubmissionError) as e:
        load_submission(sub)
    assert "出现多次" in e.value.message_zh and "policies.xlsx" in e.value.message_zh and "policies.csv" in e.value.message_zh


def test_a_table_of_a_folder_may_be_a_workbook(sub):
    before = load_submission(sub)
    _as_workbook(sub / "staff.csv", sub / "staff.xlsx")
    (sub / "staff.csv").unlink()
    s = load_submission(sub)
    assert s.files["staff"][0] == "staff.xlsx[Sheet]" and s.rejected.empty
    assert len(s["staff"]) == len(before["staff"])


def test_a_mix_is_refused_even_when_the_utf8_lines_hold_a_short_name(sub):
    """Rows appended in UTF-8 whose only Chinese is a four-character organisation name."""
    insp = pd.read_csv(sub / "inspections.csv", dtype=str, keep_default_na=False)
    insp["inspector_org"] = "中安评价"
    lines = insp.to_csv(index=False).splitlines(keepends=True)
    cut = len(lines) // 2
    (sub / "inspections.csv").write_bytes("".join(lines[:cut]).encode("utf-8") + "".join(lines[cut:]).encode("gbk"))
    with pytest.raises(SubmissionError) as e:
        load_submission(sub)
    assert "混用了两种编码" in e.value.message_zh and "inspections.csv" in e.value.message_zh
