"""The service-quality model: training with a temporal split, calibrated scores, trusted artifacts.

Two gradient-boosted tree classifiers (scikit-learn's HistGradientBoostingClassifier), one per
class: "prevention service missing" and "poor-quality service", each against the rest. Their
log-odds are calibrated with Platt scaling fitted on out-of-fold predictions of the training
years, so ``p = sigmoid(a * raw + b)``; SHAP explains ``raw`` exactly (``explain.py``).

Validation is held out in time. With two or more labelled policy years (each with
:data:`MIN_TEST_LABELS` labels), the model is fitted on the earlier years and measured on the
latest one; with one, it is measured on the latest :data:`HOLDOUT_SHARE` of that year's
inspections by inspection date, fitted on the earlier ones. Either way it is measured next to
two honest baselines (logistic regression on the same features, and a weighted count of rule
findings), and then **refitted on every label** as a practitioner would: the saved model is
the refit one, the reported metrics are those of the held-out fit (the model card says so).

What the labels taught about insurers and providers travels with the model
(:mod:`scoring.model.memory`); where the regulation fixes a direction, the trees are held to it
(:data:`MONOTONIC`); a sample of the training policies' features is kept so that
``scoring score`` can say when a submission looks unlike them (:mod:`scoring.model.shift`).

A model directory holds ``missing.skops``, ``poor_quality.skops``, ``memory.json``,
``reference.parquet``, ``metadata.json`` (features, training data hash, label counts,
metrics, versions, sha256 of every other file) and ``MODEL_CARD.md``. :func:`load_model`
checks the hashes, the feature list and the types inside the estimator files before anything
is unpickled.
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

from scoring import __version__
from scoring.messages import render
from scoring.errors import ModelError
from scoring.model.features import CATEGORICAL, FEATURE_NAMES, KEY_COLUMNS, MEMORY_FEATURES, SUBMISSION_FEATURES
from scoring.files import sha256_file
from scoring.schema import CLASS_ZH, CLASSES
from scoring.model.memory import EntityMemory, fit_memory
from scoring.model.metrics import class_metrics

#: Types the estimator files may contain besides skops' defaults; anything else is refused.
TRUSTED_TYPES = frozenset({
    "functools.partial",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
})
DEFAULT_PARAMS = dict(max_iter=150, learning_rate=0.06, max_leaf_nodes=15, min_samples_leaf=30, l2_regularization=1.0,
                      early_stopping=False)
MIN_TEST_LABELS = 40
#: Least Platt slope: below it the out-of-fold log-odds did not rank the class, and the slope is
#: held here instead of turning the estimator's ranking round (:func:`platt`).
MIN_CALIBRATION_SLOPE = 0.05
#: One labelled year: this share of its inspections, the latest by inspection date, is held out.
HOLDOUT_SHARE = 0.25
#: Fewest labels of each class a fit needs (the calibration folds need one in each of five).
MIN_CLASS_LABELS = 5
#: Directions fixed by the regulation or by what the evidence means (HistGradientBoosting's
#: ``monotonic_cst``): +1 the class's probability never falls as the feature rises, -1 it never rises.
MONOTONIC: dict[str, dict[str, int]] = {
    "missing": {
        # signs of fabricated records (通知61号（三）虚假服务; AQ 9010 服务记录真实) never make missing service less likely
        "integrity_trace_per_service": +1,
        # a report text repeated across enterprises is weaker evidence (boilerplate), but still
        # never evidence of real service
        "integrity_text_per_service": +1,
        # a larger share of the prevention fee actually spent on service (办法 事故预防费用) never makes it more likely
        "spend_ratio": -1,
        # more visits per year on record (AQ 9010 sets the frequency) never make missing service more likely
        "services_per_year": -1,
        # nor do more visits than the submission's own market of the same industry
        "services_vs_market": -1,
        # an insurer or provider whose inspected policies were more often missing never looks safer for it
        "insurer_memory_missing": +1,
        "provider_memory_missing": +1,
    },
    "poor_quality": {
        # visits by staff without the qualification AQ 9010 asks for never make poor quality less likely
        "unqualified_share": +1,
        "spend_ratio": -1,
        # no constraint on the memory of poor quality: poor is the middle outcome, so a provider
        # whose service is worst shows a *low* poor rate (its policies come out missing); holding
        # that direction made the model rank worse than chance in a world where it mattered
    },
}


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


@dataclass
class ServiceModel:
    """Two calibrated binary classifiers over :data:`scoring.model.features.FEATURE_NAMES`."""

    estimators: dict[str, HistGradientBoostingClassifier]
    calibration: dict[str, tuple[float, float]]
    features: tuple[str, ...] = FEATURE_NAMES
    metadata: dict = field(default_factory=dict)
    memory: EntityMemory | None = None
    reference: pd.DataFrame | None = None  # a sample of the training policies' features (scoring.model.shift)
    trained_on: list[str] | None = None  # policy ids of every training label: later comparisons leave them out

    @property
    def name(self) -> str:
        """The version name it was saved under (``metadata.json`` → ``version``)."""
        return self.metadata.get("version", "unsaved")

    @property
    def version(self) -> str:
        """What results record as ``model_version``: the name and the artifact's digest
        (``svc-20261101-ab12cd34@3f9a2c1b7e0d``), so that an edited and re-sealed artifact never runs
        under the name of the one it was."""
        digest = self.metadata.get("artifact_sha256")
        return f"{self.name}@{digest[:12]}" if digest else self.name

    def design(self, X: pd.DataFrame, inplace: bool = False) -> pd.DataFrame:
        """``X`` (from :func:`scoring.model.features.build_features`) with the memory features filled
        in; unchanged if they already are."""
        if self.memory is None or not X[list(MEMORY_FEATURES)].isna().to_numpy().any():
            return X
        return self.memory.fill(X, inplace=inplace)

    def matrix(self, X: pd.DataFrame) -> np.ndarray:
        return self.design(X)[list(self.features)].to_numpy(dtype=float)

    def raw(self, X: pd.DataFrame, cls: str) -> np.ndarray:
        """The model's log-odds for ``cls`` (what SHAP explains)."""
        return self.estimators[cls].decision_function(self.matrix(X))

    def probability(self, raw: np.ndarray, cls: str) -> np.ndarray:
        a, b = self.calibration[cls]
        return _sigmoid(a * raw + b)

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """``p_missing`` and ``p_poor_quality`` per row of ``X`` (index kept)."""
        M = self.matrix(X)  # once for both classes: the largest array of a run
        return pd.DataFrame({f"p_{c}": self.probability(self.estimators[c].decision_function(M), c) for c in CLASSES},
                            index=X.index)


