"""Every parameter a check kind declares is read: changing it changes the findings.

For each kind, a base rule and, for every declared parameter, a variant with only that
parameter changed. A kind that ignored a parameter (as ``item_missing`` once ignored ``item``)
gives the same findings for both and fails here; a parameter added without a variant fails
``test_every_declared_parameter_has_a_variant``.
"""

import numpy as np
import pandas as pd
import pytest

from datasets.plant import CASES as CASES_BY_KIND, STORIES
from scoring.rules.kinds import KINDS
from scoring import load_rulebook, load_submission
from scoring.rules.book import Rulebook
from scoring.rules.run import run_rules

from ..helpers import write

class Together(dict):
    """A variant that must change several parameters at once (a column and the values it holds)."""


# kind -> (scope, base params, {parameter: variant value}) ; "when_*" conditions are parameters too
CASES = {
    "column_vs_value": ("policy", {"column": "death_limit_per_person", "op": "lt", "value": 500000}, {
        "column": "medical_limit_per_person", "op": "ge", "value": 300000,
        "when_any": [["employees", "gt", 100]], "when_in": {"industry": ["construction"]}, "expected": "≥ 500000"}),
    "column_outside_band": ("policy", {"column": "rate_factor", "low": 0.9, "high": 1.1}, {
        "column": "commission_rate", "low": 0.7, "high": 1.5}),
    "column_equals": ("policy", {"column": "premium_charged_to_employees", "value": True}, {
        "column": "covers_employees", "value": False}),
    "column_in_set": ("policy", {"column": "prevention_fee_account", "values": ["government"]}, {
        "column": Together(column="premium_base_type", values=["payroll"]),
        "values": ["government", "government_designated"]}),
    "columns_all_true": ("policy", {"columns": {"covers_rescue": "救援", "covers_medical_rescue": "医疗救护"}}, {
        "columns": {"covers_appraisal_legal": "鉴定诉讼"}}),
    "column_vs_column": ("service", {"pairs": [["hazards_rectified", "lt", "hazards_found"]]}, {
        "pairs": [["photo_count", "lt", "hazards_found"]], "when_present": ["followup_date"]}),
    "product_mismatch": ("policy", {"column": "premium", "factors": ["premium_base", "base_rate", "rate_factor"],
                                    "tolerance": 0.01}, {
        "column": "prevention_fee", "factors": ["premium_base", "base_rate"], "tolerance": 5.0}),
    "ratio_vs_value": ("policy", {"numerator": "prevention_fee", "denominator": "premium", "op": "gt", "value": 0.2}, {
        "numerator": "commission_rate", "denominator": "rate_factor", "op": "lt", "value": 0.25}),
    "peer_outlier": ("policy", {"factors": ["base_rate", "rate_factor"], "group_by": ["industry", "premium_base_type"],
                                "z": 2.0, "min_peers": 10, "min_scale": 0.05}, {
        "factors": ["base_rate"], "group_by": ["premium_base_type"], "z": 1.0, "min_peers": 400, "min_scale": 0.5}),
    "no_services": ("policy", {"grace_days": 90}, {"grace_days": 10}),
    "service_count_below": ("policy", {"min_count": 2}, {"min_count": 5}),
    "item_missing": ("policy", {"item": "hazard_inspection", "industries": "high_risk"}, {
        "item": "risk_assessment", "industries": "all"}),
    "spend_below": ("policy", {"min_ratio": 0.5}, {"min_ratio": 0.9, "fee": "premium", "spend": "n_services"}),
    "date_outside_policy": ("service", {"column": "service_date"}, {"column": "followup_date"}),
    "date_before": ("service", {"column": "report_date", "reference": "service_date"}, {
        "column": "followup_date", "reference": "report_date"}),
    "missing_value": ("service", {"column": "report_date", "grace_days": 15}, {
        "column": "followup_date", "grace_days": 400, "when_any": [["hazards_found", "gt", 2]], "since": "end_date"}),
    "date_gap_above": ("service", {"start": "service_date", "end": "report_date", "max_days": 15}, {
        "start": "start_date", "end": "followup_date", "max_days": 60}),
    "staff_unqualified": ("service", {}, {}),
    "staff_unknown": ("service", {}, {}),
    "staff_overlap": ("service", {"max_hours": 12, "max_km": 300}, {"max_hours": 4, "max_km": 1}),
    "shared_photo": ("service", {}, {}),
    "duplicate_text": ("service", {"column": "report_summary", "min_chars": 20, "min_enterprises": 5}, {
        "column": "photo_hashes", "min_chars": 400, "min_enterprises": 2}),
    "checkin_distance": ("service", {"max_km": 5}, {
        "max_km": 50, "lat": "enterprise_lat", "lon": "enterprise_lon", "site_lat": "checkin_lat", "site_lon": "checkin_lon"}),
    "share_exclusive": ("region", {"column": "broker_id", "share": 0.5, "min_policies": 10, "among": "with_value"}, {
        "column": "coinsurance_group", "share": 0.2, "min_policies": 100, "among": "all"}),
    "hhi": ("region", {"hhi": 0.3, "min_policies": 10}, {"hhi": 0.6, "min_policies": 40}),
    "insurer_blacklist": ("insurer", {"share": 0.05, "min_ratio": 0.5, "prefix": "INTEGRITY_"}, {
        "share": 0.5, "min_ratio": 0.95, "prefix": "SERVICE_"}),
    # claims: the test world's cells are small, so the base rule asks for little evidence
    "loss_ratio": ("insurer", {"min_lr": 0.5, "min_policies": 3, "alpha": 0.99}, {
        "min_lr": 0.05, "max_lr": Together(min_lr=None, max_lr=0.5), "min_policies": 40, "alpha": 0.01}),
    "accident_history_understated": ("policy", {"window_days": 365}, {"window_days": 30}),
    "claim_days": ("policy", {"status": "paid", "max_days": 30}, {"status": "open", "max_days": 45}),
}


