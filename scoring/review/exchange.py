"""Verdicts out and in: the ``inspections`` table for retraining, and the Excel review workbook.

``export_inspections`` writes each reviewed policy's current verdict as a row of the v1
``inspections`` table (``selection`` as recorded), ready for ``scoring retrain``.

``write_workbook`` writes the review list (flagged policies in priority order, plus any
policy already reviewed) with drop-down cells for the verdict and the selection;
``import_workbook`` reads it back through the intake's own validation of the inspections
table. Every sheet row is accounted for: recorded, unchanged, not reviewed (left blank) or
rejected with its row, column, value and reason in Chinese and English.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError

from scoring.errors import ReviewError
from scoring.submission.workbook import open_workbook, sheet_table
from scoring.files import sha256_file
from scoring.submission.intake import REJECTED_COLUMNS, validate_one
from scoring.schema import INDUSTRIES, OUTCOMES, SELECTIONS
from scoring.review.run import ReviewRun
from scoring.review.store import ReviewStore, Verdict, verdict_errors

INSPECTION_COLUMNS = ["inspection_id", "policy_id", "inspection_date", "inspector_org", "outcome", "notes", "selection"]
SHEET = "复核清单"
FLAG_ZH = {"missing": "服务缺失", "poor_quality": "服务质量差", "": ""}
#: Workbook columns: (header, width). Headers of the inspections table use its Chinese names,
#: so the intake reads the sheet as it reads a submission's 核查结果 sheet.
READ_ONLY = [("优先级", 8), ("保单号", 18), ("企业名称", 28), ("保险机构", 10), ("地区", 9), ("行业", 14), ("标记", 11),
             ("服务缺失概率", 11), ("服务质量差概率", 11), ("主要理由", 60), ("核查编号", 24)]
EDITABLE = [("核查结论", 12), ("抽查方式", 11), ("核查日期", 12), ("核查单位", 22), ("备注", 40)]
VERDICT_FIELDS = ("核查结论", "抽查方式", "核查日期", "核查单位", "备注")


def inspections_table(store: ReviewStore) -> pd.DataFrame:
    """The current verdict of every reviewed policy as v1 ``inspections`` rows, by policy_id."""
    cur = store.current()
    out = pd.DataFrame({
        "inspection_id": "RV-" + cur["policy_id"].astype(str) + "-" + cur["id"].astype(str),
        "policy_id": cur["policy_id"], "inspection_date": cur["inspection_date"], "inspector_org": cur["inspector_org"],
        "outcome": cur["outcome"], "notes": cur["notes"], "selection": cur["selection"],
    }, columns=INSPECTION_COLUMNS)
    return out.reset_index(drop=True)


def export_inspections(store: ReviewStore, out: str | Path) -> int:
    """Write the verdicts to ``out`` (CSV, UTF-8); returns the number of rows."""
    from scoring.writers import write_csv

    table = inspections_table(store)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    write_csv(table, tmp)
    tmp.replace(out)
    return len(table)


def export_labelled(run_json: dict, store: ReviewStore, dest: str | Path, submission: str | Path | None = None) -> dict:
    """A new submission folder ready for ``scoring retrain``: the scored submission's tables,
    with its own inspections plus the review's verdicts in ``inspections.csv``.

    The source must be a folder (an .xlsx submission: add the exported table as a sheet).
    A reviewed policy keeps any earlier inspection too; retraining takes the latest per policy.
    """
    from scoring.submission.intake import load_submission
    from scoring.submission.raw import table_for
    from scoring.writers import write_csv

    src = Path(submission or run_json.get("submission") or "")
    if not src.is_dir():
        raise ReviewError(f"评分所用的提交数据 {src} 不是文件夹，无法生成带标签的提交数据（可用 --submission 指定文件夹）",
                          f"the scored submission {src} is not a folder, so no labelled copy can be made (pass --submission)")
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise ReviewError(f"目标目录 {dest} 非空", f"the destination {dest} is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for f in sorted(src.iterdir()):
        if f.is_file() and table_for(f.name.split(".")[0]) not in (None, "inspections"):
            shutil.copy2(f, dest / f.name)
            copied.append(f.name)
    before = load_submission(src)["inspections"]
    before = before.assign(inspection_date=before["inspection_date"].dt.strftime("%Y-%m-%d"))
    review = inspections_table(store)
    both = pd.concat([before[INSPECTION_COLUMNS].astype(object), review.astype(object)], ignore_index=True)
    write_csv(both.fillna(""), dest / "inspections.csv")
    return {"copied": copied, "inspections_before": len(before), "inspections_review": len(review), "inspections": len(both)}


def review_list(run: ReviewRun, store: ReviewStore) -> pd.DataFrame:
    """Flagged policies in priority order, then reviewed policies that are not flagged."""
    s = run.scores
    reviewed = set(store.current()["policy_id"])
    keep = (s["flag"] != "") | s["policy_id"].isin(reviewed)
    return s[keep.to_numpy()]


def as_text(sheet) -> int:
    """Store every text cell of ``sheet`` as text: openpyxl turns a string that starts with "=" into
    a live formula (an enterprise named ``=HYPERLINK("http://…"&B2, …)`` would run in the reader's
    Excel). The value is kept as written, so a workbook read back gives the same text. Returns the
    number of cells that would have been formulas."""
    n = 0
    for row in sheet.iter_rows():
        for cell in row:
            if cell.data_type == "f" and isinstance(cell.value, str):
                cell.data_type = "s"
                n += 1
    return n


def write_workbook(run: ReviewRun, store: ReviewStore, out: str | Path) -> int:
    """The review list as an .xlsx with drop-down verdict cells; returns the number of policies."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    rows = review_list(run, store)
    cur = store.current().set_index("policy_id")
    names = run.names(rows.index)
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    header = READ_ONLY + EDITABLE
    ws.append([h for h, _ in header])
    for i, (h, w) in enumerate(header, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
        cell = ws.cell(row=1, column=i)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="FFF2CC" if (h, w) in EDITABLE else "DDEBF7")
    for (pid, r), name in zip(rows.iterrows(), names):
        c = cur.loc[pid] if pid in cur.index else None
        ws.append([
            int(r["priority"]), pid, name, r["insurer_id"], r["region_code"], INDUSTRIES.get(r["industry"], r["industry"]),
            FLAG_ZH.get(r["flag"], r["flag"]), float(r["p_missing"]), float(r["p_poor_quality"]), r["reasons"], f"RV-{pid}",
            OUTCOMES[c["outcome"]] if c is not None else None, SELECTIONS[c["selection"]] if c is not None else None,
            dt.date.fromisoformat(c["inspection_date"]) if c is not None else None,
            c["inspector_org"] if c is not None else None, (c["notes"] or None) if c is not None else None,
        ])
    n = len(rows)
    last = n + 1
    first_edit = len(READ_ONLY) + 1
    col = {h: get_column_letter(i) for i, (h, _) in enumerate(header, start=1)}
    dv_out = DataValidation(type="list", formula1='"' + ",".join(OUTCOMES.values()) + '"', allow_blank=True,
                            showErrorMessage=True, errorTitle="核查结论", error="请从列表中选择 / choose from the list")
    dv_sel = DataValidation(type="list", formula1='"' + ",".join(SELECTIONS.values()) + '"', allow_blank=True,
                            showErrorMessage=True, errorTitle="抽查方式", error="请从列表中选择 / choose from the list")
    dv_date = DataValidation(type="date", operator="greaterThan", formula1="DATE(2000,1,1)", allow_blank=True,
                             showErrorMessage=True, errorTitle="核查日期", error="请输入日期 / enter a date")
    for dv, h in ((dv_out, "核查结论"), (dv_sel, "抽查方式"), (dv_date, "核查日期")):
        ws.add_data_validation(dv)
        dv.add(f"{col[h]}2:{col[h]}{max(last, 2)}")
    for row in ws.iter_rows(min_row=2, max_row=last, min_col=first_edit + 2, max_col=first_edit + 2):
        for cell in row:
            cell.number_format = "yyyy-mm-dd"
    for row in ws.iter_rows(min_row=2, max_row=last, min_col=8, max_col=9):
        for cell in row:
            cell.number_format = "0.000"
    for row in ws.iter_rows(min_row=2, max_row=last, min_col=10, max_col=10):
        for cell in row:
            cell.alignment = Alignment(wrap_text=False)
    ws.freeze_panes = "C2"
    notes = wb.create_sheet("说明")
    for line in (
        "填写黄色列：核查结论（服务到位 / 服务质量差 / 服务缺失）、抽查方式（重点抽查 / 随机抽查，空白按重点抽查）、核查日期、核查单位、备注。",
        "未复核的行保持黄色列为空即可；蓝色列仅供参考，导入时不读取（保单号、核查编号除外）。",
        f"导入（在命令行中，把“姓名”换成复核人）：scoring review import {run.path} 本文件.xlsx --reviewer 姓名",
        f"Import: scoring review import {run.path} this-file.xlsx --reviewer NAME",
        "Fill in the yellow columns (verdict, selection, inspection date, inspector organisation, notes); leave them blank for",
        "policies not reviewed. Blue columns are for reference only (policy id and inspection id excepted).",
    ):
        notes.append([line])
    notes.column_dimensions["A"].width = 120
    for sheet in (ws, notes):
        as_text(sheet)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    wb.save(tmp)
    tmp.replace(out)
    return n


