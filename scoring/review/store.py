"""The verdict history of a review, in an embedded SQLite database (``review.sqlite`` in the run).

Every verdict is a new row of ``review_events``; nothing is updated or deleted (triggers refuse
it), so the history of a policy is its rows in order and the current verdict is the latest.
Each row says who recorded it, when, from where (web form or workbook) and which fields it
changed against the verdict it supersedes. The database runs in WAL mode; each write is one
``BEGIN IMMEDIATE`` transaction, so concurrent reviewers are serialised, never lost.
"""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from scoring.messages import render
from scoring.errors import ReviewError
from scoring.submission.parsing import parse_day
from scoring.schema import ID_MAX, OUTCOMES, SELECTIONS, DateBounds, invisible

DB_NAME = "review.sqlite"
FIELDS = ("outcome", "selection", "inspection_date", "inspector_org", "notes", "reasons")
FIELD_ZH = {"outcome": "核查结论", "selection": "抽查方式", "inspection_date": "核查日期", "inspector_org": "核查单位",
            "notes": "备注", "reasons": "对理由的意见", "reviewer": "复核人", "policy_id": "保单号"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS review_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    policy_id TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('adequate', 'poor_quality', 'missing')),
    selection TEXT NOT NULL CHECK (selection IN ('targeted', 'random')),
    inspection_date TEXT NOT NULL,
    inspector_org TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    reasons TEXT NOT NULL DEFAULT '{}',
    reviewer TEXT NOT NULL,
    source TEXT NOT NULL,
    client TEXT NOT NULL DEFAULT '',
    recorded_at TEXT NOT NULL,
    supersedes INTEGER REFERENCES review_events(id),
    changed TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS review_events_policy ON review_events(policy_id, id);
