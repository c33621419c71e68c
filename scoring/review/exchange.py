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
import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError

from scoring.errors import OptionError, ReviewError
from scoring.messages import both, render, zh_text
from scoring.writers import write_csv
from scoring.submission.workbook import open_workbook, sheet_table
from scoring.files import remove_tree, replace_file, sha256_file
from scoring.submission.intake import REJECTED_COLUMNS, validate_one
from scoring.schema import ID_MAX, INDUSTRIES, OUTCOMES, SELECTIONS
from scoring.review.run import ReviewRun
from scoring.review.store import ReviewStore, Verdict, reviewer_problems, verdict_errors

INSPECTION_COLUMNS = ["inspection_id", "policy_id", "inspection_date", "inspector_org", "outcome", "notes", "selection"]
SHEET = "复核清单"
FLAG_ZH = {"missing": "服务缺失", "poor_quality": "服务质量差", "": ""}
#: Workbook columns: (header, width). Headers of the inspections table use its Chinese names,
#: so the intake reads the sheet as it reads a submission's 核查结果 sheet.
READ_ONLY = [("优先级", 8), ("保单号", 18), ("企业名称", 28), ("保险机构", 10), ("地区", 9), ("行业", 14), ("标记", 11),
             ("服务缺失概率", 11), ("服务质量差概率", 11), ("主要理由", 60), ("核查编号", 24)]
EDITABLE = [("核查结论", 12), ("抽查方式", 11), ("核查日期", 12), ("核查单位", 22), ("备注", 40)]
VERDICT_FIELDS = ("核查结论", "抽查方式", "核查日期", "核查单位", "备注")
#: Every header the workbook is written with (the ones outside the inspections table are for reading).
WRITTEN_HEADERS = tuple(h for h, _ in READ_ONLY + EDITABLE)


def review_inspection_id(policy_id: str, suffix: str = "") -> str:
    """The inspection id a verdict gets (``RV-<policy>``), within the longest id the intake accepts:
    a policy id too long for the prefix is replaced by its digest, the same in every export."""
    import hashlib

    plain = f"RV-{policy_id}{suffix}"
    return plain if len(plain) <= ID_MAX else f"RV-{hashlib.sha256(policy_id.encode('utf-8')).hexdigest()[:32]}{suffix}"


def inspections_table(store: ReviewStore) -> pd.DataFrame:
    """The current verdict of every reviewed policy as v1 ``inspections`` rows, by policy_id."""
    cur = store.current()
    out = pd.DataFrame({
        "inspection_id": [review_inspection_id(p, f"-{i}") for p, i in zip(cur["policy_id"].astype(str), cur["id"])],
        "policy_id": cur["policy_id"], "inspection_date": cur["inspection_date"], "inspector_org": cur["inspector_org"],
        "outcome": cur["outcome"], "notes": cur["notes"], "selection": cur["selection"],
    }, columns=INSPECTION_COLUMNS)
    return out.reset_index(drop=True)


def export_inspections(store: ReviewStore, out: str | Path) -> int:
    """Write the verdicts to ``out`` (CSV, UTF-8); returns the number of rows."""
    table = inspections_table(store)
    replace_file(out, lambda tmp: write_csv(table, tmp))
    return len(table)


def export_labelled(run_json: dict, store: ReviewStore, dest: str | Path, submission: str | Path | None = None) -> dict:
    """A new submission folder ready for ``scoring retrain``: the scored submission's tables,
    with its own inspections plus the review's verdicts in ``inspections.csv``.

    The source must be a folder (an .xlsx submission: add the exported table as a sheet).
    A reviewed policy keeps any earlier inspection too; retraining takes the latest per policy.
    """
    from scoring.submission.intake import load_submission
    from scoring.submission.raw import table_for
    src = Path(submission or run_json.get("submission_path") or run_json.get("submission") or "")
    if not src.is_dir():
        raise ReviewError(*render('workbook.export_labelled', src=src))
    dest = Path(dest)
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise ReviewError(*render('workbook.export_labelled.2', dest=dest))
    before = load_submission(src)["inspections"]
    before = before.assign(inspection_date=before["inspection_date"].dt.strftime("%Y-%m-%d"))
    review = inspections_table(store)
    both = pd.concat([before[INSPECTION_COLUMNS].astype(object), review.astype(object)], ignore_index=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))  # whole or nothing: renamed when complete
    copied = []
    try:
        for f in sorted(src.iterdir()):
            if f.is_file() and table_for(f.name.split(".")[0]) not in (None, "inspections"):
                shutil.copy2(f, tmp / f.name)
                copied.append(f.name)
        write_csv(both.fillna(""), tmp / "inspections.csv")
        if dest.exists():
            dest.rmdir()
        os.replace(tmp, dest)
    except OSError as e:
        remove_tree(tmp)
        if e.filename is None or str(e.filename).startswith(str(tmp)):
            e.filename = str(dest)
        raise
    except BaseException:
        remove_tree(tmp)
        raise
    return {"copied": copied, "inspections_before": len(before), "inspections_review": len(review), "inspections": len(both)}


