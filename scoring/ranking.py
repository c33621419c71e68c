"""Which policies an inspector with capacity N should visit first, and which carry a flag.

``priority_score = p_missing + p_poor_quality + w[most severe finding]``: the chance that an
inspection confirms missing or poor service, plus the value of the rule findings the
inspector can verify on the spot (weights in the rulebook's ``priority`` section). Rank 1 is
the highest score; ties go to the smaller ``policy_id`` so the ranking is reproducible.

A policy is flagged when it is within the capacity (rank ≤ N) and its probability for a class
exceeds that class's threshold (the base rate recorded with the model); the class with the
larger margin over its threshold names the flag.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

SEVERITY_RANK = {"critical": 3, "major": 2, "minor": 1}


def worst_severity(policy_ids: pd.Index, findings: pd.DataFrame) -> np.ndarray:
    """Per policy, the most severe finding on it or its services: 3 critical … 0 none."""
    f = findings[findings["policy_id"].notna() & findings["scope"].isin(["policy", "service"])]
    worst = f.assign(r=f["severity"].map(SEVERITY_RANK)).groupby("policy_id")["r"].max()
    return worst.reindex(policy_ids).fillna(0).to_numpy(dtype=int)


def rank(scores: pd.DataFrame, findings: pd.DataFrame, weights: dict, thresholds: dict, capacity: int) -> pd.DataFrame:
    """``scores``: index policy_id, columns p_missing, p_poor_quality. Adds priority_score, priority, flag."""
    out = scores.copy()
    sev = worst_severity(out.index, findings)
    w = np.array([0.0, weights.get("minor", 0), weights.get("major", 0), weights.get("critical", 0)])
    out["priority_score"] = out["p_missing"] + out["p_poor_quality"] + w[sev]
    order = np.lexsort((out.index.to_numpy(dtype=str), -out["priority_score"].to_numpy()))
    prio = np.empty(len(out), dtype=np.int64)
    prio[order] = np.arange(1, len(out) + 1)
    out["priority"] = prio
    within = prio <= capacity
    m_margin = out["p_missing"].to_numpy() - thresholds["missing"]
    p_margin = out["p_poor_quality"].to_numpy() - thresholds["poor_quality"]
    flag = np.where((m_margin > 0) & (m_margin >= p_margin), "missing", np.where(p_margin > 0, "poor_quality", ""))
    out["flag"] = np.where(within, flag, "")
    return out
