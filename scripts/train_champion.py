"""Train the shipped champion on a mixture of generated worlds and write it to models/champion.

    python scripts/train_champion.py [--worlds 1-8] [--policies 20000] [--fresh 101-104] [--out models/champion]

Each world (``datasets.synth.draw_world``) has its own market, service habits, paperwork,
fabrication patterns, record coverage and inspection targeting, drawn from the ranges in
datasets/README.md. Before the champion is trained on all of them, every world is held out
once: a model trained on the others scores it alone (scripts/transfer.py); the minimum and
median ROC AUC and average precision per class go into the model card, with the figures on
``--fresh`` worlds that no model of the run saw. Same arguments -> same model on any machine.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from scoring.model.estimator import save_model  # noqa: E402
from scoring.rules.book import load_rulebook  # noqa: E402
from transfer import leave_one_world_out, seeds  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worlds", default="1-8")
    ap.add_argument("--policies", type=int, default=20_000)
    ap.add_argument("--fresh", default="101-104")
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "champion")
    a = ap.parse_args()
    keep: dict = {}
    world_seeds = seeds(a.worlds)
    res = leave_one_world_out(world_seeds, a.policies, seeds(a.fresh) if a.fresh else [], keep=keep)
    t = keep["training"]
    name = f"champion-{len(world_seeds)}worlds-{a.policies // 1000}k"
    preps = keep["preps"].values()
    save_model(t.model, a.out, name=name, extra={
        **load_rulebook().identity(),
        "training_data": "synthetic",
        "training_source": f"datasets/synth.py draw_world(seed, {a.policies}) for seeds {world_seeds}",
        "input_sha256": [dict(sorted((k, h) for k, (_, h) in p.sub.files.items())) for p in preps],
        "worlds": res,
    })
    print(name, res["summary"], res.get("fresh_summary"))


if __name__ == "__main__":
    main()
