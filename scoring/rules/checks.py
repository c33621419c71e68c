"""The registry of vectorised check kinds that rulebook rules bind to.

A kind is a function ``fn(ctx, frame, active, params) -> Hits`` working on whole columns:
``frame`` is the scope's table (policies or services, with policy columns joined), ``active``
marks the rows for which the rule is in force, and ``params`` are the rule's parameters
(numeric ones may be per-row arrays when regional overrides apply). Region and insurer kinds
return their own keys. No kind loops over rows in Python.

Each kind declares its parameter model (pydantic, validated when the rulebook loads), the
scopes it serves, which parameters a regional override may tighten and in which direction,
and the tables / optional columns it needs (otherwise the rule is "not checkable").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterator, Literal, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from scoring.submission.intake import Submission
from scoring.arrays import arrow
from scoring.writers import round_sig
from scoring.messages import TEMPLATES
from scoring.schema import COLUMN_ZH, HIGH_RISK_INDUSTRIES, SERVICE_ITEMS, TABLES, prefecture_of, province_of

Op = Literal["lt", "le", "gt", "ge", "eq", "ne"]
OPS: dict[str, Callable] = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal}
OP_TEXT = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥", "eq": "=", "ne": "≠"}
#: Chinese names of every column a rule can name: the schema's and the frames' derived ones.
_ZH = {**COLUMN_ZH, "spend": "服务费用合计", "n_services": "服务次数", "province": "省份", "prefecture": "地市",
       "ended": "保险期已结束", "provider": "服务主体"}
EARTH_KM = 6371.0088

#: Columns a service row takes from its policy (:attr:`Context.services`).
POLICY_COLUMNS_ON_SERVICES = ("insurer_id", "region_code", "enterprise_id", "enterprise_name", "start_date", "end_date",
                              "enterprise_lat", "enterprise_lon")
#: Columns computed per scope beyond the submission's own, with their type class.
DERIVED = {
    "policy": {"province": "text", "prefecture": "text", "ended": "bool", "n_services": "number", "spend": "number"},
    "service": {"provider": "text"},
}
_TYPE_CLASS = {"int": "number", "money": "number", "float": "number", "date": "date", "bool": "bool", "enum": "enum"}


class ColumnInfo(NamedTuple):
    type: str  # number, date, bool, enum or text
    values: tuple[str, ...] = ()  # an enum's codes


def frame_columns(scope: str) -> dict[str, ColumnInfo]:
    """The columns a rule of ``scope`` can name, with their type class (for checks at load)."""
    def info(c):
        return ColumnInfo(_TYPE_CLASS.get(c.type, "text"), tuple(c.values or ()))

    pol = {c.name: info(c) for c in TABLES["policies"].columns}
    if scope == "service":
        out = {c.name: info(c) for c in TABLES["services"].columns}
        out.update({n: pol[n] for n in POLICY_COLUMNS_ON_SERVICES})
    else:  # policy, region and insurer rules read the policies frame
        out = pol
        scope = "policy"
    out.update({n: ColumnInfo(t) for n, t in DERIVED[scope].items()})
    return out


class Ref(NamedTuple):
    """A column a rule's parameter names: where, which, the type classes it may have, and for an
    enum column the values the parameter uses (each must be one of the column's)."""

    field: str
    column: str
    types: tuple[str, ...] = ("number", "date", "bool", "enum", "text")
    values: tuple = ()


# ------------------------------------------------------------------------------ context


class Context:
    """What every check may read: the validated tables, the as-of date and shared aggregates."""

    def __init__(self, sub: Submission, as_of: np.datetime64, rate_settings=None):
        self.sub = sub
        self.as_of = np.datetime64(as_of, "s")
        self.rate_settings = rate_settings  # rulebook.RateSettings: expense ratio, full credibility
        self.present = sub.present

    def has(self, requirement: str) -> bool:
        """``"staff"`` (a table) or ``"services.checkin_lat"`` (an optional column) is present."""
        table, _, column = requirement.partition(".")
        if table not in self.present:
            return False
        return not column or column not in self.sub.absent.get(table, ())

    @cached_property
    def policies(self) -> pd.DataFrame:
        p = self.sub["policies"].reset_index(drop=True)
        agg = self.sub.aggregates
        return p.assign(
            province=province_of(p["region_code"]).to_numpy(),
            prefecture=prefecture_of(p["region_code"]).to_numpy(),
            ended=agg.ended(self.as_of),
            n_services=agg.n_services,
            spend=agg.spend,
        )

    @property
    def policy_pos(self) -> np.ndarray:
        """Each service's row in the policies table."""
        return self.sub.aggregates.policy_pos

    @cached_property
    def services(self) -> pd.DataFrame:
        s = self.sub["services"].reset_index(drop=True)
        p = self.sub["policies"]
        pos = pa.array(self.policy_pos)
        for c in POLICY_COLUMNS_ON_SERVICES:
            col = p[c]
            if hasattr(col.array, "__arrow_array__"):
                s[c] = pc.take(arrow(col), pos).to_pandas()
            else:
                s[c] = col.to_numpy()[self.policy_pos]
        s["provider"] = self.sub.aggregates.service_provider.to_pandas()
        return s

    @cached_property
    def rate_cells(self) -> pd.DataFrame:
        """Loss experience per insurer × industry × province × policy year (:mod:`scoring.rules.rates`)."""
        from scoring.rules.rates import rate_cells

        s = self.rate_settings
        kw = {} if s is None else {"expense_ratio": s.expense_ratio, "full_credibility_claims": s.full_credibility_claims}
        return rate_cells(self.sub["policies"], self.sub["claims"], self.as_of, **kw)

    @cached_property
    def claims(self) -> pd.DataFrame:
        """Claims with their policy's row (``i``), enterprise and period."""
        c = self.sub["claims"].reset_index(drop=True)
        p = self.sub["policies"]
        at = pd.Index(p["policy_id"]).get_indexer(c["policy_id"])
        return c.assign(i=at, enterprise_id=p["enterprise_id"].to_numpy()[at])

    def frame(self, scope: str) -> pd.DataFrame:
        return self.policies if scope == "policy" else self.services


@dataclass
class Hits:
    """Rows (positions in the scope frame) or keys that a rule fires on, with what was seen."""

    rows: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    observed_en: np.ndarray | None = None
    keys: dict[str, np.ndarray] = field(default_factory=dict)  # region / insurer scope
    expected_en: np.ndarray | None = None  # where the expected text is words, their English


@dataclass(frozen=True)
class Kind:
    fn: Callable
    params: type[BaseModel]
    scopes: tuple[str, ...]
    stricter: dict[str, str] = field(default_factory=dict)  # param -> "higher" | "lower" is stricter
    tables: tuple[str, ...] = ()
    # Long and independent of the other rules (sorting millions of keys, regular expressions):
    # on large submissions it runs in a worker process beside them (see rulebook._Background).
    background: bool = False
    # Its findings on a policy read only that policy, its own services and claims, and the staff
    # table: a Dask run applies it per partition (scoring.engines.dask). Any kind that compares a
    # policy with others (peers, duplicates across enterprises, one person in two places, market
    # shares, loss-ratio cells, an enterprise's other years) is not local and runs on the whole.
    local: bool = False
    # For a service-scope kind that compares records across enterprises: how a record's keys are
    # read from one partition, so that a Dask run finds the records it may fire on without the
    # whole table (:class:`Exchange`). None for every other kind.
    exchange: "Exchange | None" = None

    @property
    def doc(self) -> str:
        """What the kind tests, its parameters and an example (``scoring rules --kinds``)."""
        import inspect

        text = self.fn.__doc__ if self.params.__name__ == "NoParams" else self.params.__doc__
        return inspect.cleandoc(text or "")


KINDS: dict[str, Kind] = {}


class Params(BaseModel):
    """Parameters of a kind. ``refs`` lists the columns they name, checked against the scope's
    columns (:func:`frame_columns`) when the rulebook loads."""

    model_config = ConfigDict(extra="forbid")

    def refs(self) -> Iterator[Ref]:
        return iter(())

    def sentence(self) -> str:
        """The parameters as a Chinese sentence for the report's methodology ("" where the rule's
        name says it all)."""
        return ""


OP_ZH = {"lt": "低于", "le": "不高于", "gt": "高于", "ge": "不低于", "eq": "等于", "ne": "不等于"}


def zh(column: str) -> str:
    """A column's Chinese name (the derived columns of the frames included)."""
    return _ZH.get(column, column)


def num(x: float) -> str:
    return fmt([x])[0]


def when_text(p) -> str:
    """The conditions of a rule as words: "，且（… 或 …）", "，且 … 为 …", "，且已填写 …"."""
    parts = []
    if getattr(p, "when_any", None):
        parts.append("（" + " 或 ".join(f"{zh(c)}{OP_ZH[o]} {num(v)}" for c, o, v in p.when_any) + "）")
    for col, values in (getattr(p, "when_in", None) or {}).items():
        labels = _labels(col)
        parts.append(f"{zh(col)}为" + "、".join(labels.get(v, v) for v in values))
    if getattr(p, "when_present", None):
        parts.append("已填写" + "、".join(zh(c) for c in p.when_present))
    return "，且" + "，且".join(parts) if parts else ""


def _condition_refs(p) -> Iterator[Ref]:
    for i, (col, _, _) in enumerate(getattr(p, "when_any", None) or []):
        yield Ref(f"when_any[{i}]", col, ("number",))
    for col, values in (getattr(p, "when_in", None) or {}).items():
        yield Ref(f"when_in.{col}", col, ("enum", "text"), tuple(values))
    for i, col in enumerate(getattr(p, "when_present", None) or []):
        yield Ref(f"when_present[{i}]", col)


def kind(name: str, params: type[BaseModel], scopes, stricter=None, tables=(), background=False, local=False,
         exchange=None):
    def register(fn):
        KINDS[name] = Kind(fn, params, tuple(scopes), stricter or {}, tuple(tables), background, local, exchange)
        return fn

    return register


# ------------------------------------------------------------------------------ helpers


def fmt(values, digits: int = 6) -> np.ndarray:
    """Numbers as short text: 300000, 0.0035, 1.25 (``digits`` significant digits, no float noise; NaN as "")."""
    text = pc.fill_null(pc.cast(pa.array(round_sig(values, digits), from_pandas=True), pa.string()), "")
    return text.to_numpy(zero_copy_only=False).astype(object)


def pct(values) -> np.ndarray:
    return np.char.add(np.char.mod("%.1f", np.asarray(values, dtype=float) * 100), "%").astype(object)


def dates(values) -> np.ndarray:
    return np.datetime_as_string(np.asarray(values, dtype="datetime64[D]"), unit="D").astype(object)


def join_text(*pieces) -> np.ndarray:
    """Element-wise concatenation of text arrays and literals (Arrow, no per-row Python)."""
    parts = [pa.scalar(p, pa.string()) if isinstance(p, str)
             else pc.fill_null(pa.array(np.asarray(p, dtype=object), pa.string(), from_pandas=True), "") for p in pieces]
    return pc.binary_join_element_wise(*parts, "").to_numpy(zero_copy_only=False).astype(object)


def text_rows(template: str, **fields) -> np.ndarray:
    """A catalogue template (:data:`scoring.messages.TEMPLATES`) filled per row: each field is a
    text array (one value per row) or a scalar (the same in every row)."""
    import string

    pieces = []
    for literal, name, _, _ in string.Formatter().parse(template):
        if literal:
            pieces.append(literal)
        if name is not None:
            v = fields[name]
            pieces.append(str(v) if np.ndim(v) == 0 else np.asarray(v, dtype=object))
    return join_text(*pieces)


def both(key: str, **fields) -> tuple[np.ndarray, np.ndarray]:
    """The Chinese and English texts of catalogue entry ``key``, filled per row."""
    zh, en = TEMPLATES[key]
    return text_rows(zh, **fields), text_rows(en, **fields)


def _num(frame, col) -> np.ndarray:
    return frame[col].to_numpy(dtype=float, na_value=np.nan)


def conditions(frame: pd.DataFrame, when_any=None, when_in=None, when_present=None) -> np.ndarray:
    ok = np.ones(len(frame), dtype=bool)
    if when_any:
        any_ = np.zeros(len(frame), dtype=bool)
        for col, op, value in when_any:
            with np.errstate(invalid="ignore"):
                any_ |= OPS[op](_num(frame, col), float(value))
        ok &= any_
    for col, values in (when_in or {}).items():
        ok &= frame[col].isin(values).to_numpy()
    for col in when_present or ():
        ok &= frame[col].notna().to_numpy()
    return ok


def _broadcast(value, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=float), (n,))


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    la1, lo1, la2, lo2 = (np.radians(np.asarray(x, dtype=float)) for x in (lat1, lon1, lat2, lon2))
    a = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def _text(x: np.ndarray) -> np.ndarray:
    if x.dtype.kind in "fiu":
        return fmt(x)
    if x.dtype.kind == "M":
        return dates(x)
    return x.astype(object)


