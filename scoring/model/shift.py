"""Does this submission look like the data the model was trained on? If not, say so.

A model trained on one market can rank another market's policies worse than chance without
any sign of it. So the model keeps a sample of its training policies' features
(:func:`reference_sample`, saved as ``reference.parquet``), and every scoring run compares the
submission with it (:func:`model_shift`):

- **per feature**, the population stability index (PSI; quantile bins of the reference, missing
  values a bin of their own; above 0.25 is the usual "shifted");
- **overall**, a classifier that tries to tell reference rows from submission rows
  (HistGradientBoosting, 3-fold cross-validated ROC AUC on equal-sized samples): 0.5 means
  they cannot be told apart, 1.0 means every row betrays where it came from. This is the
  ``score`` in ``run.json`` → ``model_shift``; at or above the rulebook's
  ``model_shift.warn_score`` the run warns and the priority leans on the rule findings.

Like is compared with like: policies in progress have fewer visits, reports and follow-ups
on record than ended ones, so both sides are restricted to policies that had ended by their
as-of date when each side has at least :data:`MIN_ROWS` of them (``basis: ended``), and the
elapsed share itself and the memory features (which say who the entities are, not what the
records look like) are left out; the peer features (one value per insurer or provider) enter
the PSI but not the classifier. Where either side has too few ended policies (a submission of
the current year), policies in progress are compared with the training policies that were in
progress at their as-of date (``basis: in_progress``; when either side has too few of those
too, ``basis: all`` compares only the policies' terms, :data:`TERMS`), over the features that do not depend on how much of the period has passed
(:data:`EXPOSURE_FEATURES` left out). The share
of policies whose insurer or provider the model has never seen is reported beside the score.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from scoring.model.features import SUBMISSION_FEATURES

REFERENCE_ROWS = 4000
MIN_ROWS = 100
SAMPLE_ROWS = 3000
PSI_SHIFTED = 0.25
TOP = 5
SHIFT_FEATURES: tuple[str, ...] = tuple(f for f in SUBMISSION_FEATURES if f != "elapsed_frac")
#: Peer features take one value per insurer or provider and sample: a classifier would tell two
#: samples of the same market apart by those exact values, so they enter the PSI only. So do the
#: features measured against the submission's own market (``*_vs_market``): beside their absolute
#: counterpart they give away the submission's median, one value per industry.
CLASSIFIER_FEATURES: tuple[str, ...] = tuple(f for f in SHIFT_FEATURES if "_peer_" not in f and not f.endswith("_vs_market"))
#: The policy's own terms: what compares when one side has only ended and the other only running policies.
TERMS: tuple[str, ...] = ("industry", "high_risk", "employees", "premium", "fee_ratio", "rate_factor", "grade",
                          "accidents_prev_year")
#: Features that depend on how much of the policy period has passed (counts and gaps grow, reports
#: and follow-ups of recent visits are not in yet, period-end rules have not fired): compared only
#: when both sides are ended policies.
EXPOSURE_FEATURES: frozenset[str] = frozenset({
    "n_services", "services_per_year", "days_to_first", "max_gap_days", "n_items", "staff_vs_market", "spend_ratio",
    "report_rate", "mean_report_delay", "followup_rate", "rectified_ratio", "critical_per_service",
    "major_per_service", "policy_critical", "policy_major", "insurer_peer_services", "insurer_peer_spend",
    "provider_peer_services",
})


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float | None:
    """Population stability index of one feature (quantile bins of ``expected``; missing values a bin of their own)."""
    e, a = np.asarray(expected, float), np.asarray(actual, float)
    if len(e) == 0 or len(a) == 0:
        return None
    edges = np.unique(np.nanquantile(e, np.linspace(0, 1, bins + 1))) if np.isfinite(e).any() else np.array([0.0])

    def shares(x):
        idx = np.where(np.isnan(x), -1, np.searchsorted(edges[1:-1], x, side="right"))
        counts = np.bincount(idx + 1, minlength=len(edges) + 1).astype(float)
        return (counts + 0.5) / (counts.sum() + 0.5 * len(counts))

    pe, pa = shares(e), shares(a)
    return round(float(np.sum((pa - pe) * np.log(pa / pe))), 4)


def _ended(X: pd.DataFrame) -> np.ndarray:
    return X["elapsed_frac"].to_numpy(dtype=float) >= 0.999


def reference_sample(X: pd.DataFrame, n: int = REFERENCE_ROWS, seed: int = 0) -> pd.DataFrame:
    """Up to ``n`` training policies, half ended and half in progress at their as-of date where
    there are enough of each, with the features shift detection compares and ``elapsed_frac``."""
    cols = list(SHIFT_FEATURES) + ["elapsed_frac"]
    ended = _ended(X)
    rng = np.random.default_rng(seed)
    parts = []
    for pool in (np.flatnonzero(ended), np.flatnonzero(~ended)):
        parts.append(rng.choice(pool, size=min(n // 2, len(pool)), replace=False) if len(pool) else pool)
    pick = np.sort(np.concatenate(parts)).astype(np.int64)
    return X.iloc[pick][cols].reset_index(drop=True).astype(float)


def _sample(X: pd.DataFrame, n: int, rng) -> pd.DataFrame:
    if len(X) <= n:
        return X
    return X.iloc[np.sort(rng.choice(len(X), size=n, replace=False))]


def model_shift(reference: pd.DataFrame | None, X: pd.DataFrame, warn_score: float, seed: int = 0,
                unseen: dict | None = None) -> dict:
    """``run.json`` → ``model_shift``: ``warning``, ``score`` (classifier ROC AUC), ``features``
    (the most shifted, largest PSI first), their ``psi``, the ``basis`` compared, the row counts
    and ``unseen`` (shares of policies whose insurer / provider the model never saw)."""
    out: dict = {"warning": False, "score": None, "features": [], "psi": {}, "warn_score": warn_score,
                 "unseen": unseen or {}}
    if reference is None or not len(reference) or not len(X):
        out["basis"] = "none"
        return out
    ref_end, cur_end = _ended(reference), _ended(X)
    if ref_end.sum() >= MIN_ROWS and cur_end.sum() >= MIN_ROWS:
        ref, cur, basis = reference[ref_end], X[cur_end], "ended"
    elif (~ref_end).sum() >= MIN_ROWS and (~cur_end).sum() >= MIN_ROWS:
        ref, cur, basis = reference[~ref_end], X[~cur_end], "in_progress"
    else:
        ref, cur, basis = reference, X, "all"
    if basis == "all":  # ended on one side, in progress on the other: only the policies' terms compare
        cols = list(TERMS)
    else:
        cols = [f for f in SHIFT_FEATURES if basis == "ended" or f not in EXPOSURE_FEATURES]
    values = {f: psi(ref[f].to_numpy(dtype=float), cur[f].to_numpy(dtype=float)) for f in cols}
    ranked = sorted((v, f) for f, v in values.items() if v is not None)[::-1]
    out.update(basis=basis, rows={"reference": int(len(ref)), "submission": int(len(cur))},
               features=[f for v, f in ranked[:TOP]], psi={f: v for v, f in ranked[:TOP]},
               shifted_features=int(sum(v > PSI_SHIFTED for v, _ in ranked)))
    rng = np.random.default_rng(seed)
    n = min(len(ref), len(cur), SAMPLE_ROWS)
    if n < 30:
        out["note"] = "too few rows for the classifier"
        return out
    cols = [f for f in CLASSIFIER_FEATURES if f in cols]
    a, b = _sample(ref[cols], n, rng), _sample(cur[cols], n, rng)
    M = np.vstack([a.to_numpy(dtype=float), b.to_numpy(dtype=float)])
    y = np.r_[np.zeros(len(a)), np.ones(len(b))].astype(int)
    clf = HistGradientBoostingClassifier(max_iter=60, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=20,
                                         early_stopping=False, random_state=seed)
    p = cross_val_predict(clf, M, y, cv=StratifiedKFold(3, shuffle=True, random_state=seed), method="predict_proba")[:, 1]
    score = round(float(roc_auc_score(y, p)), 4)
    out["score"] = score
    out["warning"] = bool(score >= warn_score)
    return out
