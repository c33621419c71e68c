"""What the training labels taught about each insurer and each service provider: the model's memory.

A regulator's inspections say more than "this policy was served badly": they say which insurer
sold it and which agency (or which insurer's own staff) did the work. A submission of one year
carries no history of its own, so the model carries it: for every insurer and provider seen in
training, how many of its policies were inspected and how many were found missing or poor,
shrunk toward the overall rate (scikit-learn's ``TargetEncoder`` with empirical-Bayes
smoothing), and the means of its policies' records (its track record).

- **Training rows** get *cross-fitted* encodings (``TargetEncoder.fit_transform``: each row's
  value comes from the other folds), so a policy's own label never feeds its own feature.
- **Scored rows** get the encodings fitted on every training label. An entity never seen gets
  the prior (the overall training rate) and its reason says so.
- **Peer features** (``*_peer_*``, leave-one-out means over the entity's other policies in the
  scored submission) fall back to the entity's training track record when the submission has
  no other policy of that entity.

The memory is saved beside the estimators as ``memory.json`` (plain JSON, hashed in
``metadata.json``), so it survives save and load without unpickling anything.
"""
from __future__ import annotations

from scoring.schema import CLASSES

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.preprocessing import TargetEncoder

from scoring.model.features import KEY_COLUMNS, MEMORY_FEATURES, PEERS

#: memory feature -> (entity key column, class)
SOURCES: dict[str, tuple[str, str]] = {
    "insurer_memory_missing": ("insurer_key", "missing"),
    "insurer_memory_poor": ("insurer_key", "poor_quality"),
    "provider_memory_missing": ("provider_key", "missing"),
    "provider_memory_poor": ("provider_key", "poor_quality"),
}
assert set(SOURCES) == set(MEMORY_FEATURES)
_CLASSES = CLASSES
_TRACK = sorted({source for _, source in PEERS.values()})


def _keys(X: pd.DataFrame, col: str) -> np.ndarray:
    """Entity keys as strings, "" where unknown (a policy without service records has no provider)."""
    return X[col].astype(object).where(X[col].notna(), "").astype(str).to_numpy(dtype=object)


@dataclass
class EntityMemory:
    """Label counts, shrunk encodings and track records per entity key (see the module docstring)."""

    prior: dict[str, float]
    labels: dict[str, dict[str, dict]]  # key column -> key -> {"n", "missing", "poor_quality", "enc": {class: value}}
    track: dict[str, dict[str, dict]] = field(default_factory=dict)  # key column -> key -> {"policies", feature: mean}

    def counts(self, key_column: str, key) -> dict | None:
        """What training labels said about one entity, or None if it was never inspected."""
        if key is None or key != key or key == "":
            return None
        return self.labels.get(key_column, {}).get(str(key))

    def fill(self, X: pd.DataFrame, inplace: bool = False) -> pd.DataFrame:
        """``X`` with the memory features set from the stored encodings (prior for unseen
        entities) and empty peer features taken from the entities' training track records
        (``inplace``: into ``X`` itself, no copy of a million-row frame)."""
        out = X if inplace else X.copy()
        for feat, (col, cls) in SOURCES.items():
            table = self.labels.get(col, {})
            enc = {k: v["enc"][cls] for k, v in table.items()}
            out[feat] = pd.Series(_keys(X, col)).map(enc).fillna(self.prior[cls]).to_numpy(dtype=float)
        for feat, (col, source) in PEERS.items():
            empty = out[feat].isna().to_numpy()
            if not empty.any():
                continue
            track = self.track.get(col, {})
            fallback = pd.Series(_keys(X, col)[empty]).map({k: v.get(source) for k, v in track.items()})
            values = out[feat].to_numpy(dtype=float).copy()
            values[empty] = fallback.to_numpy(dtype=float, na_value=np.nan)
            out[feat] = values
        return out

    def to_dict(self) -> dict:
        return {"prior": self.prior, "labels": self.labels, "track": self.track}

    @classmethod
    def from_dict(cls, d: dict) -> "EntityMemory":
        return cls(prior={k: float(v) for k, v in d["prior"].items()}, labels=d["labels"], track=d.get("track", {}))