def review_list(run: ReviewRun, store: ReviewStore, arms: dict | None = None) -> pd.DataFrame:
    """Flagged policies, the policies of an inspection plan (``arms``: policy_id -> arm) and
    reviewed policies, in priority order."""
    s = run.scores
    reviewed = set(store.current()["policy_id"])
    keep = (s["flag"] != "") | s["policy_id"].isin(reviewed) | s["policy_id"].isin(list(arms or ()))
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


def write_workbook(run: ReviewRun, store: ReviewStore, out: str | Path, arms: dict | None = None) -> int:
    """The review list as an .xlsx with drop-down verdict cells; returns the number of policies.
    ``arms`` (an inspection plan's policy_id -> arm): its policies are listed too, and a policy of
    its random arm not yet reviewed has 抽查方式 = 随机抽查 filled in (a row with no verdict is
    still read back as blank)."""
    arms = arms or {}
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    if Path(out).suffix.lower() != ".xlsx":  # an unrelated file of another kind is never overwritten
        raise OptionError(*render("workbook_suffix", out=out))
    rows = review_list(run, store, arms)
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
            FLAG_ZH.get(r["flag"], r["flag"]), float(r["p_missing"]), float(r["p_poor_quality"]), r["reasons"], review_inspection_id(pid),
            OUTCOMES[c["outcome"]] if c is not None else None,
            SELECTIONS[c["selection"]] if c is not None else (SELECTIONS["random"] if arms.get(pid) == "random" else None),
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
    notes = wb.create_sheet(NOTES_SHEET)
    for line in notes_lines(run.path):
        notes.append([line])
    notes.column_dimensions["A"].width = 120
    for sheet in (ws, notes):
        as_text(sheet)
    buf = io.BytesIO()  # built in memory: a full disk then fails one plain write, not the zip writer halfway
    wb.save(buf)
    replace_file(out, lambda tmp: tmp.write_bytes(buf.getvalue()))
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
    ignored_columns: tuple[str, ...] = ()  # headers added to the sheet, not read

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.recorded + self.unchanged + self.not_reviewed + len(self.rejected)

    def summary(self) -> str:
        lines = list(render("import.summary", sheet=self.sheet, read=self.rows_read, recorded=self.recorded, unchanged=self.unchanged,
                            blank=self.not_reviewed, rejected=len(self.rejected)))
        if self.ignored_columns:
            lines.append(both("import.ignored_columns", cols_zh="、".join(self.ignored_columns), cols_en=", ".join(self.ignored_columns)))
        for name, n in self.ignored_sheets:
            lines.append(both("import.ignored_sheet", name=name, n=n, sheet=self.sheet))
        return "\n".join(lines)


def notes_lines(run_path) -> tuple[str, ...]:
    """The text of the workbook's notes sheet, a line a row in column A."""
    zh, en = render("workbook.notes", run=run_path)
    return tuple(zh.split("\n")) + tuple(en.split("\n"))


#: Lines of :func:`notes_lines`.
NOTES_LINES = 6


