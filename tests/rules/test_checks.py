"""Every rule of the catalogue: a case that fires and one just inside its threshold.

Each case starts from a small clean submission (40 policies of one prefecture, four
well-documented services each), changes a few cells, runs the shipped rulebook at
2025-06-30 and asserts whether the rule fires on the target.
"""
import numpy as np
import pandas as pd
import pytest

from scoring.submission import uscc
from scoring import load_submission
from scoring import load_rulebook
from scoring.rules.run import run_rules

AS_OF = "2025-06-30"
N = 40
CODES = uscc.generate(np.random.default_rng(0), N)
RULEBOOK = load_rulebook()


def base():
    rate = 800 * (1 + 0.1 * ((np.arange(N) % 7) - 3) / 3)
    p = pd.DataFrame({
        "policy_id": [f"P{i:03d}" for i in range(N)], "insurer_id": [f"I{i % 5}" for i in range(N)],
        "insurer_name": "某保险公司", "broker_id": "", "coinsurance_group": "", "enterprise_id": CODES,
        "enterprise_name": [f"企业{i}" for i in range(N)], "region_code": "640200", "industry": "coal_mining",
        "employees": 100, "start_date": "2024-01-01", "end_date": "2024-12-31", "premium": np.round(100 * rate, 2),
        "premium_base_type": "per_capita", "premium_base": 100, "base_rate": rate, "rate_factor": 1.0,
        "death_limit_per_person": 500000, "medical_limit_per_person": 50000, "per_accident_limit": 5000000,
        "aggregate_limit": 10000000, "covers_employees": "true", "covers_third_party": "true", "covers_rescue": "true",
        "covers_medical_rescue": "true", "covers_appraisal_legal": "true", "standardization_grade": "2",
        "accidents_prev_year": 0, "deaths_prev_year": 0, "prevention_fee": np.round(100 * rate * 0.15, 2),
        "prevention_fee_account": "insurer_dedicated", "premium_charged_to_employees": "false", "commission_rate": "",
        "enterprise_lat": 38.0 + np.arange(N) * 0.001, "enterprise_lon": 106.0,
    })
    days = ["2024-03-01", "2024-05-01", "2024-08-01", "2024-11-01"]
    items = ["hazard_inspection", "training", "hazard_inspection", "risk_assessment"]
    rows = []
    for i in range(N):
        for k in range(4):
            d = pd.Timestamp(days[k])
            rows.append({
                "service_id": f"S{i:03d}{k}", "policy_id": f"P{i:03d}", "service_item": items[k], "provider_type": "agency",
                "agency_id": "AG1", "staff_ids": f"T{i:03d}", "service_date": days[k], "onsite_hours": 3, "hazards_found": 2,
                "hazards_rectified": 2, "followup_date": str((d + pd.Timedelta(days=10)).date()),
                "report_date": str((d + pd.Timedelta(days=3)).date()), "enterprise_signed": "true", "photo_count": 1,
                "photo_hashes": f"h{i:03d}{k}", "checkin_lat": p.loc[i, "enterprise_lat"], "checkin_lon": 106.0,
                "satisfaction": 5, "cost": round(p.loc[i, "prevention_fee"] / 4 * 0.8, 2), "report_summary": "",
            })
    s = pd.DataFrame(rows)
    st = pd.DataFrame({"staff_id": [f"T{i:03d}" for i in range(N)] + ["TX1", "TX2"], "agency_id": "AG1",
                       "qualification": ["registered_safety_engineer"] * N + ["none", "none"], "years_experience": 5})
    return p.astype(object), s.astype(object), st.astype(object)


CLAIM_COLUMNS = ["claim_id", "policy_id", "accident_date", "report_date", "deaths", "injuries", "status", "paid_amount",
                 "reserve_amount", "closed_date"]


def claim(pid, accident, report, status="paid", paid=50000, closed=None, deaths=0):
    return {"policy_id": pid, "accident_date": accident, "report_date": report, "deaths": deaths, "injuries": 1,
            "status": status, "paid_amount": paid if status == "paid" else 0, "reserve_amount": paid if status == "open" else 0,
            "closed_date": closed if status != "open" else ""}


def C(*rows, then=None):
    """Claims for the case (the base has a claims table with none), and an optional policy change."""
    def m(p, s, st):
        if then:
            then(p, s, st)
    m.claims = list(rows)
    return m


