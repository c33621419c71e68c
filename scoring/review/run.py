"""What a review reads from a finished run directory.

``policy_scores.csv``, ``findings.csv``, ``explanations.jsonl`` and ``run.json`` come from the
run itself. Enterprise names and service records come from the submission the run scored
(its path is in ``run.json``, or given with ``--submission``); without it the review still
works and says that the records are not available. Explanations are read on demand by byte
offset, so a run with 100,000 flagged policies does not hold them all in memory.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from scoring.messages import both, render
from scoring.errors import ReviewError
from scoring.regions import region_name
from scoring.schema import ID_MAX, INDUSTRIES, SERVICE_ITEMS, SEVERITY_ORDER

REQUIRED = ("run.json", "policy_scores.csv", "findings.csv", "explanations.jsonl")


def _read_csv(path: Path) -> pd.DataFrame:
    """Every column as text (ids such as 001 stay as written); empty cells as ""."""
    head = pacsv.open_csv(path).schema.names
    table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(newlines_in_values=True),
                           convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in head},
                                                                strings_can_be_null=False, quoted_strings_can_be_null=False))
    return table.to_pandas().fillna("")


def _line_policy(line: bytes) -> str:
    """The policy id of an explanations.jsonl line, read as JSON reads it (an id may hold ``"`` or
    ``\\``, escaped in the line) from the line's head only: the lines are kilobytes each."""
    start = line.find(b'"policy_id": "') + len(b'"policy_id": ')
    head = line[start:start + 12 * ID_MAX + 2].decode("utf-8", errors="ignore")  # \uXXXX escapes: 6 bytes a UTF-16 unit
    return json.decoder.scanstring(head, 1)[0]


@dataclass
class ReviewRun:
    """A finished run, read for review."""

    path: Path
    run: dict
    scores: pd.DataFrame  # policy_scores.csv, index policy_id, in priority order
    findings: pd.DataFrame  # findings of policies, index policy_id (sorted)
    offsets: dict[str, int]  # policy_id -> byte offset of its explanation
    policies: pd.DataFrame | None = None  # submission policies (index policy_id) when available
    services: pd.DataFrame | None = None  # submission services (index policy_id, sorted) when available
    submission_note: str = ""
    options: dict = field(default_factory=dict)

    @staticmethod
    def check(path: str | Path) -> None:
        """Refuse a folder that is not a finished run, before anything is read or written in it."""
        path = Path(path)
        missing = [f for f in REQUIRED if not (path / f).is_file()]
        if missing:
            raise ReviewError(*render('review.check', path=path, v_zh='、'.join(missing), v_en=', '.join(missing)))

    @classmethod
    def open(cls, path: str | Path, submission: str | Path | None = None) -> "ReviewRun":
        path = Path(path)
        cls.check(path)
        run = json.loads((path / "run.json").read_text("utf-8"))
        scores = _read_csv(path / "policy_scores.csv")
        for c in ("p_missing", "p_poor_quality", "priority_score"):
            scores[c] = pd.to_numeric(scores[c], errors="coerce")
        scores["priority"] = pd.to_numeric(scores["priority"], errors="coerce").astype("Int64")
        scores = scores.sort_values("priority", kind="stable").set_index("policy_id", drop=False)
        scores.index.name = None
        f = _read_csv(path / "findings.csv")
        f = f[f["policy_id"] != ""]
        if "rule_name_zh" not in f:  # a run written before results-format v1.1
            f = f.assign(rule_name_zh=f["rule_code"], severity_zh=f["severity"])
        f = f.assign(_s=f["severity"].map(SEVERITY_ORDER)).sort_values(["policy_id", "_s", "rule_code"], kind="stable")
        findings = f.drop(columns="_s").set_index("policy_id", drop=False)
        findings.index.name = None
        offsets = {}
        with open(path / "explanations.jsonl", "rb") as fh:
            pos = 0
            for line in fh:
                offsets[_line_policy(line)] = pos
                pos += len(line)
        out = cls(path, run, scores, findings, offsets)
        out._attach_submission(submission or run.get("submission_path") or run.get("submission"))
        return out

    def _attach_submission(self, submission) -> None:
        from scoring.submission.intake import load_submission

        if not submission or not Path(submission).exists():
            self.submission_note = both("review.no_submission", submission_zh=submission or "未记录", submission_en=submission or "not recorded")
            return
        sub = load_submission(submission)
        pol = sub["policies"]
        known = pol["policy_id"].isin(self.scores.index)
        self.policies = pol[known.to_numpy()].set_index("policy_id", drop=False)
        self.policies.index.name = None
        svc = sub["services"].sort_values(["policy_id", "service_date", "service_id"], kind="stable")
        self.services = svc.set_index("policy_id", drop=False)
        self.services.index.name = None

    # ------------------------------------------------------------------ lookups

    def explanation(self, policy_id: str) -> dict | None:
        pos = self.offsets.get(policy_id)
        if pos is None:
            return None
        with open(self.path / "explanations.jsonl", "rb") as fh:
            fh.seek(pos)
            return json.loads(fh.readline())

    def policy_findings(self, policy_id: str) -> list[dict]:
        if policy_id not in self.findings.index:
            return []
        return self.findings.loc[[policy_id]].to_dict("records")

    def policy_services(self, policy_id: str) -> list[dict] | None:
        if self.services is None:
            return None
        if policy_id not in self.services.index:
            return []
        rows = self.services.loc[[policy_id]].copy()
        rows["service_item_zh"] = rows["service_item"].map(SERVICE_ITEMS).fillna(rows["service_item"])
        for c in ("service_date", "report_date", "followup_date"):
            if c in rows:
                rows[c] = rows[c].dt.strftime("%Y-%m-%d").fillna("")
        return rows.replace({np.nan: None}).to_dict("records")

    def policy(self, policy_id: str) -> dict | None:
        if policy_id not in self.scores.index:
            return None
        d = self.scores.loc[policy_id].to_dict()
        d["industry_zh"] = INDUSTRIES.get(d["industry"], d["industry"])
        d["region_name"] = region_name(d["region_code"])
        if self.policies is not None and policy_id in self.policies.index:
            p = self.policies.loc[policy_id]
            d.update(enterprise_name=p["enterprise_name"], enterprise_id=p["enterprise_id"],
                     insurer_name=p.get("insurer_name", ""), period=f"{p['start_date']:%Y-%m-%d} 至 {p['end_date']:%Y-%m-%d}",
                     premium=p.get("premium"), prevention_fee=p.get("prevention_fee"))
        return d

    def names(self, ids) -> list[str]:
        if self.policies is None:
            return [""] * len(ids)
        return self.policies["enterprise_name"].reindex(list(ids)).fillna("").tolist()


def plan_arms(plan: str | Path | None) -> dict[str, str]:
    """policy_id -> arm (random / risk) of an inspection plan written by ``scoring sample``."""
    if plan is None:
        return {}
    try:
        table = pd.read_csv(plan, dtype=str, keep_default_na=False, usecols=["policy_id", "arm"])
    except (OSError, ValueError) as e:
        raise ReviewError(*render("app.plan", plan=plan, why=str(e).splitlines()[0][:200])) from None
    return dict(zip(table["policy_id"], table["arm"]))
