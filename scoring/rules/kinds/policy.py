"""Kinds that judge a policy by its own service records: none at all, too few, an item missing, the fee unspent."""
from __future__ import annotations

from typing import Literal

import numpy as np

from scoring.schema import HIGH_RISK_INDUSTRIES, SERVICE_ITEMS
from scoring.rules.context import Hits, Params, Ref, broadcast, make_hits, numbers, both, dates, kind, pct, zh


class Grace(Params):
    """No service record at all, once the period has ended or ``grace_days`` have passed since
    its start (as of the run's date). Scope: policy. Example: ``{grace_days: 90}``."""

    grace_days: int

    def sentence(self) -> str:
        return f"保险期开始 {self.grace_days} 天后（或期满时）仍无任何服务记录"


@kind("no_services", Grace, ("policy",), stricter={"grace_days": "lower"}, local=True)
def no_services(ctx, frame, active, p: Grace) -> Hits:
    into = (ctx.as_of - frame["start_date"].to_numpy()).astype("timedelta64[D]").astype(int)
    due = frame["ended"].to_numpy() | (into > broadcast(p.grace_days, len(frame)))
    fire = active & due & (frame["n_services"].to_numpy() == 0)
    rows = np.flatnonzero(fire)
    zh, en = both("days_into_period", n=into[rows].astype(str))
    ended = frame["ended"].to_numpy()[rows]
    end_zh, end_en = both("period_ended", end=dates(frame["end_date"].to_numpy()[rows]))
    return Hits(rows, np.where(ended, end_zh, zh).astype(object), np.full(len(rows), str(p.grace_days), dtype=object),
                np.where(ended, end_en, en).astype(object))


class MinCount(Params):
    """An ended period with at least one but fewer than ``min_count`` service records. Scope: policy.
    Example: ``{min_count: 2}``."""

    min_count: int

    def sentence(self) -> str:
        return f"已结束的保险期内有服务但少于 {self.min_count} 次"


@kind("service_count_below", MinCount, ("policy",), stricter={"min_count": "higher"}, local=True)
def service_count_below(ctx, frame, active, p: MinCount) -> Hits:
    n = frame["n_services"].to_numpy()
    fire = active & frame["ended"].to_numpy() & (n >= 1) & (n < broadcast(p.min_count, len(frame)))
    return make_hits(fire, n.astype(np.int64), str(p.min_count))


class ItemMissing(Params):
    """An ended period with services but none of ``item`` (a service_item code), for policies of
    ``industries`` (high_risk: the industries of 办法2025 Art. 2; all). Scope: policy.
    Example: ``{item: risk_assessment, industries: high_risk}``."""

    item: Literal[tuple(SERVICE_ITEMS)]  # type: ignore[valid-type]
    industries: Literal["high_risk", "all"]

    def sentence(self) -> str:
        who = "高危行业" if self.industries == "high_risk" else "全部"
        return f"{who}保单已结束的保险期内没有“{SERVICE_ITEMS[self.item]}”服务"


@kind("item_missing", ItemMissing, ("policy",), local=True)
def item_missing(ctx, frame, active, p: ItemMissing) -> Hits:
    hr = frame["industry"].isin(HIGH_RISK_INDUSTRIES).to_numpy() if p.industries == "high_risk" else True
    n = frame["n_services"].to_numpy()
    fire = active & frame["ended"].to_numpy() & hr & (n >= 1) & (ctx.sub.aggregates.item_count(p.item) == 0)
    rows = np.flatnonzero(fire)
    k = n[rows].astype(np.int64).astype(str)
    zh, en = both("services_count", n=k)
    return Hits(rows, zh, np.full(len(rows), SERVICE_ITEMS[p.item], dtype=object), en)


class MinRatio(Params):
    """An ended period whose ``spend`` (service cost recorded) is below ``min_ratio`` of ``fee``
    (the prevention fee). Scope: policy. Example: ``{min_ratio: 0.5}``."""

    min_ratio: float
    fee: str = "prevention_fee"
    spend: str = "spend"

    def refs(self):
        yield Ref("fee", self.fee, ("number",))
        yield Ref("spend", self.spend, ("number",))

    def sentence(self) -> str:
        return f"已结束的保险期内{zh(self.spend)}低于{zh(self.fee)}的 {self.min_ratio:.0%}"


@kind("spend_below", MinRatio, ("policy",), stricter={"min_ratio": "higher"}, local=True)
def spend_below(ctx, frame, active, p: MinRatio) -> Hits:
    fee = numbers(frame, p.fee)
    spend = numbers(frame, p.spend)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = spend / fee
    fire = active & frame["ended"].to_numpy() & (fee > 0) & (spend < broadcast(p.min_ratio, len(frame)) * fee)
    rows = np.flatnonzero(fire)
    shown = np.floor(ratio[rows] * 1000) / 1000  # rounded down: 49.96% reads 49.9%, never the 50.0% it missed
    return Hits(rows, pct(shown), np.full(len(rows), pct([p.min_ratio])[0], dtype=object))
