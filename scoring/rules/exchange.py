"""How a check that compares records of different enterprises runs on partitions that never see
each other: keys hashed per partition, counted once, and the records of shared keys sent back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import pandas as pd


def hash_strings(values) -> np.ndarray:
    """64-bit hashes of strings (pandas' keyed SipHash: the same in every process). Each string
    is hashed as it comes (``categorize=False``): numbering the distinct strings first gives the
    same hashes at many times the cost when most strings are distinct, as photo hashes are."""
    return pd.util.hash_array(np.asarray(values, dtype=object), categorize=False)


@dataclass(frozen=True)
class Exchange:
    """How a cross-partition service check reads keys (steps 1 and 3 above).

    ``keys(ctx, frame, p)`` gives, per key a record holds, the record's row in ``frame``, the
    64-bit key and optional measures (``{"hours": …, "lat": …, "lon": …}``); pass one sums
    ``hours`` and spans ``lat``/``lon`` per key and enterprise. ``min_enterprises(p)``: the
    fewest distinct enterprises a key needs to fire anywhere. ``keep(summary, p)``: of the keys
    with enough enterprises, those whose measures (over every partition) could still fire; it
    must never drop a key the check would fire on. ``p``: the rule's parameters at their strictest
    over its regional overrides (scalars)."""

    keys: Callable
    min_enterprises: Callable = lambda p: 2
    keep: Callable | None = None

    @staticmethod
    def pairs(rows: np.ndarray, keys: np.ndarray, enterprise: np.ndarray, measures: dict | None = None) -> pd.DataFrame:
        """Step 1: per distinct (key, enterprise number) of records ``rows`` holding ``keys``
        (``enterprise``: each record's enterprise number), the measures summed or spanned."""
        df = pd.DataFrame({"key": keys, "ent": enterprise[rows], **(measures or {})})
        if not measures:
            return df.drop_duplicates(ignore_index=True)
        how = {c: fs for c, fs in _SPANS.items() if c in df}
        out = df.groupby(["key", "ent"], sort=False).agg(**{f"{c}_{f}": (c, f) for c, fs in how.items() for f in fs})
        return out.reset_index()

    @staticmethod
    def candidates(pairs: list[pd.DataFrame], min_enterprises: int, keep=None, p=None) -> np.ndarray:
        """Step 2: the keys held by at least ``min_enterprises`` distinct enterprises and kept by
        ``keep`` (sorted)."""
        pairs = [q for q in pairs if len(q)]
        kept = []
        for piece in Exchange.pieces(pairs):
            summary = Exchange.summary(piece)
            ok = summary["enterprises"].to_numpy() >= min_enterprises
            if keep is not None:
                ok &= np.asarray(keep(summary, p), dtype=bool)
            kept.append(summary.index.to_numpy(dtype=np.uint64)[ok])
        return np.sort(np.concatenate(kept)) if kept else np.empty(0, dtype=np.uint64)

    @staticmethod
    def pieces(pairs: list[pd.DataFrame]) -> Iterator[list[pd.DataFrame]]:
        """``pairs`` in pieces of about :data:`SUMMARY_ROWS` rows, a key's pairs in one piece (by
        the key's high bits; a bucket has its low ones), one piece made at a time, so that the
        hash table that numbers a piece's keys stays within the processor's caches."""
        n = int(sum(len(q) for q in pairs))
        count = -(-n // SUMMARY_ROWS)
        if count <= 1:
            if n:
                yield pairs
            return
        of = [((q["key"].to_numpy(dtype=np.uint64) >> np.uint64(32)) % np.uint64(count)).astype(np.intp) for q in pairs]
        for j in range(count):
            piece = [q[o == j] for q, o in zip(pairs, of)]
            piece = [q for q in piece if len(q)]
            if piece:
                yield piece

    @staticmethod
    def summary(pairs: list[pd.DataFrame]) -> pd.DataFrame:
        """Per key of ``pairs`` (index, sorted): its distinct enterprises and each measure summed
        (missing as 0) or spanned (missing ignored) over every partition, as pandas' group-by
        gives them. The keys are numbered by hashing and each (key, enterprise number) made one
        integer, sorted once and reduced by runs (a group-by with a distinct count is far slower
        over the hundreds of millions of pairs of the largest submissions)."""
        code, keys = pd.factorize(np.concatenate([q["key"].to_numpy(dtype=np.uint64) for q in pairs]))
        ent = np.concatenate([q["ent"].to_numpy(dtype=np.int64) for q in pairs])
        m = np.int64(ent.max() + 1 if len(ent) else 1)
        pair = code.astype(np.int64) * m + ent
        del code, ent
        order = np.argsort(pair)
        pair = pair[order]
        new_pair = np.ones(len(pair), dtype=bool)
        new_pair[1:] = pair[1:] != pair[:-1]
        of_key = pair // m
        del pair
        new_key = np.ones(len(of_key), dtype=bool)
        new_key[1:] = of_key[1:] != of_key[:-1]
        starts = np.flatnonzero(new_key)
        out = {}
        for c in pairs[0].columns:
            if c in ("key", "ent") or not len(starts):
                continue
            v = np.concatenate([q[c].to_numpy(dtype=float) for q in pairs])[order]
            how = c.rsplit("_", 1)[1]
            out[c] = (np.add.reduceat(np.nan_to_num(v, nan=0.0), starts) if how == "sum"
                      else (np.fmin if how == "min" else np.fmax).reduceat(v, starts))
        out["enterprises"] = np.add.reduceat(new_pair.astype(np.int64), starts) if len(starts) else np.zeros(0, dtype=np.int64)
        at = np.asarray(keys)[of_key[starts]]
        by_key = np.argsort(at)
        return pd.DataFrame({c: v[by_key] for c, v in out.items()}, index=pd.Index(at[by_key], name="key"))

#: The most (key, enterprise) pairs :meth:`Exchange.candidates` counts at once.
SUMMARY_ROWS = 1_000_000

#: How pass one condenses each measure per key and enterprise.
_SPANS = {"hours": ("sum",), "lat": ("min", "max"), "lon": ("min", "max")}
