import hashlib

import numpy as np
import pandas as pd
import pytest

from datasets.synth import Config, generate, write_submission
from scoring.schema import TABLES

from .helpers import world

CATALOGUE = """LIMIT_DEATH_BELOW_FLOOR LIMIT_STRUCTURE_INCONSISTENT COVERAGE_SCOPE_MISSING PREMIUM_INCONSISTENT
PREMIUM_CHARGED_TO_EMPLOYEES RATE_FACTOR_INCONSISTENT_WITH_RECORD RATE_FACTOR_OUT_OF_BAND RATE_OUTLIER
COMMISSION_ABOVE_CAP PREVENTION_FEE_ACCOUNT_IMPROPER PREVENTION_FEE_ABOVE_CAP PREVENTION_FEE_MISSING
PREVENTION_UNDERSPENT SERVICE_NONE SERVICE_TOO_FEW SERVICE_HAZARD_INSPECTION_MISSING SERVICE_OUTSIDE_PERIOD
SERVICE_REPORT_BEFORE_SERVICE SERVICE_FOLLOWUP_BEFORE_SERVICE SERVICE_NO_REPORT SERVICE_REPORT_LATE
SERVICE_NO_FOLLOWUP SERVICE_HAZARDS_UNRECTIFIED SERVICE_NOT_SIGNED SERVICE_NO_EVIDENCE SERVICE_UNQUALIFIED_STAFF
SERVICE_UNKNOWN_STAFF INTEGRITY_STAFF_OVERLAP INTEGRITY_DUPLICATE_PHOTO INTEGRITY_DUPLICATE_REPORT
INTEGRITY_CHECKIN_FAR MARKET_BROKER_EXCLUSIVE MARKET_COINSURANCE_EXCLUSIVE MARKET_CONCENTRATION
INSURER_BLACKLIST_CANDIDATE""".split()


def _digest(folder):
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def test_same_seed_same_files(tmp_path):
    a = write_submission(generate(Config(n_policies=300, seed=9)), tmp_path / "a")
    b = write_submission(generate(Config(n_policies=300, seed=9)), tmp_path / "b")
    c = write_submission(generate(Config(n_policies=300, seed=10)), tmp_path / "c")
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_submission_holds_only_contract_columns():
    w = world()
    for name, df in w.tables.items():
        assert list(df.columns) == [c.name for c in TABLES[name].columns]
    assert "quality" not in w.tables["policies"]
    assert set(w.hidden["quality"]) == {"adequate", "poor_quality", "missing"}


@pytest.fixture(scope="module")
def big():
    return world(3000, 1)


def test_every_catalogue_code_is_planted(big):
    assert set(CATALOGUE) <= set(big.truth["rule_code"])


def test_class_balance_follows_the_configured_rates(big):
    cfg = big.config
    p = big.tables["policies"]
    years = p["start_date"].dt.year.to_numpy()
    expected_missing = np.mean([cfg.missing_rate[int(y)] for y in years])
    q = big.hidden["quality"]
    assert abs((q == "missing").mean() - expected_missing) < 0.03
    assert abs((q == "poor_quality").mean() - cfg.poor_rate) < 0.06
    fab = big.hidden["fabricated"][q == "missing"].mean()
    assert 0.4 < fab < 0.8


def test_inspections_are_a_targeted_minority_with_a_random_slice(big):
    cfg = big.config
    p = big.tables["policies"]
    insp = big.tables["inspections"]
    eligible = (p["end_date"] <= np.datetime64(cfg.snapshot) - np.timedelta64(30, "D")).sum()
    share = len(insp) / eligible
    assert abs(share - (cfg.inspected_targeted + cfg.inspected_random)) < 0.02
    rand = (insp["selection"] == "random").mean()
    assert abs(rand - cfg.inspected_random / (cfg.inspected_targeted + cfg.inspected_random)) < 0.06
    # targeting works: targeted inspections find more missing service than random audits
    missing = insp["outcome"] == "missing"
    assert missing[insp["selection"] == "targeted"].mean() > missing[insp["selection"] == "random"].mean()
    assert insp["policy_id"].is_unique


def test_poor_service_often_has_tidy_paperwork(big):
    s = big.tables["services"].merge(big.hidden[["policy_id", "quality", "fabricated"]], on="policy_id")
    signed = s.groupby("quality")["enterprise_signed"].mean()
    assert signed["poor_quality"] > 0.85  # paperwork alone does not reveal poor service
    fab = s[s["fabricated"]]
    assert fab["enterprise_signed"].mean() > signed["adequate"]  # fabricated records look diligent


def test_markets_written_one_by_one_share_no_entity(tmp_path):
    """A submission too large to generate at once is written market by market: the first market
    is the world one config would give, and no id repeats across markets."""
    from datasets.synth import market_configs, write_markets

    configs = market_configs(2_500, 3, market=1_000)
    assert [c.n_policies for c in configs] == [1_000, 1_000, 500]
    out = write_markets(configs, tmp_path / "m")
    alone = generate(Config(n_policies=1_000, seed=3))
    keys = {"policies": "policy_id", "services": "service_id", "staff": "staff_id", "claims": "claim_id",
            "inspections": "inspection_id"}
    for name, key in keys.items():
        df = pd.read_csv(out / f"{name}.csv", dtype=str, keep_default_na=False)
        assert df[key].is_unique, name
        assert df[key].iloc[:len(alone.tables[name])].tolist() == alone.tables[name][key].astype(str).tolist(), name
    services = pd.read_csv(out / "services.csv", dtype=str, keep_default_na=False)
    assert services["policy_id"].isin(pd.read_csv(out / "policies.csv", dtype=str)["policy_id"]).all()