def monotonic_cst(cls: str, features=FEATURE_NAMES) -> list[int]:
    """The constraint vector of ``cls`` over ``features`` (0 = free)."""
    return [MONOTONIC.get(cls, {}).get(f, 0) for f in features]


def hold_all_missing(M: np.ndarray) -> np.ndarray:
    """``M`` (in place) with every column that has no value at all set to 0: a feature with no
    value in the training rows (e.g. peer features when every insurer has one policy) is held
    constant, since scikit-learn cannot bin an all-missing column."""
    M[:, np.isnan(M).all(axis=0)] = 0.0
    return M


def _estimator(seed: int, cls: str | None = None) -> HistGradientBoostingClassifier:
    cat = [FEATURE_NAMES.index(c) for c in CATEGORICAL] or None
    return HistGradientBoostingClassifier(categorical_features=cat, random_state=seed,
                                          monotonic_cst=monotonic_cst(cls) if cls else None, **DEFAULT_PARAMS)


def check_label_counts(outcome: pd.Series, what_zh: str = "训练", what_en: str = "training") -> None:
    """Refuse, in Chinese and English, a label set with fewer than :data:`MIN_CLASS_LABELS` of a class
    (or of the rest)."""
    y = pd.Series(outcome).astype(str)
    have = {c: int((y == c).sum()) for c in CLASSES}
    rest = {c: int(len(y) - have[c]) for c in CLASSES}
    short = [c for c in CLASSES if have[c] < MIN_CLASS_LABELS or rest[c] < MIN_CLASS_LABELS]
    if short:
        zh = "；".join(f"{CLASS_ZH[c]} {have[c]} 个、其他 {rest[c]} 个" for c in short)
        en = "; ".join(f"{c} {have[c]}, other outcomes {rest[c]}" for c in short)
        raise ModelError(
            *render('model.check_label_counts', what_zh=what_zh, detail_zh=zh, min_class_labels=MIN_CLASS_LABELS, v=len(y), what_en=what_en, detail_en=en))