def _hits(mask: np.ndarray, observed, expected, observed_en=None, expected_en=None) -> Hits:
    """Select the firing rows; full-length arrays are cut to them and numbers / dates become text."""
    rows = np.flatnonzero(mask)

    def take(x):
        if x is None:
            return None
        if isinstance(x, str) or np.ndim(x) == 0:
            return np.full(len(rows), x if isinstance(x, str) else _text(np.asarray([x]))[0], dtype=object)
        return _text(np.asarray(x)[rows])

    return Hits(rows, take(observed), take(expected), take(observed_en), expected_en=take(expected_en))


def english(column: str) -> str:
    """A column's name as English words for messages ("aggregate_limit" -> "aggregate limit")."""
    return column.removeprefix("covers_").replace("_", " ")


# ------------------------------------------------------------------------------ single-row kinds


class ColumnVsValue(Params):
    """A number column compared with a value: fires where ``column op value`` holds.

    Parameters: ``column`` (a number column), ``op`` (lt le gt ge eq ne), ``value``; optional
    ``when_any`` ([column, op, value] conditions, any of which must hold) and ``when_in``
    ({column: [values]}, each must hold). Scopes: policy, service. A regional override may
    change ``value`` only towards firing more often.
    Example: ``{column: death_limit_per_person, op: lt, value: 300000}``.
    """

    column: str
    op: Op
    value: float
    when_any: list[tuple[str, Op, float]] | None = None
    when_in: dict[str, list[str]] | None = None
    expected: str | None = None  # the requirement as text where the bare value would mislead ("> 0")

    def refs(self):
        yield Ref("column", self.column, ("number",))
        yield from _condition_refs(self)

    def sentence(self) -> str:
        return f"{zh(self.column)}{OP_ZH[self.op]} {num(self.value)}" + when_text(self)


@kind("column_vs_value", ColumnVsValue, ("policy", "service"), stricter={"value": "op"}, local=True)
def column_vs_value(ctx, frame, active, p: ColumnVsValue) -> Hits:
    x = _num(frame, p.column)
    value = _broadcast(p.value, len(frame))
    with np.errstate(invalid="ignore"):
        fire = active & OPS[p.op](x, value) & conditions(frame, p.when_any, p.when_in)
    return _hits(fire, x, value if p.expected is None else p.expected)


class ColumnOutsideBand(Params):
    """A number column outside ``[low, high]``. Scopes: policy, service.
    Example: ``{column: rate_factor, low: 0.7, high: 1.3}``."""

    column: str
    low: float
    high: float

    def refs(self):
        yield Ref("column", self.column, ("number",))

    def sentence(self) -> str:
        return f"{zh(self.column)}不在 {num(self.low)}—{num(self.high)} 之间"


