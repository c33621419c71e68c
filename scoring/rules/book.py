"""The rulebook as data: its schema, loading and validation, and its description for `scoring rules`.

The rulebook (``rulebook.yaml`` beside this module, or a user's file) binds the check kinds
of :mod:`scoring.rules.kinds` to parameters, clauses, effective dates and message templates.
:func:`load_rulebook` validates it with pydantic and fails with every error at once, each
naming the rule and field (:mod:`scoring.rules.run` applies it).

Effective dating: policy rules by the policy's ``start_date``, service rules by the
``service_date``, region and insurer rules by the run's as-of date. Regional overrides
(keyed by ``region_code`` prefix, the longest prefix wins) may only make a rule stricter.
A user rulebook with ``base: shipped`` extends the shipped one (a rule with the same code
and ``effective_from`` replaces it); without it, it replaces the shipped rulebook.
"""
from __future__ import annotations

import datetime as dt
import os
import stat
import string
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from scoring.rules.kinds import KINDS
from scoring.rules.context import frame_columns
from scoring.errors import RulebookError
from scoring.messages import render
from scoring.schema import SEVERITY_ZH
from scoring.schema import DateBounds


SCOPE_ORDER = {"policy": 0, "service": 1, "region": 2, "insurer": 3}

PLACEHOLDERS = {"observed", "expected", "clause"}

#: Parameters that only word a finding (kept out of the rules' hash: they decide no finding).
TEXT_PARAMS = {"expected"}


