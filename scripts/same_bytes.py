"""Digest every output of ``scoring score`` on fixed submissions, local and Dask, to compare code
before and after a change that must not change results.

    python scripts/same_bytes.py --out digests.json [--sizes 200000] [--engines local dask]
    python scripts/same_bytes.py --compare before.json after.json

Scores the shipped sample and a generated world of each size (``datasets.synth``, seed 7)
through the command line, as a user does, and records the sha256 of each CSV / JSONL output
(``run.json`` and ``report.html`` hold timestamps and are compared with them removed). Prints
the seconds each run took. ``--compare`` lists every file whose digest differs (exit 1) or says
that all are the same bytes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONTENT = ("policy_scores.csv", "findings.csv", "explanations.jsonl", "insurer_summary.csv", "rejected.csv", "estimates.csv",
           "rate_adequacy.csv")
STAMPED = {"run.json": r'"(started_at|finished_at)": "[^"]*"|"submission(_path)?": "[^"]*"|"scheduler": "[^"]*"',
           "report.html": r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(\+00:00| 北京时间)?"}


def digest(path: Path, pattern: str | None = None) -> str:
    data = path.read_bytes()
    if pattern:
        data = re.sub(pattern.encode(), b"", data)
    return hashlib.sha256(data).hexdigest()


def submissions(sizes: list[int], root: Path) -> dict[str, Path]:
    from datasets.synth import Config, generate, write_submission

    subs = {"sample": Path("datasets") / "sample"}  # relative to ROOT (the cwd): the report shows the path given
    for n in sizes:
        folder = root / f"world-{n}"
        if not folder.exists():
            write_submission(generate(Config(n_policies=n, seed=7)), folder)
        subs[f"world-{n}"] = folder
    return subs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    ap.add_argument("--sizes", type=int, nargs="*", default=[200_000])
    ap.add_argument("--engines", nargs="+", default=["local", "dask"])
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "same-bytes")
    ap.add_argument("--compare", nargs=2, type=Path)
    a = ap.parse_args()
    if a.compare:
        before, after = (json.loads(p.read_text()) for p in a.compare)
        differ = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        for k in differ:
            print(f"differs: {k}")
        print(f"{len(before)} digests, {len(differ)} differ")
        sys.exit(1 if differ else 0)
    a.data.mkdir(parents=True, exist_ok=True)
    found = {}
    for name, sub in submissions(a.sizes, a.data).items():
        for engine in a.engines:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "out"
                t = time.perf_counter()
                subprocess.run([sys.executable, "-m", "scoring", "score", str(sub), "--out", str(out), "--quiet",
                                "--engine", engine], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
                print(f"{name} {engine}: {time.perf_counter() - t:.1f} s", flush=True)
                for f in CONTENT:
                    if (out / f).exists():
                        found[f"{name}/{engine}/{f}"] = digest(out / f)
                for f, pattern in STAMPED.items():
                    found[f"{name}/{engine}/{f}"] = digest(out / f, pattern)
    for engine in a.engines[1:]:  # the engines agree with each other
        for k, v in found.items():
            if f"/{a.engines[0]}/" in k and k.rsplit("/", 1)[1] in CONTENT:
                other = k.replace(f"/{a.engines[0]}/", f"/{engine}/")
                if found.get(other) != v:
                    print(f"engines differ: {k} vs {other}")
    if a.out:
        a.out.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
        print(f"{len(found)} digests -> {a.out}")


if __name__ == "__main__":
    main()
