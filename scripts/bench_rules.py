"""Benchmark the full rulebook on a large generated submission.

    python scripts/bench_rules.py [--policies 1000000] [--service-scale 1.12] [--repeat 3] [--data DIR]

Loads the submission once (intake is measured by bench_intake.py), then runs every rule
--repeat times and prints the median seconds, findings per rule family and peak RSS of the
process (which includes the loaded submission).
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

from bench_intake import MemoryWatch, data_args, ensure_data  # noqa: E402

from scoring.submission.intake import load_submission  # noqa: E402
from scoring.rules.book import load_rulebook  # noqa: E402
from scoring.rules.run import run_rules  # noqa: E402


def main() -> None:
    ap = data_args(argparse.ArgumentParser())
    a = ap.parse_args()
    sub_dir = ensure_data(a.data, a.policies, a.service_scale)
    t = time.perf_counter()
    sub = load_submission(sub_dir)
    load_s = time.perf_counter() - t
    rb = load_rulebook()
    times, result = [], None
    watch = MemoryWatch()
    for _ in range(a.repeat):
        t = time.perf_counter()
        result = run_rules(sub, rb)
        times.append(time.perf_counter() - t)
    machine = watch.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"policies {len(sub['policies']):,}, services {len(sub['services']):,} (intake {load_s:.1f} s)")
    print(f"rulebook {rb.version}: {len(rb.rules)} rules, median {statistics.median(times):.1f} s over {a.repeat} "
          f"(runs: {', '.join(f'{x:.1f}' for x in times)}), peak RSS {rss:,.0f} MB (machine memory in use "
          f"above the loaded submission by this process and its worker, shared pages once: {machine:,.0f} MB), "
          f"target <= 60 s")
    counts = result.findings["rule_code"].value_counts().sort_index()
    print(f"findings: {len(result.findings):,}")
    for code, n in counts.items():
        print(f"  {code:<40} {n:>10,}")


if __name__ == "__main__":
    main()