class Override(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region_prefix: str = Field(pattern=r"^\d{2}(\d{2})?$")
    params: dict[str, Any]
    source: str


class RuleIssues(ValueError):
    """What is wrong with one rule (or the rulebook): ``(field, message_zh, message_en)`` each."""

    def __init__(self, issues: list[tuple[str, str, str]]):
        self.issues = issues
        super().__init__("; ".join(f"{f}: {en}" for f, _, en in issues))

_TYPE_ZH = {"number": "数值", "date": "日期", "bool": "是/否", "enum": "枚举", "text": "文本"}
_SCOPE_ZH = {"policy": "保单", "service": "服务记录", "region": "地区", "insurer": "保险机构"}


def _given(err: dict) -> str:
    v = err.get("input")
    return "—" if v is None or isinstance(v, dict) and not v else repr(v)[:80]


#: pydantic's error types the catalogue words (``pydantic:<type>``); any other is ``pydantic:other``.
PYDANTIC_TYPES = {"missing", "extra_forbidden", "literal_error", "enum", "string_pattern_mismatch", "string_type", "string_too_short",
                  "int_parsing", "int_type", "int_from_float", "float_parsing", "float_type", "bool_parsing", "bool_type",
                  "date_parsing", "date_type", "date_from_datetime_parsing", "list_type", "dict_type", "tuple_type", "too_short",
                  "too_long", "greater_than", "greater_than_equal", "less_than", "less_than_equal", "model_type"}


def pydantic_issue(err: dict, prefix: str = "") -> tuple[str, str, str]:
    """One pydantic error as ``(field, zh, en)``, both lines from the catalogue (never the
    library's English)."""
    field = ".".join(str(x) for x in err["loc"])
    field = f"{prefix}.{field}" if prefix and field else prefix or field
    t, ctx = err["type"], err.get("ctx") or {}
    if t == "value_error" and isinstance(ctx.get("error"), RuleIssues):  # pragma: no cover - expanded by the caller
        raise AssertionError("RuleIssues are expanded by the caller")
    expected = str(ctx.get("expected", "")).replace(" or ", ", ")
    key = f"pydantic:{t}" if t in PYDANTIC_TYPES else "pydantic:other"
    zh, en = render(key, given=_given(err), expected_zh=expected.replace(", ", "、"), expected_en=expected, type=t,
                    pattern=ctx.get("pattern", ""), min_length=ctx.get("min_length", ""), gt=ctx.get("gt", ""),
                    ge=ctx.get("ge", ""), lt=ctx.get("lt", ""), le=ctx.get("le", ""))
    return field, zh, en


def _parse_params(model, params: dict, where: str, issues: list):
    try:
        return model(**params)
    except ValidationError as e:
        issues.extend(pydantic_issue(err, where) for err in e.errors(include_url=False))
        return None


def _reference_issues(parsed, scope: str) -> list[tuple[str, str, str]]:
    """Columns and enum values a rule's parameters name, checked against the scope's columns."""
    import difflib

    cols = frame_columns(scope)
    out = []
    for ref in parsed.refs():
        field = f"params.{ref.field}"
        info = cols.get(ref.column)
        kinds_zh, kinds_en = "、".join(_TYPE_ZH[t] for t in ref.types), ", ".join(ref.types)
        if info is None:
            near = difflib.get_close_matches(ref.column, [c for c, i in cols.items() if i.type in ref.types], n=3)
            hint = render("ref_hint", near_zh="、".join(near), near_en=", ".join(near)) if near else ("", "")
            zh, en = render("ref_no_column", scope_zh=_SCOPE_ZH[scope], scope=scope, column=ref.column, kinds_zh=kinds_zh,
                            kinds_en=kinds_en)
            out.append((field, zh + hint[0], en + hint[1]))
        elif info.type not in ref.types:
            out.append((field, *render("ref_wrong_type", column=ref.column, type_zh=_TYPE_ZH[info.type], type=info.type,
                                       kinds_zh=kinds_zh, kinds_en=kinds_en)))
        elif ref.values and info.type == "enum":
            bad = [v for v in ref.values if v not in info.values]
            if bad:
                out.append((field, *render("ref_bad_value", bad_zh="、".join(map(str, bad)), bad_en=", ".join(map(str, bad)),
                                           column=ref.column, values_zh="、".join(info.values), values_en=", ".join(info.values))))
    return out


def check_rule(kind: Any, scope: Any, params: Any, overrides: Any, start: Any = None, end: Any = None):
    """Everything about one rule that its fields' types cannot say: the kind fits the scope, the
    parameters parse and name existing columns and values, overrides only tighten. Works on raw
    values too, so that a rule with a bad field still has its other problems reported.

    Returns the parsed parameters (or None) and the issues found.
    """
    issues: list[tuple[str, str, str]] = []
    k = KINDS.get(kind) if isinstance(kind, str) else None
    if k is None:
        return None, issues
    scope_ok = scope in k.scopes
    if isinstance(scope, str) and scope in SCOPE_ORDER and not scope_ok:
        issues.append(("scope", *render("rule_scope", kind=kind, scopes_zh="、".join(k.scopes), scopes_en=", ".join(k.scopes),
                                        scope=scope)))
    if isinstance(start, dt.date) and isinstance(end, dt.date) and end < start:
        issues.append(("effective_to", *render("rule_end_before_start", end=end, start=start)))
    params = params if isinstance(params, dict) else {}
    parsed = _parse_params(k.params, params, "params", issues)
    if parsed is not None and scope_ok:
        issues += _reference_issues(parsed, scope)
    for o in overrides if isinstance(overrides, list) else []:
        if not isinstance(o, dict) or not isinstance(o.get("params"), dict):
            continue
        where = f"overrides[{o.get('region_prefix')}].params"
        if _parse_params(k.params, {**params, **o["params"]}, where, issues) is None:
            continue
        for name, value in o["params"].items():
            direction = k.stricter.get(name)
            if direction is None:
                issues.append((f"{where}.{name}", *render("override_not_allowed", name=name)))
                continue
            base = params.get(name)
            if direction == "op":
                direction = "higher" if params.get("op") in ("lt", "le") else "lower"
            if base is not None and ((direction == "higher" and value < base) or (direction == "lower" and value > base)):
                issues.append((f"{where}.{name}", *render("override_looser", value=value, base=base)))
    return parsed, issues


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]+$")
    name_zh: str | None = Field(None, min_length=2, max_length=30)  # short Chinese name a reader sees; the code when absent
    severity: Literal["critical", "major", "minor"]
    scope: Literal["policy", "service", "region", "insurer"]
    kind: str
    clause: str = Field(min_length=2)
    effective_from: dt.date
    effective_to: dt.date | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    overrides: list[Override] = Field(default_factory=list)
    #: what the rule's findings mean beyond their severity: signs of fabrication (``integrity``;
    #: ``integrity_text`` when the evidence is a report's wording), or grounds for a blacklist
    #: candidate (``blacklist``), or evidence of missing service that nothing else can outweigh
    #: (``decisive``: the policy is ranked first). Features, ranking and grades read roles, never codes.
    role: Literal["integrity", "integrity_text", "blacklist", "decisive"] | None = None
    message_zh: str
    message_en: str
    _parsed: Any = PrivateAttr(None)

    @property
    def parsed(self):
        """The parameters, validated by the kind's parameter model."""
        return self._parsed

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        if v not in KINDS:
            known = ", ".join(sorted(KINDS))
            raise RuleIssues([("kind", *render("unknown_kind", kind=repr(v), known=known))])
        return v

    @field_validator("message_zh", "message_en")
    @classmethod
    def _placeholders(cls, v: str, info) -> str:
        used = {f for _, f, _, _ in string.Formatter().parse(v) if f is not None}
        unknown = used - PLACEHOLDERS
        if unknown:
            raise RuleIssues([(info.field_name, *render("unknown_placeholder", unknown=sorted(unknown), allowed=sorted(PLACEHOLDERS)))])
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "Rule":
        self._parsed, issues = check_rule(self.kind, self.scope, self.params,
                                          [o.model_dump() for o in self.overrides], self.effective_from, self.effective_to)
        if issues:
            raise RuleIssues(issues)
        return self

    def in_force(self, day: np.ndarray | np.datetime64) -> np.ndarray:
        d = np.asarray(day, dtype="datetime64[D]")
        ok = d >= np.datetime64(self.effective_from, "D")
        if self.effective_to:
            ok &= d <= np.datetime64(self.effective_to, "D")
        return ok


