"""How much of an insurer's service is missing: estimates from the random arm, with intervals.

Only randomly selected inspections (``selection = random``) estimate a share: targeted ones
were chosen for their risk. Within a group of ``N`` scored policies of which ``n`` were
inspected at random and ``x`` found missing (or poor):

- ``random_arm``: ``x / n`` with a Wilson score interval whose variance carries the
  finite-population correction ``(N − n) / (N − 1)`` (an insurer's whole book inspected has no
  sampling error left);
- ``model_assisted``: the difference estimator ``mean(p over all N) + mean(y − p over the n)``
  (Särndal, Swensson & Wretman, *Model Assisted Survey Sampling*, §6.3): design-unbiased however
  wrong the model's probabilities ``p`` are, and narrower the better they are; its interval
  from the design variance of the residuals, ``(1 − n/N) s²(y − p) / n``, with Student's t on
  ``n − 1`` degrees of freedom (a sample of about 59 is small), clipped to 0–1;
- ``model_only``: with no random inspection, the mean probability, and no interval (nothing
  checks the model there).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm, t as student

ESTIMATE_COLUMNS = ["group_type", "group_id", "class", "policies", "inspected_random", "inspected_targeted",
                    "estimate", "lower", "upper", "method", "confidence"]


def wilson_fpc(x: int, n: int, N: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``x`` of ``n`` drawn without replacement from ``N``."""
    if n == 0:
        return (np.nan, np.nan)
    z2 = norm.ppf(0.5 + confidence / 2) ** 2 * (max(N - n, 0) / (N - 1) if N > 1 else 0.0)
    p = x / n
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = np.sqrt(z2 * (p * (1 - p) / n + z2 / (4 * n * n))) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def difference_estimate(p_all: np.ndarray, y: np.ndarray, p_sample: np.ndarray, confidence: float = 0.95
                        ) -> tuple[float, float, float]:
    """The model-assisted (difference) estimate of a share and its interval: ``p_all`` the model's
    probabilities over the group's ``N`` policies, ``y`` (0/1) and ``p_sample`` those of its ``n``
    randomly inspected ones."""
    N, n = len(p_all), len(y)
    resid = np.asarray(y, float) - np.asarray(p_sample, float)
    est = float(np.mean(p_all) + resid.mean())
    if n < 2:  # one inspection says nothing of the spread
        return est, 0.0, 1.0
    var = (1 - n / N) * resid.var(ddof=1) / n
    half = student.ppf(0.5 + confidence / 2, df=n - 1) * np.sqrt(max(var, 0.0))
    return est, max(0.0, est - half), min(1.0, est + half)


def estimates(scores: pd.DataFrame, inspections: pd.DataFrame, group_type: str = "insurer", group_col: str = "insurer_id",
              confidence: float = 0.95) -> pd.DataFrame:
    """:data:`ESTIMATE_COLUMNS` per group × class. ``scores``: policy_id, the group column,
    p_missing, p_poor_quality (every scored policy); ``inspections``: policy_id, outcome,
    selection (the latest per policy)."""
    insp = inspections.drop_duplicates("policy_id", keep="last").set_index("policy_id")
    rows = []
    for gid, g in scores.groupby(group_col, sort=True):
        at = insp.reindex(g["policy_id"])
        random = (at["selection"] == "random").to_numpy()
        targeted = (at["selection"] == "targeted").to_numpy()
        for cls in ("missing", "poor_quality"):
            p = g[f"p_{cls}"].to_numpy(dtype=float)
            base = {"group_type": group_type, "group_id": gid, "class": cls, "policies": len(g),
                    "inspected_random": int(random.sum()), "inspected_targeted": int(targeted.sum()), "confidence": confidence}
            if random.sum() == 0:
                rows.append({**base, "estimate": round(float(p.mean()), 4), "lower": np.nan, "upper": np.nan, "method": "model_only"})
                continue
            y = (at["outcome"].to_numpy()[random] == cls).astype(int)
            lo, hi = wilson_fpc(int(y.sum()), int(random.sum()), len(g), confidence)
            rows.append({**base, "estimate": round(float(y.mean()), 4), "lower": round(lo, 4), "upper": round(hi, 4),
                         "method": "random_arm"})
            est, lo, hi = difference_estimate(p, y, p[random], confidence)
            rows.append({**base, "estimate": round(est, 4), "lower": round(lo, 4), "upper": round(hi, 4),
                         "method": "model_assisted"})
    return pd.DataFrame(rows, columns=ESTIMATE_COLUMNS)
