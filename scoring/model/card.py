"""MODEL_CARD.md from a model's metadata: intended use, data, how it was validated, metrics with
their n and intervals, how it holds on worlds it never saw, baselines, calibration, limits."""
from __future__ import annotations

from scoring.schema import CLASS_ZH as SCHEMA_CLASS_ZH, CLASSES

from scoring.model.metrics import CI_BELOW

CLASS_ZH = {c: f"{zh} {c}" for c, zh in SCHEMA_CLASS_ZH.items() if c in CLASSES}  # both languages in a card
MODEL_ZH = {"model": "本模型 (HistGradientBoosting)", "logistic_regression": "基线：逻辑回归", "rule_count": "基线：规则发现计数"}
MONOTONIC_ZH = {+1: "只升不降 never lowers", -1: "只降不升 never raises"}


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
        return (f"只有一个有标签的年份：按核查日期留出最新的 {v['holdout_share']:.0%} 核查结果（{v['test_from']} 至 {v['test_to']}，"
                f"{v['n_test']} 个）作验证，其余 {v['n_train']} 个训练；验证后用全部标签重新训练。 / One labelled year: the latest "
                f"{v['holdout_share']:.0%} of its inspections by date ({v['test_from']} to {v['test_to']}, {v['n_test']} labels) "
                f"were held out, the other {v['n_train']} trained on; then refitted on every label.")
    return (f"按年份验证：用 {v.get('train_years')} 年的 {v.get('n_train')} 个标签训练，在 {v.get('test_year')} 年的 "
            f"{v.get('n_test')} 个标签上验证；验证后用全部标签重新训练。 / Temporal: fitted on {v.get('train_years')} "
            f"({v.get('n_train')} labels), measured on {v.get('test_year')} ({v.get('n_test')} labels); then refitted on every label.")


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
        verdict = ("与逻辑回归基本持平（差 < 0.01），树模型的价值在于约束与解释，而非精度" if gap_lr is not None and abs(gap_lr) < 0.01 else
                   f"比逻辑回归{'高' if gap_lr and gap_lr > 0 else '低'} {abs(gap_lr or 0):.3f}")
        lines.append(f"- {CLASS_ZH[cls]}: ROC AUC {m['roc_auc']} vs 逻辑回归 logistic regression {lr.get('roc_auc')} vs "
                     f"规则计数 rule count {rc.get('roc_auc')}：{verdict}。")
        rel = m.get("reliability") or []
        if rel:
            worst = max(rel, key=lambda r: abs(r["mean_p"] - r["observed"]))
            lines.append(f"  校准 calibration: largest gap in bin {worst['bin']} (n={worst['n']}): predicted "
                         f"{worst['mean_p']}, observed {worst['observed']} (gap {abs(worst['mean_p'] - worst['observed']):.3f}).")
    return "\n".join(lines)


def _worlds(meta: dict) -> str:
    w = meta.get("worlds")
    if not w:
        return "未在其他生成世界上评估 / not evaluated on other generated worlds."
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
    return "".join(
        f"\n> **{CLASS_ZH[c]}：训练标签的交叉验证未显示排序能力**（Platt 斜率 {a}），斜率按下限保留，概率接近基准率，"
        f"排序仅供参考。 / The out-of-fold log-odds did not rank this class (Platt slope {a}); the slope is held at its "
        f"floor, probabilities stay near the base rate and the order is weak evidence.\n" for c, a in held.items()) + ("\n" if held else "")