@kind("column_outside_band", ColumnOutsideBand, ("policy", "service"), stricter={"low": "higher", "high": "lower"}, local=True)
def column_outside_band(ctx, frame, active, p: ColumnOutsideBand) -> Hits:
    x = _num(frame, p.column)
    fire = active & ((x < p.low) | (x > p.high))
    return _hits(fire, x, f"{fmt([p.low])[0]}—{fmt([p.high])[0]}")


class ColumnEquals(Params):
    """A column equal to ``value`` (true/false for a yes/no column, a code for an enum column).
    Scopes: policy, service. Example: ``{column: premium_charged_to_employees, value: true}``."""

    column: str
    value: bool | str | float

    def refs(self):
        values = (self.value,) if isinstance(self.value, str) else ()
        yield Ref("column", self.column, ("bool",) if isinstance(self.value, bool) else ("enum", "text", "number"), values)

    def sentence(self) -> str:
        value = ("是" if self.value else "否") if isinstance(self.value, bool) else _labels(self.column).get(str(self.value), self.value)
        return f"{zh(self.column)}为“{value}”"


@kind("column_equals", ColumnEquals, ("policy", "service"), local=True)
def column_equals(ctx, frame, active, p: ColumnEquals) -> Hits:
    fire = active & (frame[p.column].to_numpy() == p.value)
    if isinstance(p.value, bool):
        seen, other = TEMPLATES["yes" if p.value else "no"], TEMPLATES["no" if p.value else "yes"]
        return _hits(fire, seen[0], other[0], seen[1])
    return _hits(fire, str(p.value), "")


class ColumnInSet(Params):
    """An enum column holding one of ``values`` (codes, or {code: label}). The expected text is
    the labels of the column's other values. Scopes: policy, service.
    Example: ``{column: prevention_fee_account, values: [government, government_designated]}``."""

    column: str
    values: list[str] | dict[str, str]

    def refs(self):
        yield Ref("values", self.column, ("enum",), tuple(self.values))

    def sentence(self) -> str:
        labels = {**_labels(self.column), **(self.values if isinstance(self.values, dict) else {})}
        return f"{zh(self.column)}为" + "或".join(f"“{labels.get(v, v)}”" for v in self.values)


def _labels(column: str) -> dict[str, str]:
    return next((dict(c.values) for t in TABLES.values() for c in t.columns if c.name == column and c.values), {})


@kind("column_in_set", ColumnInSet, ("policy", "service"), local=True)
def column_in_set(ctx, frame, active, p: ColumnInSet) -> Hits:
    col = frame[p.column]
    labels = {**_labels(p.column), **(p.values if isinstance(p.values, dict) else {})}
    fire = active & col.isin(list(p.values)).to_numpy()
    zh = col.map(labels).to_numpy(dtype=object)
    others = "、".join(label for code, label in labels.items() if code not in p.values)
    others_en = ", ".join(english(code) for code in labels if code not in p.values)
    return _hits(fire, zh, others, col.map(english).to_numpy(dtype=object), others_en)


class ColumnsAllTrue(Params):
    """Yes/no columns that must all be yes; fires naming those that are not. Scope: policy.
    Example: ``{columns: {covers_employees: 从业人员伤亡, covers_rescue: 事故抢险救援费用}}``."""

    columns: dict[str, str]

    def refs(self):
        for c in self.columns:
            yield Ref(f"columns.{c}", c, ("bool",))

    def sentence(self) -> str:
        return "未全部包含：" + "、".join(self.columns.values())


@kind("columns_all_true", ColumnsAllTrue, ("policy",), local=True)
def columns_all_true(ctx, frame, active, p: ColumnsAllTrue) -> Hits:
    off = np.column_stack([~frame[c].to_numpy(dtype=bool) for c in p.columns])
    rows = np.flatnonzero(active & off.any(axis=1))
    labels, names = list(p.columns.values()), list(p.columns)
    zh = np.array(["、".join(l for l, o in zip(labels, r) if o) for r in off[rows]], dtype=object)
    en = np.array([", ".join(english(n) for n, o in zip(names, r) if o) for r in off[rows]], dtype=object)
    zh_t, en_t = TEMPLATES["all_of"]
    expected = zh_t.format(n=len(labels), items="、".join(labels))
    expected_en = en_t.format(n=len(labels), items=", ".join(english(n) for n in names))
    return Hits(rows, zh, np.full(len(rows), expected, dtype=object), en,
                expected_en=np.full(len(rows), expected_en, dtype=object))


class ColumnVsColumn(Params):
    """Number columns compared pairwise: fires where any ``[left, op, right]`` holds, naming each.
    ``when_present``: columns that must be filled. Scopes: policy, service.
    Example: ``{pairs: [[aggregate_limit, lt, per_accident_limit]]}``."""

    pairs: list[tuple[str, Op, str]]
    when_present: list[str] | None = None

    def refs(self):
        for i, (left, _, right) in enumerate(self.pairs):
            yield Ref(f"pairs[{i}]", left, ("number",))
            yield Ref(f"pairs[{i}]", right, ("number",))
        yield from _condition_refs(self)

    def sentence(self) -> str:
        return "；".join(f"{zh(a)}{OP_ZH[o]}{zh(b)}" for a, o, b in self.pairs) + when_text(self)


@kind("column_vs_column", ColumnVsColumn, ("policy", "service"), local=True)
def column_vs_column(ctx, frame, active, p: ColumnVsColumn) -> Hits:
    fired = []
    for left, op, right in p.pairs:
        a, b = _num(frame, left), _num(frame, right)
        with np.errstate(invalid="ignore"):
            fired.append(OPS[op](a, b))
    fire = np.logical_or.reduce(fired) & active & conditions(frame, when_present=p.when_present)
    rows = np.flatnonzero(fire)
    zh = en = np.full(len(rows), "", dtype=object)
    for (left, op, right), f in zip(p.pairs, fired):
        on = f[rows]
        a, b = fmt(_num(frame, left)[rows]), fmt(_num(frame, right)[rows])
        sep_zh, sep_en = np.where(on & (zh != ""), "；", ""), np.where(on & (en != ""), "; ", "")
        zh = join_text(zh, sep_zh, np.where(on, join_text(_ZH[left] + " ", a, f" {OP_TEXT[op]} " + _ZH[right] + " ", b), ""))
        en = join_text(en, sep_en, np.where(on, join_text(english(left) + " ", a, f" {OP_TEXT[op]} " + english(right) + " ", b), ""))
    exp = "；".join(f"{_ZH[l]} {OP_TEXT[_NEGATE[o]]} {_ZH[r]}" for l, o, r in p.pairs)
    exp_en = "; ".join(f"{english(l)} {OP_TEXT[_NEGATE[o]]} {english(r)}" for l, o, r in p.pairs)
    return Hits(rows, zh, np.full(len(rows), exp, dtype=object), en, expected_en=np.full(len(rows), exp_en, dtype=object))


_NEGATE = {"lt": "ge", "le": "gt", "gt": "le", "ge": "lt", "eq": "ne", "ne": "eq"}


class ProductMismatch(Params):
    """A number column differing from the product of ``factors`` by more than ``tolerance``
    (a share of the product). Scope: policy.
    Example: ``{column: premium, factors: [premium_base, base_rate, rate_factor], tolerance: 0.02}``."""

    column: str
    factors: list[str]
    tolerance: float

    def refs(self):
        yield Ref("column", self.column, ("number",))
        for i, f in enumerate(self.factors):
            yield Ref(f"factors[{i}]", f, ("number",))

    def sentence(self) -> str:
        return f"{zh(self.column)}与 {'×'.join(zh(f) for f in self.factors)} 相差超过 {self.tolerance:.0%}"


@kind("product_mismatch", ProductMismatch, ("policy",), stricter={"tolerance": "lower"}, local=True)
def product_mismatch(ctx, frame, active, p: ProductMismatch) -> Hits:
    expected = np.prod([_num(frame, f) for f in p.factors], axis=0)
    x = _num(frame, p.column)
    with np.errstate(invalid="ignore", divide="ignore"):
        fire = active & (np.abs(x - expected) > _broadcast(p.tolerance, len(frame)) * np.abs(expected))
    return _hits(fire, x, np.round(expected, 2))


