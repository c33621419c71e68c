"""The service-quality model: training with a temporal split, calibrated scores, trusted artifacts.

Two gradient-boosted tree classifiers (scikit-learn's HistGradientBoostingClassifier), one per
class: "prevention service missing" and "poor-quality service", each against the rest. Their
log-odds are calibrated with Platt scaling fitted on out-of-fold predictions of the training
years, so ``p = sigmoid(a * raw + b)``; SHAP explains ``raw`` exactly (``explain.py``).

Validation is temporal: the model is fitted on policies that started before the latest
labelled year and measured on that year (all labels, and the random-audit slice alone),
next to two honest baselines: logistic regression on the same features, and a count of
rule findings.

A model directory holds ``missing.skops``, ``poor_quality.skops``, ``metadata.json``
(features, training data hash, label counts, metrics, versions, sha256 of each estimator
file) and ``MODEL_CARD.md``. :func:`load_model` checks the hashes, the feature list and the
types inside the estimator files before anything is unpickled.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import __version__
from .errors import ModelError
from .features import CATEGORICAL, FEATURE_NAMES
from .io import sha256_file
from .labels import CLASSES
from .metrics import class_metrics

#: Types the estimator files may contain besides skops' defaults; anything else is refused.
TRUSTED_TYPES = frozenset({
    "functools.partial",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
})
DEFAULT_PARAMS = dict(max_iter=150, learning_rate=0.06, max_leaf_nodes=15, min_samples_leaf=30, l2_regularization=1.0,
                      early_stopping=False)
MIN_TEST_LABELS = 40


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


@dataclass
class ServiceModel:
    """Two calibrated binary classifiers over :data:`scoring.features.FEATURE_NAMES`."""

    estimators: dict[str, HistGradientBoostingClassifier]
    calibration: dict[str, tuple[float, float]]
    features: tuple[str, ...] = FEATURE_NAMES
    metadata: dict = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.metadata.get("version", "unsaved")

    def matrix(self, X: pd.DataFrame) -> np.ndarray:
        return X[list(self.features)].to_numpy(dtype=float)

    def raw(self, X: pd.DataFrame, cls: str) -> np.ndarray:
        """The model's log-odds for ``cls`` (what SHAP explains)."""
        return self.estimators[cls].decision_function(self.matrix(X))

    def probability(self, raw: np.ndarray, cls: str) -> np.ndarray:
        a, b = self.calibration[cls]
        return _sigmoid(a * raw + b)

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """``p_missing`` and ``p_poor_quality`` per row of ``X`` (index kept)."""
        return pd.DataFrame({f"p_{c}": self.probability(self.raw(X, c), c) for c in CLASSES}, index=X.index)


def _estimator(seed: int) -> HistGradientBoostingClassifier:
    cat = [FEATURE_NAMES.index(c) for c in CATEGORICAL] or None
    return HistGradientBoostingClassifier(categorical_features=cat, random_state=seed, **DEFAULT_PARAMS)


def fit(X: pd.DataFrame, outcome: pd.Series, seed: int = 0) -> ServiceModel:
    """Fit both classes and their Platt calibration (on 5-fold out-of-fold log-odds)."""
    M = X[list(FEATURE_NAMES)].to_numpy(dtype=float)
    # A feature with no value at all in the training rows (e.g. track records when only the
    # first year is labelled) is held constant: scikit-learn cannot bin an all-missing column.
    M[:, np.isnan(M).all(axis=0)] = 0.0
    estimators, calibration = {}, {}
    for cls in CLASSES:
        y = (outcome.to_numpy() == cls).astype(int)
        if y.sum() < 5 or y.sum() > len(y) - 5:
            raise ModelError(f"类别 {cls} 的标签太少（{int(y.sum())} / {len(y)}），无法训练",
                             f"too few labels of class {cls} ({int(y.sum())} of {len(y)}) to train")
        oof = np.zeros(len(y))
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
        for tr, te in folds.split(M, y):
            Mtr = M[tr].copy()
            Mtr[:, np.isnan(Mtr).all(axis=0)] = 0.0
            oof[te] = _estimator(seed).fit(Mtr, y[tr]).decision_function(M[te])
        platt = LogisticRegression(C=1e6).fit(oof.reshape(-1, 1), y)
        calibration[cls] = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        estimators[cls] = _estimator(seed).fit(M, y)
    return ServiceModel(estimators, calibration)