def fit(X: pd.DataFrame, outcome: pd.Series, seed: int = 0) -> ServiceModel:
    """Fit both classes and their Platt calibration (on 5-fold out-of-fold log-odds). ``X`` holds
    every feature, memory included (cross-fitted for training rows)."""
    check_label_counts(outcome)
    M = hold_all_missing(X[list(FEATURE_NAMES)].to_numpy(dtype=float))
    estimators, calibration, held = {}, {}, {}
    for cls in CLASSES:
        y = (np.asarray(outcome) == cls).astype(int)
        oof = np.zeros(len(y))
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
        for tr, te in folds.split(M, y):
            oof[te] = _estimator(seed, cls).fit(hold_all_missing(M[tr].copy()), y[tr]).decision_function(M[te])
        calibration[cls], slope = platt(oof, y)
        if slope < MIN_CALIBRATION_SLOPE:
            held[cls] = round(slope, 4)
        estimators[cls] = _estimator(seed, cls).fit(M, y)
    model = ServiceModel(estimators, calibration)
    if held:
        model.metadata["calibration_held"] = held
    return model


def platt(raw: np.ndarray, y: np.ndarray) -> tuple[tuple[float, float], float]:
    """Platt scaling of out-of-fold log-odds ``raw`` for labels ``y``: ((slope, intercept), the
    unconstrained slope). Calibration must never turn a ranking round: where the out-of-fold
    log-odds do not rank the class (unconstrained slope below :data:`MIN_CALIBRATION_SLOPE`,
    possibly negative), the slope is held at that floor and only the intercept is fitted, so
    the probabilities stay near the base rate and keep the estimator's order."""
    from scipy.optimize import minimize_scalar

    fitted = LogisticRegression(C=1e6).fit(raw.reshape(-1, 1), y)
    slope, intercept = float(fitted.coef_[0, 0]), float(fitted.intercept_[0])
    if slope >= MIN_CALIBRATION_SLOPE:
        return (slope, intercept), slope
    a = MIN_CALIBRATION_SLOPE

    def nll(b: float) -> float:
        z = a * raw + b
        return float(np.sum(np.logaddexp(0.0, z) - y * z))

    return (a, float(minimize_scalar(nll).x)), slope


def temporal_split(years: pd.Series, min_test: int = MIN_TEST_LABELS) -> int:
    """The latest policy year with at least ``min_test`` labels: the held-out test year."""
    counts = years.value_counts().sort_index()
    ok = counts[counts >= min_test]
    if len(ok) < 2:
        raise ModelError(
            *render('model.temporal_split', min_test=min_test, v=counts.to_dict()),
        )
    return int(ok.index.max())


def split_labels(labels: pd.DataFrame, years: pd.Series, min_test: int = MIN_TEST_LABELS) -> tuple[np.ndarray, np.ndarray, dict]:
    """Train and test masks over ``labels`` and how they were chosen.

    Two or more labelled years (``min_test`` labels each): test on the latest, train on the
    earlier ones. Otherwise: test on the latest :data:`HOLDOUT_SHARE` of the inspections by
    ``inspection_date`` (ties by policy_id), train on the earlier ones.
    """
    years = pd.Series(years).reset_index(drop=True)
    try:
        test_year = temporal_split(years, min_test)
    except ModelError:
        test_year = None
    if test_year is not None:
        train, test = (years < test_year).to_numpy(), (years == test_year).to_numpy()
        return train, test, {"method": "temporal", "test_year": test_year,
                             "train_years": sorted(int(y) for y in np.unique(years[train]))}
    if "inspection_date" not in labels:
        raise ModelError(*render('model.split_labels'))
    order = np.lexsort((labels["policy_id"].astype(str).to_numpy(), labels["inspection_date"].to_numpy()))
    n_test = max(1, int(round(HOLDOUT_SHARE * len(labels))))
    test = np.zeros(len(labels), dtype=bool)
    test[order[len(labels) - n_test:]] = True
    dates = pd.to_datetime(labels["inspection_date"])
    return ~test, test, {"method": "by_inspection_date", "holdout_share": HOLDOUT_SHARE,
                         "train_years": sorted(int(y) for y in np.unique(years[~test])),
                         "test_year": None, "test_from": str(dates[test].min().date()), "test_to": str(dates[test].max().date())}