class RatioVsValue(Params):
    """``numerator / denominator`` compared with ``value`` (shown as percentages). Scope: policy.
    Example: ``{numerator: prevention_fee, denominator: premium, op: gt, value: 0.3}``."""

    numerator: str
    denominator: str
    op: Op
    value: float

    def refs(self):
        yield Ref("numerator", self.numerator, ("number",))
        yield Ref("denominator", self.denominator, ("number",))

    def sentence(self) -> str:
        return f"{zh(self.numerator)}占{zh(self.denominator)}的比例{OP_ZH[self.op]} {self.value:.0%}"


@kind("ratio_vs_value", RatioVsValue, ("policy",), stricter={"value": "op"}, local=True)
def ratio_vs_value(ctx, frame, active, p: RatioVsValue) -> Hits:
    with np.errstate(invalid="ignore", divide="ignore"):
        r = _num(frame, p.numerator) / _num(frame, p.denominator)
        fire = active & OPS[p.op](r, _broadcast(p.value, len(frame)))
    rows = np.flatnonzero(fire)
    return Hits(rows, pct(r[rows]), np.full(len(rows), pct([p.value])[0], dtype=object))


class PeerOutlier(Params):
    """The product of ``factors`` (a rate) far from its peers': robust z (median and MAD of the log)
    above ``z`` within groups of ``group_by`` of at least ``min_peers``; ``min_scale`` floors the
    scale so tight groups do not flag small differences. Scope: policy.
    Example: ``{factors: [base_rate, rate_factor], group_by: [province, industry, premium_base_type], z: 3.5, min_peers: 20}``."""

    factors: list[str]
    group_by: list[str]
    z: float
    min_peers: int
    min_scale: float = 0.0

    def refs(self):
        for i, f in enumerate(self.factors):
            yield Ref(f"factors[{i}]", f, ("number",))
        for i, g in enumerate(self.group_by):
            yield Ref(f"group_by[{i}]", g, ("enum", "text", "bool"))

    def sentence(self) -> str:
        return (f"{'×'.join(zh(f) for f in self.factors)} 偏离同组（{'、'.join(zh(g) for g in self.group_by)}）中位数，"
                f"稳健 z 值超过 {num(self.z)}（组内至少 {self.min_peers} 件）")


@kind("peer_outlier", PeerOutlier, ("policy",), stricter={"z": "lower", "min_peers": "lower", "min_scale": "lower"})
def peer_outlier(ctx, frame, active, p: PeerOutlier) -> Hits:
    rate = np.prod([_num(frame, f) for f in p.factors], axis=0)
    logr = np.log(rate)
    g = pd.Series(logr).groupby([frame[c].to_numpy() for c in p.group_by])
    med = g.transform("median").to_numpy()
    dev = np.abs(logr - med)
    mad = pd.Series(dev).groupby([frame[c].to_numpy() for c in p.group_by]).transform("median").to_numpy()
    size = g.transform("size").to_numpy()
    scale = np.maximum(1.4826 * mad, p.min_scale)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = dev / scale
    fire = active & (size >= _broadcast(p.min_peers, len(frame))) & (scale > 0) & (z > _broadcast(p.z, len(frame)))
    rows = np.flatnonzero(fire)
    high = logr[rows] > med[rows]
    zt, r = fmt(z[rows], 3), fmt(rate[rows], 4)
    hi_zh, hi_en = both("rate_high", rate=r, z=zt)
    lo_zh, lo_en = both("rate_low", rate=r, z=zt)
    return Hits(rows, np.where(high, hi_zh, lo_zh).astype(object), fmt(np.exp(med[rows]), 4),
                np.where(high, hi_en, lo_en).astype(object))


# ------------------------------------------------------------------------------ policy aggregates over services


class Grace(Params):
    """No service record at all, once the period has ended or ``grace_days`` have passed since
    its start (as of the run's date). Scope: policy. Example: ``{grace_days: 90}``."""

    grace_days: int

    def sentence(self) -> str:
        return f"保险期开始 {self.grace_days} 天后（或期满时）仍无任何服务记录"


@kind("no_services", Grace, ("policy",), stricter={"grace_days": "lower"}, local=True)
def no_services(ctx, frame, active, p: Grace) -> Hits:
    into = (ctx.as_of - frame["start_date"].to_numpy()).astype("timedelta64[D]").astype(int)
    due = frame["ended"].to_numpy() | (into > _broadcast(p.grace_days, len(frame)))
    fire = active & due & (frame["n_services"].to_numpy() == 0)
    rows = np.flatnonzero(fire)
    zh, en = both("days_into_period", n=into[rows].astype(str))
    ended = frame["ended"].to_numpy()[rows]
    end_zh, end_en = both("period_ended", end=dates(frame["end_date"].to_numpy()[rows]))
    return Hits(rows, np.where(ended, end_zh, zh).astype(object), np.full(len(rows), str(p.grace_days), dtype=object),
                np.where(ended, end_en, en).astype(object))


class MinCount(Params):
    """An ended period with at least one but fewer than ``min_count`` service records. Scope: policy.
    Example: ``{min_count: 2}``."""

    min_count: int

    def sentence(self) -> str:
        return f"已结束的保险期内有服务但少于 {self.min_count} 次"


@kind("service_count_below", MinCount, ("policy",), stricter={"min_count": "higher"}, local=True)
def service_count_below(ctx, frame, active, p: MinCount) -> Hits:
    n = frame["n_services"].to_numpy()
    fire = active & frame["ended"].to_numpy() & (n >= 1) & (n < _broadcast(p.min_count, len(frame)))
    return _hits(fire, n.astype(np.int64), str(p.min_count))


class ItemMissing(Params):
    """An ended period with services but none of ``item`` (a service_item code), for policies of
    ``industries`` (high_risk: the industries of 办法2025 Art. 2; all). Scope: policy.
    Example: ``{item: risk_assessment, industries: high_risk}``."""

    item: Literal[tuple(SERVICE_ITEMS)]  # type: ignore[valid-type]
    industries: Literal["high_risk", "all"]

    def sentence(self) -> str:
        who = "高危行业" if self.industries == "high_risk" else "全部"
        return f"{who}保单已结束的保险期内没有“{SERVICE_ITEMS[self.item]}”服务"


@kind("item_missing", ItemMissing, ("policy",), local=True)
def item_missing(ctx, frame, active, p: ItemMissing) -> Hits:
    hr = frame["industry"].isin(HIGH_RISK_INDUSTRIES).to_numpy() if p.industries == "high_risk" else True
    n = frame["n_services"].to_numpy()
    fire = active & frame["ended"].to_numpy() & hr & (n >= 1) & (ctx.sub.aggregates.item_count(p.item) == 0)
    rows = np.flatnonzero(fire)
    k = n[rows].astype(np.int64).astype(str)
    zh, en = both("services_count", n=k)
    return Hits(rows, zh, np.full(len(rows), SERVICE_ITEMS[p.item], dtype=object), en)


class MinRatio(Params):
    """An ended period whose ``spend`` (service cost recorded) is below ``min_ratio`` of ``fee``
    (the prevention fee). Scope: policy. Example: ``{min_ratio: 0.5}``."""

    min_ratio: float
    fee: str = "prevention_fee"
    spend: str = "spend"

    def refs(self):
        yield Ref("fee", self.fee, ("number",))
        yield Ref("spend", self.spend, ("number",))

    def sentence(self) -> str:
        return f"已结束的保险期内{zh(self.spend)}低于{zh(self.fee)}的 {self.min_ratio:.0%}"


