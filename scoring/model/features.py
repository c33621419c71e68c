"""Features per policy, for the service-quality model, each with the Chinese words an evaluator reads.

Everything is computed from the validated submission as of the scoring date: service records
dated after it are ignored and the inspections (labels) are never read. Rule findings enter
the model, so the model and the rulebook tell one story, but as *rates*: a count that grows
with the number of visits (integrity findings on a policy's records) would make a busy policy
look suspicious and a policy with no visits look safe, so findings on service records are
counted per service record. Only the number of visits itself is a count, because it is the
evidence (AQ 9010 sets how often an enterprise must be served). The visits are also measured
against the submission's own market (``services_vs_market``: over the median of the same
industry), since contracts and provinces ask for different frequencies; the number of staff who
served a policy only that way (``staff_vs_market``), since it grows with the size of the
agencies' pools, which differs from market to market. Signs of fabrication enter in
two kinds: physical traces (one person in two places on a day, a photo at two enterprises, a
check-in far from the site) and repeated report wording, which genuine work also shows where a
provider pastes boilerplate (:data:`TEXT_KINDS`); apart, the model can weigh each by itself.

Three groups:

- the policy's own terms and records (``industry`` … ``policy_major``);
- its insurer's and service provider's other policies in the same submission (``*_peer_*``):
  a leave-one-out mean over every other policy of that insurer or provider, so a submission
  of one year carries a track record too;
- what the model's training labels taught about the insurer and the provider
  (``*_memory_*``, :data:`MEMORY_FEATURES`): not computed here but by the model
  (:mod:`scoring.model.memory`) from :data:`KEY_COLUMNS`, which :func:`build_features` adds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring.rules.kinds.integrity import sorted_unique
from scoring.arrays import arrow, codes_of, equal_to, positions_in

from scoring.submission.intake import Submission
from scoring.submission.asof import in_scope
from scoring.schema import HIGH_RISK_INDUSTRIES, INDUSTRIES

_INDUSTRY_CODES = {k: i for i, k in enumerate(INDUSTRIES)}
_GRADE = {"1": 3, "2": 2, "3": 1, "none": 0}


@dataclass(frozen=True)
class Feature:
    name: str
    zh: str  # what it is, in an evaluator's words
    unit: str  # how a value is shown: count, pct, days, hours, yuan, ratio, bool, industry, grade, number


FEATURES: tuple[Feature, ...] = (
    Feature("industry", "行业", "industry"),
    Feature("high_risk", "是否高危行业", "bool"),
    Feature("employees", "从业人员数", "count"),
    Feature("premium", "保费", "yuan"),
    Feature("fee_ratio", "事故预防费用占保费比例", "pct"),
    Feature("rate_factor", "费率浮动系数", "number"),
    Feature("grade", "安全生产标准化等级", "grade"),
    Feature("accidents_prev_year", "上年度事故起数", "count"),
    Feature("elapsed_frac", "截至评估日保险期已过比例", "pct"),
    Feature("n_services", "保单期内服务次数", "count"),
    Feature("services_per_year", "折算全年服务次数", "number"),
    Feature("services_vs_market", "折算全年服务次数与本提交同行业中位数之比", "number"),
    Feature("days_to_first", "首次服务距起保天数", "days"),
    Feature("max_gap_days", "最长无服务间隔天数", "days"),
    Feature("share_hazard_inspection", "隐患排查服务占比", "pct"),
    Feature("n_items", "服务项目种类数", "count"),
    Feature("mean_hours", "平均现场服务时长", "hours"),
    Feature("hazards_per_service", "平均每次服务发现隐患数", "number"),
    Feature("rectified_ratio", "隐患整改率", "pct"),
    Feature("followup_rate", "发现隐患后的复查率", "pct"),
    Feature("report_rate", "出具服务报告比例", "pct"),
    Feature("mean_report_delay", "服务报告平均出具天数", "days"),
    Feature("signed_share", "投保单位签字确认比例", "pct"),
    Feature("photos_per_service", "平均每次服务影像资料数", "number"),
    Feature("checkin_share", "有签到定位的服务比例", "pct"),
    Feature("mean_satisfaction", "投保单位平均满意度", "number"),
    Feature("unqualified_share", "无资质人员服务占比", "pct"),
    Feature("staff_vs_market", "参与服务人员数与本提交同行业中位数之比", "number"),
    Feature("agency_share", "由受托技术服务机构提供的服务占比", "pct"),
    Feature("spend_ratio", "服务费用占应投入预防费用比例", "pct"),
    Feature("integrity_trace_per_service", "平均每条服务记录的现场痕迹类虚构迹象数（同日多地、影像重复、签到过远）", "number"),
    Feature("integrity_text_per_service", "平均每条服务记录的报告文本雷同迹象数", "number"),
    Feature("critical_per_service", "平均每条服务记录的其他严重规则发现数", "number"),
    Feature("major_per_service", "平均每条服务记录的其他较重规则发现数", "number"),
    Feature("policy_critical", "保单层面严重规则发现数", "count"),
    Feature("policy_major", "保单层面较重规则发现数", "count"),
    Feature("insurer_peer_services", "该保险机构其他保单的折算全年服务次数", "number"),
    Feature("insurer_peer_trace", "该保险机构其他保单每条服务记录的现场痕迹类虚构迹象数", "number"),
    Feature("insurer_peer_text", "该保险机构其他保单每条服务记录的报告文本雷同迹象数", "number"),
    Feature("insurer_peer_spend", "该保险机构其他保单的预防费用使用率", "pct"),
    Feature("provider_peer_services", "该服务主体其他保单的折算全年服务次数", "number"),
    Feature("provider_peer_trace", "该服务主体其他保单每条服务记录的现场痕迹类虚构迹象数", "number"),
    Feature("provider_peer_text", "该服务主体其他保单每条服务记录的报告文本雷同迹象数", "number"),
    Feature("provider_peer_hours", "该服务主体其他保单的平均现场服务时长", "hours"),
    Feature("insurer_memory_missing", "该保险机构以往核查中服务缺失的比例", "memory"),
    Feature("insurer_memory_poor", "该保险机构以往核查中服务质量差的比例", "memory"),
    Feature("provider_memory_missing", "该服务主体以往核查中服务缺失的比例", "memory"),
    Feature("provider_memory_poor", "该服务主体以往核查中服务质量差的比例", "memory"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
#: Filled by the model from what its training labels taught (scoring.model.memory), NaN until then.
MEMORY_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.unit == "memory")
#: Everything read from the submission itself (all but the memory features).
SUBMISSION_FEATURES: tuple[str, ...] = tuple(f for f in FEATURE_NAMES if f not in MEMORY_FEATURES)
#: Who did the work: the keys the model's memory and the peer features are kept by.
KEY_COLUMNS: tuple[str, ...] = ("insurer_key", "provider_key")
#: The peer features (column) and the policy feature each averages, by entity key.
PEERS: dict[str, tuple[str, str]] = {
    "insurer_peer_services": ("insurer_key", "services_per_year"),
    "insurer_peer_trace": ("insurer_key", "integrity_trace_per_service"),
    "insurer_peer_text": ("insurer_key", "integrity_text_per_service"),
    "insurer_peer_spend": ("insurer_key", "spend_ratio"),
    "provider_peer_services": ("provider_key", "services_per_year"),
    "provider_peer_trace": ("provider_key", "integrity_trace_per_service"),
    "provider_peer_text": ("provider_key", "integrity_text_per_service"),
    "provider_peer_hours": ("provider_key", "mean_hours"),
}
BY_NAME = {f.name: f for f in FEATURES}
#: Industry enters as its code: shap's TreeExplainer does not follow native categorical splits of
#: HistGradientBoosting exactly, and explanations must add up, so trees split the codes as numbers.
CATEGORICAL: tuple[str, ...] = ()
@dataclass(frozen=True)
class RuleRoles:
    """Which rules' findings the features count as what (the rulebook's ``role`` of each rule):
    signs of fabrication (``integrity``), and of those the ones whose evidence is a report's
    wording (``integrity_text``). Providers paste boilerplate into genuine reports too, so wording
    is weaker evidence that varies by provider; it enters apart from the physical traces (one
    person in two places on a day, one photo at two enterprises, a check-in far from the site),
    which genuine work rarely leaves."""

    integrity: frozenset[str]
    text: frozenset[str]


def rule_roles(rulebook) -> RuleRoles:
    """The :class:`RuleRoles` of ``rulebook``."""
    text = frozenset(r.code for r in rulebook.rules if r.role == "integrity_text")
    return RuleRoles(frozenset(r.code for r in rulebook.rules if r.role in ("integrity", "integrity_text")), text)


def _safe_div(a, b):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / b, np.nan)


def build_features(sub: Submission, as_of, findings: pd.DataFrame | None = None,
                   roles: RuleRoles = RuleRoles(frozenset(), frozenset())) -> pd.DataFrame:
    """One row per accepted policy (index ``policy_id``, in the policies' order): columns
    :data:`FEATURE_NAMES` (memory features NaN, for the model to fill) and :data:`KEY_COLUMNS`.
    Only what was known on ``as_of`` is used (:func:`scoring.submission.asof.in_scope`; a
    submission already cut is left as it is). ``roles``: which findings count as signs of
    fabrication (:func:`rule_roles` of the rulebook that made ``findings``).

    Two halves: :func:`policy_features` reads one policy and its own records (a Dask engine runs
    it per partition), :func:`market_features` then reads the whole submission (the market
    medians, the findings of every rule, the peers)."""
    sub, _ = in_scope(sub, as_of)
    return market_features(policy_features(sub, as_of), sub["policies"]["industry"].to_numpy(dtype=object), findings, roles)


def policy_features(sub: Submission, as_of) -> pd.DataFrame:
    """The features a policy's own records give (index ``policy_id``, in the policies' order), on
    ``sub`` as known on ``as_of`` (cut by :func:`scoring.submission.asof.in_scope`): the same values for a
    policy whether computed on the whole submission or on a partition holding the policy with all
    its records. The staff count is left raw (``n_staff_raw``, dropped by :func:`market_features`);
    findings counts, peers and memory are not yet there."""
    as_of = np.datetime64(as_of, "s")
    p = sub["policies"].reset_index(drop=True)
    s = sub["services"]
    pos = sub.service_policy_pos
    n = len(p)
    start = p["start_date"].to_numpy()
    end = p["end_date"].to_numpy()
    elapsed_days = np.clip((np.minimum(end, as_of) - start).astype("timedelta64[D]").astype(float) + 1, 0, None)
    period_days = (end - start).astype("timedelta64[D]").astype(float) + 1
    elapsed_frac = np.clip(elapsed_days / period_days, 0, 1)

    def per_policy(values, how="sum"):
        v = np.asarray(values, dtype=float)
        if how in ("sum", "mean"):  # bincount: one pass, no hashing (NaN cells are skipped like pandas)
            ok = ~np.isnan(v)
            total = np.bincount(pos[ok], weights=v[ok], minlength=n)
            if how == "sum":
                return total
            count = np.bincount(pos[ok], minlength=n)
            return np.divide(total, count, out=np.full(n, np.nan), where=count > 0)
        out = getattr(pd.Series(v).groupby(pos), how)()
        full = np.full(n, np.nan)
        full[out.index.to_numpy()] = out.to_numpy()
        return full

    ones = np.ones(len(s))
    n_services = per_policy(ones)
    hours = s["onsite_hours"].to_numpy(dtype=float)
    found = s["hazards_found"].to_numpy(dtype=float)
    rect = s["hazards_rectified"].to_numpy(dtype=float)
    has_haz = found > 0
    sd = s["service_date"].to_numpy()
    report_delay = (s["report_date"].to_numpy() - sd).astype("timedelta64[D]").astype(float)
    report_delay[np.isnat(s["report_date"].to_numpy())] = np.nan
    offset = (sd - start[pos]).astype("timedelta64[D]").astype(float)

    # largest gap without service: start -> visits -> min(end, as-of)
    order = np.lexsort((offset, pos))
    po, off = pos[order], offset[order]
    prev = np.where(np.r_[True, po[1:] != po[:-1]], 0.0, np.r_[0.0, off[:-1]])
    gaps = pd.Series(off - prev).groupby(po).max()
    last = pd.Series(off).groupby(po).max()
    max_gap = elapsed_days.copy()
    tail = elapsed_days[last.index.to_numpy()] - last.to_numpy()
    max_gap[gaps.index.to_numpy()] = np.maximum(gaps.to_numpy(), tail)

    # staff: one row per listed person (shared with the checks: scoring.submission.aggregates)
    agg = sub.aggregates
    long = agg.staff_long
    if "staff" in sub.present and len(sub["staff"]):
        unqualified_share = _safe_div(per_policy(agg.unqualified), n_services)
    else:
        unqualified_share = np.full(n, np.nan)
    n_staff = _distinct_per(pos[long["i"].to_numpy()], pc.dictionary_encode(arrow(long["staff"])), n)
    n_items = _distinct_per(pos, pc.dictionary_encode(arrow(s["service_item"])), n)

    fee = p["prevention_fee"].to_numpy(dtype=float)
    spend = agg.spend
    f = pd.DataFrame(index=pd.Index(p["policy_id"], name="policy_id"))
    f["industry"] = p["industry"].map(_INDUSTRY_CODES).to_numpy(dtype=float)
    f["high_risk"] = p["industry"].isin(HIGH_RISK_INDUSTRIES).to_numpy(dtype=float)
    f["employees"] = p["employees"].to_numpy(dtype=float)
    f["premium"] = p["premium"].to_numpy(dtype=float)
    f["fee_ratio"] = _safe_div(fee, p["premium"].to_numpy(dtype=float))
    f["rate_factor"] = p["rate_factor"].to_numpy(dtype=float)
    f["grade"] = p["standardization_grade"].map(_GRADE).to_numpy(dtype=float)
    f["accidents_prev_year"] = p["accidents_prev_year"].to_numpy(dtype=float)
    f["elapsed_frac"] = elapsed_frac
    f["n_services"] = n_services
    f["services_per_year"] = _safe_div(n_services, elapsed_days / 365.0)
    first = per_policy(offset, "min")
    f["days_to_first"] = np.where(np.isnan(first), elapsed_days, first)
    f["max_gap_days"] = max_gap
    f["share_hazard_inspection"] = _safe_div(per_policy(s["service_item"].to_numpy() == "hazard_inspection"), n_services)
    f["n_items"] = n_items
    f["mean_hours"] = per_policy(hours, "mean")
    f["hazards_per_service"] = _safe_div(per_policy(found), n_services)
    f["rectified_ratio"] = _safe_div(per_policy(rect), per_policy(found))
    f["followup_rate"] = _safe_div(per_policy(has_haz & s["followup_date"].notna().to_numpy()), per_policy(has_haz))
    f["report_rate"] = _safe_div(per_policy(s["report_date"].notna().to_numpy()), n_services)
    f["mean_report_delay"] = per_policy(report_delay, "mean")
    f["signed_share"] = _safe_div(per_policy(s["enterprise_signed"].to_numpy()), n_services)
    f["photos_per_service"] = _safe_div(per_policy(s["photo_count"].to_numpy(dtype=float)), n_services)
    f["checkin_share"] = _safe_div(per_policy(s["checkin_lat"].notna().to_numpy()), n_services)
    f["mean_satisfaction"] = per_policy(s["satisfaction"].to_numpy(dtype=float, na_value=np.nan), "mean")
    f["unqualified_share"] = unqualified_share
    f["n_staff_raw"] = n_staff
    f["agency_share"] = _safe_div(per_policy(s["provider_type"].to_numpy() == "agency"), n_services)
    f["spend_ratio"] = _safe_div(spend, fee * elapsed_frac)
    f["insurer_key"] = p["insurer_id"].to_numpy(dtype=object)
    f["provider_key"] = agg.policy_provider
    return f


def market_features(f: pd.DataFrame, industry: np.ndarray, findings: pd.DataFrame | None = None,
                    roles: RuleRoles = RuleRoles(frozenset(), frozenset())) -> pd.DataFrame:
    """:func:`policy_features` of every policy of the submission (``industry`` aligned with it),
    completed with what needs the whole submission: visits and staff against the industry's
    median, the findings of every rule counted per policy, the peers' means, and the memory
    columns (NaN). Returns :data:`FEATURE_NAMES` and :data:`KEY_COLUMNS`."""
    n = len(f)
    f["services_vs_market"] = _vs_market(f["services_per_year"].to_numpy(), industry)
    f["staff_vs_market"] = _vs_market(f["n_staff_raw"].to_numpy(), industry)
    n_services = f["n_services"].to_numpy()
    counts = {c: np.zeros(n) for c in ("integrity_trace", "integrity_text", "critical", "major", "policy_critical", "policy_major")}
    if findings is not None and len(findings):
        # through codes: a Python string per finding would take gigabytes at millions of policies
        at = positions_in(findings["policy_id"], f.index)
        scope, sev = equal_to(findings["scope"]), equal_to(findings["severity"])
        on_service = (at >= 0) & scope("service")
        on_policy = (at >= 0) & scope("policy")
        rule, rules = codes_of(findings["rule_code"])
        rules = rules.cast(pa.string())
        per_rule = lambda mask: np.append(np.asarray(pc.fill_null(mask, False), dtype=bool), False)[rule]  # noqa: E731 (-1: none)
        integ = per_rule(pc.is_in(rules, pa.array(sorted(roles.integrity), pa.string())))
        text = per_rule(pc.is_in(rules, pa.array(sorted(roles.text), pa.string())))
        for col, mask in (("integrity_trace", on_service & integ & ~text), ("integrity_text", on_service & integ & text), ("critical", on_service & ~integ & sev("critical")),
                          ("major", on_service & ~integ & sev("major")), ("policy_critical", on_policy & sev("critical")),
                          ("policy_major", on_policy & sev("major"))):
            counts[col] = np.bincount(at[mask], minlength=n).astype(float)
    for col in ("integrity_trace", "integrity_text", "critical", "major"):
        f[f"{col}_per_service"] = _safe_div(counts[col], n_services)
    f["policy_critical"] = counts["policy_critical"]
    f["policy_major"] = counts["policy_major"]
    for col, (key, source) in PEERS.items():
        f[col] = leave_one_out_mean(f[key], f[source].to_numpy(dtype=float))
    for col in MEMORY_FEATURES:
        f[col] = np.nan
    return f[list(FEATURE_NAMES) + list(KEY_COLUMNS)]


def _vs_market(values: np.ndarray, industry: np.ndarray) -> np.ndarray:
    """``values`` divided by the median of the same industry's policies in the submission (NaN
    where that median is missing or 0): how a policy compares with its own market, whatever
    level that market sets (the visits its contracts ask for, the size of its agencies)."""
    s = pd.Series(values)
    med = s.groupby(pd.Series(industry)).transform("median").to_numpy(dtype=float)
    return np.divide(values, med, out=np.full(len(values), np.nan), where=np.isfinite(med) & (med > 0))


def leave_one_out_mean(keys: np.ndarray | pd.Series, values: np.ndarray) -> np.ndarray:
    """Per row, the mean of ``values`` over the *other* rows with the same key (NaN values and
    keys skipped; NaN where there is no other row). ``keys`` may be a column, used as it is (no
    Python string per row)."""
    keys = keys.reset_index(drop=True) if isinstance(keys, pd.Series) else pd.Series(keys, dtype=object)
    ok = keys.notna().to_numpy() & ~np.isnan(values)
    codes, _ = pd.factorize(keys)
    codes = np.asarray(codes)
    k = codes.max() + 1 if len(codes) else 0
    valid = codes >= 0
    total = np.bincount(codes[ok], weights=values[ok], minlength=k)
    count = np.bincount(codes[ok], minlength=k).astype(float)
    out = np.full(len(values), np.nan)
    own_v = np.where(ok, values, 0.0)
    own_c = ok.astype(float)
    t = total[codes[valid]] - own_v[valid]
    c = count[codes[valid]] - own_c[valid]
    out[valid] = np.divide(t, c, out=np.full(int(valid.sum()), np.nan), where=c > 0)
    return out


def _distinct_per(pos: np.ndarray, codes: pa.DictionaryArray, n: int) -> np.ndarray:
    """Number of distinct non-null values per policy position (integer keys, sort-based)."""
    c = codes.indices.to_numpy(zero_copy_only=False)
    valid = ~np.isnan(c) if c.dtype.kind == "f" else np.ones(len(c), dtype=bool)
    k = len(codes.dictionary) + 1
    keys = sorted_unique(pos[valid].astype(np.int64) * k + c[valid].astype(np.int64))
    return np.bincount(keys // k, minlength=n).astype(float)


def show(feature: str, value: float) -> str:
    """A feature value as an evaluator would write it."""
    unit = BY_NAME[feature].unit
    if unit == "memory" and value is not None and value == value:
        return f"{value * 100:.0f}%"
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "无记录"
    if unit == "industry":
        return list(INDUSTRIES.values())[int(value)]
    if unit == "bool":
        return "是" if value >= 0.5 else "否"
    if unit == "grade":
        return {3: "一级", 2: "二级", 1: "三级", 0: "无"}[int(value)]
    if unit == "pct":
        return f"{value * 100:.0f}%"
    if unit == "count":
        return f"{value:.0f}"
    if unit == "days":
        return f"{value:.0f} 天"
    if unit == "hours":
        return f"{value:.1f} 小时"
    if unit == "yuan":
        return f"{value:,.0f} 元"
    return f"{value:.2f}".rstrip("0").rstrip(".")
