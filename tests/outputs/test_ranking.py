"""The per-policy texts and the report's counts, built through codes and in slices, against the
plain pandas forms they replace."""
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from scoring.arrays import codes_of, positions_in
from scoring.jobs import POLICY_SCORE_COLUMNS, _policy_scores, prepare
from scoring.outputs.ranking import aligned, policy_findings, rule_reasons
from scoring.outputs.report import CLAUSE_KEYS, clause_counts
from tests.helpers import write


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return prepare(write(tmp_path_factory.mktemp("sub"), n=300, seed=11))


def _chunked(values, pieces=3):
    """A column of Arrow strings in several chunks, as a memory-mapped findings column is."""
    arr = pa.array(values, pa.string())
    cuts = np.linspace(0, len(arr), pieces + 1).astype(int)
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([arr.slice(a, b - a) for a, b in zip(cuts[:-1], cuts[1:])])))


def test_codes_and_positions_match_pandas():
    values = ["b", None, "a", "b", "c", None, "a", "d"]
    codes, uniques = codes_of(_chunked(values))
    expected_codes, expected_uniques = pd.factorize(pd.Series(values, dtype=object))
    assert codes.tolist() == expected_codes.tolist()
    assert uniques.to_pylist() == list(expected_uniques)
    index = pd.Index(["c", "a", "x"])
    assert positions_in(_chunked(values), index).tolist() == index.get_indexer(pd.Series(values, dtype=object)).tolist()
    assert codes_of(pd.Series([], dtype="string[pyarrow]"))[0].tolist() == []


def test_rule_reasons_in_slices_equal_read_at_once(prepared):
    findings = prepared.rules.findings
    pf = policy_findings(findings)
    whole = rule_reasons(pf, findings, rows=10 ** 9)
    assert len(whole[0]) > 50 and any("；" in t for t in whole[1].to_pylist())  # policies with two reasons
    for rows in (1, 7, 1000):
        ids, texts = rule_reasons(pf, findings, rows=rows)
        assert ids.equals(whole[0]) and texts.equals(whole[1])
    empty = rule_reasons(pf.slice(0, 0), findings)
    assert len(empty[0]) == 0 and len(empty[1]) == 0


def test_clause_counts_equal_pandas_group_by(prepared):
    f = prepared.rules.findings.copy()
    # a missing clause and a missing policy id: pandas leaves the first group out and does not count the second
    f.loc[f.index[3], "clause"] = None
    on_policy = np.flatnonzero(f["policy_id"].notna().to_numpy())
    f.loc[f.index[on_policy[5]], "policy_id"] = None
    f = f.astype({c: "string[pyarrow]" for c in (*CLAUSE_KEYS, "policy_id")})
    expected = (f.groupby(list(CLAUSE_KEYS), sort=False).agg(n=("rule_code", "size"), policies=("policy_id", "nunique")).reset_index()
                .sort_values(["severity", "n"], key=lambda c: c.map({"critical": 0, "major": 1, "minor": 2}) if c.name == "severity" else -c))
    policies = pd.Index(prepared.sub["policies"]["policy_id"])
    got = clause_counts(f, positions_in(f["policy_id"], policies))
    assert got.to_dict("records") == expected.to_dict("records")
    assert len(got) > 10 and (got["policies"] < got["n"]).any()


def test_policy_scores_equal_the_joined_table(prepared):
    """Built column by column in priority order, from policies in any order, as the join, reset
    and sort it replaces gave it."""
    rng = np.random.default_rng(0)
    policies = prepared.sub["policies"]
    n = len(policies)
    scored = pd.DataFrame({"p_missing": rng.random(n), "p_poor_quality": rng.random(n), "priority_score": rng.random(n) * 2,
                           "priority": rng.permutation(n) + 1, "flag": rng.choice(["", "missing", "poor_quality"], n),
                           "rule_codes": rng.choice(["", "A;B", "C"], n)}, index=pd.Index(policies["policy_id"]).rename("policy_id"))
    reasons = pd.Series(rng.choice(["", "规则：甲", "模型：乙"], n), index=scored.index)
    shuffled = policies.iloc[rng.permutation(n)].reset_index(drop=True)
    from scoring.schema import CLASS_ZH
    from scoring.regions import region_name
    from scoring.schema import INDUSTRIES

    meta = policies.set_index("policy_id")[["insurer_id", "region_code", "industry"]]
    table = scored.assign(reasons=reasons).join(meta).reset_index().sort_values(["priority"], kind="stable")
    for c in ("p_missing", "p_poor_quality", "priority_score"):
        table[c] = table[c].round(6)
    table["industry_zh"] = table["industry"].map(INDUSTRIES).fillna(table["industry"])
    table["region_name"] = table["region_code"].astype(str).map(region_name)
    table["flag_zh"] = table["flag"].map(CLASS_ZH).fillna("")
    expected = table[POLICY_SCORE_COLUMNS].reset_index(drop=True)
    for pols in (policies, shuffled):
        got = _policy_scores(scored, pols, reasons)
        pd.testing.assert_frame_equal(got.astype(str), expected.astype(str))
        assert got["priority"].tolist() == list(range(1, n + 1))


