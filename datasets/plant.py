"""Cases by check kind: which rows break a rule of a kind, and how to make chosen rows break it.

The generator (:mod:`datasets.synth`) tells the truth of a rule from its kind and parameters, not
from its code: for every rule of the rulebook whose kind has a :class:`Case` here, the rows that
break it are judged on the tables as written, by the case's ``breaks`` (a second reading of the
kind's description in ``scoring rules --kinds``, written apart from ``scoring.rules.kinds`` so
that the two can disagree and a test sees it). A rule the shipped rulebook does not have is
planted on fresh rows by its case's ``plant``, so a rule of an existing kind is added in the
rulebook alone. The tests of the kinds (``tests/rules/test_kinds.py``) use the same cases.

``frame`` is the scope's table as the checks see it: policies with ``ended``, ``n_services``,
``spend``, ``province`` and ``prefecture``; services with their policy's columns.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from scoring.schema import HIGH_RISK_INDUSTRIES, TABLES

OPS = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal}
POLICY_ON_SERVICES = ("insurer_id", "region_code", "enterprise_id", "enterprise_name", "start_date", "end_date",
                      "enterprise_lat", "enterprise_lon")
DAY = np.timedelta64(1, "D")


class CannotPlant(ValueError):
    """The rule's parameters leave no value that breaks it within the submission format."""


@dataclass(frozen=True)
class View:
    """The tables as the checks see them, at ``as_of``."""

    policies: pd.DataFrame
    services: pd.DataFrame
    items: pd.DataFrame  # policies x service_item: counts
    as_of: np.datetime64

    def frame(self, scope: str) -> pd.DataFrame:
        return self.policies if scope == "policy" else self.services


def view(tables: dict[str, pd.DataFrame], as_of) -> View:
    """:class:`View` of a submission's ``policies`` and ``services``."""
    p, s = tables["policies"].reset_index(drop=True), tables["services"].reset_index(drop=True)
    pos = pd.Index(p["policy_id"]).get_indexer(s["policy_id"])
    as_of = np.datetime64(as_of, "s")
    n = np.bincount(pos, minlength=len(p))
    spend = np.bincount(pos, weights=pd.to_numeric(s["cost"]).to_numpy(float), minlength=len(p))
    items = pd.crosstab(pos, s["service_item"]).reindex(range(len(p)), fill_value=0)
    policies = p.assign(ended=p["end_date"].to_numpy() < as_of, n_services=n, spend=spend,
                        province=p["region_code"].astype(str).str[:2], prefecture=p["region_code"].astype(str).str[:4] + "00")
    services = s.assign(**{c: p[c].to_numpy()[pos] for c in POLICY_ON_SERVICES if c not in s})
    return View(policies, services, items, as_of)


# ------------------------------------------------------------------ reading a frame

def num(frame: pd.DataFrame, col: str) -> np.ndarray:
    x = frame[col]
    if x.dtype == bool or x.dtype == object and x.map(lambda v: isinstance(v, (bool, np.bool_))).all():
        return x.astype(float).to_numpy()
    return pd.to_numeric(x, errors="coerce").to_numpy(float)


def compare(op: str, a, b) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return OPS[op](a, b)


def holds(frame: pd.DataFrame, p) -> np.ndarray:
    """The ``when_any`` / ``when_in`` / ``when_present`` conditions of ``p``."""
    ok = np.ones(len(frame), bool)
    if getattr(p, "when_any", None):
        ok &= np.logical_or.reduce([compare(op, num(frame, c), float(v)) for c, op, v in p.when_any])
    for c, values in (getattr(p, "when_in", None) or {}).items():
        ok &= frame[c].isin(values).to_numpy()
    for c in getattr(p, "when_present", None) or ():
        ok &= frame[c].notna().to_numpy()
    return ok


def days(a, b) -> np.ndarray:
    """Whole days from ``a`` to ``b`` (NaT where either is missing)."""
    return (np.asarray(b, "datetime64[s]") - np.asarray(a, "datetime64[s]")).astype("timedelta64[D]")


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    la1, lo1, la2, lo2 = (np.radians(np.asarray(x, float)) for x in (lat1, lon1, lat2, lon2))
    a = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


# ------------------------------------------------------------------ which rows break a rule

def _vs_value(f, p, v):
    return compare(p.op, num(f, p.column), p.value) & holds(f, p)


def _band(f, p, v):
    x = num(f, p.column)
    return (x < p.low) | (x > p.high)


def _equals(f, p, v):
    return (f[p.column].to_numpy() == p.value).astype(bool)


def _in_set(f, p, v):
    return f[p.column].isin(list(p.values)).to_numpy()