def run(tmp_path, mutate, staff=True):
    p, s, st = base()
    mutate(p, s, st)
    rows = getattr(mutate, "claims", [])
    pd.DataFrame([{"claim_id": f"C{k:04d}", **r} for k, r in enumerate(rows)], columns=CLAIM_COLUMNS).to_csv(
        tmp_path / "claims.csv", index=False)
    if "_drop" in s:
        s = s[s["_drop"] != True].drop(columns="_drop")  # noqa: E712 - object column with NaN
    p.to_csv(tmp_path / "policies.csv", index=False)
    s.to_csv(tmp_path / "services.csv", index=False)
    if staff:
        st.to_csv(tmp_path / "staff.csv", index=False)
    sub = load_submission(tmp_path)
    assert sub.rejected.empty, sub.rejected["message_en"].tolist()
    return run_rules(sub, RULEBOOK, as_of=AS_OF)


def fired(result, code, **key):
    f = result.findings[result.findings["rule_code"] == code]
    for k, v in key.items():
        f = f[f[k] == v]
    return len(f) > 0


def P(col, value, i=0):
    def m(p, s, st):
        p.loc[i, col] = value
    return m


def S(col, value, sid="S0000"):
    def m(p, s, st):
        s.loc[s["service_id"] == sid, col] = value
    return m


def both(*ms):
    def m(p, s, st):
        for x in ms:
            x(p, s, st)
    return m


def during_2025(p, s, st):
    """Policy P000 runs 2025-01-01..2025-12-31, so it is in force at the as-of date."""
    p.loc[0, ["start_date", "end_date"]] = ["2025-01-01", "2025-12-31"]
    for k, d in enumerate(["2025-01-20", "2025-02-20", "2025-03-20", "2025-04-20"]):
        sid = f"S000{k}"
        s.loc[s["service_id"] == sid, ["service_date", "report_date", "followup_date"]] = [d, d, d]


def starting(day):
    def m(p, s, st):
        start = pd.Timestamp(day)
        p.loc[0, ["start_date", "end_date"]] = [str(start.date()), str((start + pd.Timedelta(days=364)).date())]
        s.loc[s["policy_id"] == "P000", "_drop"] = True
        p.loc[0, "prevention_fee"] = 0.01  # spend rules stay quiet; no services is the point of SERVICE_NONE cases
    return m


def drop_services(keep: int):
    def m(p, s, st):
        s.loc[s.index[s["policy_id"] == "P000"][keep:], "_drop"] = True
    return m


def exact_premium(p):
    return round(100 * p.loc[0, "base_rate"] * p.loc[0, "rate_factor"], 2)


def premium_times(f):
    def m(p, s, st):
        p.loc[0, "premium"] = round(100 * p.loc[0, "base_rate"] * f, 2)
    return m


def spend(ratio, policies=(0,)):
    def m(p, s, st):
        for i in policies:
            ids = s["policy_id"] == f"P{i:03d}"
            s.loc[ids, "cost"] = round(p.loc[i, "prevention_fee"] * ratio / ids.sum(), 4)
    return m


def overlap(hours=(3, 3), dlat=0.0, same_enterprise=False):
    """Staff T000 also serves a second service on S0000's day."""
    def m(p, s, st):
        other = "S0000" if same_enterprise else "S0010"
        s.loc[s["service_id"] == "S0000", "onsite_hours"] = hours[0]
        target = "S0001" if same_enterprise else other
        s.loc[s["service_id"] == target, ["service_date", "staff_ids", "onsite_hours"]] = ["2024-03-01", "T000", hours[1]]
        if same_enterprise:
            s.loc[s["service_id"] == target, ["report_date", "followup_date"]] = ["2024-03-04", "2024-03-11"]
        s.loc[s["service_id"] == target, "checkin_lat"] = s.loc[s["service_id"] == "S0000", "checkin_lat"].iloc[0] + dlat
        if dlat:
            p.loc[1, "enterprise_lat"] = s.loc[s["service_id"] == target, "checkin_lat"].iloc[0]
    return m


def same_text(n_enterprises, text="经现场检查企业安全生产状况总体良好未发现重大事故隐患已督促落实主体责任"):
    def m(p, s, st):
        for i in range(n_enterprises):
            s.loc[s["service_id"] == f"S{i:03d}0", "report_summary"] = f"企业{i}：{text}（共{i + 3}项）"
    return m