class GradeRule(BaseModel):
    """An insurer gets this grade when any condition holds (rates are shares of its policies)."""

    model_config = ConfigDict(extra="forbid")
    blacklist_candidate: bool = False
    flag_rate: float = Field(ge=0, le=1)
    critical_rate: float = Field(ge=0, le=1)
    spend_below: float = Field(ge=0)


class ShiftPolicy(BaseModel):
    """When the submission looks unlike the model's training data (scoring.model.shift), and what then."""

    model_config = ConfigDict(extra="forbid")
    warn_score: float = Field(0.75, gt=0.5, le=1.0)
    model_weight: float = Field(0.5, ge=0.0, le=1.0)
    finding_weight: float = Field(1.0, ge=0.0, le=1.0)  # what the findings' weights count for then


class EvidencePart(BaseModel):
    """One part of the evidence index (scoring.model.evidence): a feature, which way is worse, its weight."""

    model_config = ConfigDict(extra="forbid")
    feature: str
    worse: Literal["lower", "higher"]
    weight: float = Field(gt=0)


class EvidenceSettings(BaseModel):
    """The evidence index: its parts, and how many policies with a value make a market to measure against."""

    model_config = ConfigDict(extra="forbid")
    min_peers: int = Field(30, ge=2)
    parts: list[EvidencePart] = Field(min_length=1)


class SamplingSettings(BaseModel):
    """The random arm of an inspection plan (scoring.sampling): attribute sampling per stratum."""

    model_config = ConfigDict(extra="forbid")
    confidence: float = Field(0.95, gt=0, lt=1)
    tolerable: float = Field(0.05, gt=0, lt=1)
    expected: float = Field(0.0, ge=0, lt=1)
    strata: Literal["insurer", "insurer,industry,prefecture"] = "insurer"
    seed: int | None = Field(None, ge=0)  # None: a fresh seed per plan, recorded in its rows

    @model_validator(mode="after")
    def _expected_below_tolerable(self) -> "SamplingSettings":
        if self.expected >= self.tolerable:
            raise ValueError(" / ".join(render("sampling.expected", expected=self.expected, tolerable=self.tolerable)))
        return self


class RateSettings(BaseModel):
    """How rate adequacy is measured (scoring.rules.rates): the expense ratio that, with the prevention
    fee share, sets the target loss ratio, and the claims for full credibility."""

    model_config = ConfigDict(extra="forbid")
    expense_ratio: float = Field(0.25, ge=0, lt=1)
    full_credibility_claims: float = Field(1082.0, gt=0)


class DateSettings(BaseModel):
    """The dates a submission may hold (:class:`scoring.schema.DateBounds`, whose defaults these are)."""

    model_config = ConfigDict(extra="forbid")
    earliest: dt.date = DateBounds.earliest
    latest: dt.date = DateBounds.latest
    future_grace_days: int = Field(DateBounds.future_grace_days, ge=0, le=366)

    @model_validator(mode="after")
    def _ordered(self) -> "DateSettings":
        if self.latest <= self.earliest:
            raise ValueError(" / ".join(render("dates_order", latest=self.latest, earliest=self.earliest)))
        return self

    def bounds(self) -> DateBounds:
        return DateBounds(self.earliest, self.latest, self.future_grace_days)


