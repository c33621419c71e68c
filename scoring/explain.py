"""Explanations: exact SHAP contributions to the model's log-odds, rendered as Chinese reasons.

For each flagged policy: ``base_value`` + Σ ``shap`` = ``raw_output`` (the log-odds the
classifier computes; ``link = "logit"``), and the calibrated probability is
``sigmoid(a * raw_output + b)``. Each contribution names the feature, its value and a
sentence an evaluator can check against the records, e.g.
``保单期内服务次数为 1（同行业通常为 4），推高服务缺失的可能``.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .features import BY_NAME, show
from .labels import CLASS_ZH
from .model import ServiceModel

TOLERANCE = 1e-6
PARALLEL_ROWS = 20_000  # from here on, SHAP runs in one process per core (it holds the GIL)


def _shap_part(est, M: np.ndarray) -> tuple[np.ndarray, float]:
    import shap

    explainer = shap.TreeExplainer(est)
    values = np.asarray(explainer.shap_values(M), dtype=float)
    if values.ndim == 3:  # some shap versions return one array per class
        values = values[..., -1]
    return values, float(np.asarray(explainer.expected_value, dtype=float).reshape(-1)[-1])


def shap_values(est, M: np.ndarray) -> tuple[np.ndarray, float]:
    """Exact TreeSHAP values and the base value; large inputs are split across processes (same numbers)."""
    jobs = min(os.cpu_count() or 1, 4)
    if len(M) < PARALLEL_ROWS or jobs < 2:
        return _shap_part(est, M)
    from joblib import Parallel, delayed

    parts = Parallel(n_jobs=jobs, backend="loky")(delayed(_shap_part)(est, m) for m in np.array_split(M, jobs))
    return np.vstack([v for v, _ in parts]), parts[0][1]


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


def _texts(model: ServiceModel, cls: str, feature: str, values: np.ndarray, shap: np.ndarray, industry: np.ndarray) -> np.ndarray:
    """``reason`` for one feature over many rows, computed once per distinct (value, industry, sign)."""
    key = np.stack([values, industry, np.sign(shap)], axis=1)
    uniq, inv = np.unique(key, axis=0, return_inverse=True, equal_nan=True)
    texts = np.array([reason(model, cls, feature, v, s, ind) for v, ind, s in uniq], dtype=object)
    return texts[inv.reshape(-1)]


def explain(model: ServiceModel, X: pd.DataFrame, cls: str) -> list[dict]:
    """One record per row of ``X``: base_value, raw_output, link and every contribution, largest first."""
    return list(iter_explain(model, X, cls))


def iter_explain(model: ServiceModel, X: pd.DataFrame, cls: str):
    """:func:`explain` one record at a time (SHAP is computed for all rows first, checked, then
    each record is built when asked for, so a caller can serialise and drop it)."""
    if len(X) == 0:
        return
    est = model.estimators[cls]
    M = model.matrix(X)
    values, base_value = shap_values(est, M)
    base = np.broadcast_to(base_value, (len(X),))
    raw = est.decision_function(M)
    gap = np.abs(base + values.sum(axis=1) - raw)
    if gap.max() > TOLERANCE:
        raise AssertionError(f"SHAP additivity broken by {gap.max():.2e}")
    names = list(model.features)
    ind = X["industry"].to_numpy(dtype=float)
    texts = np.stack([_texts(model, cls, f, M[:, j], values[:, j], ind) for j, f in enumerate(names)], axis=1)
    shown = np.where(np.isnan(M), np.nan, np.round(M, 6)).tolist()
    order = np.argsort(-values, axis=1, kind="stable")
    shap_list, text_list = values.tolist(), texts.tolist()
    for i in range(len(X)):
        v, sv, tx = shown[i], shap_list[i], text_list[i]
        contributions = [
            {"feature": names[j], "value": None if v[j] != v[j] else v[j], "shap": sv[j], "text_zh": tx[j]}
            for j in order[i].tolist()
        ]
        yield {"base_value": float(base[i]), "raw_output": float(raw[i]), "link": "logit", "contributions": contributions}