def test_aligned_fills_policies_without_text():
    ids, texts = pa.array(["p2", "p9"]), pa.array(["x", "y"])
    assert aligned(pd.Index(["p1", "p2", "p3"]), ids, texts).to_pylist() == ["", "x", ""]


def _scores(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"p_missing": rng.uniform(0.2, 0.9, n), "p_poor_quality": rng.uniform(0, 0.3, n)},
                        index=pd.Index([f"P{i}" for i in range(n)], name="policy_id"))


NO_FINDINGS = pd.DataFrame({"policy_id": pd.Series([], dtype="string"), "severity": pd.Series([], dtype="string"),
                            "scope": pd.Series([], dtype="string"), "rule_code": pd.Series([], dtype="string")})
TH = {"missing": 0.5, "poor_quality": 0.5}


def test_a_decisive_policy_comes_first_and_is_flagged_missing_whatever_its_scores():
    from scoring.outputs.ranking import rank

    s = _scores()
    s.loc["P3", ["p_missing", "p_poor_quality"]] = [0.01, 0.0]  # the model thinks it is fine
    decisive = s.index == "P3"
    r = rank(s, NO_FINDINGS, {}, TH, capacity=1, decisive=decisive)
    assert r.loc["P3", "priority"] == 1 and r.loc["P3", "flag"] == "missing"
    assert (r.drop("P3")["flag"] == "").all()  # capacity 1: nobody else


def test_the_index_counts_only_when_the_model_weight_is_lowered():
    from scoring.outputs.ranking import rank

    s = _scores()
    index = pd.Series(np.linspace(1, 0, len(s)), index=s.index)  # P0 worst by the evidence
    plain = rank(s, NO_FINDINGS, {}, TH, capacity=2)
    same = rank(s, NO_FINDINGS, {}, TH, capacity=2, index=index)
    pd.testing.assert_frame_equal(plain, same)
    only_index = rank(s, NO_FINDINGS, {}, TH, capacity=2, model_weight=0.0, index=index)
    assert only_index["priority"].tolist() == list(range(1, len(s) + 1))


def test_with_findings_marks_the_policies_of_the_codes_given():
    from scoring.outputs.ranking import with_findings

    f = pd.DataFrame({"policy_id": ["P1", "P2", None], "rule_code": ["SERVICE_NONE", "OTHER", "SERVICE_NONE"]})
    got = with_findings(pd.Index(["P0", "P1", "P2"]), f, {"SERVICE_NONE"})
    assert got.tolist() == [False, True, False]
    assert not with_findings(pd.Index(["P1"]), f, set()).any()


def test_a_warned_ranking_can_leave_the_findings_out():
    """finding_weight 0 (the shipped rulebook's, when warned): a critical finding moves no policy."""
    from scoring.outputs.ranking import rank

    s = _scores()
    f = pd.DataFrame({"policy_id": pd.array(["P5"], dtype="string"), "severity": pd.array(["critical"], dtype="string"),
                      "scope": pd.array(["policy"], dtype="string"), "rule_code": pd.array(["X"], dtype="string")})
    index = pd.Series(np.linspace(0, 1, len(s)), index=s.index)
    base = rank(s, NO_FINDINGS, {"critical": 0.5}, TH, 2, model_weight=0.5, index=index, finding_weight=0.0)
    with_f = rank(s, f, {"critical": 0.5}, TH, 2, model_weight=0.5, index=index, finding_weight=0.0)
    assert base["priority"].tolist() == with_f["priority"].tolist()
    counted = rank(s, f, {"critical": 0.5}, TH, 2, model_weight=0.5, index=index, finding_weight=1.0)
    assert counted.loc["P5", "priority"] == 1
