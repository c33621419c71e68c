"""An inspection plan with two arms: a random arm a regulator can generalise from, and a risk arm.

The **random arm** is stratified (by insurer, or by insurer × industry × prefecture): each
stratum of ``N`` scored policies gets the attribute-sampling size of :func:`scoring.sampling.size.sample_size`
for the rulebook's ``sampling`` confidence, tolerable and expected rates (its finite-population
correction makes a small stratum's sample smaller; a stratum smaller than its sample is taken
whole), drawn without replacement with a random stream of its own, seeded by the plan's seed
and the stratum's name, so that adding a stratum or reordering the scores changes no other
stratum's draw. Every random row has inclusion probability ``n / N``.

The **risk arm** takes the highest-priority policies of the run not already drawn, up to the
capacity left (``capacity`` minus the random arm; none when the random arm fills it). Its
inclusion is decided by the ranking, not by chance (``inclusion_probability`` 1 given the run):
its outcomes say where to act, and only the random arm's say how much of the market is missing
service.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.sampling.size import sample_size
from scoring.schema import prefecture_of

#: plan.csv, in this order (results-format v1.2, then the columns a person reads).
PLAN_COLUMNS = ["policy_id", "insurer_id", "arm", "stratum", "inclusion_probability", "priority", "seed",
                "stratum_policies", "stratum_sample", "arm_zh", "region_code", "region_name", "industry_zh", "flag_zh"]
#: What a person reading the plan needs beside the ids, copied from policy_scores.csv where it has them.
SHOWN = ("region_code", "region_name", "industry_zh", "flag_zh")
ARM_ZH = {"random": "随机抽取", "risk": "风险排序"}
STRATA = {"insurer": ("insurer_id",), "insurer,industry,prefecture": ("insurer_id", "industry", "prefecture")}


@dataclass(frozen=True)
class Plan:
    """The plan's rows (:data:`PLAN_COLUMNS`, random arm first by stratum, then the risk arm by
    priority) and its strata (stratum, policies, sample)."""

    rows: pd.DataFrame
    strata: pd.DataFrame
    capacity: int
    random_over_capacity: bool


def stratum_keys(scores: pd.DataFrame, by: str) -> pd.Series:
    """The stratum of each scored policy: its insurer, or insurer|industry|prefecture."""
    cols = STRATA[by]
    frame = scores.assign(prefecture=prefecture_of(scores["region_code"].to_numpy()).to_numpy()) if "prefecture" in cols else scores
    keys = frame[cols[0]].astype(str)
    for c in cols[1:]:
        keys = keys + "|" + frame[c].astype(str)
    return keys


def make_plan(scores: pd.DataFrame, capacity: int, confidence: float, tolerable: float, expected: float,
              by: str = "insurer", seed: int = 0) -> Plan:
    """The plan over ``scores`` (``policy_scores.csv`` of a run: policy_id, insurer_id,
    region_code, industry, priority)."""
    scores = scores.reset_index(drop=True)
    keys = stratum_keys(scores, by)
    rows, strata = [], []
    for stratum in sorted(keys.unique()):
        members = scores.loc[(keys == stratum).to_numpy()].sort_values("policy_id", kind="stable")
        N = len(members)
        n = sample_size(confidence, tolerable, expected, population=N)
        rng = np.random.default_rng([seed, zlib.crc32(stratum.encode("utf-8"))])
        pick = np.sort(rng.choice(N, size=n, replace=False))
        drawn = members.iloc[pick]
        rows.append(pd.DataFrame({"policy_id": drawn["policy_id"].to_numpy(), "insurer_id": drawn["insurer_id"].to_numpy(),
                                  "arm": "random", "stratum": stratum, "inclusion_probability": round(n / N, 6),
                                  "priority": drawn["priority"].to_numpy(), "seed": seed, "stratum_policies": N,
                                  "stratum_sample": n}))
        strata.append({"stratum": stratum, "policies": N, "sample": n})
    counts = pd.DataFrame(strata, columns=["stratum", "policies", "sample"])
    random_arm = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=PLAN_COLUMNS[:-1])
    left = max(0, int(capacity) - len(random_arm))
    rest = scores[~scores["policy_id"].isin(set(random_arm["policy_id"]))].sort_values("priority", kind="stable").head(left)
    of = counts.set_index("stratum")
    risk_strata = keys.loc[rest.index].to_numpy()
    risk = pd.DataFrame({"policy_id": rest["policy_id"].to_numpy(), "insurer_id": rest["insurer_id"].to_numpy(), "arm": "risk",
                         "stratum": risk_strata, "inclusion_probability": 1.0, "priority": rest["priority"].to_numpy(),
                         "seed": seed, "stratum_policies": of["policies"].reindex(risk_strata).to_numpy(),
                         "stratum_sample": np.nan})  # drawn by rank, not by the stratum's sample: empty
    plan = pd.concat([random_arm, risk], ignore_index=True)
    plan["arm_zh"] = plan["arm"].map(ARM_ZH)
    shown = scores.set_index("policy_id")
    for c in SHOWN:
        plan[c] = shown[c].reindex(plan["policy_id"]).to_numpy() if c in shown else ""
    return Plan(plan[PLAN_COLUMNS], counts, int(capacity), len(random_arm) > capacity)