@dataclass
class Training:
    """What :func:`train` produced: the saved (refit) model, the held-out fit and its record."""

    model: ServiceModel  # refit on every label: the one to save and use
    held_out: ServiceModel  # fitted on the training part only: the one the metrics are of
    record: dict
    train: np.ndarray  # masks over the labelled rows
    test: np.ndarray


def with_memory(X: pd.DataFrame, crossfit: pd.DataFrame) -> pd.DataFrame:
    """``X`` with its memory features replaced by cross-fitted values."""
    out = X.copy()
    for c in MEMORY_FEATURES:
        out[c] = crossfit[c].to_numpy()
    return out


def fit_with_memory(X: pd.DataFrame, outcome: pd.Series, seed: int = 0,
                    population: pd.DataFrame | None = None) -> tuple[ServiceModel, pd.DataFrame]:
    """Learn the entity memory, then fit the classifiers on these rows with their cross-fitted
    memory features. Returns the model and the rows as it was fitted on them."""
    memory, cf = fit_memory(X, outcome, seed, population)
    Xd = with_memory(X, cf)
    model = fit(Xd, outcome, seed)
    model.memory = memory
    return model, Xd


def _baselines(Xtr, ytr_outcome, Xte, seed):
    """Scores of the honest baselines on the test rows, per class: logistic regression on the same
    features, and a weighted count of rule findings (physical signs of fabrication and critical findings count double, repeated report texts once)."""
    out = {}
    for cls in CLASSES:
        lr = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
        lr.fit(Xtr[list(FEATURE_NAMES)].to_numpy(dtype=float), (ytr_outcome == cls).astype(int))
        out[("logistic_regression", cls)] = lr.predict_proba(Xte[list(FEATURE_NAMES)].to_numpy(dtype=float))[:, 1]
        out[("rule_count", cls)] = (2 * Xte["integrity_trace_per_service"].fillna(0) + Xte["integrity_text_per_service"].fillna(0) + 2 * Xte["critical_per_service"].fillna(0)
                                    + Xte["major_per_service"].fillna(0) + 2 * Xte["policy_critical"] + Xte["policy_major"]).to_numpy(dtype=float)
    return out


def data_hash(X: pd.DataFrame, outcome: pd.Series) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(X[list(SUBMISSION_FEATURES)].to_numpy(dtype=float)).tobytes())
    for c in KEY_COLUMNS:
        if c in X:
            h.update("|".join(map(str, X[c])).encode())
    h.update("|".join(map(str, X.index)).encode())
    h.update("|".join(outcome.astype(str)).encode())
    return h.hexdigest()


def typical_values(X: pd.DataFrame) -> dict:
    """Median of every feature, overall and per industry, over every policy of the training
    submissions: the "通常为" of explanations."""
    overall = X.median(numeric_only=True)
    by_ind = X.groupby(X["industry"].to_numpy()).median(numeric_only=True)
    return {
        f: {"all": _num(overall[f]), **{str(int(i)): _num(by_ind.loc[i, f]) for i in by_ind.index}}
        for f in FEATURE_NAMES
    }


def _num(x):
    return None if pd.isna(x) else round(float(x), 6)