def brokers(n_brokered, n_top):
    def m(p, s, st):
        p.loc[: n_brokered - 1, "broker_id"] = "B2"
        p.loc[: n_top - 1, "broker_id"] = "B1"
        p.loc[: n_brokered - 1, "commission_rate"] = 0.03
    return m


def group(n):
    def m(p, s, st):
        p.loc[: n - 1, "coinsurance_group"] = "G1"
    return m


def km(x):
    return x / 111.19508


def one_insurer_market(p, s, st):
    """P000-P031 insured by I0 in 石嘴山; P032-P039 by I1 in 太原: I0's cell (32 policies) is judged
    against the coal market elsewhere, where each of I1's policies had a claim."""
    p["insurer_id"] = ["I0"] * 32 + ["I1"] * 8
    p.loc[32:, "region_code"] = "140100"


MARKET_CLAIMS = [claim(f"P{i:03d}", "2024-06-01", "2024-06-02", closed="2024-06-20") for i in range(32, 40)]


def cell_claims(n, paid=100000):
    return [claim(f"P{i % 32:03d}", "2024-05-01", "2024-05-02", paid=paid, closed="2024-05-20") for i in range(n)]


CLAIM_CASES = [
    ("CLAIM_SETTLEMENT_SLOW", "closed 61 days after report", C(claim("P000", "2024-03-01", "2024-03-02", closed="2024-05-02")), {"policy_id": "P000"}, True),
    ("CLAIM_SETTLEMENT_SLOW", "closed 60 days after report", C(claim("P000", "2024-03-01", "2024-03-02", closed="2024-05-01")), {"policy_id": "P000"}, False),
    ("CLAIM_OPEN_TOO_LONG", "open 181 days", C(claim("P000", "2024-12-01", "2024-12-31", status="open")), {"policy_id": "P000"}, True),
    ("CLAIM_OPEN_TOO_LONG", "open 180 days", C(claim("P000", "2024-12-01", "2025-01-01", status="open")), {"policy_id": "P000"}, False),
    ("ACCIDENT_HISTORY_UNDERSTATED", "renewal declares none", C(claim("P000", "2024-06-01", "2024-06-02", closed="2024-06-30"),
     then=both(P("enterprise_id", CODES[0], 1), P("start_date", "2025-01-01", 1), P("end_date", "2025-12-31", 1))), {"policy_id": "P001"}, True),
    ("ACCIDENT_HISTORY_UNDERSTATED", "renewal declares it", C(claim("P000", "2024-06-01", "2024-06-02", closed="2024-06-30"),
     then=both(P("enterprise_id", CODES[0], 1), P("start_date", "2025-01-01", 1), P("end_date", "2025-12-31", 1),
               P("accidents_prev_year", 1, 1))), {"policy_id": "P001"}, False),
    ("LOSS_RATIO_EXCESSIVE_RATE", "no claim where 32 were due", C(*MARKET_CLAIMS, then=one_insurer_market), {"insurer_id": "I0"}, True),
    ("LOSS_RATIO_EXCESSIVE_RATE", "claims as the market", C(*MARKET_CLAIMS, *cell_claims(30), then=one_insurer_market), {"insurer_id": "I0"}, False),
    ("LOSS_RATIO_INADEQUATE_RATE", "100 claims where 32 were due", C(*MARKET_CLAIMS, *cell_claims(100), then=one_insurer_market), {"insurer_id": "I0"}, True),
    ("LOSS_RATIO_INADEQUATE_RATE", "loss ratio over 1 but claims as the market", C(*MARKET_CLAIMS, *cell_claims(30), then=one_insurer_market), {"insurer_id": "I0"}, False),
]