def _all_true(f, p, v):
    return np.logical_or.reduce([~f[c].astype(bool).to_numpy() for c in p.columns])


def _vs_column(f, p, v):
    pairs = [compare(op, num(f, a), num(f, b)) for a, op, b in p.pairs]
    return np.logical_or.reduce(pairs) & holds(f, p)


def _product(f, p, v):
    product = np.prod([num(f, c) for c in p.factors], axis=0)
    return compare("gt", np.abs(num(f, p.column) - product), p.tolerance * np.abs(product))


def _ratio(f, p, v):
    with np.errstate(invalid="ignore", divide="ignore"):
        return compare(p.op, num(f, p.numerator) / num(f, p.denominator), p.value)


def _no_services(f, p, v):
    into = days(f["start_date"], np.full(len(f), v.as_of)).astype(int)
    return (f["ended"].to_numpy() | (into > p.grace_days)) & (f["n_services"].to_numpy() == 0)


def _count_below(f, p, v):
    n = f["n_services"].to_numpy()
    return f["ended"].to_numpy() & (n >= 1) & (n < p.min_count)


def _item_missing(f, p, v):
    high = f["industry"].isin(HIGH_RISK_INDUSTRIES).to_numpy() if p.industries == "high_risk" else True
    count = v.items[p.item].to_numpy() if p.item in v.items else np.zeros(len(f))
    return f["ended"].to_numpy() & high & (f["n_services"].to_numpy() >= 1) & (count == 0)


def _spend_below(f, p, v):
    fee, spend = num(f, p.fee), num(f, p.spend)
    return f["ended"].to_numpy() & (fee > 0) & compare("lt", spend, p.min_ratio * fee)


def _outside(f, p, v):
    d = f[p.column].to_numpy()
    return (d < f["start_date"].to_numpy()) | (d > f["end_date"].to_numpy())


def _before(f, p, v):
    a, b = f[p.column].to_numpy(), f[p.reference].to_numpy()
    return ~np.isnat(a) & ~np.isnat(b) & (a < b)


def _missing(f, p, v):
    age = days(f[p.since], np.full(len(f), v.as_of)).astype(int)
    return f[p.column].isna().to_numpy() & (age > p.grace_days) & holds(f, p)


def _gap(f, p, v):
    gap = days(f[p.start], f[p.end])
    return ~np.isnat(gap) & (np.where(np.isnat(gap), 0, gap.astype("int64")) > p.max_days)


def _far(f, p, v):
    return compare("gt", haversine_km(num(f, p.lat), num(f, p.lon), num(f, p.site_lat), num(f, p.site_lon)), p.max_km)


# ------------------------------------------------------------------ making rows break a rule

def _column(table: str, name: str):
    for c in TABLES[table].columns:
        if c.name == name:
            return c
    raise CannotPlant(f"{name} is not a column of {table}: the generator plants only the scope's own columns")


def _breaking(op: str, target: float, col) -> float:
    """A value that makes ``x op target`` hold, within the column's range."""
    step = max(abs(target) * 0.2, 1.0)
    value = {"lt": target - step, "le": target - step, "gt": target + step, "ge": target + step, "eq": target,
             "ne": target + step}[op]
    if col.type == "int":
        value = float(np.floor(value) if op in ("lt", "le") else np.ceil(value))
    if (col.min is not None and value < col.min) or (col.max is not None and value > col.max):
        raise CannotPlant(f"no value of {col.name} is {op} {target} within [{col.min}, {col.max}]")
    return value


def _plant_vs_value(rng, f, idx, p, table):
    return {p.column: np.full(len(idx), _breaking(p.op, p.value, _column(table, p.column)))}


def _ok_vs_value(f, p):
    return holds(f, p) & ~np.isnan(num(f, p.column))


def _plant_band(rng, f, idx, p, table):
    col = _column(table, p.column)
    low = p.low - max(abs(p.low) * 0.2, 0.05)
    high = p.high + max(abs(p.high) * 0.2, 0.05)
    if col.min is not None and low < col.min:
        return {p.column: np.full(len(idx), high)}
    return {p.column: np.where(rng.random(len(idx)) < 0.5, low, high)}


def _plant_equals(rng, f, idx, p, table):
    _column(table, p.column)
    return {p.column: np.full(len(idx), p.value, dtype=object)}


def _plant_in_set(rng, f, idx, p, table):
    _column(table, p.column)
    return {p.column: rng.choice(np.array(list(p.values), dtype=object), size=len(idx))}


