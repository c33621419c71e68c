"""MODEL_CARD.md from a model's metadata: intended use, data, metrics with their split, limits."""
from __future__ import annotations

CLASS_ZH = {"missing": "服务缺失 missing", "poor_quality": "服务质量差 poor_quality"}
MODEL_ZH = {"model": "本模型 (HistGradientBoosting)", "logistic_regression": "基线：逻辑回归", "rule_count": "基线：规则发现计数"}


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
                    f"{m.get('roc_auc')} | {m.get('average_precision')} | {m['precision_at_capacity']} | "
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


def model_card(meta: dict) -> str:
    v = meta.get("validation", {})
    pv = meta.get("package_versions", {})
    promo = meta.get("promotion_rule")
    return f"""# 模型卡 Model card — {meta.get('version')}

## 用途 Intended use
为应急管理部门和第三方评估机构排序核查对象：对每张安责险保单估计“事故预防服务缺失”
(`p_missing`) 和“服务质量差” (`p_poor_quality`) 的概率，并以 SHAP 贡献解释每个标记。
它给出的是**核查优先级**，不是结论：被标记的保单须经现场核查确认（通知61号（三））。
Ranks policies for on-site inspection; a flag is a reason to look, not a finding.

## 数据 Data
- 训练年份 train years (policy start): {v.get('train_years')}; 测试年份 test year: {v.get('test_year')}
  (temporal split: fitted on earlier years, measured on the latest labelled year).
- 训练标签 labels: {meta.get('label_counts')}; by selection: {meta.get('label_counts_by_selection')}.
- 训练数据 sha256: `{meta.get('training_data_sha256')}`; rulebook {meta.get('rulebook_version')};
  source: {meta.get('training_source', 'see metadata.json')}.
- 特征 features ({len(meta.get('features', []))}): {', '.join(meta.get('features', []))}.
  No feature reads the inspection, its outcome, or records dated after the scoring date;
  insurer and provider track records use earlier policy years only.

## 指标 Metrics (test year {v.get('test_year')}, capacity = {v.get('capacity')} of policies)
`all` = every labelled policy of the test year (mostly risk-targeted inspections, so rates
are inflated); `random` = the random-audit slice only (unbiased, but small).

{_metrics_table(v)}

### 校准 Calibration (reliability, test year, all labels)
Probabilities are Platt-scaled log-odds fitted out-of-fold on the training years.
{_reliability(v)}

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
- Items (四) permit precondition and (六) corruption of 通知61号 are not visible in a submission.
- Trained on synthetic submissions (datasets/README.md) until real inspection outcomes are
  available; retrain (`scoring retrain`) when they are.

## 版本 Versions
{', '.join(f'{k} {v}' for k, v in pv.items())}; created {meta.get('created')}; seed {meta.get('seed')}.
"""