CREATE TRIGGER IF NOT EXISTS review_events_no_update BEFORE UPDATE ON review_events
BEGIN SELECT RAISE(ABORT, 'review history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS review_events_no_delete BEFORE DELETE ON review_events
BEGIN SELECT RAISE(ABORT, 'review history is append-only'); END;
"""


class Verdict(BaseModel):
    """One reviewer's verdict on one policy, as a form or a workbook row gives it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    policy_id: str = Field(min_length=1, max_length=ID_MAX)
    outcome: Literal["adequate", "poor_quality", "missing"]
    selection: Literal["targeted", "random"] = "targeted"
    inspection_date: dt.date
    inspector_org: str = Field(min_length=1, max_length=200)
    notes: str = Field(default="", max_length=4000)
    reasons: dict[str, Literal["agree", "disagree"]] = Field(default_factory=dict)
    reviewer: str = Field(min_length=1, max_length=100)

    @field_validator("reviewer", "inspector_org", "notes")
    @classmethod
    def _visible(cls, v: str, info) -> str:
        """Names are what a reader sees: no character that shows nothing (:func:`scoring.schema.invisible`:
        zero-width, bidi overrides, Hangul fillers…) may hide in them or turn them round, and a name
        shows at least one character; notes may hold spaces, line breaks (kept as \\n) and tabs."""
        if info.field_name == "notes":
            v = v.replace("\r\n", "\n").replace("\r", "\n")
        allowed = " \n\t" if info.field_name == "notes" else " "
        bad = sorted({c for c in v if invisible(c) and c not in allowed})
        if bad:
            names = "、".join(f"U+{ord(c):04X}" for c in bad)
            raise ValueError(f"含不可见或控制字符 {names} / holds invisible or control characters {names}")
        if info.field_name != "notes" and v and not any(not invisible(c) for c in v):
            raise ValueError("没有可见的字符 / shows no character")
        return v

    @field_validator("inspection_date", mode="before")
    @classmethod
    def _as_the_data_writes_it(cls, v):
        """A date typed as the data writes dates (2025-12-31, 2025/12/31, 2025年12月31日), nothing else."""
        if isinstance(v, str):
            day = parse_day(v)
            if day is None:
                raise ValueError("不是有效日期（应为 YYYY-MM-DD、YYYY/MM/DD 或 YYYY年MM月DD日）/ not a valid date")
            return day
        return v

    @field_validator("inspection_date")
    @classmethod
    def _plausible(cls, v: dt.date) -> dt.date:
        if v > dt.date.today():
            raise ValueError("核查日期晚于今天 / the inspection date is in the future")
        if v < DateBounds.earliest:
            raise ValueError(f"核查日期早于 {DateBounds.earliest} / the inspection date is before {DateBounds.earliest}")
        return v


def reviewer_problems(name: str) -> list[str]:
    """What is wrong with a reviewer's name, as a verdict would say it ([] when nothing is)."""
    try:
        Verdict(policy_id="x", outcome="adequate", inspection_date=dt.date.today(), inspector_org="x", reviewer=name)
    except ValidationError as e:
        return verdict_errors(e)
    return []


_ERROR_ZH = {"literal_error": "请从列表中选择", "string_too_short": "不能为空", "string_too_long": "过长",
             "date_from_datetime_parsing": "不是有效日期（应为 YYYY-MM-DD）", "date_parsing": "不是有效日期（应为 YYYY-MM-DD）",
             "date_type": "不是有效日期（应为 YYYY-MM-DD）", "missing": "缺少"}


def verdict_errors(exc) -> list[str]:
    """pydantic's errors as ``字段 field：中文说明 / English message`` lines."""
    out = []
    for e in exc.errors():
        loc = str(e["loc"][0]) if e["loc"] else ""
        zh = _ERROR_ZH.get(e["type"], "")
        msg = e["msg"].removeprefix("Value error, ")
        out.append(f"{FIELD_ZH.get(loc, loc)} {loc}：{zh + ' / ' if zh else ''}{msg}")
    return out


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


class ReviewStore:
    """The append-only verdicts of one run."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            with self._connect() as con:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise ReviewError(*render('store.init', path=self.path, e=e)) from None

    @contextmanager
    def _connect(self):
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA busy_timeout=30000")
        try:
            yield con
        finally:
            con.close()

    def record(self, v: Verdict, source: str, client: str = "") -> dict | None:
        """Append ``v`` as the policy's current verdict; ``None`` when it changes nothing."""
        return self.record_many([v], source, client)[0]

    def record_many(self, verdicts: list[Verdict], source: str, client: str = "", only: tuple[str, ...] | None = None,
                    progress=None) -> list[dict | None]:
        """Append each verdict in one transaction (all or none); ``None`` for one that changes nothing.

        ``only``: the fields the source carries (a workbook has no reason opinions). A verdict is
        then compared on those fields alone, and the fields it does not carry are kept from the
        policy's current verdict, so a row nobody touched records nothing and a changed row
        loses no opinion. ``progress(done, total)`` is called every thousand verdicts."""
        fields = FIELDS if only is None else only
        out: list[dict | None] = []
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                for i, v in enumerate(verdicts):
                    out.append(self._append(con, v, source, client, fields))
                    if progress and (i + 1) % 1000 == 0:
                        progress(i + 1, len(verdicts))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        if progress:
            progress(len(verdicts), len(verdicts))
        return out

    def _append(self, con, v: Verdict, source: str, client: str, fields: tuple[str, ...]) -> dict | None:
        row = {"policy_id": v.policy_id, "outcome": v.outcome, "selection": v.selection,
               "inspection_date": v.inspection_date.isoformat(), "inspector_org": v.inspector_org, "notes": v.notes,
               "reasons": json.dumps(v.reasons, ensure_ascii=False, sort_keys=True), "reviewer": v.reviewer,
               "source": source, "client": client}
        prev = con.execute("SELECT * FROM review_events WHERE policy_id = ? ORDER BY id DESC LIMIT 1", (v.policy_id,)).fetchone()
        if prev is not None:
            for f in FIELDS:
                if f not in fields:  # not carried by the source: kept as it was
                    row[f] = prev[f]
        changed = [f for f in FIELDS if prev is None or prev[f] != row[f]]
        if prev is not None and not changed:
            return None
        cur = con.execute(
            "INSERT INTO review_events (policy_id, outcome, selection, inspection_date, inspector_org, notes, reasons,"
            " reviewer, source, client, recorded_at, supersedes, changed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (*(row[k] for k in ("policy_id", "outcome", "selection", "inspection_date", "inspector_org", "notes",
                                "reasons", "reviewer", "source", "client")),
             _now(), prev["id"] if prev is not None else None, json.dumps(changed)),
        )
        return self._event(con.execute("SELECT * FROM review_events WHERE id = ?", (cur.lastrowid,)).fetchone())

    @staticmethod
    def _event(r: sqlite3.Row) -> dict:
        d = dict(r)
        d["reasons"] = json.loads(d["reasons"])
        d["changed"] = json.loads(d["changed"])
        d["outcome_zh"] = OUTCOMES[d["outcome"]]
        d["selection_zh"] = SELECTIONS[d["selection"]]
        return d

    def history(self, policy_id: str) -> list[dict]:
        """Every verdict recorded for ``policy_id``, oldest first."""
        with self._connect() as con:
            rows = con.execute("SELECT * FROM review_events WHERE policy_id = ? ORDER BY id", (policy_id,)).fetchall()
        return [self._event(r) for r in rows]

    def current(self) -> pd.DataFrame:
        """The latest verdict of every reviewed policy (one row each), in policy order."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT e.* FROM review_events e JOIN (SELECT policy_id, MAX(id) AS id FROM review_events GROUP BY policy_id) m"
                " ON e.id = m.id ORDER BY e.policy_id").fetchall()
        cols = ["id", "policy_id", "outcome", "selection", "inspection_date", "inspector_org", "notes", "reasons",
                "reviewer", "source", "client", "recorded_at", "supersedes", "changed"]
        df = pd.DataFrame([dict(r) for r in rows], columns=cols)
        df["reasons"] = df["reasons"].map(json.loads)
        return df

    def count(self) -> int:
        with self._connect() as con:
            return int(con.execute("SELECT COUNT(*) FROM review_events").fetchone()[0])