def train(X: pd.DataFrame, labels: pd.DataFrame, years: pd.Series, seed: int = 0, capacity: float = 0.10,
          min_test: int = MIN_TEST_LABELS, population: pd.DataFrame | None = None) -> Training:
    """Validate on held-out labels (:func:`split_labels`), then refit on every label.

    ``X`` (features and entity keys) and ``labels`` (policy_id, outcome, selection,
    inspection_date) are aligned on the labelled policies; ``years`` is each one's policy start
    year; ``population`` holds the features of every policy of the training submissions
    (labelled or not): the track records and the reference for shift detection.
    """
    X = X.reset_index(drop=True)
    labels = labels.reset_index(drop=True)
    y = labels["outcome"].astype(str)
    check_label_counts(y)
    train_mask, test_mask, split = split_labels(labels, years, min_test)
    check_label_counts(y[train_mask], *render('model.train'))
    held_out, Xtr = fit_with_memory(X[train_mask], y[train_mask], seed, population)
    Xte = held_out.design(X[test_mask])
    lte = labels[test_mask]
    scores = held_out.predict(Xte)
    base = _baselines(Xtr, y[train_mask].to_numpy(), Xte, seed)
    record: dict = {**split, "n_train": int(train_mask.sum()), "n_test": int(test_mask.sum()), "capacity": capacity,
                    "refit_on_all_labels": True, "models": {}}
    for name in ("model", "logistic_regression", "rule_count"):
        record["models"][name] = {}
        for slice_name, mask in (("all", np.ones(len(lte), bool)), ("random", (lte["selection"] == "random").to_numpy())):
            if mask.sum() == 0:
                continue
            per = {}
            for cls in CLASSES:
                yy = (lte["outcome"].to_numpy()[mask] == cls).astype(int)
                sc = scores[f"p_{cls}"].to_numpy()[mask] if name == "model" else base[(name, cls)][mask]
                per[cls] = class_metrics(yy, sc, capacity, calibration=(name != "rule_count"), seed=seed)
            record["models"][name][slice_name] = {"n": int(mask.sum()), **per}
    model, _ = fit_with_memory(X, y, seed, population)
    model.trained_on = sorted(map(str, labels["policy_id"]))
    pop = population if population is not None else X
    from scoring.model.shift import reference_sample

    designed = model.design(pop)
    model.reference = reference_sample(designed, seed=seed)
    model.metadata.update({
        "features": list(FEATURE_NAMES),
        "training_data_sha256": data_hash(X, y),
        "label_counts": {k: int(v) for k, v in y.value_counts().sort_index().items()},
        "label_counts_by_selection": {k: int(v) for k, v in labels["selection"].value_counts().sort_index().items()},
        "label_years": {str(int(k)): int(v) for k, v in pd.Series(years).value_counts().sort_index().items()},
        "validation": record,
        "calibration": {c: list(v) for c, v in model.calibration.items()},
        # the industry's typical policy, not the typical inspected one: inspections are targeted at
        # visible risk, so the inspected policies' median visits would read low
        "typical": typical_values(designed),
        "thresholds": _thresholds(labels),
        "monotonic": MONOTONIC,
        "memory_summary": {col: len(t) for col, t in model.memory.labels.items()},
        "seed": seed,
        "params": DEFAULT_PARAMS,
    })
    return Training(model, held_out, record, train_mask, test_mask)


def train_and_validate(X: pd.DataFrame, labels: pd.DataFrame, years: pd.Series, seed: int = 0, capacity: float = 0.10,
                       min_test: int = MIN_TEST_LABELS, population: pd.DataFrame | None = None) -> tuple[ServiceModel, dict]:
    """:func:`train`, returning the refit model and the validation record."""
    t = train(X, labels, years, seed, capacity, min_test, population)
    return t.model, t.record


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


