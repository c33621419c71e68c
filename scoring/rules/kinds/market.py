"""Kinds over a market: rates against peers, shares and concentration in a prefecture, an insurer's
integrity and spend (blacklist candidates).
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring.arrays import arrow
from scoring.messages import TEMPLATES, zh_text
from scoring.rules.context import Hits, Params, Ref, broadcast, numbers, both, english, fmt, kind, num, pct, text_rows, zh


class PeerOutlier(Params):
    """The product of ``factors`` (a rate) far from its peers': robust z (median and MAD of the log)
    above ``z`` within groups of ``group_by`` of at least ``min_peers``; ``min_scale`` floors the
    scale so tight groups do not flag small differences. Scope: policy.
    Example: ``{factors: [base_rate, rate_factor], group_by: [province, industry, premium_base_type], z: 3.5, min_peers: 20}``."""

    factors: list[str]
    group_by: list[str]
    z: float
    min_peers: int
    min_scale: float = 0.0

    def refs(self):
        for i, f in enumerate(self.factors):
            yield Ref(f"factors[{i}]", f, ("number",))
        for i, g in enumerate(self.group_by):
            yield Ref(f"group_by[{i}]", g, ("enum", "text", "bool"))

    def sentence(self) -> str:
        return zh_text("cond.peer_outlier", factors="×".join(zh(f) for f in self.factors), groups="、".join(zh(g) for g in self.group_by),
                       z=num(self.z), min_peers=self.min_peers)


@kind("peer_outlier", PeerOutlier, ("policy",), stricter={"z": "lower", "min_peers": "lower", "min_scale": "lower"})
def peer_outlier(ctx, frame, active, p: PeerOutlier) -> Hits:
    rate = np.prod([numbers(frame, f) for f in p.factors], axis=0)
    logr = np.log(rate)
    g = pd.Series(logr).groupby([frame[c].to_numpy() for c in p.group_by])
    med = g.transform("median").to_numpy()
    dev = np.abs(logr - med)
    mad = pd.Series(dev).groupby([frame[c].to_numpy() for c in p.group_by]).transform("median").to_numpy()
    size = g.transform("size").to_numpy()
    scale = np.maximum(1.4826 * mad, p.min_scale)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = dev / scale
    fire = active & (size >= broadcast(p.min_peers, len(frame))) & (scale > 0) & (z > broadcast(p.z, len(frame)))
    rows = np.flatnonzero(fire)
    high = logr[rows] > med[rows]
    zt, r = fmt(z[rows], 3), fmt(rate[rows], 4)
    hi_zh, hi_en = both("rate_high", rate=r, z=zt)
    lo_zh, lo_en = both("rate_low", rate=r, z=zt)
    return Hits(rows, np.where(high, hi_zh, lo_zh).astype(object), fmt(np.exp(med[rows]), 4),
                np.where(high, hi_en, lo_en).astype(object))


class ShareExclusive(Params):
    """In a prefecture, one value of ``column`` (a broker, a coinsurance group) holding at least
    ``share`` of the policies (``among``: with a value, or all), where there are at least
    ``min_policies``. Scope: region.
    Example: ``{column: broker_id, share: 0.6, min_policies: 30, among: with_value}``."""

    column: str
    share: float
    min_policies: int
    among: Literal["with_value", "all"]

    def refs(self):
        yield Ref("column", self.column, ("text", "enum"))

    def sentence(self) -> str:
        base = "有该项的保单" if self.among == "with_value" else "全部保单"
        return f"地市内单一{zh(self.column)}占{base}的比例不低于 {self.share:.0%}（至少 {self.min_policies} 件）"


@kind("share_exclusive", ShareExclusive, ("region",), stricter={"share": "lower", "min_policies": "lower"})
def share_exclusive(ctx, frame, active, p: ShareExclusive) -> Hits:
    pol = frame[active]
    base = pol[pol[p.column].notna()] if p.among == "with_value" else pol
    total = base.groupby("prefecture").size()
    top = pol[pol[p.column].notna()].groupby(["prefecture", p.column]).size()
    if top.empty:
        return Hits(np.array([], int), np.array([], object), np.array([], object), keys={"region_code": np.array([], object)})
    best = top.sort_values(ascending=False, kind="stable").groupby(level=0).head(1).reset_index(name="k")
    best["n"] = best["prefecture"].map(total).to_numpy()
    best["share"] = best["k"] / best["n"]
    best = best[(best["n"] >= p.min_policies) & (best["share"] >= p.share)].sort_values("prefecture")
    obs, obs_en = both("share_of", value=best[p.column].astype(str).to_numpy(), share=pct(best["share"]),
                       n=best["n"].astype(str).to_numpy())
    return Hits(np.arange(len(best)), obs, np.full(len(best), pct([p.share])[0], dtype=object), obs_en,
                keys={"region_code": best["prefecture"].to_numpy(dtype=object)})


class HHI(Params):
    """Market concentration of insurers per prefecture and industry: Herfindahl index at least
    ``hhi`` where there are at least ``min_policies``. Scope: region.
    Example: ``{hhi: 0.5, min_policies: 30}``."""

    hhi: float
    min_policies: int

    def sentence(self) -> str:
        return f"地市内同行业保险机构集中度 HHI 不低于 {num(self.hhi)}（至少 {self.min_policies} 件）"


@kind("hhi", HHI, ("region",), stricter={"hhi": "lower", "min_policies": "lower"})
def hhi(ctx, frame, active, p: HHI) -> Hits:
    pol = frame[active]
    counts = pol.groupby(["prefecture", "industry", "insurer_id"]).size()
    n = counts.groupby(level=[0, 1]).transform("sum")
    h = ((counts / n) ** 2).groupby(level=[0, 1]).sum()
    size = counts.groupby(level=[0, 1]).sum()
    df = pd.DataFrame({"hhi": h, "n": size}).reset_index()
    df = df[(df["n"] >= p.min_policies) & (df["hhi"] >= p.hhi)].sort_values(["prefecture", "industry"])
    from scoring.schema import INDUSTRIES

    zh, en = TEMPLATES["hhi"]
    common = {"hhi": fmt(df["hhi"].round(3)), "n": df["n"].astype(str).to_numpy()}
    obs = text_rows(zh, industry=df["industry"].map(INDUSTRIES).to_numpy(dtype=object), **common)
    obs_en = text_rows(en, industry=df["industry"].map(english).to_numpy(dtype=object), **common)
    return Hits(np.arange(len(df)), obs, np.full(len(df), fmt([p.hhi])[0], dtype=object), obs_en,
                keys={"region_code": df["prefecture"].to_numpy(dtype=object)})


class Blacklist(Params):
    """An insurer with integrity findings (rule codes starting ``prefix``) on at least ``share`` of
    its policies, or spending less than ``min_ratio`` of the prevention fee on ended policies.
    Scope: insurer. Example: ``{share: 0.2, min_ratio: 0.5, prefix: INTEGRITY_}``."""

    share: float
    min_ratio: float
    prefix: str

    def sentence(self) -> str:
        return zh_text("cond.insurer_blacklist", share=f"{self.share:.0%}", ratio=f"{self.min_ratio:.0%}")


@kind("insurer_blacklist", Blacklist, ("insurer",), stricter={"share": "lower", "min_ratio": "higher"})
def insurer_blacklist(ctx, frame, active, p: Blacklist, findings: pa.Table | None = None) -> Hits:
    pol = frame
    flagged = pa.array([], pa.string())
    if findings is not None and len(findings):
        on_policy = pc.and_(pc.starts_with(findings["rule_code"], p.prefix), pc.is_valid(findings["policy_id"]))
        flagged = pc.unique(findings["policy_id"].filter(on_policy))
    is_flagged = pc.is_in(arrow(pol["policy_id"]), value_set=flagged).to_numpy(zero_copy_only=False)
    share = pd.Series(np.asarray(is_flagged, dtype=bool), index=pol.index).groupby(pol["insurer_id"]).mean()
    ended = pol.loc[pol["ended"].to_numpy(), ["insurer_id", "prevention_fee", "spend"]]
    fee = ended.groupby("insurer_id")["prevention_fee"].sum()
    spend = ended.groupby("insurer_id")["spend"].sum()
    ratio = (spend / fee.where(fee > 0)).reindex(share.index)
    df = pd.DataFrame({"share": share, "ratio": ratio}).sort_index()
    df = df[(df["share"] >= p.share) | (df["ratio"] < p.min_ratio)]
    share_t, ratio_t = pct(df["share"]).astype(str), pct(df["ratio"]).astype(str)
    obs, obs_en = both("blacklist", share=share_t, ratio=ratio_t)
    zh, en = (t.format(share=pct([p.share])[0], ratio=pct([p.min_ratio])[0]) for t in TEMPLATES["blacklist_limit"])
    return Hits(np.arange(len(df)), obs, np.full(len(df), zh, dtype=object), obs_en,
                keys={"insurer_id": df.index.to_numpy(dtype=object)}, expected_en=np.full(len(df), en, dtype=object))