def _plant_all_true(rng, f, idx, p, table):
    names = list(p.columns)
    off = rng.integers(0, len(names), len(idx))
    for c in names:
        _column(table, c)
    return {c: np.where(off == k, False, f[c].to_numpy()[idx]).astype(bool) for k, c in enumerate(names)}


def _plant_vs_column(rng, f, idx, p, table):
    left, op, right = p.pairs[0]
    col = _column(table, left)
    r = num(f, right)[idx]
    value = {"lt": r * 0.5, "le": r * 0.5, "gt": r * 1.5 + 1, "ge": r * 1.5 + 1, "eq": r, "ne": r + 1}[op]
    return {left: np.floor(value) if col.type == "int" else np.round(value, 2)}


def _ok_vs_column(f, p):
    left, op, right = p.pairs[0]
    return holds(f, p) & (num(f, right) > 2)


def _plant_product(rng, f, idx, p, table):
    _column(table, p.column)
    product = np.prod([num(f, c)[idx] for c in p.factors], axis=0)
    return {p.column: np.round(product * (1 + max(3 * p.tolerance, 0.1)), 2)}


def _ok_product(f, p):
    return np.prod([num(f, c) for c in p.factors], axis=0) > 1


def _plant_ratio(rng, f, idx, p, table):
    if p.op in ("eq", "ne"):
        raise CannotPlant("a ratio equal to a value is not planted")
    _column(table, p.numerator)
    factor = 1.25 if p.op in ("gt", "ge") else 0.75
    return {p.numerator: np.round(num(f, p.denominator)[idx] * p.value * factor, 2)}


def _ok_ratio(f, p):
    return num(f, p.denominator) > 1


def _plant_before(rng, f, idx, p, table):
    _column(table, p.column)
    return {p.column: f[p.reference].to_numpy()[idx] - rng.integers(1, 10, len(idx)) * DAY}


def _ok_before(f, p):
    return f[p.reference].notna().to_numpy()


def _plant_gap(rng, f, idx, p, table):
    _column(table, p.end)
    return {p.end: f[p.start].to_numpy()[idx] + (p.max_days + rng.integers(1, 30, len(idx))) * DAY}


def _ok_gap(f, p, last):
    start = f[p.start].to_numpy()
    return ~np.isnat(start) & (start + (p.max_days + 30) * DAY < last)


def _plant_missing(rng, f, idx, p, table):
    col = _column(table, p.column)
    if not col.optional and col.nonempty:
        raise CannotPlant(f"{p.column} may not be empty")
    empty = np.datetime64("NaT", "s") if col.type == "date" else None
    return {p.column: np.full(len(idx), empty)}


def _ok_missing(f, p, last):
    since = f[p.since].to_numpy()
    return f[p.column].notna().to_numpy() & holds(f, p) & ~np.isnat(since) & (since + (p.grace_days + 30) * DAY < last)


def _plant_far(rng, f, idx, p, table):
    _column(table, p.lat)
    shift = (p.max_km * 1.5 + 5) / 111.0 * rng.choice([-1.0, 1.0], len(idx))
    return {p.lat: np.round(np.clip(num(f, p.site_lat)[idx] + shift, -89.9, 89.9), 6),
            p.lon: np.round(num(f, p.site_lon)[idx], 6)}


def _ok_far(f, p):
    return ~np.isnan(num(f, p.lat)) & ~np.isnan(num(f, p.site_lat)) & ~np.isnan(num(f, p.site_lon))


@dataclass(frozen=True)
class Case:
    """A check kind's case: ``breaks(frame, params, view)``, and where it can be planted,
    ``plant(rng, frame, rows, params, table) -> {column: values}`` on rows ``eligible(frame,
    params[, last_day])`` allows."""

    breaks: Callable[[pd.DataFrame, Any, View], np.ndarray]
    plant: Callable | None = None
    eligible: Callable | None = None
    dated: bool = False  # eligible() also takes the last day a planted date may reach


