"""Do the per-insurer intervals of scoring.sampling.estimate cover the true share as often as they say?

    python scripts/estimate_coverage.py [--world default|N|hN] [--policies 6000] [--rounds 200] [--json FILE]

One generated world is scored by the shipped champion. In each round every insurer's book is
sampled at random as ``scoring sample`` sizes it (95% / 5% / 0, hypergeometric), the sampled
policies are inspected by a perfect inspector (the generator's hidden quality), and both
estimators give a 95% interval for the insurer's share of missing service. Prints, per method,
how often the interval covered the true share (over rounds × insurers), the mean width, and the
mean absolute error.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datasets.synth import Config, draw_held_out, draw_world, generate, write_submission  # noqa: E402
from scoring import load_model  # noqa: E402
from scoring.jobs import default_model_dir, prepare  # noqa: E402
from scoring.sampling.estimate import difference_estimate, wilson_fpc  # noqa: E402
from scoring.sampling.size import sample_size  # noqa: E402


def world_config(name: str, n: int) -> Config:
    if name == "default":
        return Config(n_policies=n, seed=5)
    return draw_held_out(int(name[1:]), n) if name.startswith("h") else draw_world(int(name), n)


def simulate(scores: pd.DataFrame, truth: pd.Series, rounds: int, seed: int = 0) -> dict:
    """``scores``: policy_id, insurer_id, p_missing; ``truth``: 1 where service is missing."""
    rng = np.random.default_rng(seed)
    hits = {"random_arm": [], "model_assisted": []}
    width = {k: [] for k in hits}
    error = {k: [] for k in hits}
    groups = [(g["p_missing"].to_numpy(float), truth.loc[g["policy_id"]].to_numpy(int)) for _, g in scores.groupby("insurer_id")]
    sizes = [sample_size(0.95, 0.05, 0.0, population=len(p)) for p, _ in groups]
    for _ in range(rounds):
        for (p, y), n in zip(groups, sizes):
            share = y.mean()
            pick = rng.choice(len(p), size=n, replace=False)
            lo, hi = wilson_fpc(int(y[pick].sum()), n, len(p))
            est = y[pick].mean()
            for k, (e, a, b) in (("random_arm", (est, lo, hi)), ("model_assisted", difference_estimate(p, y[pick], p[pick]))):
                hits[k].append(a <= share <= b)
                width[k].append(b - a)
                error[k].append(abs(e - share))
    return {k: {"coverage": round(float(np.mean(hits[k])), 4), "mean_width": round(float(np.mean(width[k])), 4),
                "mean_abs_error": round(float(np.mean(error[k])), 4), "intervals": len(hits[k])} for k in hits}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", default="default")
    ap.add_argument("--policies", type=int, default=6000)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    w = generate(world_config(a.world, a.policies))
    with tempfile.TemporaryDirectory() as tmp:
        prep = prepare(write_submission(w, Path(tmp) / "s"))
    model = load_model(default_model_dir())
    p = model.predict(model.design(prep.features))
    pol = prep.sub["policies"].set_index("policy_id").loc[p.index]
    scores = pd.DataFrame({"policy_id": p.index, "insurer_id": pol["insurer_id"].to_numpy(), "p_missing": p["p_missing"].to_numpy()})
    truth = (w.hidden.set_index("policy_id")["quality"] == "missing").astype(int)
    out = simulate(scores, truth, a.rounds)
    print(json.dumps(out, indent=1))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