CASES = [
    # code, label, mutation, key, fires
    ("LIMIT_DEATH_BELOW_FLOOR", "2024 below 30万", P("death_limit_per_person", 299999), {"policy_id": "P000"}, True),
    ("LIMIT_DEATH_BELOW_FLOOR", "2024 at 30万", P("death_limit_per_person", 300000), {"policy_id": "P000"}, False),
    ("LIMIT_DEATH_BELOW_FLOOR", "2025-03-28 with 30万", both(P("start_date", "2025-03-28"), P("end_date", "2026-03-27"), P("death_limit_per_person", 300000)), {"policy_id": "P000"}, False),
    ("LIMIT_DEATH_BELOW_FLOOR", "2025-03-29 with 30万", both(P("start_date", "2025-03-29"), P("end_date", "2026-03-28"), P("death_limit_per_person", 300000)), {"policy_id": "P000"}, True),
    ("LIMIT_DEATH_BELOW_FLOOR", "2025-04-01 at 40万", both(P("start_date", "2025-04-01"), P("end_date", "2026-03-31"), P("death_limit_per_person", 400000)), {"policy_id": "P000"}, False),
    ("LIMIT_STRUCTURE_INCONSISTENT", "aggregate below per accident", P("aggregate_limit", 4999999), {"policy_id": "P000"}, True),
    ("LIMIT_STRUCTURE_INCONSISTENT", "aggregate equal", P("aggregate_limit", 5000000), {"policy_id": "P000"}, False),
    ("LIMIT_STRUCTURE_INCONSISTENT", "per accident below death", P("per_accident_limit", 499999), {"policy_id": "P000"}, True),
    ("COVERAGE_SCOPE_MISSING", "no rescue cover", P("covers_rescue", "否"), {"policy_id": "P000"}, True),
    ("COVERAGE_SCOPE_MISSING", "all covered", P("covers_rescue", "是"), {"policy_id": "P000"}, False),
    ("PREMIUM_INCONSISTENT", "1.1% above", premium_times(1.011), {"policy_id": "P000"}, True),
    ("PREMIUM_INCONSISTENT", "0.9% above", premium_times(1.009), {"policy_id": "P000"}, False),
    ("PREMIUM_CHARGED_TO_EMPLOYEES", "charged", P("premium_charged_to_employees", "是"), {"policy_id": "P000"}, True),
    ("PREMIUM_CHARGED_TO_EMPLOYEES", "not charged", P("premium_charged_to_employees", "否"), {"policy_id": "P000"}, False),
    ("RATE_FACTOR_INCONSISTENT_WITH_RECORD", "accident, factor 0.99", both(P("accidents_prev_year", 1), P("rate_factor", 0.99), premium_times(0.99)), {"policy_id": "P000"}, True),
    ("RATE_FACTOR_INCONSISTENT_WITH_RECORD", "accident, factor 1.0", P("accidents_prev_year", 1), {"policy_id": "P000"}, False),
    ("RATE_FACTOR_INCONSISTENT_WITH_RECORD", "death only, factor 0.95", both(P("deaths_prev_year", 1), P("rate_factor", 0.95), premium_times(0.95)), {"policy_id": "P000"}, True),
    ("RATE_FACTOR_OUT_OF_BAND", "1.31", both(P("rate_factor", 1.31), premium_times(1.31)), {"policy_id": "P000"}, True),
    ("RATE_FACTOR_OUT_OF_BAND", "1.30", both(P("rate_factor", 1.3), premium_times(1.3)), {"policy_id": "P000"}, False),
    ("RATE_FACTOR_OUT_OF_BAND", "0.69", both(P("rate_factor", 0.69), premium_times(0.69)), {"policy_id": "P000"}, True),
    ("RATE_OUTLIER", "rate x3", both(P("base_rate", 2400.0), P("premium", 240000.0)), {"policy_id": "P000"}, True),
    ("RATE_OUTLIER", "rate x1.15", both(P("base_rate", 920.0), P("premium", 92000.0)), {"policy_id": "P000"}, False),
    ("COMMISSION_ABOVE_CAP", "2025-04 at 5.1%", both(P("start_date", "2025-04-01"), P("end_date", "2026-03-31"), P("broker_id", "B1"), P("commission_rate", 0.051)), {"policy_id": "P000"}, True),
    ("COMMISSION_ABOVE_CAP", "2025-04 at 5%", both(P("start_date", "2025-04-01"), P("end_date", "2026-03-31"), P("broker_id", "B1"), P("commission_rate", 0.05)), {"policy_id": "P000"}, False),
    ("COMMISSION_ABOVE_CAP", "2025-03-28 at 8%", both(P("start_date", "2025-03-28"), P("end_date", "2026-03-27"), P("broker_id", "B1"), P("commission_rate", 0.08)), {"policy_id": "P000"}, False),
    ("PREVENTION_FEE_ACCOUNT_IMPROPER", "government account", P("prevention_fee_account", "government_designated"), {"policy_id": "P000"}, True),
    ("PREVENTION_FEE_ACCOUNT_IMPROPER", "other account", P("prevention_fee_account", "other"), {"policy_id": "P000"}, False),
    ("PREVENTION_FEE_ABOVE_CAP", "2025-04 at 21.1%", both(P("start_date", "2025-04-01"), P("end_date", "2026-03-31"), P("premium", 80000.0), P("base_rate", 800.0), P("prevention_fee", 16880.0)), {"policy_id": "P000"}, True),
    ("PREVENTION_FEE_ABOVE_CAP", "2025-04 at 21%", both(P("start_date", "2025-04-01"), P("end_date", "2026-03-31"), P("premium", 80000.0), P("base_rate", 800.0), P("prevention_fee", 16800.0)), {"policy_id": "P000"}, False),
    ("PREVENTION_FEE_ABOVE_CAP", "2025-03-28 at 30%", both(P("start_date", "2025-03-28"), P("end_date", "2026-03-27"), P("premium", 80000.0), P("base_rate", 800.0), P("prevention_fee", 24000.0)), {"policy_id": "P000"}, False),
    ("PREVENTION_FEE_MISSING", "zero", P("prevention_fee", 0), {"policy_id": "P000"}, True),
    ("PREVENTION_FEE_MISSING", "one fen", P("prevention_fee", 0.01), {"policy_id": "P000"}, False),
    ("PREVENTION_UNDERSPENT", "49% spent", spend(0.49), {"policy_id": "P000"}, True),
    ("PREVENTION_UNDERSPENT", "50% spent", spend(0.5001), {"policy_id": "P000"}, False),
    ("PREVENTION_UNDERSPENT", "period not ended", both(during_2025, spend(0.1)), {"policy_id": "P000"}, False),
    ("SERVICE_NONE", "ended, no service", starting("2024-01-01"), {"policy_id": "P000"}, True),
    ("SERVICE_NONE", "91 days in", starting("2025-03-31"), {"policy_id": "P000"}, True),
    ("SERVICE_NONE", "90 days in", starting("2025-04-01"), {"policy_id": "P000"}, False),
    ("SERVICE_TOO_FEW", "one service", drop_services(1), {"policy_id": "P000"}, True),
    ("SERVICE_TOO_FEW", "two services", drop_services(2), {"policy_id": "P000"}, False),
    ("SERVICE_HAZARD_INSPECTION_MISSING", "no inspection", both(S("service_item", "training", "S0000"), S("service_item", "training", "S0002")), {"policy_id": "P000"}, True),
    ("SERVICE_HAZARD_INSPECTION_MISSING", "one inspection", S("service_item", "training", "S0000"), {"policy_id": "P000"}, False),
    ("SERVICE_HAZARD_INSPECTION_MISSING", "not high-risk", both(P("industry", "other"), S("service_item", "training", "S0000"), S("service_item", "training", "S0002")), {"policy_id": "P000"}, False),
    ("SERVICE_OUTSIDE_PERIOD", "day after end", both(S("service_date", "2025-01-01", "S0003"), S("report_date", "2025-01-02", "S0003"), S("followup_date", "2025-01-05", "S0003")), {"service_id": "S0003"}, True),
    ("SERVICE_OUTSIDE_PERIOD", "last day", both(S("service_date", "2024-12-31", "S0003"), S("report_date", "2025-01-02", "S0003"), S("followup_date", "2025-01-05", "S0003")), {"service_id": "S0003"}, False),
    ("SERVICE_REPORT_BEFORE_SERVICE", "day before", S("report_date", "2024-02-29"), {"service_id": "S0000"}, True),
    ("SERVICE_REPORT_BEFORE_SERVICE", "same day", S("report_date", "2024-03-01"), {"service_id": "S0000"}, False),
    ("SERVICE_FOLLOWUP_BEFORE_SERVICE", "day before", S("followup_date", "2024-02-29"), {"service_id": "S0000"}, True),
    ("SERVICE_FOLLOWUP_BEFORE_SERVICE", "same day", S("followup_date", "2024-03-01"), {"service_id": "S0000"}, False),
    ("SERVICE_NO_REPORT", "no report after 16 days", both(during_2025, S("service_date", "2025-06-14"), S("report_date", ""), S("followup_date", "2025-06-20")), {"service_id": "S0000"}, True),
    ("SERVICE_NO_REPORT", "no report after 15 days", both(during_2025, S("service_date", "2025-06-15"), S("report_date", ""), S("followup_date", "2025-06-20")), {"service_id": "S0000"}, False),
    ("SERVICE_REPORT_LATE", "16 days", S("report_date", "2024-03-17"), {"service_id": "S0000"}, True),
    ("SERVICE_REPORT_LATE", "15 days", S("report_date", "2024-03-16"), {"service_id": "S0000"}, False),
    ("SERVICE_NO_FOLLOWUP", "hazards, 61 days", both(during_2025, S("service_date", "2025-04-30"), S("report_date", "2025-05-01"), S("followup_date", "")), {"service_id": "S0000"}, True),
    ("SERVICE_NO_FOLLOWUP", "hazards, 60 days", both(during_2025, S("service_date", "2025-05-01"), S("report_date", "2025-05-01"), S("followup_date", "")), {"service_id": "S0000"}, False),
    ("SERVICE_NO_FOLLOWUP", "no hazards", both(S("followup_date", ""), S("hazards_found", 0), S("hazards_rectified", 0)), {"service_id": "S0000"}, False),
    ("SERVICE_HAZARDS_UNRECTIFIED", "1 of 2", S("hazards_rectified", 1), {"service_id": "S0000"}, True),
    ("SERVICE_HAZARDS_UNRECTIFIED", "2 of 2", S("hazards_rectified", 2), {"service_id": "S0000"}, False),
    ("SERVICE_HAZARDS_UNRECTIFIED", "no follow-up yet", both(S("hazards_rectified", 1), S("followup_date", "")), {"service_id": "S0000"}, False),
    ("SERVICE_NOT_SIGNED", "unsigned", S("enterprise_signed", "否"), {"service_id": "S0000"}, True),
    ("SERVICE_NOT_SIGNED", "signed", S("enterprise_signed", "Y"), {"service_id": "S0000"}, False),
    ("SERVICE_NO_EVIDENCE", "inspection without photo", both(S("photo_count", 0), S("photo_hashes", "")), {"service_id": "S0000"}, True),
    ("SERVICE_NO_EVIDENCE", "training without photo", both(S("photo_count", 0, "S0001"), S("photo_hashes", "", "S0001")), {"service_id": "S0001"}, False),
    ("SERVICE_UNQUALIFIED_STAFF", "only unqualified", S("staff_ids", "TX1;TX2"), {"service_id": "S0000"}, True),
    ("SERVICE_UNQUALIFIED_STAFF", "one qualified", S("staff_ids", "TX1;T000"), {"service_id": "S0000"}, False),
    ("SERVICE_UNKNOWN_STAFF", "unknown id", S("staff_ids", "T000;GHOST"), {"service_id": "S0000"}, True),
    ("SERVICE_UNKNOWN_STAFF", "known ids", S("staff_ids", "T000;TX1"), {"service_id": "S0000"}, False),
    ("INTEGRITY_STAFF_OVERLAP", "13 hours at two enterprises", overlap((7, 6)), {"service_id": "S0010"}, True),
    ("INTEGRITY_STAFF_OVERLAP", "12 hours at two enterprises", overlap((6, 6)), {"service_id": "S0010"}, False),
    ("INTEGRITY_STAFF_OVERLAP", "14 hours at one enterprise", overlap((7, 7), same_enterprise=True), {"service_id": "S0001"}, False),
    ("INTEGRITY_STAFF_OVERLAP", "301 km apart", overlap((2, 2), dlat=km(301)), {"service_id": "S0000"}, True),
    ("INTEGRITY_STAFF_OVERLAP", "299 km apart", overlap((2, 2), dlat=km(299)), {"service_id": "S0000"}, False),
    ("INTEGRITY_DUPLICATE_PHOTO", "photo at another enterprise", S("photo_hashes", "h0000", "S0010"), {"service_id": "S0000"}, True),
    ("INTEGRITY_DUPLICATE_PHOTO", "photo reused at the same enterprise", S("photo_hashes", "h0000", "S0001"), {"service_id": "S0000"}, False),
    ("INTEGRITY_DUPLICATE_REPORT", "5 enterprises", same_text(5), {"service_id": "S0000"}, True),
    ("INTEGRITY_DUPLICATE_REPORT", "4 enterprises", same_text(4), {"service_id": "S0000"}, False),
    ("INTEGRITY_DUPLICATE_REPORT", "short text at 6", same_text(6, "情况良好无隐患情况良好无隐患"), {"service_id": "S0000"}, False),
    ("INTEGRITY_CHECKIN_FAR", "5.1 km", S("checkin_lat", 38.0 + km(5.1)), {"service_id": "S0000"}, True),
    ("INTEGRITY_CHECKIN_FAR", "4.9 km", S("checkin_lat", 38.0 + km(4.9)), {"service_id": "S0000"}, False),
    ("MARKET_BROKER_EXCLUSIVE", "80% of 30", brokers(30, 24), {"region_code": "640200"}, True),
    ("MARKET_BROKER_EXCLUSIVE", "79% of 33", brokers(33, 26), {"region_code": "640200"}, False),
    ("MARKET_BROKER_EXCLUSIVE", "all of 29", brokers(29, 29), {"region_code": "640200"}, False),
    ("MARKET_COINSURANCE_EXCLUSIVE", "32 of 40", group(32), {"region_code": "640200"}, True),
    ("MARKET_COINSURANCE_EXCLUSIVE", "31 of 40", group(31), {"region_code": "640200"}, False),
    ("MARKET_CONCENTRATION", "one insurer", P("insurer_id", "I0", slice(None)), {"region_code": "640200"}, True),
    ("MARKET_CONCENTRATION", "five insurers", P("insurer_id", "I0", 1), {"region_code": "640200"}, False),
    ("INSURER_BLACKLIST_CANDIDATE", "spend 49%", spend(0.49, policies=range(0, N, 5)), {"insurer_id": "I0"}, True),
    ("INSURER_BLACKLIST_CANDIDATE", "spend 50%", spend(0.5001, policies=range(0, N, 5)), {"insurer_id": "I0"}, False),
    ("INSURER_BLACKLIST_CANDIDATE", "integrity on 1 of 8 policies", S("photo_hashes", "h0000", "S0050"), {"insurer_id": "I0"}, True),
]