#: The fields a workbook row carries (reason opinions are recorded in the web app only).
WORKBOOK_FIELDS = ("outcome", "selection", "inspection_date", "inspector_org", "notes")
NOTES_SHEET = "说明"


@dataclasses.dataclass
class ImportResult:
    rows_read: int
    recorded: int
    unchanged: int
    not_reviewed: int
    rejected: pd.DataFrame  # REJECTED_COLUMNS
    sheet: str = SHEET
    ignored_sheets: tuple[tuple[str, int], ...] = ()  # (sheet, rows with a value) not read

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.recorded + self.unchanged + self.not_reviewed + len(self.rejected)

    def summary(self) -> str:
        lines = [f"工作表“{self.sheet}”读入 {self.rows_read} 行：记录 {self.recorded}，未变 {self.unchanged}，"
                 f"未复核（空白）{self.not_reviewed}，拒收 {len(self.rejected)}",
                 f"sheet {self.sheet}: read {self.rows_read} rows: recorded {self.recorded}, unchanged {self.unchanged}, "
                 f"not reviewed (blank) {self.not_reviewed}, rejected {len(self.rejected)}"]
        for name, n in self.ignored_sheets:
            lines.append(f"注意：工作表“{name}”有 {n} 行内容，未读取（只读取“{self.sheet}”）；其中的结论请移到“{self.sheet}”后再导入"
                         f" / note: sheet {name} has {n} rows and was not read (only {self.sheet} is); move its verdicts there and import again")
        return "\n".join(lines)


