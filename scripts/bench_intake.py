"""Benchmark intake: validation of a large CSV submission against the pyarrow read floor.

    python scripts/bench_intake.py [--policies 1000000] [--service-scale 1.12] [--repeat 3] [--data DIR]

Generates the submission once (kept in --data), then runs, each in a fresh process so that
peak RSS is its own: the floor (pyarrow.csv.read_csv of every file, types inferred, all
cores) and the full validation (scoring.submission.intake.load_submission). Prints the median seconds,
rows/s, peak RSS and the ratio validation / floor.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FLOOR = """
import time, resource, json, sys, pyarrow.csv as c
from pathlib import Path
t = time.perf_counter(); rows = 0
for f in sorted(Path(sys.argv[1]).glob('*.csv')):
    rows += c.read_csv(f).num_rows
print(json.dumps({'seconds': time.perf_counter() - t, 'rows': rows,
                  'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
VALIDATE = """
import time, resource, json, sys
from scoring.submission.intake import load_submission
t = time.perf_counter(); s = load_submission(sys.argv[1])
rows = sum(c.rows_in for c in s.counts.values())
assert rows == sum(c.rows_accepted + c.rows_rejected for c in s.counts.values())
print(json.dumps({'seconds': time.perf_counter() - t, 'rows': rows, 'rejected': int(len(s.rejected)),
                  'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


class MemoryWatch:
    """Peak memory in use on the machine above what was in use at the start (MemTotal −
    MemAvailable from /proc/meminfo, sampled every 0.1 s): the job and every process it forks,
    pages they share counted once. ``peak_mb`` is 0 where /proc/meminfo does not exist."""

    def __init__(self, interval: float = 0.1):
        import threading

        import os

        self.interval, self.peak_mb = interval, 0.0
        # files just written (a generated submission, its conversion) sit in memory as dirty
        # pages until written back; flushed during the run they would lower "used" below a base
        # that counted them, and the peak would read low
        if hasattr(os, "sync"):
            os.sync()
        self.base = self._used()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _used() -> float:
        try:
            info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        except OSError:
            return 0.0
        return (int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])) / 1024

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, self._used() - self.base)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb


def run(code: str, data: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", code, str(data)], check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def ensure_data(data: Path, policies: int, scale: float) -> Path:
    """The generated submission for this size and service scale, made once and kept under ``data``."""
    sub = data / f"{policies}-s{scale:g}" / "sub"
    if not (sub / "services.csv").exists():
        sys.path.insert(0, str(ROOT))
        from datasets.synth import market_configs, write_markets

        # beyond a million policies the generator's memory would outgrow the machine: markets of a million
        write_markets(market_configs(policies, 11, service_scale=scale), sub)
    return sub


# 1.12 gives 5.0 services per policy (5,036,000 for 1M policies), the workload the issues name.
SERVICE_SCALE = 1.12


def storage_args(ap: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every benchmark's data shares: services per policy and where data is kept."""
    ap.add_argument("--service-scale", type=float, default=SERVICE_SCALE)
    ap.add_argument("--data", type=Path, default=Path("/tmp/bench-intake"))
    return ap


def data_args(ap: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of a one-size benchmark: size and repeats, and :func:`storage_args`."""
    ap.add_argument("--policies", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    return storage_args(ap)


def main() -> None:
    a = data_args(argparse.ArgumentParser()).parse_args()
    sub = ensure_data(a.data, a.policies, a.service_scale)
    sizes = {f.name: f.stat().st_size for f in sorted(sub.glob("*.csv"))}
    floor = [run(FLOOR, sub) for _ in range(a.repeat)]
    val = [run(VALIDATE, sub) for _ in range(a.repeat)]
    f_s = statistics.median(r["seconds"] for r in floor)
    v_s = statistics.median(r["seconds"] for r in val)
    rows = val[0]["rows"]
    print(f"files: {sizes}")
    print(f"rows: {rows:,} (rejected {val[0]['rejected']})")
    print(f"pyarrow read floor: median {f_s:.2f} s over {a.repeat}, peak RSS {max(r['rss_mb'] for r in floor):,.0f} MB")
    print(f"validation:         median {v_s:.2f} s over {a.repeat} ({rows / v_s:,.0f} rows/s), "
          f"peak RSS {max(r['rss_mb'] for r in val):,.0f} MB")
    print(f"ratio validation / floor: {v_s / f_s:.2f}  (target <= 3)")


if __name__ == "__main__":
    main()