def artifact_digest(meta: dict) -> str:
    """sha256 of the metadata in canonical form (sorted keys, its own digest left out). The metadata
    holds the sha256 of every other file, so this one value stands for the whole artifact: an edited
    threshold or calibration cannot pass under the same model version."""
    body = {k: v for k, v in meta.items() if k != "artifact_sha256"}
    return hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def save_model(model: ServiceModel, out: str | Path, name: str | None = None, extra: dict | None = None) -> Path:
    """Write the estimators, ``metadata.json`` and ``MODEL_CARD.md`` into ``out`` (atomically)."""
    import skops.io as sio

    from scoring.model.card import model_card
    from scoring.files import atomic_dir

    out = Path(out)
    meta = dict(model.metadata)
    meta.setdefault("version", name or f"svc-{dt.date.today():%Y%m%d}-{meta.get('training_data_sha256', '')[:8]}")
    meta["created"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    meta["package_versions"] = package_versions()
    meta.update(extra or {})
    with atomic_dir(out, kind="metadata.json") as tmp:
        files = {}
        for cls, est in model.estimators.items():
            sio.dump(est, tmp / f"{cls}.skops")
            files[cls] = {"file": f"{cls}.skops", "sha256": sha256_file(tmp / f"{cls}.skops")}
        meta["estimators"] = files
        extra_files = {}
        if model.memory is not None:
            (tmp / "memory.json").write_text(json.dumps(model.memory.to_dict(), ensure_ascii=False, sort_keys=True) + "\n",
                                             encoding="utf-8")
            extra_files["memory"] = {"file": "memory.json", "sha256": sha256_file(tmp / "memory.json")}
        if model.reference is not None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pandas(model.reference, preserve_index=False), tmp / "reference.parquet")
            extra_files["reference"] = {"file": "reference.parquet", "sha256": sha256_file(tmp / "reference.parquet")}
        if model.trained_on is not None:
            (tmp / "trained_on.json").write_text(json.dumps({"policy_ids": model.trained_on}) + "\n", encoding="utf-8")
            extra_files["trained_on"] = {"file": "trained_on.json", "sha256": sha256_file(tmp / "trained_on.json")}
        meta["files"] = extra_files
        meta["artifact_sha256"] = artifact_digest(meta)
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
        raise ModelError(*render('model.load_model', path=path))
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ModelError(*render('model.load_model.5', meta_path=meta_path, e=e)) from None
    if meta.get("artifact_sha256") != artifact_digest(meta):
        raise ModelError(
            *render('model.load_model.2', path=path))
    if meta.get("features") != list(FEATURE_NAMES):
        missing = sorted(set(FEATURE_NAMES) - set(meta.get("features") or []))
        extra = sorted(set(meta.get("features") or []) - set(FEATURE_NAMES))
        raise ModelError(
            *render('model.load_model.3', path=path, missing=missing, extra=extra),
        )
    estimators = {}
    for cls in CLASSES:
        entry = (meta.get("estimators") or {}).get(cls)
        if not entry:
            raise ModelError(*render('model.load_model.6', path=path, cls=cls))
        f = path / entry["file"]
        if not f.exists():
            raise ModelError(*render('model.load_model.7', f=f))
        digest = sha256_file(f)
        if digest != entry["sha256"]:
            raise ModelError(
                *render('model.load_model.8', f=f),
            )
        untrusted = set(sio.get_untrusted_types(file=f))
        if not untrusted <= TRUSTED_TYPES:
            raise ModelError(*render('model.load_model.9', f=f, v=sorted(untrusted - TRUSTED_TYPES)))
        estimators[cls] = sio.load(f, trusted=sorted(untrusted))
    calibration = {c: tuple(meta["calibration"][c]) for c in CLASSES}
    memory = reference = trained_on = None
    for kind, entry in (meta.get("files") or {}).items():
        f = path / entry["file"]
        if not f.exists() or sha256_file(f) != entry["sha256"]:
            raise ModelError(*render('model.load_model.10', f=f))
        if kind == "memory":
            memory = EntityMemory.from_dict(json.loads(f.read_text(encoding="utf-8")))
        elif kind == "reference":
            import pyarrow.parquet as pq

            reference = pq.read_table(f).to_pandas()
        elif kind == "trained_on":
            trained_on = json.loads(f.read_text(encoding="utf-8"))["policy_ids"]
    if memory is None:
        raise ModelError(*render('model.load_model.4', path=path))
    return ServiceModel(estimators, calibration, FEATURE_NAMES, meta, memory, reference, trained_on)