def _filled_rows(ws) -> int:
    return sum(1 for r in ws.iter_rows(min_row=2, values_only=True) if r and any(v not in (None, "") for v in r))


def import_workbook(run: ReviewRun, store: ReviewStore, path: str | Path, reviewer: str, progress=None) -> ImportResult:
    """Read a filled review workbook back into ``store`` (see the module docstring).

    Only the review sheet is read; any other sheet that holds rows is named in the result. A
    row whose fields equal the policy's current verdict records nothing (whoever imports it);
    a changed row records the workbook's fields and keeps the rest (reason opinions) of the
    current verdict. Two rows for one policy that disagree are both rejected, each naming the
    other; identical copies record once. Everything is recorded in one transaction.
    """
    path = Path(path)
    if progress:
        progress("读取复核表 / reading the workbook")
    wb = open_workbook(path)
    try:
        ws = wb[SHEET] if SHEET in wb.sheetnames else wb.worksheets[0]
        ignored = tuple((o.title, n) for o in wb.worksheets if o.title not in (ws.title, NOTES_SHEET) and (n := _filled_rows(o)))
        raw = sheet_table(ws, "inspections", f"{path.name}[{ws.title}]", sha256_file(path))
    finally:
        wb.close()
    n = raw.data.num_rows
    blank = np.ones(n, dtype=bool)
    for c in ("outcome", "inspection_date", "inspector_org", "notes"):
        if c in raw.data.column_names:
            col = raw.data.column(c)
            empty = pc.or_(pc.is_null(col), pc.equal(pc.utf8_trim_whitespace(col), ""))
            blank &= np.asarray(pc.fill_null(empty, True).to_numpy(zero_copy_only=False), dtype=bool)
    raw = dataclasses.replace(raw, data=raw.data.filter(pa.array(~blank)), rows=raw.rows[~blank])
    if progress:
        progress("校验 / validating")
    accepted, rejected = validate_one(raw, run.scores.index)
    extra, verdicts, rows_of = [], [], []
    for row_no, r in zip(raw.rows[_accepted_positions(raw, rejected)], accepted.itertuples(index=False)):
        try:
            v = Verdict(policy_id=r.policy_id, outcome=r.outcome, selection=r.selection or "targeted",
                        inspection_date=pd.Timestamp(r.inspection_date).date(), inspector_org=r.inspector_org or "",
                        notes=r.notes if isinstance(r.notes, str) else "", reviewer=reviewer)
        except ValidationError as e:
            extra.append(_reject(raw.file, row_no, "", "；".join(verdict_errors(e))))
            continue
        verdicts.append(v)
        rows_of.append(int(row_no))
    verdicts, rows_of, conflicts, copies = _one_row_per_policy(raw.file, verdicts, rows_of)
    extra += conflicts
    if progress:
        progress(f"记录 {len(verdicts)} 条结论 / recording {len(verdicts)} verdicts")
    events = store.record_many(verdicts, source=f"workbook:{path.name}", only=WORKBOOK_FIELDS)
    recorded = sum(e is not None for e in events)
    if extra:
        rejected = pd.concat([rejected, pd.DataFrame(extra)], ignore_index=True).sort_values("row", kind="stable")
    result = ImportResult(n, recorded, len(events) - recorded + copies, int(blank.sum()),
                          rejected[REJECTED_COLUMNS].reset_index(drop=True), ws.title, ignored)
    if not result.balanced:  # every row must land somewhere
        raise ReviewError("导入行数不平衡", "import rows do not balance")
    return result


