"""Replay several years of inspections through the registry and print what each retrain decided.

    python scripts/retrain_history.py [--policies 20000] [--seed 77] [--registry DIR]

One generated market; in year Y the regulator holds the inspection outcomes of policies that
started up to Y. Each year ``retrain`` trains a challenger on the earlier years, compares it
with the champion on year Y and records its decision. Prints a table of the champion's
metrics year by year.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datasets.synth import Config, generate, write_submission  # noqa: E402
from scoring.jobs import run_retrain  # noqa: E402
from scoring.model.registry import open_registry  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policies", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=77)
    ap.add_argument("--registry", type=Path, default=None)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    full = write_submission(generate(Config(n_policies=a.policies, seed=a.seed)), tmp / "full")
    registry = a.registry or tmp / "registry"
    insp = pd.read_csv(full / "inspections.csv", dtype=str, keep_default_na=False)
    year = insp["policy_id"].str[1:5].astype(int)
    rows = []
    for y in sorted(year.unique())[1:]:
        sub = tmp / f"upto{y}"
        shutil.copytree(full, sub)
        insp[year <= y].to_csv(sub / "inspections.csv", index=False)
        d = run_retrain([sub], registry)
        m = d.model_dump().get("metrics", {})
        champ = m.get("champion") or {}
        chal = m.get("challenger") or {}
        ev = d.model_dump().get("evaluated_on", {})
        rows.append({"year": y, "labels": int((year <= y).sum()), "eval slice": ev.get("slice"), "eval n": ev.get("n"),
                     "challenger AP missing": chal.get("missing", {}).get("average_precision"),
                     "champion AP missing": champ.get("missing", {}).get("average_precision"),
                     "challenger AP poor": chal.get("poor_quality", {}).get("average_precision"),
                     "champion AP poor": champ.get("poor_quality", {}).get("average_precision"),
                     "decision": d.action, "champion after": d.champion_after, "reason": d.reason_en})
    with pd.option_context("display.width", 250, "display.max_colwidth", 90):
        print(pd.DataFrame(rows).to_string(index=False))
    print("champion:", open_registry(registry).champion)


if __name__ == "__main__":
    main()