def temporal_split(years: pd.Series, min_test: int = MIN_TEST_LABELS) -> int:
    """The latest policy year with at least ``min_test`` labels: the held-out test year."""
    counts = years.value_counts().sort_index()
    ok = counts[counts >= min_test]
    if len(ok) < 2:
        raise ModelError(
            f"按年份划分需要至少两个年份各有 {min_test} 个以上标签（现有 {counts.to_dict()}）",
            f"a temporal split needs at least two policy years with {min_test}+ labels each (have {counts.to_dict()})",
        )
    return int(ok.index.max())


def _baselines(Xtr, ytr_outcome, Xte, seed):
    """Scores of the honest baselines on the test rows, per class."""
    out = {}
    for cls in CLASSES:
        lr = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
        lr.fit(Xtr[list(FEATURE_NAMES)].to_numpy(dtype=float), (ytr_outcome == cls).astype(int))
        out[("logistic_regression", cls)] = lr.predict_proba(Xte[list(FEATURE_NAMES)].to_numpy(dtype=float))[:, 1]
        out[("rule_count", cls)] = (Xte["n_integrity"] * 2 + Xte["n_critical"] * 2 + Xte["n_major"]).to_numpy(dtype=float)
    return out


def data_hash(X: pd.DataFrame, outcome: pd.Series) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(X[list(FEATURE_NAMES)].to_numpy(dtype=float)).tobytes())
    h.update("|".join(map(str, X.index)).encode())
    h.update("|".join(outcome.astype(str)).encode())
    return h.hexdigest()


def typical_values(X: pd.DataFrame) -> dict:
    """Median of every feature, overall and per industry: the "通常为" of explanations."""
    overall = X.median(numeric_only=True)
    by_ind = X.groupby(X["industry"].to_numpy()).median(numeric_only=True)
    return {
        f: {"all": _num(overall[f]), **{str(int(i)): _num(by_ind.loc[i, f]) for i in by_ind.index}}
        for f in FEATURE_NAMES
    }


def _num(x):
    return None if pd.isna(x) else round(float(x), 6)


def train_and_validate(X: pd.DataFrame, labels: pd.DataFrame, years: pd.Series, seed: int = 0, capacity: float = 0.10,
                       min_test: int = MIN_TEST_LABELS) -> tuple[ServiceModel, dict]:
    """Fit on years before the latest labelled year, measure on that year.

    ``X`` and ``labels`` (outcome, selection) are aligned on the labelled policies; ``years``
    is each one's policy start year. Returns the model and its validation record.
    """
    test_year = temporal_split(years, min_test)
    train = (years < test_year).to_numpy()
    test = (years == test_year).to_numpy()
    model = fit(X[train], labels["outcome"][train], seed)
    Xte, lte = X[test], labels[test]
    scores = model.predict(Xte)
    base = _baselines(X[train], labels["outcome"][train].to_numpy(), Xte, seed)
    record: dict = {"train_years": sorted(int(y) for y in np.unique(years[train])), "test_year": test_year,
                    "n_train": int(train.sum()), "n_test": int(test.sum()), "capacity": capacity, "models": {}}
    for name in ("model", "logistic_regression", "rule_count"):
        record["models"][name] = {}
        for slice_name, mask in (("all", np.ones(len(lte), bool)), ("random", (lte["selection"] == "random").to_numpy())):
            if mask.sum() == 0:
                continue
            per = {}
            for cls in CLASSES:
                y = (lte["outcome"].to_numpy()[mask] == cls).astype(int)
                s = scores[f"p_{cls}"].to_numpy()[mask] if name == "model" else base[(name, cls)][mask]
                per[cls] = class_metrics(y, s, capacity, calibration=(name != "rule_count"))
            record["models"][name][slice_name] = {"n": int(mask.sum()), **per}
    model.metadata.update({
        "features": list(FEATURE_NAMES),
        "training_data_sha256": data_hash(X[train], labels["outcome"][train]),
        "label_counts": {k: int(v) for k, v in labels["outcome"][train].value_counts().sort_index().items()},
        "label_counts_by_selection": {k: int(v) for k, v in labels["selection"][train].value_counts().sort_index().items()},
        "validation": record,
        "calibration": {c: list(v) for c, v in model.calibration.items()},
        "typical": typical_values(X[train]),
        "thresholds": _thresholds(labels[train]),
        "seed": seed,
        "params": DEFAULT_PARAMS,
    })
    return model, record