@kind("spend_below", MinRatio, ("policy",), stricter={"min_ratio": "higher"}, local=True)
def spend_below(ctx, frame, active, p: MinRatio) -> Hits:
    fee = _num(frame, p.fee)
    spend = _num(frame, p.spend)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = spend / fee
    fire = active & frame["ended"].to_numpy() & (fee > 0) & (spend < _broadcast(p.min_ratio, len(frame)) * fee)
    rows = np.flatnonzero(fire)
    shown = np.floor(ratio[rows] * 1000) / 1000  # rounded down: 49.96% reads 49.9%, never the 50.0% it missed
    return Hits(rows, pct(shown), np.full(len(rows), pct([p.min_ratio])[0], dtype=object))


# ------------------------------------------------------------------------------ service records


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
    return _hits(fire, a, b)


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
        yield from _condition_refs(self)

    def sentence(self) -> str:
        return f"{zh(self.since)}后 {self.grace_days} 天仍无{zh(self.column)}" + when_text(self)


@kind("missing_value", MissingValue, ("service",), stricter={"grace_days": "lower"}, local=True)
def missing_value(ctx, frame, active, p: MissingValue) -> Hits:
    age = (ctx.as_of - frame[p.since].to_numpy()).astype("timedelta64[D]").astype(int)
    fire = active & frame[p.column].isna().to_numpy() & (age > _broadcast(p.grace_days, len(frame))) & conditions(frame, p.when_any)
    return _hits(fire, age, str(p.grace_days))


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
    fire = active & ok & (days > _broadcast(p.max_days, len(frame)))
    return _hits(fire, days, str(p.max_days))


class NoParams(Params):
    """No parameters: the kind's test is fixed (see the kind's description)."""


@kind("staff_unqualified", NoParams, ("service",), tables=("staff",), local=True)
def staff_unqualified(ctx, frame, active, p: NoParams) -> Hits:
    """Every staff member listed on a service record has no qualification (staff table). Scope: service."""
    fire = active & ctx.sub.aggregates.unqualified
    zh, en = TEMPLATES["staff_qualified"]
    return _hits(fire, frame["staff_ids"].to_numpy(dtype=object), zh, expected_en=en)


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
    return _hits(fire, obs, zh, expected_en=en)


# ------------------------------------------------------------------------------ integrity across records


class Overlap(Params):
    """One staff member at two or more enterprises on one day, with more than ``max_hours`` on
    site in all or check-ins more than ``max_km`` apart. Scope: service.
    Example: ``{max_hours: 10, max_km: 80}``."""

    max_hours: float
    max_km: float

    def sentence(self) -> str:
        return f"同一人员同日在多家企业服务，合计超过 {num(self.max_hours)} 小时或签到相距超过 {num(self.max_km)} 公里"


# ------------------------------------------------------------------------------ cross-partition service checks
#
# Three service checks compare records of different enterprises: one photo at two enterprises,
# one person at two enterprises on one day, one provider's text at several enterprises. Each
# fires on a record only through a *key* it shares with records of other enterprises (the photo
# hash; the person and the day; the provider and the normalised text), and its result on a
# record depends only on the records that share one of its keys. So a Dask run
# (scoring.engines.dask) needs no partition to see another's records:
#   1. per partition, each record's keys are hashed to 64 bits and sent as (key, enterprise)
#      pairs, with enterprises numbered by the driver (exact);
#   2. the driver keeps the keys with enough distinct enterprises (:meth:`Exchange.candidates`);
#      a hash collision can only add keys, never lose one;
#   3. per partition, the records holding a kept key are sent back whole, and the check runs
#      on those records only, by the same function as on the whole table. Every record of a
#      kept key is among them, and a key that was not kept cannot reach its threshold among
#      fewer records, so the findings are the whole table's.


def hash_strings(values) -> np.ndarray:
    """64-bit hashes of strings (pandas' keyed SipHash: the same in every process). Each string
    is hashed as it comes: numbering the distinct strings first (pandas' ``categorize``) gives
    the same hashes but took 6.2 s instead of 0.25 s for the 3.3M photo hashes of one partition
    at five million policies, and was slower even for staff names, 55 records to a name."""
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
        the key's high bits; a bucket has its low ones), one piece made at a time. Numbering keys
        by hashing slows down once the table outgrows the processor's caches: 1.4 s a bucket of
        5.5M photo pairs at five million policies, against 0.1 s a bucket at one million."""
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
        integer, sorted once and reduced by runs: pandas' group-by with a distinct count took a
        minute over the hundred million pairs of five million policies."""
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


def _photo_keys(ctx, frame, p) -> tuple[np.ndarray, np.ndarray]:
    lists = pc.split_pattern(arrow(frame["photo_hashes"]), ";")
    parent = pc.list_parent_indices(lists)
    flat = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    keep = pc.not_equal(flat, "")
    return parent.filter(keep).to_numpy(), hash_strings(flat.filter(keep).to_numpy(zero_copy_only=False))


def _staff_day_keys(ctx, frame, p):
    long = ctx.sub.aggregates.staff_long
    i = long["i"].to_numpy()
    days = frame["service_date"].to_numpy().astype("datetime64[D]").astype(np.int64)[i]
    with np.errstate(over="ignore"):
        key = hash_strings(long["staff"].to_numpy(dtype=object)) * np.uint64(0x9E3779B97F4A7C15) + days.astype(np.uint64)
    measures = {"hours": frame["onsite_hours"].to_numpy(dtype=float, na_value=np.nan)[i],
                "lat": _num(frame, "checkin_lat")[i], "lon": _num(frame, "checkin_lon")[i]}
    return i, key, measures


def _staff_day_could_fire(summary: pd.DataFrame, p) -> np.ndarray:
    """A staff-day can fire only if its hours (over all its records) exceed ``max_hours`` or its
    check-ins span more than ``max_km`` (the corners of their latitude-longitude box bound any
    two of them; 1% and a metre of slack against rounding)."""
    s = summary
    span = np.fmax(haversine_km(s["lat_min"], s["lon_min"], s["lat_max"], s["lon_max"]),
                   haversine_km(s["lat_min"], s["lon_max"], s["lat_max"], s["lon_min"]))
    with np.errstate(invalid="ignore"):
        return (s["hours_sum"].to_numpy() > p.max_hours - 1e-6) | (np.nan_to_num(np.asarray(span, dtype=float)) * 1.01 + 1e-3 > p.max_km)


def _text_keys(ctx, frame, p) -> tuple[np.ndarray, np.ndarray]:
    idx, norm = _normalized_text(frame, p.column)
    ok = np.asarray(pc.greater_equal(pc.utf8_length(norm), p.min_chars).to_numpy(zero_copy_only=False), dtype=bool)
    rows = idx[ok]
    prov = pc.take(arrow(frame["provider"]), pa.array(rows))
    joined = pc.binary_join_element_wise(prov, norm.filter(pa.array(ok)), "\x1f")
    return rows, hash_strings(joined.to_numpy(zero_copy_only=False))


@kind("staff_overlap", Overlap, ("service",), stricter={"max_hours": "lower", "max_km": "lower"},
      exchange=Exchange(_staff_day_keys, keep=_staff_day_could_fire))
