"""findings.csv says what was seen and what the rule requires, for every rule code, in words."""
import re
from pathlib import Path

import pytest

from scoring import load_submission
from scoring import load_rulebook
from scoring.rules.run import run_rules

SAMPLE = Path(__file__).resolve().parents[2] / "datasets" / "sample"
RULEBOOK = load_rulebook()
CODES = sorted({r.code for r in RULEBOOK.rules})


@pytest.fixture(scope="module")
def findings():
    return run_rules(load_submission(SAMPLE), RULEBOOK).findings


def test_every_rule_fires_on_the_sample(findings):
    assert set(CODES) <= set(findings["rule_code"])


@pytest.mark.parametrize("code", CODES)
def test_observed_and_expected_are_a_meaningful_pair(findings, code):
    f = findings[findings["rule_code"] == code]
    assert len(f)
    clauses = [r.clause for r in RULEBOOK.rules if r.code == code]
    for row in f.head(50).itertuples():
        assert row.observed and row.expected, (row.observed, row.expected)
        assert row.observed != row.expected, row.observed  # "seen 0, required 0" says nothing
        assert row.rule_name_zh and row.severity_zh in ("严重", "较重", "一般")
        en = row.message_en
        for clause in clauses:
            en = en.replace(clause, "")
        assert not re.search(r"[\u4e00-\u9fff]", en), en  # English words, Chinese only in the cited clause
        assert not re.search(r"\b[a-z]+_[a-z_]+\b", en), en  # no column or enum codes
