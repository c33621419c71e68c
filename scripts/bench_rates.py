"""What rate adequacy adds to a run: the loss-experience cells and the claims rules on N policies.

    python scripts/bench_rates.py [--policies 1000000] [--runs 3]

Policies and claims are drawn directly as validated tables (the generator would take minutes at
a million policies): 12 insurers, 10 industries, 16 provinces, 5 policy years, accidents at the
generator's rates (4-8% a policy-year). Prints the median of ``--runs`` runs of the cells
(``scoring.rules.rates.rate_cells``) and of the five claims rules through ``run_rules``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scoring.submission.intake import Submission, TableCounts  # noqa: E402
from scoring.rules.rates import rate_cells  # noqa: E402
from scoring.rules.book import Rulebook, load_rulebook  # noqa: E402
from scoring.rules.run import run_rules  # noqa: E402
from scoring.schema import INDUSTRIES, TABLES  # noqa: E402

PROVINCES = ["11", "13", "14", "15", "32", "33", "37", "41", "42", "44", "51", "52", "61", "62", "64", "65"]


def tables(n: int, seed: int = 0) -> Submission:
    rng = np.random.default_rng(seed)
    start = np.datetime64("2021-01-01") + rng.integers(0, 5 * 365, n).astype("timedelta64[D]")
    policies = pd.DataFrame({
        "policy_id": [f"P{i:09d}" for i in range(n)],
        "insurer_id": np.array([f"INS{i:02d}" for i in range(12)], dtype=object)[rng.integers(0, 12, n)],
        "enterprise_id": [f"E{i:09d}" for i in rng.integers(0, n // 2, n)],
        "region_code": (np.array(PROVINCES, dtype=object)[rng.integers(0, 16, n)] + "0100"),
        "industry": np.array(list(INDUSTRIES), dtype=object)[rng.integers(0, 10, n)],
        "start_date": start.astype("datetime64[s]"),
        "end_date": (start + np.timedelta64(364, "D")).astype("datetime64[s]"),
        "premium": rng.lognormal(10, 0.8, n), "prevention_fee": 0,
        "accidents_prev_year": rng.poisson(0.05, n), "deaths_prev_year": 0,
    })
    policies["prevention_fee"] = policies["premium"] * 0.15
    k = rng.poisson(0.06, n)
    pol = np.repeat(np.arange(n), k)
    acc = start[pol] + rng.integers(0, 365, len(pol)).astype("timedelta64[D]")
    report = acc + rng.integers(0, 10, len(pol)).astype("timedelta64[D]")
    closed = report + rng.integers(5, 120, len(pol)).astype("timedelta64[D]")
    claims = pd.DataFrame({
        "claim_id": [f"C{i:09d}" for i in range(len(pol))], "policy_id": policies["policy_id"].to_numpy()[pol],
        "accident_date": acc.astype("datetime64[s]"), "report_date": report.astype("datetime64[s]"),
        "deaths": rng.binomial(1, 0.3, len(pol)), "injuries": rng.poisson(1.2, len(pol)),
        "status": np.where(closed > np.datetime64("2025-12-31"), "open", "paid").astype(object),
        "paid_amount": rng.lognormal(11, 1, len(pol)), "reserve_amount": 0.0,
        "closed_date": closed.astype("datetime64[s]"),
    })
    full = {}
    for name, df in (("policies", policies), ("claims", claims)):
        cols = [c.name for c in TABLES[name].columns]
        full[name] = df.reindex(columns=cols)
    for name in ("services", "staff", "inspections"):
        full[name] = pd.DataFrame({c.name: pd.Series(dtype=object) for c in TABLES[name].columns})
    full["services"]["cost"] = pd.Series(dtype=float)
    full["services"]["policy_id"] = pd.Series(dtype="str")
    full["services"]["service_date"] = pd.Series(dtype="datetime64[s]")
    full["inspections"]["inspection_date"] = pd.Series(dtype="datetime64[s]")
    counts = {k: TableCounts(len(v), 0) for k, v in full.items()}
    return Submission("bench", full, frozenset({"policies", "services", "claims"}), pd.DataFrame(), counts, {}, {})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policies", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    sub = tables(a.policies)
    as_of = np.datetime64("2025-12-31")
    rules = Rulebook(version="bench", rules=[r for r in load_rulebook().rules if r.kind in
                                              ("loss_ratio", "accident_history_understated", "claim_days")])
    cells_t, rules_t = [], []
    for _ in range(a.runs):
        t = time.perf_counter()
        cells = rate_cells(sub["policies"], sub["claims"], as_of)
        cells_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        found = run_rules(sub, rules, as_of).findings
        rules_t.append(time.perf_counter() - t)
    print(f"{a.policies:,} policies, {len(sub['claims']):,} claims, {len(cells):,} cells, {len(found):,} findings")
    print(f"rate cells: median {statistics.median(cells_t):.2f} s; claims rules incl. cells: median {statistics.median(rules_t):.2f} s "
          f"(runs: {', '.join(f'{x:.2f}' for x in rules_t)})")


if __name__ == "__main__":
    main()