def _thresholds(labels: pd.DataFrame) -> dict:
    """Flag only above the class's base rate: in random audits if there are enough, else in all labels."""
    rnd = labels[labels["selection"] == "random"]
    ref = rnd if len(rnd) >= 50 else labels
    return {c: round(float((ref["outcome"] == c).mean()), 4) for c in CLASSES} | {"source": "random" if ref is rnd else "all"}


# ---------------------------------------------------------------------------------- artifacts


def package_versions() -> dict:
    import shap
    import sklearn
    import skops

    return {"python": platform.python_version(), "scoring": __version__, "scikit-learn": sklearn.__version__,
            "numpy": np.__version__, "pandas": pd.__version__, "shap": shap.__version__, "skops": skops.__version__}


def save_model(model: ServiceModel, out: str | Path, name: str | None = None, extra: dict | None = None) -> Path:
    """Write the estimators, ``metadata.json`` and ``MODEL_CARD.md`` into ``out`` (atomically)."""
    import skops.io as sio

    from .modelcard import model_card
    from .results import atomic_dir

    out = Path(out)
    meta = dict(model.metadata)
    meta.setdefault("version", name or f"svc-{dt.date.today():%Y%m%d}-{meta.get('training_data_sha256', '')[:8]}")
    meta["created"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    meta["package_versions"] = package_versions()
    meta.update(extra or {})
    with atomic_dir(out) as tmp:
        files = {}
        for cls, est in model.estimators.items():
            sio.dump(est, tmp / f"{cls}.skops")
            files[cls] = {"file": f"{cls}.skops", "sha256": sha256_file(tmp / f"{cls}.skops")}
        meta["estimators"] = files
        (tmp / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (tmp / "MODEL_CARD.md").write_text(model_card(meta), encoding="utf-8")
    model.metadata = meta
    return out


def load_model(path: str | Path) -> ServiceModel:
    """Load a model directory, refusing tampered files, unexpected types and feature mismatches."""
    import skops.io as sio

    path = Path(path)
    meta_path = path / "metadata.json"
    if not meta_path.exists():
        raise ModelError(f"模型目录 {path} 中没有 metadata.json", f"model directory {path} has no metadata.json")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ModelError(f"{meta_path} 不是有效的 JSON：{e}", f"{meta_path} is not valid JSON: {e}") from None
    if meta.get("features") != list(FEATURE_NAMES):
        missing = sorted(set(FEATURE_NAMES) - set(meta.get("features") or []))
        extra = sorted(set(meta.get("features") or []) - set(FEATURE_NAMES))
        raise ModelError(
            f"模型 {path} 的特征与本版本不一致（缺少 {missing}，多出 {extra}），请重新训练",
            f"model {path} was trained on other features (missing {missing}, extra {extra}); retrain it",
        )
    estimators = {}
    for cls in CLASSES:
        entry = (meta.get("estimators") or {}).get(cls)
        if not entry:
            raise ModelError(f"模型 {path} 缺少类别 {cls} 的估计器", f"model {path} has no estimator for {cls}")
        f = path / entry["file"]
        if not f.exists():
            raise ModelError(f"模型文件 {f} 不存在", f"model file {f} does not exist")
        digest = sha256_file(f)
        if digest != entry["sha256"]:
            raise ModelError(
                f"模型文件 {f} 的 sha256 与 metadata.json 不符（可能被篡改），拒绝加载",
                f"model file {f} does not match the sha256 in metadata.json (it may have been tampered with); refusing to load",
            )
        untrusted = set(sio.get_untrusted_types(file=f))
        if not untrusted <= TRUSTED_TYPES:
            raise ModelError(f"模型文件 {f} 含有不受信任的类型 {sorted(untrusted - TRUSTED_TYPES)}，拒绝加载",
                             f"model file {f} contains untrusted types {sorted(untrusted - TRUSTED_TYPES)}; refusing to load")
        estimators[cls] = sio.load(f, trusted=sorted(untrusted))
    calibration = {c: tuple(meta["calibration"][c]) for c in CLASSES}
    return ServiceModel(estimators, calibration, FEATURE_NAMES, meta)
