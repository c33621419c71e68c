"""Does the model hold on data it was not built on? Two measurements on generated worlds.

    python scripts/transfer.py worlds [--seeds 1-8] [--policies 20000] [--fresh 101-104]
    python scripts/transfer.py memory [--seeds 1-6] [--policies 20000] [--train-year 2023] [--seed 0]

``worlds``: leave-one-world-out. For each world drawn by ``datasets.synth.draw_world``, a model
trained on the other worlds only scores that world's submission alone (its insurers and agencies
unknown to the model's memory); ROC AUC and average precision per class on all its labels, then
the minimum and median over worlds. ``--fresh`` adds worlds that no model of the run trained on,
scored by the model trained on every ``--seeds`` world.

``memory``: the value of entity memory. In each world, a model is trained on one labelled
policy year alone and scores the next year given alone (no earlier years in the submission).
It is compared with the same model given the insurer and provider ids as categorical features
(the oracle: trees that learn each entity's effect from the labels directly) and with the same
model whose memory is wiped (every entity at the prior).

Both print a table and write JSON with ``--json FILE``.
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

from datasets.synth import draw_world, generate, write_submission, year_slice  # noqa: E402
from scoring.model.features import MEMORY_FEATURES, SUBMISSION_FEATURES  # noqa: E402
from scoring.model.labels import labels_from  # noqa: E402
from scoring.schema import CLASSES  # noqa: E402
from scoring.model.memory import SOURCES  # noqa: E402
from scoring.model.metrics import class_metrics  # noqa: E402
from scoring.model.estimator import DEFAULT_PARAMS, hold_all_missing, monotonic_cst, train  # noqa: E402
from scoring.jobs import labelled_set, population, prepare  # noqa: E402


def seeds(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def prepared(world, tmp: Path, name: str):
    return prepare(write_submission(world, tmp / name))


def score_world(model, prep) -> dict:
    """Per class metrics of ``model`` on every label of ``prep`` (all labels, and the random slice)."""
    lab = labels_from(prep.sub)
    p = model.predict(model.design(prep.features)).reindex(lab["policy_id"])
    out = {}
    for cls in CLASSES:
        y = (lab["outcome"] == cls).to_numpy()
        out[cls] = class_metrics(y, p[f"p_{cls}"].to_numpy(), calibration=False)
    rnd = (lab["selection"] == "random").to_numpy()
    out["random"] = {cls: class_metrics((lab["outcome"] == cls).to_numpy()[rnd], p[f"p_{cls}"].to_numpy()[rnd], calibration=False)
                     for cls in CLASSES}
    return out


def fit_pooled(preps: list, seed: int = 0):
    X, labels, years = labelled_set(preps)
    return train(X.reset_index(drop=True), labels, years, seed=seed, population=population(preps))


def summary(rows: list[dict]) -> dict:
    out = {}
    for cls in CLASSES:
        auc = [r[cls]["roc_auc"] for r in rows if r[cls]["roc_auc"] is not None]
        ap = [r[cls]["average_precision"] for r in rows if r[cls]["average_precision"] is not None]
        out[cls] = {"roc_auc_min": round(min(auc), 4), "roc_auc_median": round(float(np.median(auc)), 4),
                    "ap_min": round(min(ap), 4), "ap_median": round(float(np.median(ap)), 4)}
    return out


def leave_one_world_out(world_seeds: list[int], n: int, fresh: list[int] = (), seed: int = 0, progress=print,
                        keep: dict | None = None) -> dict:
    """The ``worlds`` measurement; returns held-out rows, their summary and the fresh-world rows.
    With ``keep`` (a dict), ``keep["training"]`` receives the model trained on every world and
    ``keep["preps"]`` the prepared worlds."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        preps = {s: prepared(generate(draw_world(s, n)), tmp, f"w{s}") for s in world_seeds}
        held = []
        for s in world_seeds:
            t = fit_pooled([p for k, p in preps.items() if k != s], seed)
            row = {"world": f"W{s:03d}", **score_world(t.model, preps[s])}
            held.append(row)
            progress(f"held out W{s:03d}: missing AUC {row['missing']['roc_auc']}, poor AUC {row['poor_quality']['roc_auc']}")
        out = {"n_worlds": len(world_seeds), "seeds": list(world_seeds), "policies_per_world": n,
               "held_out": held, "summary": summary(held)}
        full = fit_pooled(list(preps.values()), seed) if (fresh or keep is not None) else None
        if keep is not None:
            keep["training"], keep["preps"] = full, preps
        if fresh:
            rows = []
            for s in fresh:
                row = {"world": f"W{s:03d}", **score_world(full.model, prepared(generate(draw_world(s, n)), tmp, f"f{s}"))}
                rows.append(row)
                progress(f"fresh W{s:03d}: missing AUC {row['missing']['roc_auc']}, poor AUC {row['poor_quality']['roc_auc']}")
            out["fresh"] = rows
            out["fresh_summary"] = summary(rows)
    return out


