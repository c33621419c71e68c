"""The evidence index: a transparent score of how little service a policy's records show.

Fitted to nothing. Each part is a feature of :mod:`scoring.model.features` that AQ 9010-2019 and
通知61号 make meaningful in any market: visits, the share of the prevention fee spent, hours on
site, reports, sign-offs, photos, hazards found, follow-ups, rectification, qualified staff. A
policy's value is measured against its own market, the policies of the same industry and
province (or of the industry alone, or of the whole submission, where fewer than ``min_peers``
policies have a value): its *shortfall* is the share of those peers whose records show more of
the good thing (less of the bad one), ties counted half, so 0 means "as well as any peer", 1 "as
little as none". The index is the weighted mean of the shortfalls a policy has (a part without a
value, e.g. the rectification rate of a policy whose visits found no hazard, is left out), with
the weights and directions of the rulebook's ``evidence_index`` section. It is deterministic,
needs no labels, and its parts are reasons an evaluator can check in the records.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.errors import RulebookError
from scoring.messages import render
from scoring.model.features import BY_NAME, show
from scoring.schema import province_of

#: Peer group levels, narrowest first (``basis`` in :class:`Evidence`).
LEVELS = ("industry_province", "industry", "all")


@dataclass(frozen=True)
class Evidence:
    """The index per policy (``index``, 0–1, aligned with the features), each part's shortfall
    (``shortfall``: policies × parts, NaN where the part has no value), the peer median each
    part was measured against (``median``) and the peer group level of each part (``basis``)."""

    index: pd.Series
    shortfall: pd.DataFrame
    median: pd.DataFrame
    basis: pd.DataFrame

    def reasons(self, features: pd.DataFrame, ids, top: int = 2) -> list[str]:
        """Per policy of ``ids``, its ``top`` largest shortfalls (at least half its peers showing
        more) as Chinese sentences, joined with "；"."""
        if not len(ids):
            return []
        at = self.index.index.get_indexer(ids)
        s = self.shortfall.to_numpy()[at]
        med, basis = self.median.to_numpy()[at], self.basis.to_numpy()[at]
        parts = list(self.shortfall.columns)
        values = features.reindex(ids)[parts].to_numpy(dtype=float)
        order = np.argsort(-np.nan_to_num(s, nan=-1.0), axis=1, kind="stable")[:, :top]
        out = []
        for i, cols in enumerate(order):
            texts = [part_text(parts[c], values[i, c], med[i, c], basis[i, c], float(s[i, c]))
                     for c in cols if np.isfinite(s[i, c]) and s[i, c] >= 0.5]
            out.append("；".join(texts))
        return out


def part_text(name: str, value: float, median: float, basis: str, shortfall: float) -> str:
    """"服务次数为同行业同省中位数的 30%（82% 的同类保单更多）": a part as an evaluator reads it."""
    peers = render(f"evidence.peers.{basis}")[0]
    if np.isfinite(value) and np.isfinite(median) and median > 0:
        return render("evidence.ratio", feature=BY_NAME[name].zh, peers=peers, ratio=f"{value / median:.0%}",
                      share=f"{shortfall:.0%}")[0]
    return render("evidence.value", feature=BY_NAME[name].zh, value=show(name, value), peers=peers,
                  median=show(name, median), share=f"{shortfall:.0%}")[0]


def check_settings(settings) -> None:
    """Refuse (:class:`~scoring.errors.RulebookError`) an ``evidence_index`` part that names no feature."""
    if settings is None:
        return
    known = [n for n in BY_NAME if BY_NAME[n].unit not in ("memory", "industry")]
    bad = [p.feature for p in settings.parts if p.feature not in known]
    if bad:
        raise RulebookError(*render("evidence.unknown_feature", feature=", ".join(bad), known=", ".join(known)))


def _shortfall(values: np.ndarray, groups: np.ndarray, worse: str) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the share of its group's other valued rows that are better (ties half), and the
    group's median; NaN where the row has no value."""
    s = pd.Series(values)
    g = pd.Series(groups)
    rank = s.groupby(g).rank(method="average", ascending=(worse == "higher"))  # 1 = the best of its group
    n = s.notna().groupby(g).transform("sum").to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        short = np.where(n > 1, (rank.to_numpy(dtype=float) - 1) / (n - 1), 0.0)
    short = np.where(np.isnan(values), np.nan, short)
    median = s.groupby(g).transform("median").to_numpy(dtype=float)
    return short, median


def evidence_index(features: pd.DataFrame, industry: np.ndarray, region_code: np.ndarray, settings) -> Evidence:
    """:class:`Evidence` of every policy of ``features`` (``industry`` and ``region_code`` aligned
    with it), by ``settings`` (the rulebook's ``evidence_index``)."""
    n = len(features)
    ind = pd.Series(np.asarray(industry, dtype=object)).astype(str).to_numpy()
    prov = province_of(np.asarray(region_code, dtype=object)).to_numpy()
    keys = {"industry_province": np.char.add(np.char.add(ind.astype(str), "|"), prov.astype(str)),
            "industry": ind.astype(str), "all": np.zeros(n, dtype="<U1")}
    parts = [p.feature for p in settings.parts]
    short = np.full((n, len(parts)), np.nan)
    med = np.full((n, len(parts)), np.nan)
    basis = np.empty((n, len(parts)), dtype=object)
    for j, part in enumerate(settings.parts):
        x = features[part.feature].to_numpy(dtype=float)
        valued = pd.Series(~np.isnan(x))
        chosen = np.full(n, False)
        for level in LEVELS:
            count = valued.groupby(keys[level]).transform("sum").to_numpy()
            use = ~chosen & ((count >= settings.min_peers) | (level == "all"))
            if use.any():
                s, m = _shortfall(x, keys[level], part.worse)
                short[use, j], med[use, j], basis[use, j] = s[use], m[use], level
                chosen |= use
    w = np.array([p.weight for p in settings.parts], dtype=float)
    have = ~np.isnan(short)
    total = (np.nan_to_num(short) * w).sum(axis=1)
    weight = (have * w).sum(axis=1)
    index = np.divide(total, weight, out=np.full(n, np.nan), where=weight > 0)
    index = np.round(np.where(np.isnan(index), 1.0, index), 6)  # no part at all: nothing to show for the policy
    ix = features.index
    return Evidence(pd.Series(index, index=ix, name="evidence_index"), pd.DataFrame(short, index=ix, columns=parts),
                    pd.DataFrame(med, index=ix, columns=parts), pd.DataFrame(basis, index=ix, columns=parts))
