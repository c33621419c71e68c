"""One rule applied to its scope's frame: which rows it is in force on, what it needs that the
submission may lack, its parameters per row (regional overrides), and its hits as a findings table
of ``FINDING_COLUMNS`` with the messages rendered from its templates.
"""
from __future__ import annotations

import string

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring.rules.kinds import KINDS
from scoring.rules.context import Context, Hits
from scoring.arrays import arrow
from scoring.schema import SEVERITY_ZH
from scoring.rules.book import Rule


FINDING_COLUMNS = [
    "scope", "policy_id", "insurer_id", "region_code", "rule_code", "severity", "clause",
    "observed", "expected", "message_zh", "message_en", "service_id", "rule_name_zh", "severity_zh",
]


def region_params(rule: Rule, regions: np.ndarray):
    """Per-row parameters when the rule has regional overrides (longest prefix wins)."""
    if not rule.overrides:
        return rule.parsed
    values = {}
    for name in {n for o in rule.overrides for n in o.params}:
        arr = np.full(len(regions), float(getattr(rule.parsed, name)))
        for o in sorted(rule.overrides, key=lambda o: len(o.region_prefix)):
            if name in o.params:
                arr[pd.Series(regions).str.startswith(o.region_prefix).to_numpy()] = float(o.params[name])
        values[name] = arr
    return rule.parsed.model_copy(update=values)


def _repeat(value: str, n: int) -> pa.Array:
    """``value`` ``n`` times as an Arrow string array (one copy per row, no Python objects)."""
    return pa.array([value], pa.string()).take(pa.array(np.zeros(n, dtype=np.int32)))


def _render(template: str, observed: pa.Array, expected: pa.Array, clause: str) -> pa.Array:
    pieces = []
    for literal, fieldname, _, _ in string.Formatter().parse(template):
        if literal:
            pieces.append(pa.scalar(literal, pa.string()))
        if fieldname == "observed":
            pieces.append(observed)
        elif fieldname == "expected":
            pieces.append(expected)
        elif fieldname == "clause":
            pieces.append(pa.scalar(clause, pa.string()))
    n = len(observed)
    if not any(isinstance(p, pa.Array) for p in pieces):
        return _repeat("".join(p.as_py() for p in pieces), n)
    return pc.binary_join_element_wise(*[pc.fill_null(p, "") if isinstance(p, pa.Array) else p for p in pieces], "")


def requirements(rule: Rule, ctx: Context) -> list[str]:
    """Missing tables / optional columns that make ``rule`` not checkable on this submission."""
    k = KINDS[rule.kind]
    missing = [t for t in k.tables if not ctx.has(t)]
    from scoring.schema import TABLES

    names = set()
    for v in rule.params.values():
        if isinstance(v, str):
            names.add(v)
        elif isinstance(v, list):
            for x in v:
                names.update([x] if isinstance(x, str) else [y for y in x if isinstance(y, str)] if isinstance(x, list) else [])
        elif isinstance(v, dict):
            names.update(k2 for k2 in v if isinstance(k2, str))
    cols = {c.name: t.name for t in TABLES.values() if t.name in ("policies", "services") for c in t.columns if c.optional}
    implicit = {
        "checkin_distance": ["services.checkin_lat", "services.checkin_lon", "policies.enterprise_lat", "policies.enterprise_lon"],
        "shared_photo": ["services.photo_hashes"],
    }.get(rule.kind, [])
    for n in sorted(names):
        if n in cols and not ctx.has(f"{cols[n]}.{n}"):
            missing.append(f"{cols[n]}.{n}")
    missing += [r for r in implicit if not ctx.has(r)]
    return missing


def _text_array(values, n: int) -> pa.Array:
    if values is None:
        return pa.nulls(n, pa.string())
    return pa.array(np.asarray(values, dtype=object), pa.string(), from_pandas=True)


def findings_table(rule: Rule, hits: Hits, frame: pd.DataFrame | None) -> pa.Table:
    """The findings of one rule as an Arrow table of ``FINDING_COLUMNS`` (all strings)."""
    n = len(hits.rows)

    cols = {"scope": _repeat(rule.scope, n)}
    if rule.scope in ("policy", "service"):
        rows = pa.array(hits.rows, pa.int64())
        for col in ("policy_id", "insurer_id", "region_code", "service_id"):
            if col == "service_id" and rule.scope == "policy":
                cols[col] = pa.nulls(n, pa.string())
            else:
                cols[col] = pc.take(arrow(frame[col]), rows).cast(pa.string())
    else:
        cols["policy_id"] = pa.nulls(n, pa.string())
        cols["service_id"] = pa.nulls(n, pa.string())
        cols["insurer_id"] = _text_array(hits.keys.get("insurer_id"), n)
        cols["region_code"] = _text_array(hits.keys.get("region_code"), n)
    observed, expected = _text_array(hits.observed, n), _text_array(hits.expected, n)
    obs_en = _text_array(hits.observed_en, n) if hits.observed_en is not None else observed
    exp_en = _text_array(hits.expected_en, n) if hits.expected_en is not None else expected
    cols.update(rule_code=_repeat(rule.code, n), severity=_repeat(rule.severity, n), clause=_repeat(rule.clause, n),
                rule_name_zh=_repeat(rule.name_zh or rule.code, n), severity_zh=_repeat(SEVERITY_ZH[rule.severity], n),
                observed=observed, expected=expected,
                message_zh=_render(rule.message_zh, observed, expected, rule.clause),
                message_en=_render(rule.message_en, obs_en, exp_en, rule.clause))
    return pa.table({c: cols[c] for c in FINDING_COLUMNS})


def active_rows(rule: Rule, frame: pd.DataFrame) -> np.ndarray:
    return rule.in_force(frame["start_date" if rule.scope == "policy" else "service_date"].to_numpy())


def apply_rule(rule: Rule, ctx: Context, frame: pd.DataFrame, active: np.ndarray) -> pa.Table | None:
    """One policy- or service-scope rule's findings table (``None`` when it does not fire)."""
    hits = KINDS[rule.kind].fn(ctx, frame, active, region_params(rule, frame["region_code"].to_numpy(dtype=object)))
    return findings_table(rule, hits, frame) if len(hits.rows) else None