def staff_overlap(ctx, frame, active, p: Overlap) -> Hits:
    long = ctx.sub.aggregates.staff_long
    i = long["i"].to_numpy()
    # staff-days at two or more enterprises, by integer codes: (staff, day) key, then (key, enterprise)
    staff = pc.dictionary_encode(arrow(long["staff"]))
    ent = pc.dictionary_encode(arrow(frame["enterprise_id"]))
    s_code = staff.indices.to_numpy().astype(np.int64)
    e_code = ent.indices.to_numpy().astype(np.int64)[i]
    days = frame["service_date"].to_numpy().astype("datetime64[D]").astype(np.int64)[i]
    key = s_code * (int(days.max() - days.min()) + 1) + (days - days.min())
    pairs = sorted_unique(key * len(ent.dictionary) + e_code) // len(ent.dictionary)
    multi = sorted_unique(pairs[1:][pairs[1:] == pairs[:-1]])
    if not len(multi):
        return _hits(np.zeros(len(frame), bool), "", "")
    sel = np.flatnonzero(np.isin(key, multi))
    rows = i[sel]
    cand = pd.DataFrame({"i": rows, "staff": pc.take(staff.dictionary, pa.array(s_code[sel])).to_pandas(),
                         "date": days[sel].astype("datetime64[D]"),
                         "ent": pc.take(ent.dictionary, pa.array(e_code[sel])).to_pandas()})
    cand = cand.sort_values(["i", "staff"], kind="stable").reset_index(drop=True)
    rows = cand["i"].to_numpy()
    cand["hours"] = frame["onsite_hours"].to_numpy(dtype=float, na_value=np.nan)[rows]
    cand["lat"] = _num(frame, "checkin_lat")[rows]
    cand["lon"] = _num(frame, "checkin_lon")[rows]
    gc = cand.groupby(["staff", "date"], sort=False)
    cand["sum_hours"] = gc["hours"].transform("sum").to_numpy()
    # farthest pair of check-ins within the staff-day (pairs within each small group)
    pts = cand.dropna(subset=["lat", "lon"])[["staff", "date", "lat", "lon", "ent"]]
    pairs = pts.merge(pts, on=["staff", "date"], suffixes=("", "_b"))
    pairs = pairs[pairs["ent"] != pairs["ent_b"]]
    pairs["km"] = haversine_km(pairs["lat"], pairs["lon"], pairs["lat_b"], pairs["lon_b"])
    far = pairs.groupby(["staff", "date"])["km"].max().rename("max_km")
    cand = cand.join(far, on=["staff", "date"])
    cand["max_km"] = cand["max_km"].fillna(0.0)
    bad = cand[(cand["sum_hours"] > p.max_hours) | (cand["max_km"] > p.max_km)]
    bad = bad.assign(n=bad.groupby(["staff", "date"])["ent"].transform("nunique"))
    bad = bad.sort_values(["i", "staff"]).drop_duplicates("i")
    fire = np.zeros(len(frame), dtype=bool)
    fire[bad["i"].to_numpy()] = True
    fire &= active
    obs = np.empty(len(frame), dtype=object)
    exp = np.empty(len(frame), dtype=object)
    at = bad["i"].to_numpy()
    zh, en = both("staff_overlap", staff=bad["staff"].astype(str).to_numpy(), date=dates(bad["date"].to_numpy()),
                  n=bad["n"].astype(str).to_numpy(), hours=fmt(bad["sum_hours"]), km=fmt(bad["max_km"].round(1)))
    obs_en = np.empty(len(frame), dtype=object)
    obs[at], obs_en[at] = zh, en
    limit = {"hours": fmt([p.max_hours])[0], "km": fmt([p.max_km])[0]}
    exp[at] = TEMPLATES["staff_overlap_limit"][0].format(**limit)
    exp_en = np.empty(len(frame), dtype=object)
    exp_en[at] = TEMPLATES["staff_overlap_limit"][1].format(**limit)
    return _hits(fire, obs, exp, obs_en, exp_en)


