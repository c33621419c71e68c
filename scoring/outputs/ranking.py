"""Which policies an inspector with capacity N should visit first, and which carry a flag.

``priority_score = m × (p_missing + p_poor_quality) + (1 − m) × evidence index + f × w[most severe
finding]``: the chance that an inspection confirms missing or poor service, plus the value of the
rule findings the inspector can verify on the spot (weights in the rulebook's ``priority``
section). ``m`` is 1, or the rulebook's ``model_shift.model_weight`` when the submission is unlike
the model's training data (scoring.model.shift): then the evidence index
(scoring.model.evidence), which needs no training, carries the rest (without an index in the
rulebook, the findings do), and ``f`` is the rulebook's ``model_shift.finding_weight`` (else 1). Policies with a *decisive* finding (a rule of role ``decisive``: no
service record at all) whose period has ended come before every other policy, whatever their
scores: no peer or memory feature can pull a whole period's empty file below the records. Rank 1 is the
highest; ties go to the smaller ``policy_id`` so the ranking is reproducible.

A policy is flagged when it is within the capacity (rank ≤ N) and its probability for a class
exceeds that class's threshold (the base rate recorded with the model); the class with the
larger margin over its threshold names the flag. A decisive policy within the capacity is
flagged ``missing``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring.arrays import arrow, arrow_chunks
from scoring.schema import SEVERITIES



def worst_severity(policy_ids: pd.Index, findings: pd.DataFrame) -> np.ndarray:
    """Per policy, the most severe finding on it or its services: 3 critical … 0 none."""
    pid = arrow(findings["policy_id"])
    rank = pc.index_in(arrow(findings["severity"]), value_set=pa.array(list(SEVERITIES)[::-1], pa.string()))
    on_policy = pc.and_(pc.is_valid(pid), pc.is_in(arrow(findings["scope"]), value_set=pa.array(["policy", "service"])))
    t = pa.table({"policy_id": pid, "r": pc.add(rank, 1)}).filter(on_policy)
    worst = t.group_by("policy_id").aggregate([("r", "max")])
    at = pc.index_in(pa.array(np.asarray(policy_ids, dtype=object), pa.string()), value_set=worst["policy_id"])
    return pc.fill_null(pc.take(worst["r_max"], at), 0).to_numpy().astype(int)


def with_findings(policy_ids: pd.Index, findings: pd.DataFrame, codes) -> np.ndarray:
    """Per policy, whether a finding of one of ``codes`` is on it (or one of its services)."""
    out = np.zeros(len(policy_ids), dtype=bool)
    if not codes or not len(findings):
        return out
    hit = pc.is_in(arrow(findings["rule_code"]), value_set=pa.array(sorted(codes), pa.string()))
    pid = arrow(findings["policy_id"]).filter(pc.fill_null(hit, False))
    at = pc.index_in(pa.array(np.asarray(policy_ids, dtype=object), pa.string()), value_set=pc.unique(pid))
    return np.asarray(pc.is_valid(at).to_numpy(zero_copy_only=False), dtype=bool)


def rank(scores: pd.DataFrame, findings: pd.DataFrame, weights: dict, thresholds: dict, capacity: int,
         model_weight: float = 1.0, index: pd.Series | None = None, decisive: np.ndarray | None = None,
         finding_weight: float = 1.0) -> pd.DataFrame:
    """``scores``: index policy_id, columns p_missing, p_poor_quality. Adds priority_score, priority, flag.

    ``model_weight`` < 1 (used when the submission is unlike the model's training data) scales the
    model's part of the score and gives the rest to ``index`` (the evidence index, aligned with
    ``scores``; without it the ranking leans on the findings); ``finding_weight`` scales the
    findings' weights (the rulebook's ``model_shift.finding_weight`` when warned). ``decisive``:
    policies ranked first."""
    out = scores.copy()
    sev = worst_severity(out.index, findings)
    w = np.array([0.0, weights.get("minor", 0), weights.get("major", 0), weights.get("critical", 0)])
    score = model_weight * (out["p_missing"] + out["p_poor_quality"]) + finding_weight * w[sev]
    if index is not None and model_weight < 1:
        score = score + (1 - model_weight) * index.to_numpy(dtype=float)
    out["priority_score"] = score
    first = np.zeros(len(out), dtype=np.int8) if decisive is None else np.asarray(decisive, dtype=np.int8)
    keys = pa.table({"d": pa.array(-first), "s": pa.array(-out["priority_score"].to_numpy(dtype=float)),
                     "id": pa.array(out.index.astype(str))})
    order = pc.sort_indices(keys, sort_keys=[("d", "ascending"), ("s", "ascending"), ("id", "ascending")]).to_numpy()
    prio = np.empty(len(out), dtype=np.int64)
    prio[order] = np.arange(1, len(out) + 1)
    out["priority"] = prio
    within = prio <= capacity
    m_margin = out["p_missing"].to_numpy() - thresholds["missing"]
    p_margin = out["p_poor_quality"].to_numpy() - thresholds["poor_quality"]
    flag = np.where(((m_margin > 0) & (m_margin >= p_margin)) | (first > 0), "missing", np.where(p_margin > 0, "poor_quality", ""))
    out["flag"] = np.where(within, flag, "")
    return out


def _starts(*columns: pa.Array) -> np.ndarray:
    """Rows where any of the (sorted) ``columns`` differs from the row before: the first of each run."""
    n = len(columns[0])
    start = np.ones(n, dtype=bool)
    if n > 1:
        same = pc.equal(columns[0][1:], columns[0][:-1])
        for c in columns[1:]:
            same = pc.and_(same, pc.equal(c[1:], c[:-1]))
        start[1:] = ~np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)
    return start


def _taken(findings: pd.DataFrame, column: str, rows: np.ndarray) -> pa.Array:
    """A findings column's ``rows`` as Arrow, read where the column lies (the findings may be
    memory-mapped, in many chunks: :func:`scoring.arrays.take_rows` copies only those rows)."""
    from scoring.arrays import take_rows

    return take_rows(pa.table({column: arrow_chunks(findings[column])}), rows).column(0).combine_chunks()


def policy_findings(findings: pd.DataFrame) -> pa.Table:
    """Policy and service findings, one per (policy, rule code), most severe rule first per policy,
    each with its row in ``findings`` (``_at``): the messages are not copied, only those
    :func:`rule_reasons` keeps are read. Built once per run and shared by :func:`rule_codes` and
    :func:`rule_reasons`.
    """
    at = np.flatnonzero(findings["policy_id"].notna().to_numpy())
    t = pa.table({c: _taken(findings, c, at) for c in ("policy_id", "rule_code", "severity")})
    t = t.cast(pa.schema([(c, pa.string()) for c in t.column_names]))
    t = t.append_column("_at", pa.array(at))
    t = t.append_column("_r", pc.index_in(t["severity"], value_set=pa.array(list(SEVERITIES), pa.string())))
    t = t.take(pc.sort_indices(t, sort_keys=[("policy_id", "ascending"), ("_r", "ascending"), ("rule_code", "ascending")]))
    t = t.combine_chunks()
    return t.filter(pa.array(_starts(t["policy_id"].combine_chunks(), t["rule_code"].combine_chunks())))


def _joined(t: pa.Table, values: pa.Array, sep: str) -> tuple[pa.Array, pa.Array]:
    """``values`` (aligned with ``t``, which is sorted by policy_id) joined with ``sep`` per policy:
    the policy ids and their joined text, as Arrow arrays."""
    pid = t["policy_id"].combine_chunks()
    if not len(pid):
        return pa.array([], pa.string()), pa.array([], pa.string())
    first = np.flatnonzero(_starts(pid))
    offsets = pa.array(np.append(first, len(pid)).astype(np.int32))
    return pid.take(pa.array(first)), pc.binary_join(pa.ListArray.from_arrays(offsets, values), sep)


def aligned(index: pd.Index, ids: pa.Array, texts: pa.Array) -> pa.Array:
    """Per policy of ``index``, its text from (``ids``, ``texts``), "" where it has none."""
    at = pc.index_in(pa.array(np.asarray(index, dtype=object), pa.string()), value_set=ids)
    return pc.fill_null(pc.take(texts, at), "")


def rule_codes(pf: pa.Table) -> tuple[pa.Array, pa.Array]:
    """Per policy, its distinct rule codes sorted and joined with ``;``: the policy ids and the
    codes, as Arrow arrays; ``pf`` from :func:`policy_findings`."""
    t = pf.take(pc.sort_indices(pf, sort_keys=[("policy_id", "ascending"), ("rule_code", "ascending")]))
    return _joined(t, t["rule_code"].combine_chunks(), ";")


#: Findings whose messages :func:`rule_reasons` reads and cuts at a time (whole policies).
REASON_ROWS = 1_000_000


def rule_reasons(pf: pa.Table, findings: pd.DataFrame, top: int = 2, rows: int = REASON_ROWS) -> tuple[pa.Array, pa.Array]:
    """Per policy, the messages (without their clause) of its ``top`` most severe distinct rules
    (``pf`` from :func:`policy_findings` of ``findings``), joined with "；": the policy ids and
    the texts, as Arrow arrays (a Python string per policy would take gigabytes at millions).
    The messages are read and cut about ``rows`` findings at a time, each policy's in one piece,
    so that memory is bounded by ``rows``, not by the number of findings."""
    pid = pf["policy_id"].combine_chunks()
    group_start = np.maximum.accumulate(np.where(_starts(pid), np.arange(len(pid)), 0))
    t = pf.filter(pa.array(np.arange(len(pid)) - group_start < top))
    firsts = np.flatnonzero(_starts(t["policy_id"].combine_chunks())) if t.num_rows else np.zeros(1, dtype=np.int64)
    bounds = np.append(firsts, t.num_rows)  # a cut falls on the first finding of a policy
    cuts = np.unique(np.append(bounds[np.searchsorted(firsts, np.arange(0, t.num_rows, max(rows, 1)))], t.num_rows))
    ids, texts = [], []
    for a, b in zip(cuts[:-1], cuts[1:]):
        piece = t.slice(a, b - a)
        message = _taken(findings, "message_zh", piece["_at"].to_numpy()).cast(pa.string())
        head = pc.list_element(pc.split_pattern(message, "（", max_splits=1), 0)
        del message
        i, x = _joined(piece, head, "；")
        ids.append(i)
        texts.append(x)
    if not ids:
        return _joined(t, pa.array([], pa.string()), "；")
    return pa.concat_arrays(ids), pa.concat_arrays(texts)
