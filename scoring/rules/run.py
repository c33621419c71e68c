"""Apply the rules in force to a submission: the findings table of results-format.md, in its
order, and the rules that could not be checked, with why.

Effective dating: policy rules by the policy's ``start_date``, service rules by the
``service_date``, region and insurer rules by the run's as-of date; regional overrides give
per-row parameters (the longest prefix wins).
"""
from __future__ import annotations

import gc
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring.messages import render
from scoring.rules.kinds import KINDS
from scoring.rules.context import Context
from scoring.heap import collect_only_new
from scoring.submission.intake import Submission
from scoring.rules.apply import FINDING_COLUMNS, active_rows, apply_rule, findings_table, requirements
from scoring.rules.background import Background
from scoring.rules.book import Rule, Rulebook, SCOPE_ORDER, load_rulebook


GC_ROWS = 200_000  # from this frame size on, memory is collected after each rule (a collection costs more than it saves on small frames)


@dataclass(frozen=True)
class RuleResults:
    """Findings (``FINDING_COLUMNS``) and the rules that could not be checked, with why."""

    findings: pd.DataFrame
    not_checkable: list[dict]
    rulebook_version: str
    rate_cells: pd.DataFrame | None = None  # loss experience per cell (scoring.rules.rates), when claims were given


def run_rules(sub: Submission, rulebook: Rulebook | None = None, as_of=None, progress=None, spill=None) -> RuleResults:
    """Apply every rule in force to ``sub`` at ``as_of`` (default: the latest date in it).
    ``spill``: see :func:`sorted_results`."""
    from scoring.submission.intake import latest_date

    rulebook = rulebook or load_rulebook()
    as_of = np.datetime64(as_of, "D") if as_of is not None else latest_date(sub.tables)
    table, not_checkable, cells = rule_findings(sub, rulebook, as_of, progress=progress)
    box = [table]
    del table
    return sorted_results(box, not_checkable, rulebook, cells, spill=spill)


def sorted_results(table: pa.Table | None | list, not_checkable: list[dict], rulebook: Rulebook, cells=None,
                   spill=None) -> RuleResults:
    """The findings table in findings.csv order, as the :class:`RuleResults` every job reads.

    ``table`` may come in a one-element list, which is emptied: the unsorted table is then held
    here alone and released column by column as the sorted frame is built, so the findings
    (gigabytes at a million policies) are never held twice. With ``spill`` (a
    :class:`scoring.spill.Spill`) the sorted findings are written there a batch at a time and
    the frame reads them memory-mapped."""
    if isinstance(table, list):
        table = table.pop()
    if table is None:
        table = pa.table({c: pa.array([], pa.string()) for c in FINDING_COLUMNS})
    order = finding_order(table)
    if spill is not None:
        from scoring.spill import string_schema

        table = spill.taken(table, order, string_schema(table.column_names))
        return RuleResults(table.to_pandas(split_blocks=True), not_checkable, rulebook.version, cells)
    names, columns = table.column_names, []
    while table.num_columns:
        columns.append(table.column(0).take(order))
        table = table.remove_column(0)
    table = pa.table(columns, names=names)
    del columns
    # one block per column, each column's Arrow memory released as it converts (no consolidated copy)
    findings = table.to_pandas(self_destruct=True, split_blocks=True)
    del table
    return RuleResults(findings, not_checkable, rulebook.version, cells)


def rule_order(rules: list[Rule]) -> list[Rule]:
    """The order rules run in: by scope, the insurer pass last (it reads every other finding)."""
    return sorted(rules, key=lambda r: (r.scope == "insurer", SCOPE_ORDER[r.scope]))


def rule_findings(sub: Submission, rulebook: Rulebook, as_of, progress=None, rules=None,
                  prior: pa.Table | None = None) -> tuple[pa.Table | None, list[dict], pd.DataFrame | None]:
    """The findings of ``rules`` (default: every rule of ``rulebook``) on ``sub`` at ``as_of``,
    unsorted, with the rules that could not be checked and the loss-experience cells.
    ``prior``: findings of the other rules computed elsewhere (the partitions of a Dask run);
    the insurer pass reads them as its own, and they are part of the returned table."""
    ctx = Context(sub, as_of, rulebook.rate_adequacy)
    parts: list[pa.Table] = [prior] if prior is not None and prior.num_rows else []
    not_checkable: list[dict] = []
    with collect_only_new():
        _run_rules(ctx, as_of, rule_order(rulebook.rules if rules is None else rules), parts, not_checkable, progress)
    cells = ctx.rate_cells if ctx.has("claims") else None
    del ctx  # its frames, before the findings are put together
    table = pa.concat_tables(parts) if parts else None
    parts.clear()  # the sorted copy is then the only one (millions of findings at 1M policies)
    return table, not_checkable, cells


def _run_rules(ctx: Context, as_of, ordered: list[Rule], parts: list[pa.Table], not_checkable: list[dict],
               progress=None) -> None:
    """:func:`rule_findings`' loop: each rule's findings table appended to ``parts`` (the
    background rules' where the insurer pass needs them, or at the end) and each rule that
    cannot be checked to ``not_checkable``."""
    frame = None
    seen_missing: set[str] = set()
    background = Background(ordered, ctx)
    try:
        for rule in ordered:
            if progress:
                progress(rule.code)
            missing = requirements(rule, ctx)
            if missing:
                if rule.code not in seen_missing:
                    seen_missing.add(rule.code)
                    zh, en = render("not_checkable", missing_zh="、".join(missing), missing_en=", ".join(missing))
                    not_checkable.append({"rule_code": rule.code, "missing": missing, "reason_zh": zh, "reason_en": en})
                continue
            if rule in background:
                continue
            if rule.scope in ("policy", "service"):
                frame = ctx.frame(rule.scope)
                active = active_rows(rule, frame)
                if not active.any():
                    continue
                table = apply_rule(rule, ctx, frame, active)
            else:
                if not rule.in_force(as_of):
                    continue
                frame = ctx.policies
                active = np.ones(len(frame), dtype=bool)
                k = KINDS[rule.kind]
                if rule.scope == "insurer":
                    parts.extend(background.results())  # the insurer pass reads every other finding
                    so_far = pa.concat_tables(parts) if parts else None
                    hits = k.fn(ctx, frame, active, rule.parsed, findings=so_far)
                else:
                    hits = k.fn(ctx, frame, active, rule.parsed)
                table = findings_table(rule, hits, frame) if len(hits.rows) else None
                del hits
            if table is not None:
                parts.append(table)
            del table
            if len(frame) >= GC_ROWS:
                gc.collect()  # pandas temporaries sit in reference cycles; at 1M policies they are gigabytes
        parts.extend(background.results())
    finally:
        background.close()


def finding_order(table: pa.Table) -> pa.Array:
    """The stable order of findings.csv: scope, ids, then rule code and observed value (sorted by Arrow)."""
    scope_rank = pc.index_in(table["scope"], value_set=pa.array(list(SCOPE_ORDER), pa.string()))
    keys = pa.table({"_s": scope_rank, **{f"_{c}": pc.fill_null(table[c], "") for c in
                     ("policy_id", "service_id", "insurer_id", "region_code", "rule_code", "observed")}})
    return pc.sort_indices(keys, sort_keys=[(k, "ascending") for k in keys.column_names])