def _filled_rows(ws, written: int = 0) -> int:
    """Rows below the header with a value; of the notes sheet (``written`` lines of our own text in
    column A) only rows beyond those lines or values outside column A count."""
    if written:
        return sum(1 for i, r in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1)
                   if r and (any(v not in (None, "") for v in r[1:]) or (i > written and r[0] not in (None, ""))))
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
    problems = reviewer_problems(reviewer)
    if problems:
        raise OptionError("--reviewer " + "；".join(problems), "--reviewer " + "; ".join(problems))
    if progress:
        progress("读取复核表 / reading the workbook")
    wb = open_workbook(path)
    try:
        ws = wb[SHEET] if SHEET in wb.sheetnames else wb.worksheets[0]
        ignored = tuple((o.title, n) for o in wb.worksheets if o.title != ws.title and (n := _filled_rows(o, NOTES_LINES if o.title == NOTES_SHEET else 0)))
        raw = sheet_table(ws, "inspections", f"{path.name}[{ws.title}]", sha256_file(path))
    finally:
        wb.close()
    n = raw.data.num_rows + len(raw.malformed)  # a row with a value beyond the header is read, and rejected
    blank = np.ones(raw.data.num_rows, dtype=bool)
    for c in ("outcome", "inspection_date", "inspector_org", "notes"):
        if c in raw.data.column_names:
            col = raw.data.column(c)
            empty = pc.or_(pc.is_null(col), pc.equal(pc.utf8_trim_whitespace(col), ""))
            blank &= np.asarray(pc.fill_null(empty, True).to_numpy(zero_copy_only=False), dtype=bool)
    raw = dataclasses.replace(raw, data=raw.data.filter(pa.array(~blank)), rows=raw.rows[~blank])
    raw, copies, extra = _copies_and_conflicts(raw)
    if progress:
        progress("校验 / validating")
    accepted, rejected = validate_one(raw, run.scores.index)
    verdicts, rows_of = [], []
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
    if progress:
        progress(f"记录 {len(verdicts)} 条结论 / recording {len(verdicts)} verdicts")
    events = store.record_many(verdicts, source=f"workbook:{path.name}", only=WORKBOOK_FIELDS)
    recorded = sum(e is not None for e in events)
    if extra:
        rejected = pd.concat([rejected, pd.DataFrame(extra)], ignore_index=True).sort_values("row", kind="stable")
    unread = tuple(f"第 {int(c[4:]) + 1} 列（无表头）" if c.startswith("_col") and c[4:].isdigit() else c
                   for c in raw.extra_columns if c not in WRITTEN_HEADERS)
    result = ImportResult(n, recorded, len(events) - recorded + copies, int(blank.sum()),
                          rejected[REJECTED_COLUMNS].reset_index(drop=True), ws.title, ignored, unread)
    if not result.balanced:  # every row must land somewhere
        raise ReviewError(*render('workbook.import_workbook'))
    return result


def _copies_and_conflicts(raw):
    """Rows that repeat an earlier row cell for cell are copies (counted unchanged, not validated:
    their inspection id would be a duplicate key); rows of one policy that disagree, valid or not,
    are all rejected, each naming the others. Returns the rows left, the copies and the rejections."""
    df = raw.data.to_pandas().astype(object).where(lambda d: d.notna(), "")
    df = df.apply(lambda c: c.map(lambda v: str(v).strip()))
    copy = df.duplicated(keep="first").to_numpy()
    verdict_cols = [c for c in ("outcome", "selection", "inspection_date", "inspector_org", "notes") if c in df]
    kept = df[~copy]
    differ = kept.groupby("policy_id")[verdict_cols].transform("nunique").gt(1).any(axis=1) & (kept["policy_id"] != "")
    rows = raw.rows[~copy]
    rejected = []
    for pid, idx in kept[differ.to_numpy()].groupby("policy_id").groups.items():
        at = [int(rows[kept.index.get_loc(i)]) for i in idx]
        for r in at:
            others = "、".join(str(o) for o in at if o != r)
            rejected.append(_reject(raw.file, r, "policy_id", *render('workbook.copies_and_conflicts', pid=pid, others=others),
                                    value=pid))
    keep = ~copy
    keep[np.flatnonzero(~copy)[differ.to_numpy()]] = False
    left = dataclasses.replace(raw, data=raw.data.filter(pa.array(keep)), rows=raw.rows[keep])
    return left, int(copy.sum()), rejected


def _reject(file: str, row: int, column: str, msg_zh: str, msg_en: str | None = None, value: str = "") -> dict:
    return {"table": "inspections", "row": int(row), "column": column, "value": value,
            "message_zh": zh_text("import.row", file=file, row=row, message=msg_zh),
            "message_en": render("import.row", file=file, row=row, message=msg_en or msg_zh)[1]}


def _accepted_positions(raw, rejected: pd.DataFrame) -> np.ndarray:
    """Positions (in ``raw``) of the rows the intake accepted, in order."""
    bad = set(rejected["row"].astype(int))
    return np.array([i for i, r in enumerate(raw.rows) if int(r) not in bad], dtype=np.int64)