def model_card(meta: dict) -> str:
    v = meta.get("validation", {})
    pv = meta.get("package_versions", {})
    promo = meta.get("promotion_rule")
    synthetic = meta.get("training_data") == "synthetic"
    banner = ("> **仅用合成数据训练 Trained on synthetic data only.** 本模型尚未见过真实核查结果；在真实数据上的表现未知，"
              "请用本地核查结果重新训练（`scoring train` / `scoring retrain`）后再依赖其排序。 / It has never seen a real inspection "
              "outcome: retrain on local inspections before relying on its ranking.\n\n") if synthetic else ""
    mono = "\n".join(f"- {CLASS_ZH[c]}: " + "; ".join(f"`{f}` {MONOTONIC_ZH[d]}" for f, d in cons.items())
                     for c, cons in (meta.get("monotonic") or {}).items())
    mem = meta.get("memory_summary") or {}
    return f"""# 模型卡 Model card — {meta.get('version')}

{banner}## 用途 Intended use
为应急管理部门和第三方评估机构排序核查对象：对每张安责险保单估计“事故预防服务缺失”
(`p_missing`) 和“服务质量差” (`p_poor_quality`) 的概率，并以 SHAP 贡献解释每个标记。
它给出的是**核查优先级**，不是结论：被标记的保单须经现场核查确认（通知61号（三））。
Ranks policies for on-site inspection; a flag is a reason to look, not a finding.

## 验证方式 How it was validated
{validation_text(v)}
The metrics below are those of the held-out fit; the saved model is the one refitted on every
label ({meta.get('label_counts')}), as a practitioner would ship it. Metrics resting on fewer
than {CI_BELOW} labels carry a 95% bootstrap interval in brackets.

## 在没见过的世界上 On worlds it never saw
{_worlds(meta)}
## 数据 Data
- 标签年份 label years (policy start): {meta.get('label_years')}.
- 标签 labels: {meta.get('label_counts')}; by selection: {meta.get('label_counts_by_selection')}.
- 训练数据 sha256: `{meta.get('training_data_sha256')}`; rulebook {meta.get('rulebook_version')};
  source: {meta.get('training_source', 'see metadata.json')}.
- 特征 features ({len(meta.get('features', []))}): {', '.join(meta.get('features', []))}.
  No feature reads the inspection, its outcome, or records dated after the scoring date.
  Findings on service records enter per service record, not as totals, so a busy policy does
  not look suspicious for being busy. Peer features are leave-one-out means over the insurer's
  or provider's other policies in the scored submission. `services_vs_market` and
  `staff_vs_market` are the yearly visits and the number of staff who served the policy over
  the median of the same industry in the scored submission, so a market whose contracts ask for
  more visits, or whose agencies are larger, reads the same.
- 实体记忆 entity memory: what the labels taught about {mem.get('insurer_key', 0)} insurers and
  {mem.get('provider_key', 0)} service providers (cross-fitted, shrunk target statistics; an
  entity never seen gets the overall rate and its reason says so).
- 单调约束 monotonic constraints:
{mono}

## 指标 Metrics (held out, capacity = {v.get('capacity')} of policies)
`all` = every held-out labelled policy (mostly risk-targeted inspections, so rates are
inflated); `random` = the random-audit slice only (unbiased, but small).

{_metrics_table(v)}

### 与基线比较 Against the baselines
{_baselines(v)}

### 校准 Calibration (reliability, held out, all labels)
Probabilities are Platt-scaled log-odds fitted out-of-fold on the training labels.
{_held(meta)}{_reliability(v)}

## 标记阈值 Flag thresholds
A policy is flagged only within the inspection capacity and when its probability exceeds the
class's base rate ({meta.get('thresholds')}).

{('## 晋升规则 Promotion rule' + chr(10) + promo + chr(10)) if promo else ''}
## 局限 Known limits
- Trained on labels chosen mostly on visible risk: metrics on `all` overstate what random
  inspection would find; read the `random` rows, and their small n, for unbiased rates.
- Poor-quality service often has tidy paperwork: `p_poor_quality` separates less well than
  `p_missing`, and a low score is not evidence of good service.
- Inspectors' verdicts are themselves noisy; the model cannot be more reliable than they are.
- When a submission looks unlike the training data (`run.json` → `model_shift`), `scoring score`
  warns and leans the priority on the rule findings; the model's ranking there is a guess.
- Items (四) permit precondition and (六) corruption of 通知61号 are not visible in a submission.

## 版本 Versions
{', '.join(f'{k} {v}' for k, v in pv.items())}; created {meta.get('created')}; seed {meta.get('seed')}.
"""