_MIX = np.uint64(0x100000001B3)


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` by sorting (numpy's hash-based unique is several times slower on millions of ints)."""
    s = np.sort(values)
    return s[np.concatenate([[True], s[1:] != s[:-1]])] if len(s) else s


def duplicate_mask(values: pa.Array) -> np.ndarray:
    """Rows whose exact (non-empty) string occurs more than once.

    Hash tables over millions of distinct random strings are slow here, so strings are grouped
    by byte length and read as fixed-width rows of 64-bit words mixed into one key. Keys that
    occur twice are found by a sort of the keys alone; only the rows holding such a key are
    then compared word for word with their sorted neighbour: exact, with no per-row Python.
    """
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    values = values.cast(pa.string())
    if values.null_count:
        values = pc.fill_null(values, "")
    lens = np.asarray(pc.binary_length(values).to_numpy(zero_copy_only=False))
    out = np.zeros(len(values), dtype=bool)
    for L in np.unique(lens):
        if L == 0:
            continue
        idx = np.flatnonzero(lens == L)
        if len(idx) < 2:
            continue
        part = values if len(idx) == len(values) else values.take(pa.array(idx))
        offsets = np.frombuffer(part.buffers()[1], dtype=np.int32)[part.offset: part.offset + len(part) + 1]
        data = np.frombuffer(part.buffers()[2], dtype=np.uint8)[offsets[0]: offsets[-1]].reshape(len(idx), int(L))
        pad = (-int(L)) % 8
        if pad:
            data = np.concatenate([data, np.zeros((len(idx), pad), np.uint8)], axis=1)
        words = np.ascontiguousarray(data).view(np.uint64)
        key = words[:, 0].copy()
        with np.errstate(over="ignore"):
            for j in range(1, words.shape[1]):
                key = key * _MIX ^ words[:, j]
        sk = np.sort(key)
        twice = sorted_unique(sk[1:][sk[1:] == sk[:-1]])
        if not len(twice):
            continue
        pos = np.minimum(np.searchsorted(twice, key), len(twice) - 1)  # few keys: cache-friendly
        cand = np.flatnonzero(twice[pos] == key)
        ck, cw = key[cand], words[cand]
        order = np.lexsort([*cw.T[::-1], ck]) if cw.shape[1] > 1 else np.argsort(ck, kind="stable")
        w = cw[order]
        same = (w[1:] == w[:-1]).all(axis=1)
        hit = np.zeros(len(cand), dtype=bool)
        hit[1:] |= same
        hit[:-1] |= same
        out[idx[cand[order[hit]]]] = True
    return out


@kind("shared_photo", NoParams, ("service",), background=True, exchange=Exchange(_photo_keys))
def shared_photo(ctx, frame, active, p: NoParams) -> Hits:
    """The same photo hash on service records of two or more enterprises. Scope: service."""
    lists = pc.split_pattern(arrow(frame["photo_hashes"]), ";")
    parent = pc.list_parent_indices(lists)
    flat = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    keep = pc.not_equal(flat, "")
    flat, parent = flat.filter(keep), parent.filter(keep)
    # only hashes seen more than once can be shared; count their enterprises (on the strings)
    again = pa.array(duplicate_mask(flat))
    cand = pd.DataFrame({"h": flat.filter(again).to_numpy(zero_copy_only=False), "i": parent.filter(again).to_numpy()})
    fire = np.zeros(len(frame), dtype=bool)
    obs = np.empty(len(frame), dtype=object)
    if len(cand):
        cand["e"] = pc.take(arrow(frame["enterprise_id"]), pa.array(cand["i"].to_numpy())).to_pandas()
        cand = cand[cand.groupby("h")["e"].transform("nunique").to_numpy() >= 2]
        fire[cand["i"].to_numpy()] = True
        first = cand.groupby("i")["h"].first()
        obs[first.index.to_numpy()] = first.to_numpy()
    zh, en = TEMPLATES["photo_own"]
    return _hits(fire & active, obs, zh, expected_en=en)


_SLICE = 250_000


class DuplicateText(Params):
    """The same text (digits, spaces, punctuation and the enterprise's own name removed; at least
    ``min_chars`` characters) in ``column`` from one provider for ``min_enterprises`` or more
    enterprises. Scope: service.
    Example: ``{column: report_summary, min_chars: 30, min_enterprises: 3}``."""

    column: str
    min_chars: int
    min_enterprises: int

    def refs(self):
        yield Ref("column", self.column, ("text",))

    def sentence(self) -> str:
        return f"同一服务主体的{zh(self.column)}（至少 {self.min_chars} 字）在 {self.min_enterprises} 家及以上企业雷同"


def _normalized_text(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, pa.Array]:
    """The rows with a ``column`` text, and each text with its enterprise's own name, digits,
    spaces, punctuation and symbols removed."""
    text = arrow(frame[column], large_ok=True)
    has = np.asarray(pc.is_valid(text).to_numpy(zero_copy_only=False), dtype=bool)
    idx = np.flatnonzero(has)
    texts = text.filter(pa.array(has))
    names = pc.take(arrow(frame["enterprise_name"], large_ok=True), pa.array(idx))
    # the enterprise's own name is cut from its text (Python str.replace), in slices so that
    # millions of texts never sit in memory as Python objects all at once
    parts = []
    for a in range(0, len(texts), _SLICE):
        raw = texts.slice(a, _SLICE).to_numpy(zero_copy_only=False)
        nm = names.slice(a, _SLICE).to_numpy(zero_copy_only=False)
        stripped = pa.array([t.replace(n, "") if n else t for t, n in zip(raw, nm)], pa.string())
        parts.append(pc.replace_substring_regex(stripped, r"[\d\s\p{P}\p{S}]+", ""))
    norm = pa.concat_arrays(parts) if parts else pa.array([], pa.string())
    return idx, norm


@kind("duplicate_text", DuplicateText, ("service",), stricter={"min_chars": "lower", "min_enterprises": "lower"},
      background=True, exchange=Exchange(_text_keys, lambda p: p.min_enterprises))
def duplicate_text(ctx, frame, active, p: DuplicateText) -> Hits:
    idx, norm = _normalized_text(frame, p.column)
    ok = np.asarray(pc.greater_equal(pc.utf8_length(norm), p.min_chars).to_numpy(zero_copy_only=False), dtype=bool)
    again = duplicate_mask(pc.if_else(pa.array(ok), norm, pa.scalar("", pa.string())))
    fire = np.zeros(len(frame), dtype=bool)
    obs = np.empty(len(frame), dtype=object)
    if again.any():
        rows = idx[again]
        take = pa.array(rows)
        t = pd.DataFrame({"i": rows, "norm": norm.filter(pa.array(again)).to_pandas(),
                          "prov": pc.take(arrow(frame["provider"]), take).to_pandas(),
                          "ent": pc.take(arrow(frame["enterprise_id"]), take).to_pandas()})
        t["n"] = t.groupby(["prov", "norm"], sort=False)["ent"].transform("nunique")
        bad = t[t["n"] >= p.min_enterprises]
        fire[bad["i"].to_numpy()] = True
        obs[bad["i"].to_numpy()] = bad["n"].astype(str).to_numpy()
    zh, en = (t.format(n=p.min_enterprises) for t in TEMPLATES["fewer_enterprises"])
    return _hits(fire & active, obs, zh, expected_en=en)


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
    km = haversine_km(_num(frame, p.lat), _num(frame, p.lon), _num(frame, p.site_lat), _num(frame, p.site_lon))
    with np.errstate(invalid="ignore"):
        fire = active & (km > _broadcast(p.max_km, len(frame)))
    return _hits(fire, np.round(km, 1), fmt([p.max_km])[0])


# ------------------------------------------------------------------------------ market and insurer


class ShareExclusive(Params):
    """In a prefecture, one value of ``column`` (a broker, a coinsurance group) holding at least
    ``share`` of the policies (``among``: with a value, or all), where there are at least
    ``min_policies``. Scope: region.
    Example: ``{column: broker_id, share: 0.6, min_policies: 30, among: with_value}``."""

    column: str
    share: float
    min_policies: int
    among: Literal["with_value", "all"]

    def refs(self):
        yield Ref("column", self.column, ("text", "enum"))

    def sentence(self) -> str:
        base = "有该项的保单" if self.among == "with_value" else "全部保单"
        return f"地市内单一{zh(self.column)}占{base}的比例不低于 {self.share:.0%}（至少 {self.min_policies} 件）"


@kind("share_exclusive", ShareExclusive, ("region",), stricter={"share": "lower", "min_policies": "lower"})
def share_exclusive(ctx, frame, active, p: ShareExclusive) -> Hits:
    pol = frame[active]
    base = pol[pol[p.column].notna()] if p.among == "with_value" else pol
    total = base.groupby("prefecture").size()
    top = pol[pol[p.column].notna()].groupby(["prefecture", p.column]).size()
    if top.empty:
        return Hits(np.array([], int), np.array([], object), np.array([], object), keys={"region_code": np.array([], object)})
    best = top.sort_values(ascending=False, kind="stable").groupby(level=0).head(1).reset_index(name="k")
    best["n"] = best["prefecture"].map(total).to_numpy()
    best["share"] = best["k"] / best["n"]
    best = best[(best["n"] >= p.min_policies) & (best["share"] >= p.share)].sort_values("prefecture")
    obs, obs_en = both("share_of", value=best[p.column].astype(str).to_numpy(), share=pct(best["share"]),
                       n=best["n"].astype(str).to_numpy())
    return Hits(np.arange(len(best)), obs, np.full(len(best), pct([p.share])[0], dtype=object), obs_en,
                keys={"region_code": best["prefecture"].to_numpy(dtype=object)})


class HHI(Params):
    """Market concentration of insurers per prefecture and industry: Herfindahl index at least
    ``hhi`` where there are at least ``min_policies``. Scope: region.
    Example: ``{hhi: 0.5, min_policies: 30}``."""

    hhi: float
    min_policies: int

    def sentence(self) -> str:
        return f"地市内同行业保险机构集中度 HHI 不低于 {num(self.hhi)}（至少 {self.min_policies} 件）"


@kind("hhi", HHI, ("region",), stricter={"hhi": "lower", "min_policies": "lower"})
def hhi(ctx, frame, active, p: HHI) -> Hits:
    pol = frame[active]
    counts = pol.groupby(["prefecture", "industry", "insurer_id"]).size()
    n = counts.groupby(level=[0, 1]).transform("sum")
    h = ((counts / n) ** 2).groupby(level=[0, 1]).sum()
    size = counts.groupby(level=[0, 1]).sum()
    df = pd.DataFrame({"hhi": h, "n": size}).reset_index()
    df = df[(df["n"] >= p.min_policies) & (df["hhi"] >= p.hhi)].sort_values(["prefecture", "industry"])
    from scoring.schema import INDUSTRIES

    zh, en = TEMPLATES["hhi"]
    common = {"hhi": fmt(df["hhi"].round(3)), "n": df["n"].astype(str).to_numpy()}
    obs = text_rows(zh, industry=df["industry"].map(INDUSTRIES).to_numpy(dtype=object), **common)
    obs_en = text_rows(en, industry=df["industry"].map(english).to_numpy(dtype=object), **common)
    return Hits(np.arange(len(df)), obs, np.full(len(df), fmt([p.hhi])[0], dtype=object), obs_en,
                keys={"region_code": df["prefecture"].to_numpy(dtype=object)})


class Blacklist(Params):
    """An insurer with integrity findings (rule codes starting ``prefix``) on at least ``share`` of
    its policies, or spending less than ``min_ratio`` of the prevention fee on ended policies.
    Scope: insurer. Example: ``{share: 0.2, min_ratio: 0.5, prefix: INTEGRITY_}``."""

    share: float
    min_ratio: float
    prefix: str

    def sentence(self) -> str:
        return f"虚构迹象保单占比不低于 {self.share:.0%}，或已结束保单的预防费用使用率低于 {self.min_ratio:.0%}"


@kind("insurer_blacklist", Blacklist, ("insurer",), stricter={"share": "lower", "min_ratio": "higher"})
def insurer_blacklist(ctx, frame, active, p: Blacklist, findings: pa.Table | None = None) -> Hits:
    pol = frame
    flagged = pa.array([], pa.string())
    if findings is not None and len(findings):
        on_policy = pc.and_(pc.starts_with(findings["rule_code"], p.prefix), pc.is_valid(findings["policy_id"]))
        flagged = pc.unique(findings["policy_id"].filter(on_policy))
    is_flagged = pc.is_in(arrow(pol["policy_id"]), value_set=flagged).to_numpy(zero_copy_only=False)
    share = pd.Series(np.asarray(is_flagged, dtype=bool), index=pol.index).groupby(pol["insurer_id"]).mean()
    ended = pol.loc[pol["ended"].to_numpy(), ["insurer_id", "prevention_fee", "spend"]]
    fee = ended.groupby("insurer_id")["prevention_fee"].sum()
    spend = ended.groupby("insurer_id")["spend"].sum()
    ratio = (spend / fee.where(fee > 0)).reindex(share.index)
    df = pd.DataFrame({"share": share, "ratio": ratio}).sort_index()
    df = df[(df["share"] >= p.share) | (df["ratio"] < p.min_ratio)]
    share_t, ratio_t = pct(df["share"]).astype(str), pct(df["ratio"]).astype(str)
    obs, obs_en = both("blacklist", share=share_t, ratio=ratio_t)
    zh, en = (t.format(share=pct([p.share])[0], ratio=pct([p.min_ratio])[0]) for t in TEMPLATES["blacklist_limit"])
    return Hits(np.arange(len(df)), obs, np.full(len(df), zh, dtype=object), obs_en,
                keys={"insurer_id": df.index.to_numpy(dtype=object)}, expected_en=np.full(len(df), en, dtype=object))


# ------------------------------------------------------------------------------ loss experience (claims)


class LossRatio(Params):
    """A cell (insurer × industry × province × policy year) of at least ``min_policies`` whose own
    loss ratio is below ``min_lr`` (or above ``max_lr``) while its claim count is significantly
    below (above) what the market's frequency implies for its exposure: one-sided Poisson tail
    probability under ``alpha``. Give one of ``min_lr`` (premiums far above the risk) and
    ``max_lr`` (premiums that cannot fund claims). Scope: insurer. Needs claims.
    Example: ``{min_lr: 0.25, min_policies: 30, alpha: 0.01}``."""

    min_lr: float | None = None
    max_lr: float | None = None
    min_policies: int = 30
    alpha: float = 0.01

    def sentence(self) -> str:
        if self.min_lr is not None:
            return (f"同一保险机构同省同行业同年度保单不少于 {self.min_policies} 件，赔付率低于 {self.min_lr:.0%}，"
                    f"且赔案数显著少于按市场频率应有的数量（单侧泊松检验 p < {num(self.alpha)}）")
        return (f"同一保险机构同省同行业同年度保单不少于 {self.min_policies} 件，赔付率高于 {self.max_lr:.0%}，"
                f"且赔案数显著多于按市场频率应有的数量（单侧泊松检验 p < {num(self.alpha)}）")


@kind("loss_ratio", LossRatio, ("insurer",), stricter={"min_policies": "lower", "alpha": "higher"}, tables=("claims",))
def loss_ratio(ctx, frame, active, p: LossRatio, findings=None) -> Hits:
    from scoring.regions import province_name

    from scoring.rules.rates import fires

    c = ctx.rate_cells
    fire = fires(c, p.min_lr, p.max_lr, p.min_policies, p.alpha)
    if p.min_lr is not None:
        limit_zh, limit_en = f"不低于 {p.min_lr:.0%}", f"at least {p.min_lr:.0%}"
    else:
        limit_zh, limit_en = f"不高于 {(p.max_lr or 0):.0%}", f"at most {(p.max_lr or 0):.0%}"
    f = c[fire]
    prov = f["province"].map(lambda x: province_name(x + "0000")).to_numpy(dtype=object)
    common = {"year": f["policy_year"].astype(str).to_numpy(), "n": f["policies"].astype(str).to_numpy(),
              "lr": pct(f["loss_ratio"]), "z": fmt(f["credibility"].round(2)), "k": f["claims"].astype(int).astype(str).to_numpy(),
              "mu": fmt(f["expected_claims"].round(1)), "change": pct(f["indicated_rate_change"])}
    zh = text_rows(TEMPLATES["loss_ratio"][0], province=prov, industry=f["industry"].map(_labels("industry")).to_numpy(dtype=object), **common)
    en = text_rows(TEMPLATES["loss_ratio"][1], province=f["province"].to_numpy(dtype=object),
                   industry=f["industry"].map(english).to_numpy(dtype=object), **common)
    rows = np.arange(len(f))
    return Hits(rows, zh, np.full(len(f), limit_zh, dtype=object), en,
                keys={"insurer_id": f["insurer_id"].to_numpy(dtype=object),
                      "region_code": (f["province"] + "0000").to_numpy(dtype=object)},
                expected_en=np.full(len(f), limit_en, dtype=object))


class HistoryWindow(Params):
    """The declared accidents or deaths of the year before a policy (``accidents_prev_year``,
    ``deaths_prev_year``) below what the claims show for the same enterprise with accidents in the
    ``window_days`` before its start: the rate escaped floating. Scope: policy. Needs claims.
    Example: ``{window_days: 365}``."""

    window_days: int = 365

    def sentence(self) -> str:
        return f"申报的上年度事故起数或死亡人数少于赔案记录（同一企业起保前 {self.window_days} 天内的事故）"


@kind("accident_history_understated", HistoryWindow, ("policy",), tables=("claims",))
def accident_history_understated(ctx, frame, active, p: HistoryWindow) -> Hits:
    c = ctx.claims[["enterprise_id", "accident_date", "deaths"]]
    pol = pd.DataFrame({"row": np.arange(len(frame)), "enterprise_id": frame["enterprise_id"].to_numpy(),
                        "start": frame["start_date"].to_numpy()})
    m = pol.merge(c, on="enterprise_id", how="inner")
    m = m[(m["accident_date"] < m["start"]) & (m["accident_date"] >= m["start"] - np.timedelta64(p.window_days, "D"))]
    g = m.groupby("row")
    accidents = np.zeros(len(frame))
    deaths = np.zeros(len(frame))
    accidents[g.size().index.to_numpy()] = g.size().to_numpy()
    deaths[g["deaths"].sum().index.to_numpy()] = g["deaths"].sum().to_numpy()
    declared_a = _num(frame, "accidents_prev_year")
    declared_d = _num(frame, "deaths_prev_year")
    fire = active & ((declared_a < accidents) | (declared_d < deaths))
    rows = np.flatnonzero(fire)
    zh, en = both("history_declared", a=fmt(declared_a[rows]), d=fmt(declared_d[rows]))
    ezh, een = both("history_claims", a=fmt(accidents[rows]), d=fmt(deaths[rows]))
    return Hits(rows, zh, ezh, en, expected_en=een)


class ClaimDays(Params):
    """A claim of the policy ``status`` (paid: closed; open: still open at the as-of date) more than
    ``max_days`` after it was reported. Scope: policy. Needs claims.
    Example: ``{status: paid, max_days: 60}``."""

    status: Literal["paid", "open"]
    max_days: int

    def sentence(self) -> str:
        if self.status == "paid":
            return f"已赔付赔案在报案后超过 {self.max_days} 天才结案"
        return f"评估日时赔案报案已超过 {self.max_days} 天仍未结案"


@kind("claim_days", ClaimDays, ("policy",), stricter={"max_days": "lower"}, tables=("claims",), local=True)
def claim_days(ctx, frame, active, p: ClaimDays) -> Hits:
    c = ctx.claims
    c = c[(c["status"] == p.status) & (c["i"] >= 0)]
    end = c["closed_date"].to_numpy() if p.status == "paid" else np.full(len(c), ctx.as_of)
    days = (end.astype("datetime64[D]") - c["report_date"].to_numpy().astype("datetime64[D]")).astype(np.int64)
    slow = c.assign(days=days)[days > p.max_days].sort_values(["i", "days"], ascending=[True, False]).drop_duplicates("i")
    fire = np.zeros(len(frame), dtype=bool)
    fire[slow["i"].to_numpy()] = True
    fire &= active
    obs = np.empty(len(frame), dtype=object)
    obs_en = np.empty(len(frame), dtype=object)
    key = "claim_closed_after" if p.status == "paid" else "claim_open_for"
    zh, en = both(key, claim=slow["claim_id"].astype(str).to_numpy(), n=slow["days"].astype(str).to_numpy())
    obs[slow["i"].to_numpy()], obs_en[slow["i"].to_numpy()] = zh, en
    lzh, len_ = (t.format(n=p.max_days) for t in TEMPLATES["within_days"])
    return _hits(fire, obs, lzh, obs_en, len_)