CASES: dict[str, Case] = {
    "column_vs_value": Case(_vs_value, _plant_vs_value, _ok_vs_value),
    "column_outside_band": Case(_band, _plant_band, lambda f, p: ~np.isnan(num(f, p.column))),
    "column_equals": Case(_equals, _plant_equals, lambda f, p: np.ones(len(f), bool)),
    "column_in_set": Case(_in_set, _plant_in_set, lambda f, p: np.ones(len(f), bool)),
    "columns_all_true": Case(_all_true, _plant_all_true, lambda f, p: np.ones(len(f), bool)),
    "column_vs_column": Case(_vs_column, _plant_vs_column, _ok_vs_column),
    "product_mismatch": Case(_product, _plant_product, _ok_product),
    "ratio_vs_value": Case(_ratio, _plant_ratio, _ok_ratio),
    "date_before": Case(_before, _plant_before, _ok_before),
    "date_gap_above": Case(_gap, _plant_gap, _ok_gap, dated=True),
    "missing_value": Case(_missing, _plant_missing, _ok_missing, dated=True),
    "checkin_distance": Case(_far, _plant_far, _ok_far),
    # told, not planted: the generator's service mechanics make them (a policy without services,
    # too few, an item missing, the fee unspent), and a date outside the period moves every date
    "no_services": Case(_no_services),
    "service_count_below": Case(_count_below),
    "item_missing": Case(_item_missing),
    "spend_below": Case(_spend_below),
    "date_outside_policy": Case(_outside),
}
#: Kinds whose truth only the generator's stories know (they judge many rows together: peers,
#: shared photos and texts, staff days, market shares, insurers, claims), each with its reason.
STORIES = {
    "peer_outlier": "a policy's rate against its peers' spread: planted where the peer group is large",
    "staff_unqualified": "the staff table's qualifications, written with it",
    "staff_unknown": "staff ids the staff table does not list, written with it",
    "staff_overlap": "one staff member's day at enterprises far apart",
    "shared_photo": "a photo hash shared by enterprises",
    "duplicate_text": "a provider's boilerplate report texts",
    "share_exclusive": "a broker or co-insurance group holding a prefecture",
    "hhi": "one insurer holding a prefecture's industry",
    "insurer_blacklist": "an insurer's share of integrity findings and its spend",
    "loss_ratio": "an insurer's claims against its premium",
    "accident_history_understated": "claims before a policy that declares no accident",
    "claim_days": "claims settled slowly or left open",
}


def _params_per_region(rule, frame: pd.DataFrame):
    """(row mask, parameters) per regional override group, longest prefix winning."""
    if not rule.overrides:
        return [(np.ones(len(frame), bool), rule.parsed)]
    region = frame["region_code"].astype(str)
    best = np.full(len(frame), -1)
    overrides = sorted(rule.overrides, key=lambda o: len(o.region_prefix))
    for k, o in enumerate(overrides):
        best[region.str.startswith(o.region_prefix).to_numpy()] = k
    groups = [(best == -1, rule.parsed)]
    for k, o in enumerate(overrides):
        groups.append((best == k, rule.parsed.model_copy(update=o.params)))
    return groups


def in_force(rule, frame: pd.DataFrame) -> np.ndarray:
    return rule.in_force(frame["start_date" if rule.scope == "policy" else "service_date"].to_numpy())


def breaks(rule, v: View) -> np.ndarray:
    """Rows of the rule's scope that break it (in force on their dates, by their region's parameters)."""
    f = v.frame(rule.scope)
    out = np.zeros(len(f), bool)
    for mask, params in _params_per_region(rule, f):
        out |= mask & CASES[rule.kind].breaks(f, params, v)
    return out & in_force(rule, f)


def truth(rule, v: View) -> pd.DataFrame:
    """The rows of ``truth.csv`` for ``rule``."""
    f = v.frame(rule.scope)
    rows = np.flatnonzero(breaks(rule, v))
    return pd.DataFrame({"rule_code": rule.code, "scope": rule.scope, "policy_id": f["policy_id"].to_numpy()[rows],
                         "service_id": f["service_id"].to_numpy()[rows] if rule.scope == "service" else None})


def plant(rng, rule, frame: pd.DataFrame, k: int, free: np.ndarray, last_day) -> tuple[np.ndarray, dict]:
    """Choose up to ``k`` of the ``free`` rows where ``rule`` (in force there) can be broken and
    does not yet break, and return them with the values that break it ({column: values}).
    Regional overrides are planted by the rule's own parameters, outside the overridden regions."""
    case = CASES.get(rule.kind)
    if case is None or case.plant is None:
        raise CannotPlant(f"kind {rule.kind} is not planted: " + STORIES.get(rule.kind, "its violations come from the generator's mechanics"))
    p = rule.parsed
    base = _params_per_region(rule, frame)[0][0]
    ok = case.eligible(frame, p, np.datetime64(last_day, "s")) if case.dated else case.eligible(frame, p)
    v = View(frame, frame, pd.DataFrame(index=frame.index), np.datetime64(last_day, "s"))
    ok = ok & free & base & in_force(rule, frame) & ~case.breaks(frame, p, v)
    idx = np.flatnonzero(ok)
    idx = np.sort(rng.choice(idx, size=min(k, len(idx)), replace=False)) if len(idx) else idx
    table = "policies" if rule.scope == "policy" else "services"
    return idx, case.plant(rng, frame, idx, p, table)