def _reject(file: str, row: int, column: str, msg_zh: str, msg_en: str | None = None) -> dict:
    return {"table": "inspections", "row": int(row), "column": column, "value": "",
            "message_zh": f"{file} 第 {row} 行：{msg_zh}", "message_en": f"{file} row {row}: {msg_en or msg_zh}"}


def _one_row_per_policy(file: str, verdicts: list, rows: list[int]):
    """Verdicts with one row per policy: identical copies count once (the others are returned as
    ``copies``, unchanged); rows of one policy that disagree are all rejected, each naming the others."""
    by_policy: dict[str, list[int]] = {}
    for i, v in enumerate(verdicts):
        by_policy.setdefault(v.policy_id, []).append(i)
    keep, conflicts, copies = [], [], 0
    for pid, idx in by_policy.items():
        distinct = {tuple(getattr(verdicts[i], f) for f in WORKBOOK_FIELDS) for i in idx}
        if len(distinct) == 1:
            keep.append(idx[0])
            copies += len(idx) - 1
            continue
        for i in idx:
            others = "、".join(str(rows[j]) for j in idx if j != i)
            conflicts.append(_reject(file, rows[i], "policy_id", f"保单 {pid} 在第 {others} 行另有不同的结论，均未记录；请只留一行",
                                     f"policy {pid} has a different verdict on row(s) {others}; none was recorded; keep one row"))
    keep.sort()
    return [verdicts[i] for i in keep], [rows[i] for i in keep], conflicts, copies


def _accepted_positions(raw, rejected: pd.DataFrame) -> np.ndarray:
    """Positions (in ``raw``) of the rows the intake accepted, in order."""
    bad = set(rejected["row"].astype(int))
    return np.array([i for i, r in enumerate(raw.rows) if int(r) not in bad], dtype=np.int64)
