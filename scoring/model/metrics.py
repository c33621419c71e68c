"""How well scores find missing and poor-quality service: the numbers in model cards and reports."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def at_capacity(y: np.ndarray, score: np.ndarray, capacity: float = 0.10) -> dict:
    """Precision and recall when the top ``capacity`` share of policies by ``score`` is inspected."""
    y = np.asarray(y, dtype=int)
    k = max(1, int(round(capacity * len(y))))
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")[:k]
    hits = int(y[order].sum())
    return {"k": k, "precision": hits / k, "recall": hits / max(1, int(y.sum()))}


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict]:
    """Mean predicted probability against the observed rate in equal-count bins."""
    df = pd.DataFrame({"y": np.asarray(y, dtype=int), "p": np.asarray(p, dtype=float)}).sort_values("p", kind="stable")
    df["bin"] = np.minimum(np.arange(len(df)) * bins // max(1, len(df)), bins - 1)
    g = df.groupby("bin").agg(n=("y", "size"), mean_p=("p", "mean"), observed=("y", "mean"))
    return [{"bin": int(b), "n": int(r.n), "mean_p": round(float(r.mean_p), 4), "observed": round(float(r.observed), 4)} for b, r in g.iterrows()]


#: Metrics resting on fewer labels than this carry a bootstrap confidence interval.
CI_BELOW = 100
CI_LEVEL = 0.95
CI_RESAMPLES = 500


def bootstrap_ci(y: np.ndarray, p: np.ndarray, metric, resamples: int = CI_RESAMPLES, level: float = CI_LEVEL,
                 seed: int = 0) -> list[float] | None:
    """Percentile interval of ``metric(y, p)`` over resamples of the labels (those with both
    classes); None when fewer than half of them have both."""
    rng = np.random.default_rng(seed)
    y, p = np.asarray(y, dtype=int), np.asarray(p, dtype=float)
    values = []
    for _ in range(resamples):
        i = rng.integers(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            values.append(metric(y[i], p[i]))
    if len(values) < resamples // 2:
        return None
    a = (1 - level) / 2
    return [round(float(np.quantile(values, a)), 4), round(float(np.quantile(values, 1 - a)), 4)]


def class_metrics(y: np.ndarray, p: np.ndarray, capacity: float = 0.10, calibration: bool = True, seed: int = 0) -> dict:
    """ROC AUC, average precision, precision/recall at capacity, Brier and the reliability table,
    always with ``n`` and ``positives``; below :data:`CI_BELOW` labels also 95% bootstrap
    intervals (``roc_auc_ci``, ``average_precision_ci``)."""
    y = np.asarray(y, dtype=int)
    out = {"n": int(len(y)), "positives": int(y.sum())}
    if 0 < y.sum() < len(y):
        out["roc_auc"] = round(float(roc_auc_score(y, p)), 4)
        out["average_precision"] = round(float(average_precision_score(y, p)), 4)
        if len(y) < CI_BELOW:
            out["roc_auc_ci"] = bootstrap_ci(y, p, roc_auc_score, seed=seed)
            out["average_precision_ci"] = bootstrap_ci(y, p, average_precision_score, seed=seed)
    else:
        out["roc_auc"] = out["average_precision"] = None
    cap = at_capacity(y, p, capacity)
    out["precision_at_capacity"] = round(cap["precision"], 4)
    out["recall_at_capacity"] = round(cap["recall"], 4)
    out["capacity"] = capacity
    if calibration:
        out["brier"] = round(float(brier_score_loss(y, np.clip(p, 0, 1))), 4)
        out["reliability"] = reliability(y, p)
    return out


def metric_text(m: dict) -> str:
    """One class's metrics as a person reads them: n and positives always, intervals when small."""
    def one(name, key):
        v = m.get(key)
        if v is None:
            return f"{name} —"
        ci = m.get(f"{key}_ci")
        return f"{name} {v:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
    return (f"n={m['n']} 阳性 positives={m['positives']}: {one('ROC AUC', 'roc_auc')}, {one('AP', 'average_precision')}"
            + ("" if m["n"] >= CI_BELOW else f" (n < {CI_BELOW}: 95% 区间 interval)"))


def evaluate_scores(labels: pd.DataFrame, scores: pd.DataFrame, capacity: float = 0.10, calibration: bool = True) -> dict:
    """Per class metrics on every labelled policy, and on the random-audit slice alone.

    ``labels``: policy_id, outcome, selection; ``scores``: policy_id, p_missing, p_poor_quality.
    """
    df = labels.merge(scores, on="policy_id", how="inner")
    out: dict = {}
    slices = {"all": df, "random": df[df["selection"] == "random"]}
    for name, part in slices.items():
        out[name] = {"n": int(len(part))}
        if len(part) == 0:
            continue
        for cls in ("missing", "poor_quality"):
            out[name][cls] = class_metrics((part["outcome"] == cls).to_numpy(), part[f"p_{cls}"].to_numpy(), capacity, calibration)
    return out