@pytest.fixture(scope="module")
def sub(tmp_path_factory):
    return load_submission(write(tmp_path_factory.mktemp("kinds"), n=1200, seed=8))


def _rule(kind: str, scope: str, params: dict, code: str = "T_RULE") -> dict:
    return {"code": code, "severity": "major", "scope": scope, "kind": kind, "clause": "测试条款",
            "effective_from": "2000-01-01", "params": params, "message_zh": "{observed}", "message_en": "{observed}"}


def _fired(sub, kind: str, scope: str, params: dict) -> set:
    rules = [_rule(kind, scope, params)]
    if kind == "insurer_blacklist":  # it reads the other findings: give it some of each prefix
        rules += [_rule("missing_value", "service", CASES["missing_value"][1], "INTEGRITY_NO_REPORT"),
                  _rule("column_vs_column", "service", CASES["column_vs_column"][1], "SERVICE_UNRECTIFIED")]
    f = run_rules(sub, Rulebook(version="t", rules=rules)).findings
    f = f[f["rule_code"] == "T_RULE"]
    return set(zip(f["policy_id"].fillna(""), f["service_id"].fillna(""), f["region_code"].fillna(""),
                   f["insurer_id"].fillna(""), f["observed"].fillna(""), f["expected"].fillna("")))


def test_every_declared_parameter_has_a_variant():
    assert set(CASES) == set(KINDS)
    for name, k in KINDS.items():
        scope, base, variants = CASES[name]
        assert scope in k.scopes
        assert set(variants) == set(k.params.model_fields), name


@pytest.mark.parametrize("kind", sorted(CASES))
def test_base_rule_fires(sub, kind):
    scope, base, _ = CASES[kind]
    assert _fired(sub, kind, scope, base), f"{kind} does not fire on the test world: its variants would prove nothing"


@pytest.mark.parametrize("kind, param", [(k, p) for k, (_, _, v) in sorted(CASES.items()) for p in sorted(v)])
def test_changing_a_parameter_changes_the_findings(sub, kind, param):
    scope, base, variants = CASES[kind]
    v = variants[param]
    changed = {**base, **v} if isinstance(v, Together) else {**base, param: v}
    assert _fired(sub, kind, scope, changed) != _fired(sub, kind, scope, base)


def test_item_missing_counts_the_item_it_names(sub):
    """A risk-assessment rule fires on exactly the high-risk policies with an ended period, some
    services and no risk-assessment service (not on those without a hazard inspection)."""
    from scoring.schema import HIGH_RISK_INDUSTRIES

    fired = {p for p, *_ in _fired(sub, "item_missing", "policy", {"item": "risk_assessment", "industries": "high_risk"})}
    pol, svc = sub["policies"], sub["services"]
    as_of = np.datetime64(pd.Timestamp(max(pol["start_date"].max(), svc["service_date"].max())).date(), "s")
    has_ra = set(svc.loc[svc["service_item"] == "risk_assessment", "policy_id"])
    with_services = set(svc["policy_id"])
    expected = set(pol.loc[pol["industry"].isin(HIGH_RISK_INDUSTRIES) & (pol["end_date"] < as_of), "policy_id"])
    expected = {p for p in expected if p in with_services and p not in has_ra}
    assert fired == expected and len(fired) > 0
    no_hi = {p for p, *_ in _fired(sub, "item_missing", "policy", {"item": "hazard_inspection", "industries": "high_risk"})}
    assert fired != no_hi


