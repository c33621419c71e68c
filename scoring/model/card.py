"""MODEL_CARD.md from a model's metadata: intended use, data, how it was validated, metrics with
their n and intervals, how it holds on worlds it never saw, baselines, calibration, limits."""
from __future__ import annotations

from importlib import resources

import jinja2

from scoring.messages import both, render, zh_text
from scoring.schema import CLASS_ZH as SCHEMA_CLASS_ZH, CLASSES

from scoring.model.metrics import CI_BELOW

CLASS_ZH = {c: f"{zh} {c}" for c, zh in SCHEMA_CLASS_ZH.items() if c in CLASSES}  # both languages in a card
MODEL_ZH = {"model": "本模型 (HistGradientBoosting)", "logistic_regression": "基线 逻辑回归", "rule_count": "基线 规则发现计数"}
MONOTONIC_ZH = {+1: "只升不降 never lowers", -1: "只降不升 never raises"}


def both_lines(key: str, sep: str = " ", **fields) -> str:
    """The message ``key``, Chinese then English in one paragraph (the card is read in both)."""
    return sep.join(render(key, **fields))


def _with_ci(m: dict, key: str) -> str:
    v = m.get(key)
    ci = m.get(f"{key}_ci")
    return "—" if v is None else (f"{v} [{ci[0]}, {ci[1]}]" if ci else f"{v}")


