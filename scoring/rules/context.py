"""What every check kind works with: the submission as frames (:class:`Context`), the hits a kind
returns, the registry kinds enter (:func:`kind`), and the sentence fragments their messages use.

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
from typing import TYPE_CHECKING, Callable, Iterator, Literal, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from scoring.submission.intake import Submission
from scoring.arrays import arrow
from scoring.writers import round_sig
from scoring.messages import TEMPLATES
from scoring.schema import COLUMN_ZH, TABLES, prefecture_of, province_of

if TYPE_CHECKING:  # for the annotation only: exchange imports nothing of this module
    from scoring.rules.exchange import Exchange


Op = Literal["lt", "le", "gt", "ge", "eq", "ne"]

OPS: dict[str, Callable] = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal}

OP_TEXT = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥", "eq": "=", "ne": "≠"}

#: Chinese names of every column a rule can name: the schema's and the frames' derived ones.
LABELS_ZH = {**COLUMN_ZH, "spend": "服务费用合计", "n_services": "服务次数", "province": "省份", "prefecture": "地市",
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


def labels_of(column: str) -> dict[str, str]:
    """An enum column's codes and their Chinese labels ({} for any other column)."""
    return next((dict(c.values) for t in TABLES.values() for c in t.columns if c.name == column and c.values), {})


def zh(column: str) -> str:
    """A column's Chinese name (the derived columns of the frames included)."""
    return LABELS_ZH.get(column, column)


def num(x: float) -> str:
    return fmt([x])[0]


def when_text(p) -> str:
    """The conditions of a rule as words: "，且（… 或 …）", "，且 … 为 …", "，且已填写 …"."""
    parts = []
    if getattr(p, "when_any", None):
        parts.append("（" + " 或 ".join(f"{zh(c)}{OP_ZH[o]} {num(v)}" for c, o, v in p.when_any) + "）")
    for col, values in (getattr(p, "when_in", None) or {}).items():
        labels = labels_of(col)
        parts.append(f"{zh(col)}为" + "、".join(labels.get(v, v) for v in values))
    if getattr(p, "when_present", None):
        parts.append("已填写" + "、".join(zh(c) for c in p.when_present))
    return "，且" + "，且".join(parts) if parts else ""


def condition_refs(p) -> Iterator[Ref]:
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


def numbers(frame, col) -> np.ndarray:
    return frame[col].to_numpy(dtype=float, na_value=np.nan)


def conditions(frame: pd.DataFrame, when_any=None, when_in=None, when_present=None) -> np.ndarray:
    ok = np.ones(len(frame), dtype=bool)
    if when_any:
        any_ = np.zeros(len(frame), dtype=bool)
        for col, op, value in when_any:
            with np.errstate(invalid="ignore"):
                any_ |= OPS[op](numbers(frame, col), float(value))
        ok &= any_
    for col, values in (when_in or {}).items():
        ok &= frame[col].isin(values).to_numpy()
    for col in when_present or ():
        ok &= frame[col].notna().to_numpy()
    return ok


def broadcast(value, n: int) -> np.ndarray:
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


def make_hits(mask: np.ndarray, observed, expected, observed_en=None, expected_en=None) -> Hits:
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
