"""How many random inspections make a local model better than the evidence index?

    python scripts/cold_start.py [--worlds h201-204,101-102] [--policies 6000] [--sizes 50,100,200,400]
                                 [--repeats 3] [--json FILE]

The user's cold start, on worlds no shipped model trained on (``h``: the held-out family,
``datasets.synth.draw_held_out``; a number: ``draw_world``). In each world, ``n`` policies of the
last full policy year (2024) are drawn at random and inspected (their outcome is the generator's
hidden quality, recorded by an inspector who errs as the world's inspectors do: ``inspector_error``
of them as a neighbouring class), and a local model is fitted on those labels alone as ``scoring
train`` refits (:func:`scoring.model.estimator.fit_with_memory`, its memory from those labels).
It then ranks the next year's policies (2025), and its ROC AUC for missing service there is set
beside the evidence index's and the shipped champion's on the same policies. Each size is drawn
``--repeats`` times; the table gives the median and the range.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datasets.synth import QUALITY, draw_held_out, draw_world, generate, write_submission  # noqa: E402
from scoring import load_model, load_rulebook  # noqa: E402
from scoring.errors import ModelError  # noqa: E402
from scoring.jobs import default_model_dir, prepare  # noqa: E402
from scoring.model.estimator import fit_with_memory  # noqa: E402
from scoring.model.evidence import evidence_index  # noqa: E402
from scoring.model.features import FEATURE_NAMES, KEY_COLUMNS  # noqa: E402


def worlds(text: str, n: int):
    out = []
    for part in text.split(","):
        held = part.startswith("h")
        a, _, b = part.lstrip("h").partition("-")
        for s in range(int(a), int(b or a) + 1):
            out.append((f"held{s}" if held else f"draw{s}", draw_held_out(s, n) if held else draw_world(s, n)))
    return out


def curve(cfg, tmp: Path, sizes: list[int], repeats: int, champion, rb) -> dict:
    w = generate(cfg)
    prep = prepare(write_submission(w, tmp))
    f = prep.features
    pol = prep.sub["policies"].set_index("policy_id").loc[f.index]
    quality = w.hidden.set_index("policy_id").loc[f.index, "quality"].to_numpy()
    year = pol["start_date"].dt.year.to_numpy()
    train_pool = np.flatnonzero(year == 2024)
    test = year == 2025
    y_test = quality[test] == "missing"
    ev = evidence_index(f, pol["industry"].to_numpy(), pol["region_code"].to_numpy(), rb.evidence_index)
    out = {"test_policies": int(test.sum()), "test_missing": int(y_test.sum()),
           "index": round(float(roc_auc_score(y_test, ev.index.to_numpy()[test])), 4),
           "champion": round(float(roc_auc_score(y_test, champion.predict(champion.design(f))["p_missing"].to_numpy()[test])), 4)}
    err = cfg.inspector_error
    for n in sizes:
        aucs, refused = [], []
        for r in range(repeats):
            rng = np.random.default_rng([cfg.seed, n, r])
            pick = rng.choice(train_pool, size=min(n, len(train_pool)), replace=False)
            k = np.array([list(QUALITY).index(q) for q in quality[pick]])
            wrong = rng.random(len(pick)) < err  # an inspector's mistake: a neighbouring class
            k = np.where(wrong, np.clip(k + rng.choice([-1, 1], len(pick)), 0, 2), k)
            y = pd.Series(QUALITY[k])
            X = f.iloc[pick][list(FEATURE_NAMES) + list(KEY_COLUMNS)].reset_index(drop=True)
            try:
                model, _ = fit_with_memory(X, y, r, f.reset_index(drop=True))
            except (ModelError, ValueError) as e:  # too few of a class to fit: the user would be told so
                refused.append(str(e).splitlines()[0][:120])
                continue
            p = model.predict(model.design(f.iloc[np.flatnonzero(test)].copy()))["p_missing"].to_numpy()
            aucs.append(float(roc_auc_score(y_test, p)))
        out[f"local_{n}"] = {"median": round(float(np.median(aucs)), 4) if aucs else None,
                             "min": round(min(aucs), 4) if aucs else None, "max": round(max(aucs), 4) if aucs else None,
                             "fits": len(aucs), "refused": refused[:1]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worlds", default="h201-204,101-102")
    ap.add_argument("--policies", type=int, default=6000)
    ap.add_argument("--sizes", default="50,100,200,400")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    champion, rb = load_model(default_model_dir()), load_rulebook()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, cfg in worlds(a.worlds, a.policies):
            rows[name] = curve(cfg, Path(tmp) / name, sizes, a.repeats, champion, rb)
            print(name, rows[name], flush=True)
    table = pd.DataFrame({name: {"index": r["index"], "champion": r["champion"],
                                 **{f"local {n}": r[f"local_{n}"]["median"] for n in sizes}} for name, r in rows.items()}).T
    print(table.to_string())
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
