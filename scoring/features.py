"""Features per policy, for the service-quality model, each with the Chinese words an evaluator reads.

Everything is computed from the validated submission as of the scoring date: service records
dated after it are ignored, the inspections (labels) are never read, and an insurer's or an
agency's track record uses only policies that started in earlier years. Integrity and other
rule findings enter as counts per policy, so the model and the rulebook tell one story.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .checks import sorted_unique
from .parsing import arrow

from .intake import Submission
from .schema import HIGH_RISK_INDUSTRIES, INDUSTRIES

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
    Feature("n_staff", "参与服务人员数", "count"),
    Feature("agency_share", "由受托技术服务机构提供的服务占比", "pct"),
    Feature("spend_ratio", "服务费用占应投入预防费用比例", "pct"),
    Feature("n_integrity", "虚构迹象类规则发现数", "count"),
    Feature("n_critical", "其他严重（critical）规则发现数", "count"),
    Feature("n_major", "其他较重（major）规则发现数", "count"),
    Feature("insurer_prev_services", "该保险机构以往年度保单平均服务次数", "number"),
    Feature("insurer_prev_integrity", "该保险机构以往年度有虚构迹象的保单占比", "pct"),
    Feature("insurer_prev_spend", "该保险机构以往年度预防费用使用率", "pct"),
    Feature("provider_prev_integrity", "该服务主体以往年度有虚构迹象的保单占比", "pct"),
    Feature("provider_prev_hours", "该服务主体以往年度平均现场服务时长", "hours"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
BY_NAME = {f.name: f for f in FEATURES}
#: Industry enters as its code: shap's TreeExplainer does not follow native categorical splits of
#: HistGradientBoosting exactly, and explanations must add up, so trees split the codes as numbers.
CATEGORICAL: tuple[str, ...] = ()


def _safe_div(a, b):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / b, np.nan)


def build_features(sub: Submission, as_of, findings: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per accepted policy (index ``policy_id``, in the policies' order), columns :data:`FEATURE_NAMES`."""
    as_of = np.datetime64(as_of, "s")
    p = sub["policies"].reset_index(drop=True)
    s = sub["services"]
    upto = s["service_date"].to_numpy() <= as_of
    pos = sub.service_policy_pos
    if not upto.all():  # no copy of millions of rows when every record is on or before the as-of date
        s, pos = s[upto], pos[upto]
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

    # staff: one row per listed person (Arrow split, no Python loop)
    lists = pc.split_pattern(arrow(s["staff_ids"]), ";")
    who = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    parent = pc.list_parent_indices(lists).to_numpy()
    if "staff" in sub.present and len(sub["staff"]):
        idx = pc.index_in(who, value_set=arrow(sub["staff"]["staff_id"]))
        known = np.asarray(pc.is_valid(idx).to_numpy(zero_copy_only=False), dtype=bool)
        quals = sub["staff"]["qualification"].to_numpy(dtype=object)
        none = np.zeros(len(who), dtype=bool)
        none[known] = quals[idx.filter(pc.is_valid(idx)).to_numpy()] == "none"
        listed = np.bincount(parent, minlength=len(s))
        n_none = np.bincount(parent, weights=none, minlength=len(s))
        unq = (listed > 0) & (n_none == listed)
        unqualified_share = _safe_div(per_policy(unq), n_services)
    else:
        unqualified_share = np.full(n, np.nan)
    n_staff = _distinct_per(pos[parent], pc.dictionary_encode(pc.if_else(pc.equal(who, ""), None, who)), n)
    n_items = _distinct_per(pos, pc.dictionary_encode(arrow(s["service_item"])), n)

    fee = p["prevention_fee"].to_numpy(dtype=float)
    spend = per_policy(s["cost"].to_numpy(dtype=float))
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
    f["n_staff"] = n_staff
    f["agency_share"] = _safe_div(per_policy(s["provider_type"].to_numpy() == "agency"), n_services)
    f["spend_ratio"] = _safe_div(spend, fee * elapsed_frac)
    for col in ("n_integrity", "n_critical", "n_major"):
        f[col] = 0.0
    if findings is not None and len(findings):
        # counted on Arrow columns: no copy of the findings' text
        at = f.index.get_indexer(findings["policy_id"])
        on_policy = (at >= 0) & findings["scope"].isin(["policy", "service"]).to_numpy()
        integ = np.asarray(pc.fill_null(pc.starts_with(arrow(findings["rule_code"]), "INTEGRITY_"), False), dtype=bool)
        sev = findings["severity"].to_numpy(dtype=object)
        for col, mask in (("n_integrity", integ), ("n_critical", ~integ & (sev == "critical")),
                          ("n_major", ~integ & (sev == "major"))):
            f[col] = np.bincount(at[on_policy & mask], minlength=n).astype(float)
    _track_record(f, p, s, pos, hours)
    return f[list(FEATURE_NAMES)]