def _oracle_scores(Xtr: pd.DataFrame, ytr: np.ndarray, Xte: pd.DataFrame, seed: int) -> dict:
    """The same trees given insurer and provider ids as native categorical features instead of the
    memory: the same parameters and the same monotonic constraints on the features both share
    (without them the comparison would measure the constraints, not the memory)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    base = list(SUBMISSION_FEATURES)
    cats = {}
    for col in ("insurer_key", "provider_key"):
        known = pd.Index(sorted(Xtr[col].dropna().astype(str).unique()))
        cats[col] = (known.get_indexer(Xtr[col].astype(str)), known.get_indexer(Xte[col].astype(str)))
    Mtr = np.column_stack([Xtr[base].to_numpy(float)] + [np.where(c[0] < 0, np.nan, c[0]) for c in cats.values()])
    Mte = np.column_stack([Xte[base].to_numpy(float)] + [np.where(c[1] < 0, np.nan, c[1]) for c in cats.values()])
    is_cat = [False] * len(base) + [True, True]
    hold_all_missing(Mtr)  # as the model's fit does
    params = {**DEFAULT_PARAMS}
    out = {}
    for cls in CLASSES:
        cst = monotonic_cst(cls, base) + [0, 0]
        est = HistGradientBoostingClassifier(categorical_features=is_cat, random_state=seed, monotonic_cst=cst, **params)
        out[cls] = est.fit(Mtr, (ytr == cls).astype(int)).predict_proba(Mte)[:, 1]
    return out


def memory_value(world_seeds: list[int], n: int, train_year: int, seed: int = 0, progress=print) -> dict:
    """The ``memory`` measurement; one row per world and class."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for s in world_seeds:
            w = generate(draw_world(s, n))
            p_tr = prepared(year_slice(w, train_year), tmp, f"t{s}")
            p_te = prepared(year_slice(w, train_year + 1), tmp, f"s{s}")
            X, labels, years = labelled_set([p_tr])
            t = train(X.reset_index(drop=True), labels, years, seed=seed, population=population([p_tr]))
            lab = labels_from(p_te.sub)
            Xte = p_te.features.loc[lab["policy_id"]]
            ours = t.model.predict(t.model.design(Xte))
            wiped = t.model.design(Xte).copy()
            for f in MEMORY_FEATURES:
                wiped[f] = t.model.memory.prior[SOURCES[f][1]]
            nomem = t.model.predict(wiped)
            Xtr = X.reset_index(drop=True)
            oracle = _oracle_scores(Xtr, labels["outcome"].to_numpy(), Xte, seed)
            for cls in CLASSES:
                y = (lab["outcome"] == cls).to_numpy()
                m = {name: class_metrics(y, sc, calibration=False)["roc_auc"]
                     for name, sc in (("memory", ours[f"p_{cls}"].to_numpy()), ("oracle_ids", oracle[cls]),
                                      ("memory_wiped", nomem[f"p_{cls}"].to_numpy()))}
                rows.append({"world": f"W{s:03d}", "class": cls, "train_labels": int(len(labels)), "test_labels": int(len(lab)),
                             "positives": int(y.sum()), "validation": t.record["method"], **m,
                             "gap_to_oracle": round(m["oracle_ids"] - m["memory"], 4)})
                progress(f"W{s:03d} {cls}: memory {m['memory']} oracle {m['oracle_ids']} wiped {m['memory_wiped']}")
    gaps = {cls: [r["gap_to_oracle"] for r in rows if r["class"] == cls] for cls in CLASSES}
    return {"train_year": train_year, "policies_per_world": n, "rows": rows,
            "mean_gap": {c: round(float(np.mean(g)), 4) for c, g in gaps.items()},
            "max_gap": {c: round(float(np.max(g)), 4) for c, g in gaps.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["worlds", "memory"])
    ap.add_argument("--seeds", default=None)
    ap.add_argument("--fresh", default="")
    ap.add_argument("--policies", type=int, default=20_000)
    ap.add_argument("--train-year", type=int, default=2023)
    ap.add_argument("--seed", type=int, default=0, help="seed of training (cross-fitting folds, calibration folds)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if a.what == "worlds":
        res = leave_one_world_out(seeds(a.seeds or "1-8"), a.policies, seeds(a.fresh) if a.fresh else [], seed=a.seed)
        print(json.dumps({"summary": res["summary"], "fresh_summary": res.get("fresh_summary")}, indent=2))
    else:
        res = memory_value(seeds(a.seeds or "1-6"), a.policies, a.train_year, seed=a.seed)
        print("| world | class | train labels | test labels (positives) | memory | ids as categorical (oracle) | memory wiped | gap |")
        print("|---|---|---|---|---|---|---|---|")
        for r in res["rows"]:
            print(f"| {r['world']} | {r['class']} | {r['train_labels']} | {r['test_labels']} ({r['positives']}) | {r['memory']} | "
                  f"{r['oracle_ids']} | {r['memory_wiped']} | {r['gap_to_oracle']:+.4f} |")
        print(f"mean gap {res['mean_gap']}, max gap {res['max_gap']}")
    if a.json:
        a.json.write_text(json.dumps(res, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main()