def _metrics_table(validation: dict) -> str:
    rows = ["| 模型 model | 样本 slice | 类别 class | n | 阳性 positives | ROC AUC | AP | 精确率@容量 | 召回率@容量 | Brier |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name, slices in validation.get("models", {}).items():
        for slice_name, per in slices.items():
            for cls in ("missing", "poor_quality"):
                m = per.get(cls)
                if not m:
                    continue
                rows.append(
                    f"| {MODEL_ZH.get(name, name)} | {slice_name} | {CLASS_ZH[cls]} | {m['n']} | {m['positives']} | "
                    f"{_with_ci(m, 'roc_auc')} | {_with_ci(m, 'average_precision')} | {m['precision_at_capacity']} | "
                    f"{m['recall_at_capacity']} | {m.get('brier', '—')} |"
                )
    return "\n".join(rows)


def _reliability(validation: dict) -> str:
    out = []
    model = validation.get("models", {}).get("model", {}).get("all", {})
    for cls in ("missing", "poor_quality"):
        rel = (model.get(cls) or {}).get("reliability")
        if not rel:
            continue
        out.append(f"\n{CLASS_ZH[cls]}:\n\n| bin | n | 平均预测概率 mean p | 实际比例 observed |\n|---|---|---|---|")
        out += [f"| {r['bin']} | {r['n']} | {r['mean_p']} | {r['observed']} |" for r in rel]
    return "\n".join(out)


def validation_text(v: dict) -> str:
    """How the model was validated, in one Chinese + English sentence."""
    if v.get("method") == "by_inspection_date":
        return both("card.by_date", share=f"{v['holdout_share']:.0%}", since=v["test_from"], until=v["test_to"], n_test=v["n_test"],
                    n_train=v["n_train"])
    return both("card.by_year", train_years=v.get("train_years"), n_train=v.get("n_train"), test_year=v.get("test_year"),
                n_test=v.get("n_test"))


def _baselines(v: dict) -> str:
    """Words on how the model compares with its baselines, from the held-out numbers."""
    lines = []
    models = v.get("models", {})
    for cls in ("missing", "poor_quality"):
        m = (models.get("model", {}).get("all", {}) or {}).get(cls) or {}
        lr = (models.get("logistic_regression", {}).get("all", {}) or {}).get(cls) or {}
        rc = (models.get("rule_count", {}).get("all", {}) or {}).get(cls) or {}
        if m.get("roc_auc") is None:
            continue
        gap_lr = (m["roc_auc"] - lr["roc_auc"]) if lr.get("roc_auc") is not None else None
        if gap_lr is not None and abs(gap_lr) < 0.01:
            verdict = zh_text("card.even")
        else:
            verdict = zh_text("card.higher" if gap_lr and gap_lr > 0 else "card.lower", gap=f"{abs(gap_lr or 0):.3f}")
        lines.append("- " + zh_text("card.baseline", cls=CLASS_ZH[cls], auc=m["roc_auc"], lr=lr.get("roc_auc"), rc=rc.get("roc_auc"),
                                    verdict=verdict))
        rel = m.get("reliability") or []
        if rel:
            worst = max(rel, key=lambda r: abs(r["mean_p"] - r["observed"]))
            lines.append(f"  校准 calibration: largest gap in bin {worst['bin']} (n={worst['n']}): predicted "
                         f"{worst['mean_p']}, observed {worst['observed']} (gap {abs(worst['mean_p'] - worst['observed']):.3f}).")
    return "\n".join(lines)


def _worlds(meta: dict) -> str:
    w = meta.get("worlds")
    if not w:
        return both("card.no_worlds")
    rows = ["| 留出世界 held-out world | 类别 class | n | 阳性 positives | ROC AUC | AP |", "|---|---|---|---|---|---|"]
    for r in w.get("held_out", []):
        for cls in ("missing", "poor_quality"):
            m = r[cls]
            rows.append(f"| {r['world']} | {CLASS_ZH[cls]} | {m['n']} | {m['positives']} | {_with_ci(m, 'roc_auc')} | "
                        f"{_with_ci(m, 'average_precision')} |")
    s = w.get("summary", {})
    summary = "\n".join(
        f"- {CLASS_ZH[c]}: ROC AUC 最小 min {s[c]['roc_auc_min']}, 中位 median {s[c]['roc_auc_median']}; "
        f"AP 最小 min {s[c]['ap_min']}, 中位 median {s[c]['ap_median']}" for c in ("missing", "poor_quality") if c in s)
    fresh = w.get("fresh_summary")
    if fresh:
        summary += (f"\n\nThe champion itself (trained on all {w.get('n_worlds')} worlds) on "
                    f"{len(w.get('fresh', []))} fresh worlds no model of the run saw (seeds "
                    f"{[r['world'] for r in w.get('fresh', [])]}):\n\n" + "\n".join(
                        f"- {CLASS_ZH[c]}: ROC AUC 最小 min {fresh[c]['roc_auc_min']}, 中位 median {fresh[c]['roc_auc_median']}; "
                        f"AP 最小 min {fresh[c]['ap_min']}, 中位 median {fresh[c]['ap_median']}" for c in ("missing", "poor_quality")))
    return f"""Trained on a mixture of {w.get('n_worlds')} generated worlds (`datasets/synth.py` `draw_world`, seeds
{w.get('seeds')}), each with its own market, service habits, paperwork and inspection targeting drawn
from the ranges in `datasets/README.md` ("Worlds"). Leave-one-world-out: for each world, a model
trained on the other worlds only (same code and settings) scored that world's submission alone,
with every insurer and agency of it unknown to the model's memory; all of its labels.

{summary}

{chr(10).join(rows)}
"""


def _held(meta: dict) -> str:
    """A warning per class whose out-of-fold log-odds did not rank it (scoring.model.estimator.platt)."""
    held = meta.get("calibration_held") or {}
    return "".join("\n> " + both_lines("card.held", cls=CLASS_ZH[c], slope=a, sep=" / ") + "\n" for c, a in held.items()) + ("\n" if held else "")


def model_card(meta: dict) -> str:
    """MODEL_CARD.md of a model (``templates/model_card.md.j2``)."""
    v = meta.get("validation", {})
    pv = meta.get("package_versions", {})
    mono = "\n".join(f"- {CLASS_ZH[c]}: " + "; ".join(f"`{f}` {MONOTONIC_ZH[d]}" for f, d in cons.items())
                     for c, cons in (meta.get("monotonic") or {}).items())
    env = jinja2.Environment(loader=jinja2.FunctionLoader(
        lambda name: resources.files("scoring").joinpath(f"templates/{name}").read_text("utf-8")), keep_trailing_newline=True)
    return env.get_template("model_card.md.j2").render(
        meta=_Attrs(meta), v=_Attrs(v), mem=_Attrs(meta.get("memory_summary") or {}), promo=meta.get("promotion_rule"),
        banner=both_lines("card.synthetic") + "\n\n" if meta.get("training_data") == "synthetic" else "",
        validation=validation_text(v), ci_below=CI_BELOW, worlds=_worlds(meta), mono=mono, metrics_table=_metrics_table(v),
        baselines=_baselines(v), held=_held(meta), reliability=_reliability(v), versions=", ".join(f"{k} {x}" for k, x in pv.items()))


class _Attrs(dict):
    """A dict whose keys a template reads as attributes (None when absent, as ``dict.get``)."""

    def __getattr__(self, name):
        return self.get(name)
