"""Benchmark ``scoring score --engine dask`` against ``--engine local`` on converted datasets.

    python scripts/bench_scale.py [--sizes 1000000 5000000] [--repeat 1] [--workers 2] [--local-at 1000000]

For each size: a generated submission with 5 service records per policy (made once and kept
under --data), converted once with ``scoring convert`` (not timed), then scored by the Dask
engine (a LocalCluster of --workers single-threaded worker processes) and, at --local-at, by
the local engine. Each run is a fresh process; printed: median seconds, peak machine memory
(the job, its scheduler and workers, pages shared counted once), the time ratio between the
sizes (target: 5x data <= 5.5x time) and dask / local at --local-at (target <= 1.5).
A run that fails (e.g. out of memory) is reported as failed with its exit status.
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

from bench_intake import ensure_data, storage_args  # noqa: E402

JOB = """
import json, sys, time
sys.path.insert(0, 'scripts')
from bench_intake import MemoryWatch
from scoring.jobs import run_score
watch = MemoryWatch()
t0 = time.perf_counter()
engine, workers = sys.argv[3], int(sys.argv[4])
run_score(sys.argv[1], sys.argv[2], engine=engine, workers=workers if engine == 'dask' else None)
print(json.dumps({'total': time.perf_counter() - t0, 'machine_mb': watch.stop()}))
"""


def converted(data: Path, n: int, scale: float) -> Path:
    """The converted dataset of the generated submission of ``n`` policies (made once)."""
    sub = ensure_data(data, n, scale)
    ds = sub.parent / "dataset"
    if not (ds / "convert.json").exists():
        subprocess.run([sys.executable, "-c", "from scoring.cli import main; main()", "convert", str(sub), "--out", str(ds)], check=True, cwd=ROOT,
                       capture_output=True)
    return ds


def timed(ds: Path, engine: str, workers: int, repeat: int) -> dict:
    runs, failed = [], None
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run([sys.executable, "-c", JOB, str(ds), str(Path(tmp) / "out"), engine, str(workers)],
                                 capture_output=True, text=True, cwd=ROOT)
        if out.returncode != 0:
            failed = f"exit status {out.returncode}: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ''}"
            break
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if not runs:
        return {"failed": failed}
    return {"seconds": statistics.median(r["total"] for r in runs), "machine_mb": max(r["machine_mb"] for r in runs),
            "runs": len(runs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--local-at", type=int, default=1_000_000)
    a = storage_args(ap).parse_args()
    dask_s = {}
    for n in a.sizes:
        ds = converted(a.data, n, a.service_scale)
        r = timed(ds, "dask", a.workers, a.repeat)
        line = f"== {n:,} policies, dask ({a.workers} workers): "
        if "failed" in r:
            print(line + "FAILED " + r["failed"])
            continue
        dask_s[n] = r["seconds"]
        print(line + f"median {r['seconds']:.1f} s over {r['runs']} run(s), peak machine memory {r['machine_mb'] / 1024:.1f} GB")
        if n == a.local_at:
            loc = timed(ds, "local", 1, a.repeat)
            if "failed" in loc:
                print(f"   local: FAILED {loc['failed']}")
            else:
                print(f"   local: median {loc['seconds']:.1f} s, peak machine memory {loc['machine_mb'] / 1024:.1f} GB; "
                      f"dask / local {r['seconds'] / loc['seconds']:.2f} (target <= 1.5)")
    if len(dask_s) >= 2:
        (small, t_s), (big, t_b) = sorted(dask_s.items())[0], sorted(dask_s.items())[-1]
        print(f"time ratio {big / small:g}x data: {t_b / t_s:.2f}x (target <= {1.1 * big / small:g}x)")


if __name__ == "__main__":
    main()
