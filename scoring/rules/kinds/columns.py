"""Kinds that compare a column with a value, a band, a set, another column or a product of columns."""
from __future__ import annotations


import numpy as np

from scoring.messages import TEMPLATES, zh_text
from scoring.rules.context import Hits, OPS, OP_TEXT, OP_ZH, Op, Params, Ref, LABELS_ZH, broadcast, condition_refs, make_hits, numbers, conditions, english, fmt, join_text, kind, labels_of, num, pct, when_text, zh


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
        yield from condition_refs(self)

    def sentence(self) -> str:
        return f"{zh(self.column)}{OP_ZH[self.op]} {num(self.value)}" + when_text(self)


@kind("column_vs_value", ColumnVsValue, ("policy", "service"), stricter={"value": "op"}, local=True)
def column_vs_value(ctx, frame, active, p: ColumnVsValue) -> Hits:
    x = numbers(frame, p.column)
    value = broadcast(p.value, len(frame))
    with np.errstate(invalid="ignore"):
        fire = active & OPS[p.op](x, value) & conditions(frame, p.when_any, p.when_in)
    return make_hits(fire, x, value if p.expected is None else p.expected)


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
    x = numbers(frame, p.column)
    fire = active & ((x < p.low) | (x > p.high))
    return make_hits(fire, x, f"{fmt([p.low])[0]}—{fmt([p.high])[0]}")


class ColumnEquals(Params):
    """A column equal to ``value`` (true/false for a yes/no column, a code for an enum column).
    Scopes: policy, service. Example: ``{column: premium_charged_to_employees, value: true}``."""

    column: str
    value: bool | str | float

    def refs(self):
        values = (self.value,) if isinstance(self.value, str) else ()
        yield Ref("column", self.column, ("bool",) if isinstance(self.value, bool) else ("enum", "text", "number"), values)

    def sentence(self) -> str:
        value = ("是" if self.value else "否") if isinstance(self.value, bool) else labels_of(self.column).get(str(self.value), self.value)
        return f"{zh(self.column)}为“{value}”"


@kind("column_equals", ColumnEquals, ("policy", "service"), local=True)
def column_equals(ctx, frame, active, p: ColumnEquals) -> Hits:
    fire = active & (frame[p.column].to_numpy() == p.value)
    if isinstance(p.value, bool):
        seen, other = TEMPLATES["yes" if p.value else "no"], TEMPLATES["no" if p.value else "yes"]
        return make_hits(fire, seen[0], other[0], seen[1])
    return make_hits(fire, str(p.value), "")


class ColumnInSet(Params):
    """An enum column holding one of ``values`` (codes, or {code: label}). The expected text is
    the labels of the column's other values. Scopes: policy, service.
    Example: ``{column: prevention_fee_account, values: [government, government_designated]}``."""

    column: str
    values: list[str] | dict[str, str]

    def refs(self):
        yield Ref("values", self.column, ("enum",), tuple(self.values))

    def sentence(self) -> str:
        labels = {**labels_of(self.column), **(self.values if isinstance(self.values, dict) else {})}
        return f"{zh(self.column)}为" + "或".join(f"“{labels.get(v, v)}”" for v in self.values)


@kind("column_in_set", ColumnInSet, ("policy", "service"), local=True)
def column_in_set(ctx, frame, active, p: ColumnInSet) -> Hits:
    col = frame[p.column]
    labels = {**labels_of(p.column), **(p.values if isinstance(p.values, dict) else {})}
    fire = active & col.isin(list(p.values)).to_numpy()
    zh = col.map(labels).to_numpy(dtype=object)
    others = "、".join(label for code, label in labels.items() if code not in p.values)
    others_en = ", ".join(english(code) for code in labels if code not in p.values)
    return make_hits(fire, zh, others, col.map(english).to_numpy(dtype=object), others_en)


class ColumnsAllTrue(Params):
    """Yes/no columns that must all be yes; fires naming those that are not. Scope: policy.
    Example: ``{columns: {covers_employees: 从业人员伤亡, covers_rescue: 事故抢险救援费用}}``."""

    columns: dict[str, str]

    def refs(self):
        for c in self.columns:
            yield Ref(f"columns.{c}", c, ("bool",))

    def sentence(self) -> str:
        return zh_text("cond.columns_all_true", columns="、".join(self.columns.values()))


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
        yield from condition_refs(self)

    def sentence(self) -> str:
        return "；".join(f"{zh(a)}{OP_ZH[o]}{zh(b)}" for a, o, b in self.pairs) + when_text(self)


@kind("column_vs_column", ColumnVsColumn, ("policy", "service"), local=True)
def column_vs_column(ctx, frame, active, p: ColumnVsColumn) -> Hits:
    fired = []
    for left, op, right in p.pairs:
        a, b = numbers(frame, left), numbers(frame, right)
        with np.errstate(invalid="ignore"):
            fired.append(OPS[op](a, b))
    fire = np.logical_or.reduce(fired) & active & conditions(frame, when_present=p.when_present)
    rows = np.flatnonzero(fire)
    zh = en = np.full(len(rows), "", dtype=object)
    for (left, op, right), f in zip(p.pairs, fired):
        on = f[rows]
        a, b = fmt(numbers(frame, left)[rows]), fmt(numbers(frame, right)[rows])
        sep_zh, sep_en = np.where(on & (zh != ""), "；", ""), np.where(on & (en != ""), "; ", "")
        zh = join_text(zh, sep_zh, np.where(on, join_text(LABELS_ZH[left] + " ", a, f" {OP_TEXT[op]} " + LABELS_ZH[right] + " ", b), ""))
        en = join_text(en, sep_en, np.where(on, join_text(english(left) + " ", a, f" {OP_TEXT[op]} " + english(right) + " ", b), ""))
    exp = "；".join(f"{LABELS_ZH[l]} {OP_TEXT[_NEGATE[o]]} {LABELS_ZH[r]}" for l, o, r in p.pairs)
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
    expected = np.prod([numbers(frame, f) for f in p.factors], axis=0)
    x = numbers(frame, p.column)
    with np.errstate(invalid="ignore", divide="ignore"):
        fire = active & (np.abs(x - expected) > broadcast(p.tolerance, len(frame)) * np.abs(expected))
    return make_hits(fire, x, np.round(expected, 2))


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
        r = numbers(frame, p.numerator) / numbers(frame, p.denominator)
        fire = active & OPS[p.op](r, broadcast(p.value, len(frame)))
    rows = np.flatnonzero(fire)
    return Hits(rows, pct(r[rows]), np.full(len(rows), pct([p.value])[0], dtype=object))