def _encoder(target_type: str, seed: int) -> TargetEncoder:
    """A TargetEncoder cross-fitting on 5 shuffled, stratified folds (scikit-learn >= 1.9 takes the
    splitter as ``cv``; earlier versions take ``shuffle`` and ``random_state``)."""
    import inspect

    from sklearn.model_selection import StratifiedKFold

    if inspect.signature(TargetEncoder).parameters["shuffle"].default == "deprecated":
        return TargetEncoder(target_type=target_type, smooth="auto", cv=StratifiedKFold(5, shuffle=True, random_state=seed))
    return TargetEncoder(target_type=target_type, smooth="auto", cv=5, shuffle=True, random_state=seed)


def _round(x) -> float | None:
    return None if x is None or x != x else round(float(x), 6)


def fit_memory(X: pd.DataFrame, outcome: pd.Series, seed: int = 0,
               population: pd.DataFrame | None = None) -> tuple[EntityMemory, pd.DataFrame]:
    """Learn the memory from labelled rows ``X`` (with :data:`KEY_COLUMNS`) and their ``outcome``.

    Returns the memory and, for the rows of ``X``, the cross-fitted memory features (5 folds).
    ``population`` (every policy of the training submissions, labelled or not) gives the track
    records; without it, the labelled rows do.
    """
    y = pd.Series(outcome).astype(str).to_numpy()
    keys = np.column_stack([_keys(X, c) for c in KEY_COLUMNS])
    n_classes = len(np.unique(y))
    enc = _encoder("multiclass" if n_classes > 2 else "binary", seed)
    crossfit = enc.fit_transform(keys, y)
    classes = [str(c) for c in enc.classes_]
    prior = {c: float(np.mean(y == c)) for c in _CLASSES}

    def column(j: int, cls: str) -> int:
        return j * len(classes) + classes.index(cls) if n_classes > 2 else j

    cf = pd.DataFrame(index=X.index)
    labels: dict[str, dict[str, dict]] = {}
    for j, col in enumerate(KEY_COLUMNS):
        cats = enc.categories_[j]
        table: dict[str, dict] = {}
        counts = pd.crosstab(pd.Series(keys[:, j]), pd.Series(y))
        for k, cat in enumerate(cats):
            if cat == "":
                continue
            row = counts.loc[cat] if cat in counts.index else None
            entry = {"n": int(row.sum()) if row is not None else 0,
                     **{c: int(row.get(c, 0)) if row is not None else 0 for c in _CLASSES}, "enc": {}}
            for cls in _CLASSES:
                if n_classes > 2 or cls == classes[-1]:
                    entry["enc"][cls] = _round(enc.encodings_[column(j, cls)][k])
                else:  # a binary target keeps one class; the other is its complement among the two
                    entry["enc"][cls] = prior[cls]
            table[str(cat)] = entry
        labels[col] = table
    for feat, (col, cls) in SOURCES.items():
        j = KEY_COLUMNS.index(col)
        if n_classes > 2 or cls == classes[-1]:
            values = crossfit[:, column(j, cls)].astype(float)
        else:
            values = np.full(len(X), prior[cls])
        values[keys[:, j] == ""] = prior[cls]  # no provider: nothing to remember
        cf[feat] = values
    track: dict[str, dict[str, dict]] = {}
    pop = population if population is not None else X
    for col in KEY_COLUMNS:
        k = _keys(pop, col)
        g = pd.DataFrame({"k": k, **{s: pop[s].to_numpy(dtype=float) for s in _TRACK}})
        g = g[g["k"] != ""]
        agg = g.groupby("k", sort=True).agg(["mean"])
        sizes = g.groupby("k", sort=True).size()
        track[col] = {str(key): {"policies": int(sizes[key]), **{s: _round(agg.loc[key, (s, "mean")]) for s in _TRACK}}
                      for key in agg.index}
    return EntityMemory(prior=prior, labels=labels, track=track), cf
