"""The self-contained HTML report an evaluator reads (Chinese; inline CSS and SVG; no network).

Every value that comes from a submission is escaped by Jinja2's autoescaping; only the SVG
plots, which this package draws from its own labels and numbers, are inserted as markup.
The detailed section is capped (``DETAILED``) so that a run of 100,000+ policies stays usable.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import jinja2
import numpy as np
import pandas as pd

from scoring.messages import zh_text
from scoring.outputs.insurers import grade_text
from scoring.schema import CLASS_ZH, SEVERITY_ORDER, prefecture_of
from scoring.arrays import codes_of, equal_to, positions_in
from scoring.outputs.plots import bar_chart, shap_bars, strip_ids
from scoring.rules.book import describe
from scoring.schema import INDUSTRIES

DETAILED = 50  # policies explained in full in the report
LISTED = 500  # flagged policies listed in the table
PRINT_LISTED = 100  # of which printed (A4 page budget: about 4 pages)
PRINT_DETAILED = 12  # detailed cards printed (about 12 pages)


def _env() -> jinja2.Environment:
    text = resources.files("scoring").joinpath("templates/report.html.j2").read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(text)


def breakdowns(pol: pd.DataFrame, scored: pd.DataFrame, findings: pd.DataFrame, names: dict, at: np.ndarray) -> dict:
    """Policies, flags and findings by policy year, by prefecture (with names) and by insurer
    (``at``: each finding's row in ``pol``, -1 for none: :func:`scoring.arrays.positions_in`).

    Findings are counted through integer codes (each finding's policy row and rule), never copied:
    at a million policies there are tens of millions of them."""
    from scoring.regions import province_name, region_name

    p = pol[["insurer_id", "region_code", "start_date"]].join(scored[["flag"]])
    p["year"] = pd.to_datetime(p["start_date"]).dt.year
    p["prefecture"] = prefecture_of(p["region_code"]).to_numpy()
    p["flagged"] = p["flag"] != ""
    n = len(p)
    on = at >= 0  # not region and insurer findings
    sev = equal_to(findings["severity"])
    p["critical"] = np.bincount(at[on & sev("critical")], minlength=n)
    p["major"] = np.bincount(at[on & sev("major")], minlength=n)
    rule, rules = codes_of(findings["rule_code"])
    rules = rules.to_pylist()
    k = max(len(rules), 1)

    def top_rules(group: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Per group of policies: finding counts by rule (groups × rules), and the group labels."""
        g, labels = pd.factorize(group)
        counts = np.bincount(g[at[on]] * k + rule[on], minlength=len(labels) * k).reshape(len(labels), k)
        return counts, np.asarray(labels)

    def table(key):
        g = p.groupby(key)
        return pd.DataFrame({"policies": g.size(), "flagged": g["flagged"].sum(), "critical": g["critical"].sum(),
                             "major": g["major"].sum(), "with_critical": (p["critical"] > 0).groupby(p[key]).sum()})

    years = table("year").reset_index()
    years["flag_rate"] = years["flagged"] / years["policies"]
    counts, labels = top_rules(p["prefecture"])
    top_rule = {lab: (names.get(rules[c.argmax()], rules[c.argmax()]) if c.sum() else "") for lab, c in zip(labels, counts)}
    regions = table("prefecture").reset_index()
    regions["name"] = regions["prefecture"].map(region_name)
    regions["province"] = regions["prefecture"].map(province_name)
    regions["flag_rate"] = regions["flagged"] / regions["policies"]
    regions["top_rule"] = regions["prefecture"].map(top_rule).fillna("")
    regions = regions.sort_values(["province", "prefecture"])
    counts, labels = top_rules(p["insurer_id"])
    flagged = p[p["flagged"]]
    per_insurer = []
    for ins, c in sorted(zip(labels, counts), key=lambda t: t[0]):
        if not c.sum():
            continue
        best = [j for j in np.argsort(-c, kind="stable")[:5] if c[j]]
        fl = flagged[flagged["insurer_id"] == ins]
        per_insurer.append({"insurer_id": ins, "rules": [{"name": names.get(rules[j], rules[j]), "code": rules[j], "n": int(c[j])} for j in best],
                            "flag_missing": int((fl["flag"] == "missing").sum()), "flag_poor": int((fl["flag"] == "poor_quality").sum()),
                            "by_year": [{"year": int(y), "flagged": int(m)} for y, m in fl.groupby("year").size().items()]})
    return {"years": years.to_dict("records"), "regions": regions.to_dict("records"), "per_insurer": per_insurer}


def rate_section(adequacy: pd.DataFrame | None, rulebook) -> dict | None:
    """费率合理性: a chart of credible loss ratios and the cells with findings, in words."""
    from scoring.outputs.plots import loss_ratio_chart

    if adequacy is None or adequacy.empty:
        return None
    rules = {r.code: r for r in rulebook.rules if r.kind == "loss_ratio"}
    low = min((r.parsed.min_lr for r in rules.values() if r.parsed.min_lr is not None), default=0.0)
    high = max((r.parsed.max_lr for r in rules.values() if r.parsed.max_lr is not None), default=1.0)
    min_policies = min((r.parsed.min_policies for r in rules.values()), default=30)
    shown = adequacy[adequacy["policies"] >= min_policies].sort_values("policies", ascending=False).head(20)
    labels = [f"{r.insurer_id} {r.province_name} {r.industry_zh} {r.policy_year}（{r.policies} 件）" for r in shown.itertuples()]
    chart = strip_ids(loss_ratio_chart(labels, shown["credible_loss_ratio"].fillna(0).tolist(),
                                       shown["credibility"].fillna(0).tolist(), (low, high),
                                       own=shown["loss_ratio"].fillna(0).tolist()), "lr") if len(shown) else ""
    hits = adequacy[adequacy["rule_codes"] != ""].sort_values("indicated_rate_change", kind="stable")
    lines = []
    for r in hits.itertuples():
        change = r.indicated_rate_change
        verb = zh_text("report.rate_down" if change < 0 else "report.rate_up", change=f"{abs(change):.0%}")
        codes = [c for c in r.rule_codes.split(";") if c in rules]
        names = "、".join(rules[c].name_zh or c for c in codes)
        # a rule fires on the cell's own experience; the indication leans on the market as far as
        # credibility is low, so the two can point different ways: say so rather than leave it to the reader
        wants_up = any(rules[c].parsed.max_lr is not None for c in codes)
        against = (change < 0) if wants_up else (change > 0)
        caveat = zh_text("report.rate_caveat") if against else ""
        lines.append(zh_text("report.rate_line", insurer=r.insurer_id, province=r.province_name, industry=r.industry_zh,
                             year=r.policy_year, policies=r.policies, lr=f"{r.loss_ratio:.0%}", z=f"{r.credibility:.2f}",
                             claims=int(r.claims), expected=f"{r.expected_claims:.1f}", credible=f"{r.credible_loss_ratio:.0%}",
                             target=f"{r.target_loss_ratio:.0%}", verb=verb, caveat=caveat, names=names))
    return {"chart": chart, "lines": lines, "cells": int(len(adequacy)), "shown": int(len(shown)), "min_policies": min_policies,
            "low": low, "high": high}


def _balance_rows(run: dict) -> list[dict]:
    """The row-balance table with Chinese table names."""
    from scoring.schema import TABLES

    return [{"table": TABLES[t].zh if t in TABLES else t, "code": t, **b} for t, b in run["tables"].items()]


def render_empty(run: dict) -> str:
    """The report of a run in which no policy survived validation: the row balance and why."""
    overview = {"policies": 0, "rejected": run["rows_rejected_total"], "flagged": 0, "flag_missing": 0, "flag_poor": 0,
                "critical": 0, "insurers": 0, "capacity": run["capacity"],
                "balance": _balance_rows(run)}
    return _env().render(notices=[{"kind": "warn", "text": run["message_zh"]}], run=run, overview=overview)


#: The columns that name a rule's clause in the report's findings-by-clause table.
CLAUSE_KEYS = ("rule_code", "rule_name_zh", "severity", "severity_zh", "clause")


def clause_counts(findings: pd.DataFrame, policy_at: np.ndarray) -> pd.DataFrame:
    """Findings per rule and clause (:data:`CLAUSE_KEYS`): how many (``n``) and on how many
    policies (``policies``; ``policy_at``: each finding's policy number, -1 for none), most
    severe first, then the most frequent; groups with a missing key are left out, as in pandas'
    group-by. Counted through integer codes, so that memory stays within a few integers per
    finding, not a group-by's copies of the five text columns and the policy ids."""
    group = np.zeros(len(findings), dtype=np.int64)
    valid = np.ones(len(findings), dtype=bool)
    for c in CLAUSE_KEYS:
        codes, uniques = codes_of(findings[c])
        valid &= codes >= 0
        group = pd.factorize(group * (len(uniques) + 1) + codes)[0]  # renumbered: never past the row count
        del codes
    pos = np.flatnonzero(valid)
    kept = pd.factorize(group[pos])[0]  # the groups without a missing key, numbered as they first appear
    del group, valid
    n_groups = int(kept.max()) + 1 if len(kept) else 0
    first = pos[kept > np.maximum.accumulate(np.concatenate(([-1], kept[:-1])))]  # where each group first appears
    table = {c: findings[c].iloc[first].reset_index(drop=True) for c in CLAUSE_KEYS}
    table["n"] = np.bincount(kept, minlength=n_groups).astype(np.int64)
    policies = np.zeros(n_groups, dtype=np.int64)
    policy_at = policy_at[pos]
    seen = np.zeros(int(policy_at.max()) + 1 if len(policy_at) else 0, dtype=bool)
    for g in range(n_groups):  # a group's distinct policies, one group at a time
        of_group = policy_at[kept == g]
        seen[:] = False
        seen[of_group[of_group >= 0]] = True
        policies[g] = np.count_nonzero(seen)
    table["policies"] = policies
    severity = SEVERITY_ORDER
    return pd.DataFrame(table).sort_values(["severity", "n"], key=lambda c: c.map(severity) if c.name == "severity" else -c)

def evidence_parts(rulebook) -> dict | None:
    """The evidence index as the report's methodology states it: every part, its sign and weight."""
    settings = rulebook.evidence_index
    if settings is None:
        return None
    from scoring.model.features import BY_NAME

    total = sum(p.weight for p in settings.parts)
    return {"min_peers": settings.min_peers, "parts": [
        {"feature": p.feature, "zh": BY_NAME[p.feature].zh if p.feature in BY_NAME else p.feature,
         "worse_zh": zh_text(f"report.worse_{p.worse}"), "weight": p.weight, "share": f"{p.weight / total:.0%}"}
        for p in settings.parts]}


@dataclass(frozen=True)
class ReportInput:
    """Everything a run's report shows, as the score job's stages left it."""

    run: dict  # run.json
    policies: pd.DataFrame  # the policies scored
    scored: pd.DataFrame  # the ranking (index policy_id)
    findings: pd.DataFrame
    insurers: pd.DataFrame  # insurer_summary.csv
    explanations: list[dict]  # the detailed flags' explanation records, in priority order
    rulebook: object
    model: object
    capacity: int
    thresholds: dict
    adequacy: pd.DataFrame | None
    notices: list[dict]  # :func:`scoring.outputs.notices.notices`


def render(report: ReportInput) -> str:
    """The self-contained report page of a run."""
    run, policies, scored, findings, insurers = report.run, report.policies, report.scored, report.findings, report.insurers
    explanations, rulebook, model, capacity = report.explanations, report.rulebook, report.model, report.capacity
    thresholds, adequacy, not_checkable = report.thresholds, report.adequacy, run["not_checkable"]
    flagged = scored[scored["flag"] != ""].sort_values("priority")
    pol = policies.set_index("policy_id")
    names = {r.code: r.name_zh or r.code for r in rulebook.rules}
    at = positions_in(findings["policy_id"], pol.index)  # each finding's policy, -1 for none
    by_clause = clause_counts(findings, at).to_dict("records")
    counts = findings["rule_code"].value_counts().head(15)
    findings_plot = (strip_ids(bar_chart([names.get(c, c) for c in counts.index], list(counts.values), "发现数"), "fc")
                     if len(counts) else "")

    def zh(code):
        return INDUSTRIES.get(code, code)

    from scoring.regions import region_name

    flagged_rows = []
    for pid, r in flagged.head(LISTED).iterrows():
        flagged_rows.append({"priority": int(r["priority"]), "policy_id": pid, "insurer_id": pol.at[pid, "insurer_id"],
                             "enterprise_name": pol.at[pid, "enterprise_name"], "industry_zh": zh(pol.at[pid, "industry"]),
                             "flag_zh": CLASS_ZH[r["flag"]], "p_missing": r["p_missing"], "p_poor_quality": r["p_poor_quality"],
                             "rules": [names.get(c, c) for c in r["rule_codes"].split(";") if c],
                             "region": region_name(pol.at[pid, "region_code"])})
    shown = [rec["policy_id"] for rec in explanations[:DETAILED]]
    of_shown = findings[findings["policy_id"].isin(shown).to_numpy()]
    by_policy = {pid: f for pid, f in of_shown.groupby("policy_id")}
    detailed = []
    for i, rec in enumerate(explanations[:DETAILED]):
        pid = rec["policy_id"]
        f = by_policy.get(pid, findings.iloc[0:0])
        f = f.sort_values("severity", key=lambda c: c.map(SEVERITY_ORDER), kind="stable")
        pos = [c for c in rec["contributions"] if c["shap"] > 0 and c.get("as_reason", True)][:5]
        detailed.append({
            "priority": int(scored.at[pid, "priority"]), "policy_id": pid, "enterprise_name": pol.at[pid, "enterprise_name"],
            "insurer_id": pol.at[pid, "insurer_id"], "region_code": pol.at[pid, "region_code"],
            "region_name": region_name(pol.at[pid, "region_code"]), "industry_zh": zh(pol.at[pid, "industry"]),
            "period": f"{pol.at[pid, 'start_date']:%Y-%m-%d} 至 {pol.at[pid, 'end_date']:%Y-%m-%d}",
            "flag_zh": CLASS_ZH[rec["flag"]], "probability": rec["probability"], "threshold": rec["threshold"],
            "reasons": [c["text_zh"] for c in pos],
            "plot": strip_ids(shap_bars(rec, CLASS_ZH[rec["flag"]]), f"p{i}"),
            "findings": f.head(12).fillna("").to_dict("records"), "more_findings": max(0, len(f) - 12),
        })
    ins = insurers.copy()
    ins["spend_text"] = ins["spend_ratio"].map(lambda x: "—" if pd.isna(x) else f"{x * 100:.1f}%")
    v = model.metadata.get("validation", {})
    metrics = []
    for slice_name, per in v.get("models", {}).get("model", {}).items():
        for cls in ("missing", "poor_quality"):
            m = per.get(cls)
            if m:
                metrics.append({"slice": slice_name, "cls": CLASS_ZH[cls], **{k: m.get(k) for k in
                                ("n", "positives", "roc_auc", "average_precision", "precision_at_capacity", "recall_at_capacity",
                                 "brier", "roc_auc_ci", "average_precision_ci")}})
    from scoring.model.card import validation_text

    worlds = (model.metadata.get("worlds") or {}).get("summary")
    held = ("" if not worlds else
            zh_text("report.model_worlds", n=model.metadata["worlds"]["n_worlds"], m_min=worlds["missing"]["roc_auc_min"],
                    m_med=worlds["missing"]["roc_auc_median"], p_min=worlds["poor_quality"]["roc_auc_min"],
                    p_med=worlds["poor_quality"]["roc_auc_median"]))
    summary = zh_text("report.model_summary", version=model.version, validation=validation_text(v).split(" / ")[0],
                      capacity=f"{v.get('capacity', 0.1):.0%}", held=held)
    overview = {
        "policies": len(scored), "rejected": run["rows_rejected_total"], "flagged": int(len(flagged)),
        "flag_missing": int((flagged["flag"] == "missing").sum()), "flag_poor": int((flagged["flag"] == "poor_quality").sum()),
        "critical": int((findings["severity"] == "critical").sum()), "insurers": len(insurers), "capacity": capacity,
        "balance": _balance_rows(run),
    }
    return _env().render(
        notices=report.notices, run=run, overview=overview, insurers=ins.to_dict("records"), grade_rules=grade_text(rulebook), by_clause=by_clause,
        findings_plot=findings_plot, not_checkable=not_checkable, flagged_rows=flagged_rows, detailed=detailed,
        rules=describe(rulebook).to_dict("records"), model={"summary": summary, "metrics": metrics},
        weights=rulebook.priority, thresholds=thresholds, print_listed=PRINT_LISTED, print_detailed=PRINT_DETAILED,
        evidence=evidence_parts(rulebook), basis=run.get("priority_basis") or {},
        decisive=sorted({r.name_zh or r.code for r in rulebook.rules if r.role == "decisive"}),
        breakdown=breakdowns(pol, scored, findings, names, at), rates=rate_section(adequacy, rulebook),
    )
