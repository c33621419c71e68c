"""Train the shipped champion model on a generated submission and write it to models/champion.

    python scripts/train_champion.py [--policies 40000] [--seed 2025] [--out models/champion]

The training submission is generated (datasets/synth.py, same seed -> same data) into a
temporary folder, so the model can be rebuilt byte for byte on any machine.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datasets.synth import Config, generate, write_submission  # noqa: E402
from scoring.pipeline import run_train  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policies", type=int, default=40_000)
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "champion")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sub = write_submission(generate(Config(n_policies=a.policies, seed=a.seed)), Path(tmp) / "train")
        meta = run_train([sub], a.out, seed=0, name=f"champion-synth{a.policies // 1000}k-s{a.seed}",
                         source=f"datasets/synth.py Config(n_policies={a.policies}, seed={a.seed})")
    print(meta["version"], meta["validation"]["test_year"], meta["label_counts"])


if __name__ == "__main__":
    main()
