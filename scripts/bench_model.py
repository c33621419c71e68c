"""Benchmark the model stage: features and prediction for every policy, SHAP for the flagged share.

    python scripts/bench_model.py [--policies 1000000] [--flagged 0.10] [--repeat 3] [--data DIR]

The submission is loaded and the rulebook run once (measured elsewhere); then features,
prediction and SHAP explanations are timed --repeat times. Target: <= 90 s at 1,000,000.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_intake import data_args, ensure_data  # noqa: E402

from scoring.model.explain import explain  # noqa: E402
from scoring.model.features import build_features, rule_roles  # noqa: E402
from scoring.submission.intake import latest_date, load_submission  # noqa: E402
from scoring.model.estimator import load_model  # noqa: E402
from scoring.jobs import default_model_dir  # noqa: E402
from scoring.rules.book import load_rulebook  # noqa: E402
from scoring.rules.run import run_rules  # noqa: E402


def main() -> None:
    ap = data_args(argparse.ArgumentParser())
    ap.add_argument("--flagged", type=float, default=0.10)
    a = ap.parse_args()
    sub = load_submission(ensure_data(a.data, a.policies, a.service_scale))
    as_of = latest_date(sub.tables)
    rulebook = load_rulebook()
    findings = run_rules(sub, rulebook, as_of=as_of).findings
    text_codes = rule_roles(rulebook)  # as prepare passes them: the timed step reads no rulebook
    model = load_model(default_model_dir())
    rows = {"features": [], "predict": [], "shap": []}
    for _ in range(a.repeat):
        t = time.perf_counter()
        X = build_features(sub, as_of, findings, text_codes)
        rows["features"].append(time.perf_counter() - t)
        t = time.perf_counter()
        p = model.predict(X)
        rows["predict"].append(time.perf_counter() - t)
        k = int(a.flagged * len(X))
        top = X.loc[p["p_missing"].sort_values(ascending=False).index[:k]]
        t = time.perf_counter()
        explain(model, top, "missing")
        rows["shap"].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"{len(X):,} policies, SHAP for {k:,} ({a.flagged:.0%}), {a.repeat} runs, peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB (includes the loaded submission)")
    for name, v in med.items():
        print(f"  {name:<10} median {v:6.1f} s  (runs {', '.join(f'{x:.1f}' for x in rows[name])})")
    print(f"  total      median {sum(med.values()):6.1f} s  (target <= 90 s)")


if __name__ == "__main__":
    main()