CASES += CLAIM_CASES


@pytest.mark.parametrize("code,label,mutate,key,fires", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_rule_case(tmp_path, code, label, mutate, key, fires):
    assert code in {r.code for r in RULEBOOK.rules}
    result = run(tmp_path, mutate)
    assert fired(result, code, **key) is fires


def test_catalogue_is_fully_covered():
    codes = {r.code for r in RULEBOOK.rules}
    tested = {c[0] for c in CASES}
    assert codes == tested
    for code in codes:
        assert {True, False} <= {c[4] for c in CASES if c[0] == code}, code


def test_clean_base_has_no_findings(tmp_path):
    result = run(tmp_path, lambda p, s, st: None)
    assert result.findings.empty, result.findings[["rule_code", "policy_id", "observed"]]


def test_without_staff_table_staff_rules_are_not_checkable(tmp_path):
    result = run(tmp_path, S("staff_ids", "GHOST"), staff=False)
    assert not fired(result, "SERVICE_UNKNOWN_STAFF")
    nc = {r["rule_code"]: r for r in result.not_checkable}
    assert set(nc) == {"SERVICE_UNKNOWN_STAFF", "SERVICE_UNQUALIFIED_STAFF"}
    assert "staff" in nc["SERVICE_UNKNOWN_STAFF"]["reason_zh"]


def test_finding_states_observed_expected_and_clause(tmp_path):
    result = run(tmp_path, both(P("start_date", "2025-04-01"), P("end_date", "2026-03-31"), P("death_limit_per_person", 300000)))
    f = result.findings[result.findings["rule_code"] == "LIMIT_DEATH_BELOW_FLOOR"].iloc[0]
    assert f["observed"] == "300000" and f["expected"] == "400000"
    assert f["message_zh"] == ("每人死亡伤残责任限额 300000 元，低于 2025-03-29 起施行的最低 400000 元"
                               "（办法2025 第十五条：每人死亡伤残责任限额不得低于 40 万元）")
    assert "400000" in f["message_en"] and f["severity"] == "critical" and f["scope"] == "policy"