class Rulebook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    base: Literal["shipped"] | None = None
    sources: dict[str, str] = Field(default_factory=dict)
    rules: list[Rule]
    priority: dict[Literal["critical", "major", "minor"], float] = Field(
        default_factory=lambda: {"critical": 0.5, "major": 0.2, "minor": 0.05})
    grades: dict[Literal["D", "C", "B"], GradeRule] = Field(default_factory=dict)
    model_shift: "ShiftPolicy" = Field(default_factory=lambda: ShiftPolicy())
    evidence_index: EvidenceSettings | None = None  # None: no index, the warned priority leans on the findings
    sampling: SamplingSettings = Field(default_factory=lambda: SamplingSettings())
    rate_adequacy: RateSettings = Field(default_factory=RateSettings)
    dates: "DateSettings" = Field(default_factory=lambda: DateSettings())

    @model_validator(mode="after")
    def _no_overlap(self) -> "Rulebook":
        by_code: dict[str, list[Rule]] = {}
        for r in self.rules:
            by_code.setdefault(r.code, []).append(r)
        issues = []
        for code, rules in by_code.items():
            rules = sorted(rules, key=lambda r: r.effective_from)
            for a, b in zip(rules, rules[1:]):
                if a.effective_to is None or a.effective_to >= b.effective_from:
                    issues.append((code, *render("rule_overlap", a=a.effective_from, b=b.effective_from)))
        if issues:
            raise RuleIssues(issues)
        return self


    @property
    def sha256(self) -> str:
        """Hash of the whole rulebook in canonical form (sorted keys, compact JSON): its identity,
        whatever its hand-typed ``version`` says."""
        return _canonical_sha256(self.model_dump(mode="json"))

    @property
    def rules_sha256(self) -> str:
        """Hash of what decides which findings there are, rule by rule, in a stable order: the
        features built from findings (integrity, critical and major counts) depend on it. Names,
        clauses and message texts are left out: rewording a rule does not change a finding."""
        keep = ("code", "severity", "scope", "kind", "params", "overrides", "effective_from", "effective_to")
        rules = []
        for r in self.rules:
            d = {k: r.model_dump(mode="json")[k] for k in keep}
            d["params"] = {k: v for k, v in d["params"].items() if k not in TEXT_PARAMS}
            rules.append(d)
        return _canonical_sha256(sorted(rules, key=lambda r: (r["code"], r["effective_from"])))

    def identity(self) -> dict:
        """What a model's metadata and a run's run.json record of the rulebook in force."""
        return {"rulebook_version": self.version, "rulebook_sha256": self.sha256, "rules_sha256": self.rules_sha256}


def _canonical_sha256(obj) -> str:
    import hashlib
    import json

    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

SHIPPED = "rulebook.yaml"


class NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader without anchors' aliases: a rulebook never needs them, and a kilobyte of
    nested aliases expands to billions of nodes once its values are walked (a "billion laughs")."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, " / ".join(render("yaml_alias", anchor=event.anchor)), event.start_mark)
        return super().compose_node(parent, index)


#: Largest rulebook file read (bytes): the shipped one is about 40 KB.
RULEBOOK_MAX_BYTES = 4 << 20
#: Errors a rulebook's message lists one by one; the rest are counted.
ERRORS_SHOWN = 50


def _read_yaml(path: Path | None) -> dict:
    label = path or SHIPPED
    try:
        if path is None:
            text = resources.files("scoring.rules").joinpath(SHIPPED).read_text("utf-8")
        else:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):  # a device or a pipe would be read for ever
                raise RulebookError(*render("rulebook_not_file", path=path))
            if st.st_size > RULEBOOK_MAX_BYTES:
                raise RulebookError(*render("rulebook_too_large", path=path, size=st.st_size >> 10, limit=RULEBOOK_MAX_BYTES >> 10))
            text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RulebookError(*render("rulebook_unreadable", path=path, detail=e)) from None
    try:
        data = yaml.load(text, Loader=NoAliasLoader)  # noqa: S506 - a SafeLoader that also refuses aliases
    except yaml.YAMLError as e:
        raise RulebookError(*render("rulebook_not_yaml", path=label, detail=e)) from None
    except RecursionError:
        raise RulebookError(*render("rulebook_not_yaml", path=label, detail=" / ".join(render("nested_too_deep")))) from None
    if not isinstance(data, dict):
        raise RulebookError(*render("rulebook_not_mapping", path=label))
    return data