def _distinct_per(pos: np.ndarray, codes: pa.DictionaryArray, n: int) -> np.ndarray:
    """Number of distinct non-null values per policy position (integer keys, sort-based)."""
    c = codes.indices.to_numpy(zero_copy_only=False)
    valid = ~np.isnan(c) if c.dtype.kind == "f" else np.ones(len(c), dtype=bool)
    k = len(codes.dictionary) + 1
    keys = sorted_unique(pos[valid].astype(np.int64) * k + c[valid].astype(np.int64))
    return np.bincount(keys // k, minlength=n).astype(float)


def _track_record(f: pd.DataFrame, p: pd.DataFrame, s: pd.DataFrame, pos: np.ndarray, hours: np.ndarray) -> None:
    """Insurer and provider history from policies that started in earlier years only."""
    year = p["start_date"].dt.year.to_numpy()
    per = pd.DataFrame({
        "insurer": p["insurer_id"].to_numpy(), "year": year,
        "n_services": f["n_services"].to_numpy(), "integrity": (f["n_integrity"].to_numpy() > 0).astype(float),
        "spend": f["spend_ratio"].to_numpy(),
    })
    # main provider: that of the policy's first service record (agency, else the insurer itself)
    first = np.full(len(p), -1, dtype=np.int64)
    with_services, first_row = np.unique(pos, return_index=True)
    first[with_services] = first_row
    has = first >= 0
    agency = pc.take(arrow(s["agency_id"]), pa.array(first[has]))
    insurer = pc.binary_join_element_wise("insurer:", pa.array(p["insurer_id"].to_numpy(dtype=object)[has], pa.string()), "")
    provider = np.full(len(p), None, dtype=object)
    provider[has] = pc.coalesce(agency, insurer).to_numpy(zero_copy_only=False)
    per["provider"] = provider
    per["hours"] = f["mean_hours"].to_numpy()

    def history(key: str, cols: list[str]) -> pd.DataFrame:
        g = per.dropna(subset=[key]).groupby([key, "year"])[cols].agg(["sum", "count"])
        out = {}
        for c in cols:
            sums = g[(c, "sum")].groupby(level=0).cumsum() - g[(c, "sum")]
            counts = g[(c, "count")].groupby(level=0).cumsum() - g[(c, "count")]
            out[c] = _safe_div(sums, counts)
        h = pd.DataFrame(out, index=g.index)
        return h

    hi = history("insurer", ["n_services", "integrity", "spend"])
    idx = pd.MultiIndex.from_arrays([per["insurer"], per["year"]])
    looked = hi.reindex(idx)
    f["insurer_prev_services"] = looked["n_services"].to_numpy()
    f["insurer_prev_integrity"] = looked["integrity"].to_numpy()
    f["insurer_prev_spend"] = looked["spend"].to_numpy()
    hp = history("provider", ["integrity", "hours"])
    looked = hp.reindex(pd.MultiIndex.from_arrays([per["provider"], per["year"]]))
    f["provider_prev_integrity"] = looked["integrity"].to_numpy()
    f["provider_prev_hours"] = looked["hours"].to_numpy()


def show(feature: str, value: float) -> str:
    """A feature value as an evaluator would write it."""
    unit = BY_NAME[feature].unit
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
