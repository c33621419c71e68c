"""Explanations: exact SHAP contributions to the model's log-odds, rendered as Chinese reasons.

For each flagged policy: ``base_value`` + Σ ``shap`` = ``raw_output`` (the log-odds the
classifier computes; ``link = "logit"``), and the calibrated probability is
``sigmoid(a * raw_output + b)``. Each contribution names the feature, its value and a
sentence an evaluator can check against the records, e.g.
``保单期内服务次数为 1（同行业通常为 4），推高服务缺失的可能``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .features import BY_NAME, show
from .labels import CLASS_ZH
from .model import ServiceModel

TOLERANCE = 1e-6


def _typical(model: ServiceModel, feature: str, industry: float) -> float | None:
    t = model.metadata.get("typical", {}).get(feature, {})
    key = str(int(industry)) if industry == industry else "all"
    v = t.get(key, t.get("all"))
    return v


def reason(model: ServiceModel, cls: str, feature: str, value: float, shap: float, industry: float) -> str:
    f = BY_NAME[feature]
    typical = _typical(model, feature, industry)
    direction = "推高" if shap > 0 else "降低"
    ref = f"（同行业通常为 {show(feature, typical)}）" if typical is not None and f.unit not in ("industry", "bool") else ""
    return f"{f.zh}为 {show(feature, value)}{ref}，{direction}{CLASS_ZH[cls]}的可能"


def explain(model: ServiceModel, X: pd.DataFrame, cls: str) -> list[dict]:
    """One record per row of ``X``: base_value, raw_output, link and every contribution, largest first."""
    import shap

    if len(X) == 0:
        return []
    est = model.estimators[cls]
    M = model.matrix(X)
    explainer = shap.TreeExplainer(est)
    values = np.asarray(explainer.shap_values(M), dtype=float)
    if values.ndim == 3:  # some shap versions return one array per class
        values = values[..., -1]
    base = np.broadcast_to(np.asarray(explainer.expected_value, dtype=float).reshape(-1)[-1], (len(X),))
    raw = est.decision_function(M)
    gap = np.abs(base + values.sum(axis=1) - raw)
    if gap.max() > TOLERANCE:
        raise AssertionError(f"SHAP additivity broken by {gap.max():.2e}")
    out = []
    names = list(model.features)
    ind = X["industry"].to_numpy(dtype=float)
    for i in range(len(X)):
        order = np.argsort(-values[i], kind="stable")
        contributions = [
            {"feature": names[j], "value": None if np.isnan(M[i, j]) else round(float(M[i, j]), 6),
             "shap": float(values[i, j]), "text_zh": reason(model, cls, names[j], M[i, j], values[i, j], ind[i])}
            for j in order
        ]
        out.append({"base_value": float(base[i]), "raw_output": float(raw[i]), "link": "logit", "contributions": contributions})
    return out
