"""Kinds over claims: loss ratios against the line, accident history understated, claims slow to close."""
from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from scoring.messages import TEMPLATES, render, zh_text
from scoring.rules.context import Hits, Params, make_hits, numbers, both, english, fmt, kind, labels_of, num, pct, text_rows


class LossRatio(Params):
    """A cell (insurer × industry × province × policy year) of at least ``min_policies`` whose own
    loss ratio is below ``min_lr`` (or above ``max_lr``) while its claim count is significantly
    below (above) what the market's frequency implies for its exposure: one-sided Poisson tail
    probability under ``alpha``. Give one of ``min_lr`` (premiums far above the risk) and
    ``max_lr`` (premiums that cannot fund claims). Scope: insurer. Needs claims.
    Example: ``{min_lr: 0.25, min_policies: 30, alpha: 0.01}``."""

    min_lr: float | None = None
    max_lr: float | None = None
    min_policies: int = 30
    alpha: float = 0.01

    def sentence(self) -> str:
        if self.min_lr is not None:
            return zh_text("cond.loss_ratio_low", min_policies=self.min_policies, lr=f"{self.min_lr:.0%}", alpha=num(self.alpha))
        return zh_text("cond.loss_ratio_high", min_policies=self.min_policies, lr=f"{self.max_lr:.0%}", alpha=num(self.alpha))


@kind("loss_ratio", LossRatio, ("insurer",), stricter={"min_policies": "lower", "alpha": "higher"}, tables=("claims",))
def loss_ratio(ctx, frame, active, p: LossRatio, findings=None) -> Hits:
    from scoring.regions import province_name

    from scoring.rules.rates import fires

    c = ctx.rate_cells
    fire = fires(c, p.min_lr, p.max_lr, p.min_policies, p.alpha)
    if p.min_lr is not None:
        limit_zh, limit_en = render('kinds.claims.loss_ratio', min_lr=p.min_lr)
    else:
        limit_zh, limit_en = render('kinds.claims.loss_ratio.2', v=p.max_lr or 0)
    f = c[fire]
    prov = f["province"].map(lambda x: province_name(x + "0000")).to_numpy(dtype=object)
    common = {"year": f["policy_year"].astype(str).to_numpy(), "n": f["policies"].astype(str).to_numpy(),
              "lr": pct(f["loss_ratio"]), "z": fmt(f["credibility"].round(2)), "k": f["claims"].astype(int).astype(str).to_numpy(),
              "mu": fmt(f["expected_claims"].round(1)), "change": pct(f["indicated_rate_change"])}
    zh = text_rows(TEMPLATES["loss_ratio"][0], province=prov, industry=f["industry"].map(labels_of("industry")).to_numpy(dtype=object), **common)
    en = text_rows(TEMPLATES["loss_ratio"][1], province=f["province"].to_numpy(dtype=object),
                   industry=f["industry"].map(english).to_numpy(dtype=object), **common)
    rows = np.arange(len(f))
    return Hits(rows, zh, np.full(len(f), limit_zh, dtype=object), en,
                keys={"insurer_id": f["insurer_id"].to_numpy(dtype=object),
                      "region_code": (f["province"] + "0000").to_numpy(dtype=object)},
                expected_en=np.full(len(f), limit_en, dtype=object))


class HistoryWindow(Params):
    """The declared accidents or deaths of the year before a policy (``accidents_prev_year``,
    ``deaths_prev_year``) below what the claims show for the same enterprise with accidents in the
    ``window_days`` before its start: the rate escaped floating. Scope: policy. Needs claims.
    Example: ``{window_days: 365}``."""

    window_days: int = 365

    def sentence(self) -> str:
        return f"申报的上年度事故起数或死亡人数少于赔案记录（同一企业起保前 {self.window_days} 天内的事故）"


@kind("accident_history_understated", HistoryWindow, ("policy",), tables=("claims",))
def accident_history_understated(ctx, frame, active, p: HistoryWindow) -> Hits:
    c = ctx.claims[["enterprise_id", "accident_date", "deaths"]]
    pol = pd.DataFrame({"row": np.arange(len(frame)), "enterprise_id": frame["enterprise_id"].to_numpy(),
                        "start": frame["start_date"].to_numpy()})
    m = pol.merge(c, on="enterprise_id", how="inner")
    m = m[(m["accident_date"] < m["start"]) & (m["accident_date"] >= m["start"] - np.timedelta64(p.window_days, "D"))]
    g = m.groupby("row")
    accidents = np.zeros(len(frame))
    deaths = np.zeros(len(frame))
    accidents[g.size().index.to_numpy()] = g.size().to_numpy()
    deaths[g["deaths"].sum().index.to_numpy()] = g["deaths"].sum().to_numpy()
    declared_a = numbers(frame, "accidents_prev_year")
    declared_d = numbers(frame, "deaths_prev_year")
    fire = active & ((declared_a < accidents) | (declared_d < deaths))
    rows = np.flatnonzero(fire)
    zh, en = both("history_declared", a=fmt(declared_a[rows]), d=fmt(declared_d[rows]))
    ezh, een = both("history_claims", a=fmt(accidents[rows]), d=fmt(deaths[rows]))
    return Hits(rows, zh, ezh, en, expected_en=een)


class ClaimDays(Params):
    """A claim of the policy ``status`` (paid: closed; open: still open at the as-of date) more than
    ``max_days`` after it was reported. Scope: policy. Needs claims.
    Example: ``{status: paid, max_days: 60}``."""

    status: Literal["paid", "open"]
    max_days: int

    def sentence(self) -> str:
        if self.status == "paid":
            return f"已赔付赔案在报案后超过 {self.max_days} 天才结案"
        return f"评估日时赔案报案已超过 {self.max_days} 天仍未结案"


@kind("claim_days", ClaimDays, ("policy",), stricter={"max_days": "lower"}, tables=("claims",), local=True)
def claim_days(ctx, frame, active, p: ClaimDays) -> Hits:
    c = ctx.claims
    c = c[(c["status"] == p.status) & (c["i"] >= 0)]
    end = c["closed_date"].to_numpy() if p.status == "paid" else np.full(len(c), ctx.as_of)
    days = (end.astype("datetime64[D]") - c["report_date"].to_numpy().astype("datetime64[D]")).astype(np.int64)
    slow = c.assign(days=days)[days > p.max_days].sort_values(["i", "days"], ascending=[True, False]).drop_duplicates("i")
    fire = np.zeros(len(frame), dtype=bool)
    fire[slow["i"].to_numpy()] = True
    fire &= active
    obs = np.empty(len(frame), dtype=object)
    obs_en = np.empty(len(frame), dtype=object)
    key = "claim_closed_after" if p.status == "paid" else "claim_open_for"
    zh, en = both(key, claim=slow["claim_id"].astype(str).to_numpy(), n=slow["days"].astype(str).to_numpy())
    obs[slow["i"].to_numpy()], obs_en[slow["i"].to_numpy()] = zh, en
    lzh, len_ = (t.format(n=p.max_days) for t in TEMPLATES["within_days"])
    return make_hits(fire, obs, lzh, obs_en, len_)
