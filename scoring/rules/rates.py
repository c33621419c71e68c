"""Rate adequacy from loss experience: are the premiums reasonable for the risk they carry?

A cell is one insurer × industry × province (two-digit region prefix) × policy year (of the
start date). For each cell:

- **earned premium**: each policy's premium pro rata to the part of its period that has passed
  at the as-of date;
- **incurred losses**: paid plus reserved on the claims whose accident falls in the policy's
  period (denied and withdrawn claims count nothing);
- **loss ratio** = incurred ÷ earned;
- **market**: the same industry × province × year without the cell itself (so an insurer
  that dominates a market is not compared with itself); where that holds fewer than
  ``MIN_MARKET`` policy-years, the industry and year in every province;
- **credibility** by the limited-fluctuation method (Mowbray; the classical method of US
  rate filings): Z = min(1, √(E / n_full)) with E the claims the cell would have at the
  market's frequency for its exposure (earned policy-years) and n_full = 1,082 claims (the
  standard for a 90% chance of being within 5%). It is chosen over Bühlmann–Straub because it
  needs no between-cell variance estimate, which a single province's few cells cannot give,
  and because it is monotone in exposure: a smaller cell is never more credible;
- **credible loss ratio** = Z × cell + (1 − Z) × market, and the **indicated rate change**
  against the target loss ratio 1 − (the cell's prevention-fee share) − the expense ratio
  (a rulebook setting): −0.35 means rates 35% above what the experience supports;
- **evidence**: the cell's claim count against what the market's frequency implies for its
  exposure, as one-sided Poisson tail probabilities (``p_fewer``, ``p_more``); the loss-ratio
  rules fire only when the cell's own ratio is beyond the line *and* that probability is small.

No development (IBNR) is modelled: claims of recent years that are not yet reported are not
in the incurred losses, which makes the latest year's loss ratios low. The report says so.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import poisson

from scoring.schema import province_of

CELL = ["insurer_id", "industry", "province", "policy_year"]
#: Policy-years below which a province's market is too small to compare a cell with.
MIN_MARKET = 30.0
#: Claims that count as losses (a denied or withdrawn claim costs nothing).
COUNTED = ("open", "paid")


def fires(cells: pd.DataFrame, min_lr: float | None, max_lr: float | None, min_policies: int, alpha: float) -> np.ndarray:
    """The cells a loss-ratio rule fires on: enough policies, the cell's own ratio beyond the line,
    and its claim count significantly off the market's frequency (one-sided Poisson, ``alpha``)."""
    big = cells["policies"].to_numpy() >= min_policies
    lr = cells["loss_ratio"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        if min_lr is not None:
            return big & (lr < min_lr) & (cells["p_fewer"].to_numpy() < alpha)
        if max_lr is not None:
            return big & (lr > max_lr) & (cells["p_more"].to_numpy() < alpha)
    return np.zeros(len(cells), dtype=bool)


#: rate_adequacy.csv (results-format v1.1): the contract's columns, then the evidence behind them.
OUTPUT_COLUMNS = ["insurer_id", "industry", "province", "policy_year", "policies", "earned_premium", "incurred_losses",
                  "loss_ratio", "credibility", "credible_loss_ratio", "indicated_rate_change", "rule_codes",
                  "claims", "expected_claims", "market_loss_ratio", "target_loss_ratio", "p_fewer", "p_more",
                  "industry_zh", "province_name"]


def adequacy_table(cells: pd.DataFrame, rules) -> pd.DataFrame:
    """``cells`` with the codes of the loss-ratio ``rules`` (rulebook rules of kind loss_ratio) that
    fire on each, in the columns of rate_adequacy.csv."""
    from scoring.regions import province_name
    from scoring.schema import INDUSTRIES

    codes = [[] for _ in range(len(cells))]
    for rule in rules:
        p = rule.parsed
        for i in np.flatnonzero(fires(cells, p.min_lr, p.max_lr, p.min_policies, p.alpha)):
            codes[i].append(rule.code)
    out = cells.assign(rule_codes=[";".join(sorted(set(c))) for c in codes],
                       industry_zh=cells["industry"].map(INDUSTRIES).fillna(cells["industry"]),
                       province_name=cells["province"].map(lambda x: province_name(str(x) + "0000")))
    for c in ("earned_premium", "incurred_losses"):
        out[c] = out[c].round(2)
    return out[OUTPUT_COLUMNS]


def earned_fraction(start: np.ndarray, end: np.ndarray, as_of) -> np.ndarray:
    """The share of each policy's period that has passed at ``as_of`` (0 to 1, days counted inclusively)."""
    day = np.datetime64(as_of, "D")
    s, e = start.astype("datetime64[D]"), end.astype("datetime64[D]")
    period = (e - s).astype(np.int64) + 1
    passed = (np.minimum(e, day) - s).astype(np.int64) + 1
    return np.clip(passed / np.maximum(period, 1), 0.0, 1.0)


def policy_losses(policies: pd.DataFrame, claims: pd.DataFrame) -> pd.DataFrame:
    """Per policy: counted claims whose accident falls in its period, their incurred amount and deaths."""
    c = claims[claims["status"].isin(COUNTED)]
    c = c.merge(policies[["policy_id", "start_date", "end_date"]], on="policy_id", how="inner")
    c = c[(c["accident_date"] >= c["start_date"]) & (c["accident_date"] <= c["end_date"])]
    g = c.assign(incurred=c["paid_amount"].fillna(0) + c["reserve_amount"].fillna(0)).groupby("policy_id")
    return pd.DataFrame({"claims": g.size(), "incurred": g["incurred"].sum()})


def rate_cells(policies: pd.DataFrame, claims: pd.DataFrame, as_of, expense_ratio: float = 0.25,
               full_credibility_claims: float = 1082.0) -> pd.DataFrame:
    """One row per cell (see the module docstring), sorted by the cell's keys."""
    p = policies
    earned = earned_fraction(p["start_date"].to_numpy(), p["end_date"].to_numpy(), as_of)
    losses = policy_losses(p, claims).reindex(p["policy_id"]).fillna(0.0)
    df = pd.DataFrame({
        "insurer_id": p["insurer_id"].to_numpy(), "industry": p["industry"].to_numpy(),
        "province": province_of(p["region_code"]).to_numpy(),
        "policy_year": pd.to_datetime(p["start_date"]).dt.year.to_numpy(),
        "exposure": earned, "earned_premium": p["premium"].to_numpy(dtype=float) * earned,
        "premium": p["premium"].to_numpy(dtype=float), "fee": p["prevention_fee"].to_numpy(dtype=float),
        "claims": losses["claims"].to_numpy(), "incurred_losses": losses["incurred"].to_numpy(),
    })
    g = df.groupby(CELL, sort=True)
    cells = g.agg(policies=("exposure", "size"), exposure=("exposure", "sum"), earned_premium=("earned_premium", "sum"),
                  premium=("premium", "sum"), fee=("fee", "sum"), claims=("claims", "sum"),
                  incurred_losses=("incurred_losses", "sum")).reset_index()
    market_keys = ["industry", "province", "policy_year"]
    tot = cells.groupby(market_keys)[["exposure", "earned_premium", "claims", "incurred_losses"]].transform("sum")
    wide = cells.groupby(["industry", "policy_year"])[["exposure", "earned_premium", "claims", "incurred_losses"]].transform("sum")
    own = cells[["exposure", "earned_premium", "claims", "incurred_losses"]]
    market = tot - own
    # a province's market too small to say what a year of its industry's claims looks like (under
    # MIN_MARKET policy-years without the cell): the industry in every province that year
    thin = (market["exposure"] < MIN_MARKET).to_numpy()
    market.loc[thin] = (wide - own).loc[thin]
    with np.errstate(invalid="ignore", divide="ignore"):
        cells["loss_ratio"] = cells["incurred_losses"] / cells["earned_premium"]
        cells["market_loss_ratio"] = market["incurred_losses"] / market["earned_premium"]
        cells["market_frequency"] = market["claims"] / market["exposure"]
    cells["expected_claims"] = cells["market_frequency"].fillna(0) * cells["exposure"]
    cells["credibility"] = np.minimum(1.0, np.sqrt(cells["expected_claims"] / full_credibility_claims))
    blend = cells["market_loss_ratio"].fillna(cells["loss_ratio"])
    cells["credible_loss_ratio"] = cells["credibility"] * cells["loss_ratio"] + (1 - cells["credibility"]) * blend
    with np.errstate(invalid="ignore", divide="ignore"):
        cells["target_loss_ratio"] = 1.0 - cells["fee"] / cells["premium"] - expense_ratio
        cells["indicated_rate_change"] = cells["credible_loss_ratio"] / cells["target_loss_ratio"] - 1.0
    k, mu = cells["claims"].to_numpy(), cells["expected_claims"].to_numpy()
    cells["p_fewer"] = np.where(mu > 0, poisson.cdf(k, mu), 1.0)
    cells["p_more"] = np.where(mu > 0, poisson.sf(k - 1, mu), 1.0)
    return cells.drop(columns=["premium", "fee"])