def test_fishery_is_high_risk(sub):
    """办法2025 Art. 2 and 办法2017 Art. 6 name 渔业生产 among the high-risk fields: the shipped
    hazard-inspection rule reaches fishing enterprises."""
    from scoring import load_rulebook
    from scoring.schema import HIGH_RISK_INDUSTRIES

    assert set(HIGH_RISK_INDUSTRIES) == {"coal_mining", "non_coal_mining", "hazardous_chemicals", "fireworks",
                                         "transportation", "construction", "civil_explosives", "metallurgy", "fishery"}
    f = run_rules(sub, load_rulebook()).findings
    fired = set(f.loc[f["rule_code"] == "SERVICE_HAZARD_INSPECTION_MISSING", "policy_id"])
    fishing = set(sub["policies"].loc[sub["policies"]["industry"] == "fishery", "policy_id"])
    assert fired & fishing


# ---------------------------------------------------------------- the generator plants by kind

def _added_rulebook(tmp_path, rules: list[dict]):
    import yaml

    from importlib import resources

    data = yaml.safe_load(resources.files("scoring.rules").joinpath("rulebook.yaml").read_text("utf-8"))
    data["rules"] += rules
    path = tmp_path / "rulebook.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _found(findings, code):
    f = findings[findings["rule_code"] == code]
    return set(zip(f["policy_id"].fillna(""), f["service_id"].fillna("")))


def _told(truth, code):
    t = truth[truth["rule_code"] == code]
    return set(zip(t["policy_id"].fillna(""), t["service_id"].fillna("")))


PLANTED = sorted(k for k, c in CASES_BY_KIND.items() if c.plant is not None)


def test_every_kind_has_a_case_or_a_story():
    assert set(CASES_BY_KIND) | set(STORIES) == set(KINDS)
    assert not set(CASES_BY_KIND) & set(STORIES)


def test_a_rule_of_each_plantable_kind_added_to_the_rulebook_alone_is_planted_and_found(tmp_path):
    """Each kind's base case from CASES, added under a new code, is planted by the generator on
    rows of its own, and the checks find exactly the rows the generator says break it."""
    from datasets.synth import Config, generate, write_submission

    rules = [_rule(kind, CASES[kind][0], CASES[kind][1], code=f"T_{kind.upper()}") for kind in PLANTED]
    path = _added_rulebook(tmp_path, rules)
    before = generate(Config(n_policies=1200, seed=8))
    w = generate(Config(n_policies=1200, seed=8, rulebook=str(path)))
    assert w.untold == ()
    findings = run_rules(load_submission(write_submission(w, tmp_path / "s")), load_rulebook(path)).findings
    for kind in PLANTED:
        code = f"T_{kind.upper()}"
        told, found = _told(w.truth, code), _found(findings, code)
        assert found == told, (kind, sorted(found - told)[:3], sorted(told - found)[:3])
    # planted: each added rule breaks on rows where it did not before
    for kind in PLANTED:
        rb = Rulebook(version="t", rules=[_rule(kind, CASES[kind][0], CASES[kind][1])])
        natural = _found(run_rules(load_submission(write_submission(before, tmp_path / f"b-{kind}")), rb).findings, "T_RULE")
        assert _told(w.truth, f"T_{kind.upper()}") - natural, f"{kind}: nothing planted"


def test_a_new_floor_in_the_rulebook_alone_reaches_the_truth_exactly(tmp_path):
    """A rule a province might add (a medical-expense floor per person), of an existing kind:
    the generator plants it, and every code's findings equal the generator's truth."""
    from datasets.synth import Config, generate, write_submission

    rule = {**_rule("column_vs_value", "policy", {"column": "medical_limit_per_person", "op": "lt", "value": 20000},
                    code="LIMIT_MEDICAL_BELOW_FLOOR"), "effective_from": "2025-03-29"}
    path = _added_rulebook(tmp_path, [rule])
    w = generate(Config(n_policies=1500, seed=21, rulebook=str(path)))
    findings = run_rules(load_submission(write_submission(w, tmp_path / "s")), load_rulebook(path)).findings
    codes = set(w.truth["rule_code"])
    assert "LIMIT_MEDICAL_BELOW_FLOOR" in codes and codes == set(findings["rule_code"])
    for code in sorted(codes):
        assert _found(findings, code) == _told(w.truth, code), code
    planted = w.truth[w.truth["rule_code"] == "LIMIT_MEDICAL_BELOW_FLOOR"]["policy_id"]
    starts = w.tables["policies"].set_index("policy_id").loc[planted, "start_date"]
    assert (starts >= pd.Timestamp("2025-03-29")).all()  # planted only where the rule is in force


def test_a_rule_of_a_story_kind_is_untold_not_guessed(tmp_path):
    from datasets.synth import Config, generate

    rule = _rule("checkin_distance", "service", {"max_km": 50})
    rule["kind"] = "shared_photo"
    rule["params"] = {}
    w = generate(Config(n_policies=600, seed=3, rulebook=str(_added_rulebook(tmp_path, [rule]))))
    assert w.untold == ("T_RULE",) and "T_RULE" not in set(w.truth["rule_code"])
