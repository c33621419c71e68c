"""Kinds that judge one service record: its dates, its missing report or follow-up, its staff, its check-in."""
from __future__ import annotations


import numpy as np

from scoring.messages import TEMPLATES
from scoring.rules.context import Hits, Op, Params, Ref, broadcast, condition_refs, make_hits, numbers, both, conditions, dates, fmt, haversine_km, kind, num, when_text, zh


class DateColumn(Params):
    """A service date outside its policy's period. Scope: service. Example: ``{column: service_date}``."""

    column: str

    def refs(self):
        yield Ref("column", self.column, ("date",))

    def sentence(self) -> str:
        return f"{zh(self.column)}不在保险期间内"


@kind("date_outside_policy", DateColumn, ("service",), local=True)
def date_outside_policy(ctx, frame, active, p: DateColumn) -> Hits:
    d = frame[p.column].to_numpy()
    s, e = frame["start_date"].to_numpy(), frame["end_date"].to_numpy()
    fire = active & ((d < s) | (d > e))
    rows = np.flatnonzero(fire)
    exp, exp_en = both("period", start=dates(s[rows]), end=dates(e[rows]))
    return Hits(rows, dates(d[rows]), exp, expected_en=exp_en)


class DateBefore(Params):
    """A date column earlier than another (both filled). Scope: service.
    Example: ``{column: report_date, reference: service_date}``."""

    column: str
    reference: str

    def refs(self):
        yield Ref("column", self.column, ("date",))
        yield Ref("reference", self.reference, ("date",))

    def sentence(self) -> str:
        return f"{zh(self.column)}早于{zh(self.reference)}"


@kind("date_before", DateBefore, ("service",), local=True)
def date_before(ctx, frame, active, p: DateBefore) -> Hits:
    a, b = frame[p.column].to_numpy(), frame[p.reference].to_numpy()
    fire = active & ~np.isnat(a) & ~np.isnat(b) & (a < b)
    return make_hits(fire, a, b)


class MissingValue(Params):
    """``column`` still empty more than ``grace_days`` after ``since`` (a date column, by default
    the service date), where ``when_any`` holds. Scope: service.
    Example: ``{column: followup_date, grace_days: 60, when_any: [[hazards_found, gt, 0]]}``."""

    column: str
    grace_days: int
    when_any: list[tuple[str, Op, float]] | None = None
    since: str = "service_date"

    def refs(self):
        yield Ref("column", self.column)
        yield Ref("since", self.since, ("date",))
        yield from condition_refs(self)

    def sentence(self) -> str:
        return f"{zh(self.since)}后 {self.grace_days} 天仍无{zh(self.column)}" + when_text(self)


@kind("missing_value", MissingValue, ("service",), stricter={"grace_days": "lower"}, local=True)
def missing_value(ctx, frame, active, p: MissingValue) -> Hits:
    age = (ctx.as_of - frame[p.since].to_numpy()).astype("timedelta64[D]").astype(int)
    fire = active & frame[p.column].isna().to_numpy() & (age > broadcast(p.grace_days, len(frame))) & conditions(frame, p.when_any)
    return make_hits(fire, age, str(p.grace_days))


class DateGap(Params):
    """More than ``max_days`` from date ``start`` to date ``end``. Scope: service.
    Example: ``{start: service_date, end: report_date, max_days: 15}``."""

    start: str
    end: str
    max_days: int

    def refs(self):
        yield Ref("start", self.start, ("date",))
        yield Ref("end", self.end, ("date",))

    def sentence(self) -> str:
        return f"{zh(self.start)}至{zh(self.end)}超过 {self.max_days} 天"


@kind("date_gap_above", DateGap, ("service",), stricter={"max_days": "lower"}, local=True)
def date_gap_above(ctx, frame, active, p: DateGap) -> Hits:
    a, b = frame[p.start].to_numpy(), frame[p.end].to_numpy()
    gap = (b - a).astype("timedelta64[D]")
    ok = ~np.isnat(gap)
    days = np.where(ok, gap.astype("int64"), 0)
    fire = active & ok & (days > broadcast(p.max_days, len(frame)))
    return make_hits(fire, days, str(p.max_days))


class NoParams(Params):
    """No parameters: the kind's test is fixed (see the kind's description)."""


@kind("staff_unqualified", NoParams, ("service",), tables=("staff",), local=True)
def staff_unqualified(ctx, frame, active, p: NoParams) -> Hits:
    """Every staff member listed on a service record has no qualification (staff table). Scope: service."""
    fire = active & ctx.sub.aggregates.unqualified
    zh, en = TEMPLATES["staff_qualified"]
    return make_hits(fire, frame["staff_ids"].to_numpy(dtype=object), zh, expected_en=en)


@kind("staff_unknown", NoParams, ("service",), tables=("staff",), local=True)
def staff_unknown(ctx, frame, active, p: NoParams) -> Hits:
    """A staff id on a service record that the staff table does not list. Scope: service."""
    q = ctx.sub.aggregates.staff_qualification
    bad = q[~q["known"]]
    fire = np.zeros(len(frame), dtype=bool)
    fire[bad["i"].to_numpy()] = True
    fire &= active
    obs = np.empty(len(frame), dtype=object)
    joined = bad.groupby("i")["staff"].agg(";".join)
    obs[joined.index.to_numpy()] = joined.to_numpy()
    zh, en = TEMPLATES["staff_listed"]
    return make_hits(fire, obs, zh, expected_en=en)


class MaxKm(Params):
    """A check-in (``lat``, ``lon``) more than ``max_km`` from the enterprise (``site_lat``,
    ``site_lon``). Scope: service. Example: ``{max_km: 5}``."""

    max_km: float
    lat: str = "checkin_lat"
    lon: str = "checkin_lon"
    site_lat: str = "enterprise_lat"
    site_lon: str = "enterprise_lon"

    def refs(self):
        for f in ("lat", "lon", "site_lat", "site_lon"):
            yield Ref(f, getattr(self, f), ("number",))

    def sentence(self) -> str:
        return f"签到位置距企业超过 {num(self.max_km)} 公里"


@kind("checkin_distance", MaxKm, ("service",), stricter={"max_km": "lower"}, local=True)
def checkin_distance(ctx, frame, active, p: MaxKm) -> Hits:
    km = haversine_km(numbers(frame, p.lat), numbers(frame, p.lon), numbers(frame, p.site_lat), numbers(frame, p.site_lon))
    with np.errstate(invalid="ignore"):
        fire = active & (km > broadcast(p.max_km, len(frame)))
    return make_hits(fire, np.round(km, 1), fmt([p.max_km])[0])
