"""Benchmark the whole ``scoring score`` job at two sizes, per stage.

    python scripts/bench_score.py [--sizes 100000 1000000] [--repeat 3] [--data DIR]

Each run is a fresh process (its own peak RSS). Prints per-stage seconds (medians over
--repeat), total, peak RSS, the pyarrow read floor of the same files and total ÷ floor, and
the time ratio between the two sizes (target: 10x data costs <= 11x time).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from bench_intake import FLOOR, ensure_data, run, storage_args  # noqa: E402

JOB = """
import json, resource, sys, time
sys.path.insert(0, 'scripts')
from bench_intake import MemoryWatch
from scoring.jobs import run_score
watch = MemoryWatch()
def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
marks = []
t0 = time.perf_counter()
run_score(sys.argv[1], sys.argv[2], progress=lambda m: marks.append((m.split(' / ')[-1], time.perf_counter(), rss())))
end, peak, machine = time.perf_counter(), rss(), watch.stop()
stages, peaks = {}, {}
for (name, t, _), (t_next, rss_next) in zip(marks, [m[1:] for m in marks[1:]] + [(end, peak)]):
    stages[name] = t_next - t
    peaks[name] = rss_next  # peak RSS of the process by the end of this stage
print(json.dumps({'total': end - t0, 'stages': stages, 'peaks': peaks, 'rss_mb': peak, 'machine_mb': machine}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    a = storage_args(ap).parse_args()
    totals = {}
    for n in a.sizes:
        sub = ensure_data(a.data, n, a.service_scale)
        floor = statistics.median(run(FLOOR, sub)["seconds"] for _ in range(a.repeat))
        runs = []
        for _ in range(a.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                out = subprocess.run([sys.executable, "-c", JOB, str(sub), str(Path(tmp) / "out")], check=True,
                                     capture_output=True, text=True, cwd=ROOT)
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        total = statistics.median(r["total"] for r in runs)
        totals[n] = total
        print(f"== {n:,} policies ({a.repeat} runs): median total {total:.1f} s, peak RSS {max(r['rss_mb'] for r in runs):,.0f} MB "
              f"(machine memory in use by the job and its worker, shared pages once: {max(r['machine_mb'] for r in runs):,.0f} MB), "
              f"read floor {floor:.1f} s, total / floor {total / floor:.1f}")
        for stage in runs[0]["stages"]:
            print(f"   {stage:<32} {statistics.median(r['stages'][stage] for r in runs):7.1f} s   "
                  f"peak RSS by its end {max(r['peaks'][stage] for r in runs):8,.0f} MB")
    if len(totals) == 2:
        (small, t_s), (big, t_b) = sorted(totals.items())
        print(f"time ratio {big // small}x data: {t_b / t_s:.1f}x (target <= 11x)")


if __name__ == "__main__":
    main()