def _validate(data: dict, label: str) -> Rulebook:
    """Validate a rulebook, reporting every error at once, each naming the rule and field."""
    try:
        return Rulebook(**data)
    except ValidationError as e:
        found: list[tuple[str, str, str, str]] = []  # (rule, field, zh, en)
        field_failed: set[int] = set()
        rules = data.get("rules") if isinstance(data.get("rules"), list) else []
        for err in e.errors(include_url=False):
            loc = list(err["loc"])
            where = "规则库 rulebook"
            if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
                r = rules[loc[1]] if loc[1] < len(rules) else None
                where = str(r.get("code") or f"rules[{loc[1]}]") if isinstance(r, dict) else f"rules[{loc[1]}]"
                loc = loc[2:]
            error = (err.get("ctx") or {}).get("error")
            if isinstance(error, RuleIssues) and where == "规则库 rulebook":  # across rules: the field is a code
                found += [(code, "effective_from", zh, en) for code, zh, en in error.issues]
            elif isinstance(error, RuleIssues):
                found += [(where, field, zh, en) for field, zh, en in error.issues]
            else:
                field, zh, en = pydantic_issue({**err, "loc": loc})
                found.append((where, field, zh, en))
                if len(err["loc"]) >= 2 and err["loc"][0] == "rules" and isinstance(err["loc"][1], int):
                    field_failed.add(err["loc"][1])
        # a rule whose fields failed never reached its own checks: run them on the raw values
        for i in sorted(field_failed):
            r = rules[i] if i < len(rules) else None
            if isinstance(r, dict):
                _, more = check_rule(r.get("kind"), r.get("scope"), r.get("params"), r.get("overrides"))
                code = str(r.get("code") or f"rules[{i}]")
                found += [(code, f, z, x) for f, z, x in more if (code, f, z, x) not in found]
        shown = found[:ERRORS_SHOWN]
        zh = "\n".join(render("rulebook_issue", rule=w, field=f or "定义", field_en=f or "(rule)", issue_zh=z, issue_en=x)[0] for w, f, z, x in shown)
        en = "\n".join(render("rulebook_issue", rule=w, field=f or "定义", field_en=f or "(rule)", issue_zh=z, issue_en=x)[1] for w, f, z, x in shown)
        if len(found) > len(shown):
            more = render("rulebook_more_issues", n=len(found) - len(shown))
            zh, en = f"{zh}\n{more[0]}", f"{en}\n{more[1]}"
        head = render("rulebook_issues", path=label, n=len(found))
        raise RulebookError(f"{head[0]}\n{zh}", f"{head[1]}\n{en}") from None


def load_rulebook(path: str | Path | None = None) -> Rulebook:
    """The shipped rulebook, or the one at ``path`` (extending the shipped one if it says ``base: shipped``)."""
    shipped = _validate(_read_yaml(None), SHIPPED)
    if path is None:
        return shipped
    user_data = _read_yaml(Path(path))
    user = _validate(user_data, str(path))
    if user.base != "shipped":
        return user
    keep = {(r.code, r.effective_from) for r in user.rules}
    merged = [r for r in shipped.rules if (r.code, r.effective_from) not in keep]
    data = {
        "version": f"{shipped.version}+{user.version}",
        "sources": {**shipped.sources, **user.sources},
        "priority": user_data.get("priority", shipped.priority),
        "grades": user_data.get("grades", {k: v.model_dump() for k, v in shipped.grades.items()}),
        "model_shift": user_data.get("model_shift", shipped.model_shift.model_dump()),
        "evidence_index": user_data.get("evidence_index", shipped.evidence_index.model_dump() if shipped.evidence_index else None),
        "sampling": user_data.get("sampling", shipped.sampling.model_dump()),
        "rate_adequacy": user_data.get("rate_adequacy", shipped.rate_adequacy.model_dump()),
        "dates": user_data.get("dates", shipped.dates.model_dump()),
        "rules": [r.model_dump() for r in merged] + user_data["rules"],
    }
    return _validate(data, str(path))


def describe(rulebook: Rulebook) -> pd.DataFrame:
    """One row per rule: what ``scoring rules`` prints."""
    rows = []
    for r in sorted(rulebook.rules, key=lambda r: (SCOPE_ORDER[r.scope], r.code, r.effective_from)):
        params = ", ".join(f"{k}={v}" for k, v in r.params.items())
        if r.overrides:
            params += "; overrides: " + ", ".join(f"{o.region_prefix}:{o.params}" for o in r.overrides)
        rows.append({
            "sentence": r.parsed.sentence(),
            "code": r.code, "name_zh": r.name_zh or r.code, "severity": r.severity, "severity_zh": SEVERITY_ZH[r.severity],
            "scope": r.scope, "scope_zh": _SCOPE_ZH[r.scope], "kind": r.kind, "clause": r.clause,
            "effective_from": str(r.effective_from), "effective_to": str(r.effective_to or ""), "params": params,
        })
    return pd.DataFrame(rows)
