"""How the evidence index and the priorities built on it rank missing service, world by world.

    python scripts/evidence_index.py [--worlds default,101-104,h201-204] [--policies 6000] [--model DIR] [--json FILE]

For each generated world (``default``: the shipped sample's world; a number: ``draw_world(n)``,
a world no model of the project trained on; ``h`` and a number: ``draw_held_out(n)``, a world of
the held-out family, whose mechanics no training world has), the world's submission is prepared as ``scoring
score`` does and ROC AUC against the generator's hidden quality is computed for: the model's
``p_missing`` (the shipped champion by default), the evidence index alone, the priority without
the shift warning (model + findings), and the warned priority at model weights 0.5, 0.3 and 0
(model, index and findings blended as :func:`scoring.outputs.ranking.rank` does), each with the
empty-file rule (policies with a decisive finding first). Poor quality: the model's
``p_poor_quality`` and the index. Also the shift score the run would report. Prints a table;
``--json`` writes the figures.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datasets.synth import Config, draw_held_out, draw_world, generate, write_submission  # noqa: E402
from scoring import load_model, load_rulebook  # noqa: E402
from scoring.jobs import decisive_policies, default_model_dir, prepare, shift_of  # noqa: E402
from scoring.model.evidence import evidence_index  # noqa: E402
from scoring.outputs.ranking import rank  # noqa: E402


def worlds(text: str, n: int) -> list[tuple[str, Config]]:
    out = []
    for part in text.split(","):
        if part == "default":
            out.append(("default", Config(n_policies=n, seed=5)))
            continue
        held = part.startswith("h")
        a, _, b = part.lstrip("h").partition("-")
        out += [(f"held{s}", draw_held_out(s, n)) if held else (f"draw{s}", draw_world(s, n)) for s in range(int(a), int(b or a) + 1)]
    return out


def measure(cfg: Config, tmp: Path, model, rb) -> dict:
    w = generate(cfg)
    prep = prepare(write_submission(w, tmp))
    f = prep.features
    pol = prep.sub["policies"].set_index("policy_id").loc[f.index]
    hidden = w.hidden.set_index("policy_id").loc[f.index]
    missing = (hidden["quality"] == "missing").to_numpy()
    poor = (hidden["quality"] == "poor_quality").to_numpy()
    X = model.design(f)
    scores = model.predict(X)
    ev = evidence_index(f, pol["industry"].to_numpy(), pol["region_code"].to_numpy(), rb.evidence_index)
    findings = prep.rules.findings
    decisive = decisive_policies(prep, findings, rb, pd.Index(prep.sub["policies"]["policy_id"]).get_indexer(scores.index))
    th = {c: float(model.metadata.get("thresholds", {}).get(c, 0.5)) for c in ("missing", "poor_quality")}
    out = {"policies": int(len(f)), "missing": int(missing.sum()), "poor_quality": int(poor.sum()),
           "shift_score": shift_of(model, X, rb)["score"],
           "model_missing": roc_auc_score(missing, scores["p_missing"]), "index_missing": roc_auc_score(missing, ev.index),
           "model_poor": roc_auc_score(poor, scores["p_poor_quality"]), "index_poor": roc_auc_score(poor, ev.index)}
    for name, mw, first in (("priority_no_decisive", 1.0, None), ("priority", 1.0, decisive), ("warned_0.5", 0.5, decisive),
                            ("warned_0.3", 0.3, decisive), ("warned_0", 0.0, decisive)):
        fw = rb.model_shift.finding_weight if mw < 1 else 1.0
        r = rank(scores, findings, rb.priority, th, len(f), model_weight=mw, index=ev.index, decisive=first, finding_weight=fw)
        out[name] = roc_auc_score(missing, -r["priority"].to_numpy())
        top = r["priority"].to_numpy() <= round(0.10 * len(f))
        out[f"{name}_p@10%"] = float(missing[top].mean())  # precision for missing in the top 10%
    return {k: round(float(v), 4) if isinstance(v, float) else v for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worlds", default="default,101-104,h201-204")
    ap.add_argument("--policies", type=int, default=6000)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    model = load_model(a.model or default_model_dir())
    rb = load_rulebook()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, cfg in worlds(a.worlds, a.policies):
            rows[name] = measure(cfg, Path(tmp) / name, model, rb)
            print(name, rows[name], flush=True)
    table = pd.DataFrame(rows).T
    print(table.to_string())
    print("minimum over worlds:", table.drop(columns=["policies", "missing", "poor_quality"]).min().round(4).to_dict())
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
