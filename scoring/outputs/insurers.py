"""Insurer summary and grade (A–D) from flags, findings and prevention-fee spend.

Grades, first match from D to A (thresholds in the rulebook's ``grades`` section):
D when the insurer is a blacklist candidate (a finding of a rule whose role is ``blacklist``) or its flag rate,
critical-finding rate or spend ratio crosses the D line; C and B likewise with their lines;
A otherwise. Rates are shares of the insurer's scored policies; spend ratio is service cost
over prevention fee on its ended policies.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.messages import zh_text
from scoring.rules.book import Rulebook

SUMMARY_COLUMNS = ["insurer_id", "policies", "flagged", "findings_critical", "findings_major", "mean_p_missing",
                   "mean_p_poor_quality", "grade", "insurer_name", "flag_rate", "critical_rate", "spend_ratio",
                   "blacklist_candidate", "earned_premium", "incurred_losses", "loss_ratio"]


def summarise(policies: pd.DataFrame, scored: pd.DataFrame, findings: pd.DataFrame, spend: pd.Series, ended: pd.Series,
              rulebook: Rulebook, rate_cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per insurer, sorted by insurer_id; earned premium, incurred losses and the loss
    ratio from ``rate_cells`` when the submission had claims (empty otherwise)."""
    p = policies[["policy_id", "insurer_id", "insurer_name", "prevention_fee"]].set_index("policy_id")
    p = p.join(scored[["p_missing", "p_poor_quality", "flag"]])
    p["spend"] = spend.reindex(p.index).fillna(0).to_numpy()
    p["ended"] = ended.reindex(p.index).fillna(False).to_numpy(dtype=bool)
    crit_pol = set(findings.loc[(findings["policy_id"].notna() & (findings["severity"] == "critical")).to_numpy(), "policy_id"])
    g = p.groupby("insurer_id", sort=True)
    out = pd.DataFrame({
        "policies": g.size(),
        "flagged": g["flag"].apply(lambda f: int((f != "").sum())),
        "mean_p_missing": g["p_missing"].mean().round(4),
        "mean_p_poor_quality": g["p_poor_quality"].mean().round(4),
        "insurer_name": g["insurer_name"].first(),
    })
    fi = findings.groupby(["insurer_id", "severity"]).size().unstack(fill_value=0)
    out["findings_critical"] = fi.get("critical", pd.Series(dtype=int)).reindex(out.index).fillna(0).astype(int)
    out["findings_major"] = fi.get("major", pd.Series(dtype=int)).reindex(out.index).fillna(0).astype(int)
    out["flag_rate"] = (out["flagged"] / out["policies"]).round(4)
    out["critical_rate"] = pd.Series(p.index.isin(list(crit_pol)), index=p.index).groupby(p["insurer_id"]).mean().round(4)
    e = p[p["ended"]]
    fee = e.groupby("insurer_id")["prevention_fee"].sum()
    out["spend_ratio"] = (e.groupby("insurer_id")["spend"].sum() / fee.where(fee > 0)).reindex(out.index).round(4)
    codes = [r.code for r in rulebook.rules if r.role == "blacklist"]
    black = set(findings.loc[findings["rule_code"].isin(codes), "insurer_id"])
    out["blacklist_candidate"] = out.index.isin(list(black))
    out["grade"] = grade(out, rulebook)
    if rate_cells is not None and len(rate_cells):
        r = rate_cells.groupby("insurer_id")[["earned_premium", "incurred_losses"]].sum()
        out["earned_premium"] = r["earned_premium"].reindex(out.index).round(2)
        out["incurred_losses"] = r["incurred_losses"].reindex(out.index).round(2)
        out["loss_ratio"] = (out["incurred_losses"] / out["earned_premium"].where(out["earned_premium"] > 0)).round(4)
    else:
        out["earned_premium"] = out["incurred_losses"] = out["loss_ratio"] = np.nan
    return out.reset_index()[SUMMARY_COLUMNS]


def grade(df: pd.DataFrame, rulebook: Rulebook) -> np.ndarray:
    result = np.full(len(df), "A", dtype=object)
    spend = df["spend_ratio"].fillna(1.0).to_numpy()
    for letter in ("B", "C", "D"):  # later (worse) letters overwrite
        r = rulebook.grades.get(letter)
        if r is None:
            continue
        hit = (df["flag_rate"].to_numpy() >= r.flag_rate) | (df["critical_rate"].to_numpy() >= r.critical_rate) | (spend < r.spend_below)
        if r.blacklist_candidate:
            hit |= df["blacklist_candidate"].to_numpy()
        result[hit] = letter
    return result


def grade_text(rulebook: Rulebook) -> list[str]:
    """The grading rule in words, for the report."""
    lines = []
    for letter in ("D", "C", "B"):
        r = rulebook.grades.get(letter)
        if r:
            parts = [zh_text("grade.flag_rate", rate=f"{r.flag_rate:.0%}"), zh_text("grade.critical_rate", rate=f"{r.critical_rate:.0%}"),
                     zh_text("grade.spend_below", rate=f"{r.spend_below:.0%}")]
            if r.blacklist_candidate:
                parts.insert(0, zh_text("grade.blacklist"))
            lines.append(f"{letter}：" + zh_text("grade.or").join(parts))
    lines.append(zh_text("grade.a"))
    return lines
