"""The jobs behind the commands, as library functions the CLI calls: one short function per
command, built from stages that pass frozen data (``scoring score``: :class:`ScorePlan` ->
:func:`prepare_stage` -> :func:`rank_stage` -> :func:`explain_stage` -> :func:`write_stage`)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError
import pyarrow as pa
import pyarrow.compute as pc

from scoring import __version__
from scoring.engines import Engine, Prepared, choose
from scoring.errors import ModelError, OptionError, SubmissionError
from scoring.files import atomic_dir, check_output_dir, replace_file
from scoring.heap import release
from scoring.messages import both, render, zh_text
from scoring.model.estimator import load_model, save_model, train
from scoring.model.evidence import check_settings, evidence_index
from scoring.model.explain import explanations
from scoring.model.features import FEATURE_NAMES, KEY_COLUMNS
from scoring.model.labels import labels_from
from scoring.model.metrics import evaluate_scores
from scoring.model.registry import REGISTRY_FILE, champion_dir
from scoring.model.shift import model_shift
from scoring.outputs.insurers import SUMMARY_COLUMNS, summarise
from scoring.outputs.notices import notices, rules_warning, shift_warning
from scoring.outputs.ranking import aligned, policy_findings, rank, rule_codes, rule_reasons, with_findings
from scoring.outputs.report import DETAILED, ReportInput, render_empty
from scoring.outputs.report import render as render_report
from scoring.regions import region_name
from scoring.sampling.estimate import estimates
from scoring.sampling.plan import Plan
from scoring.rules.apply import FINDING_COLUMNS
from scoring.rules.book import pydantic_issue, Rulebook, load_rulebook
from scoring.rules.rates import adequacy_table
from scoring.schema import CLASS_ZH, CLASSES, INDUSTRIES, DateBounds
from scoring.spill import Spill
from scoring.submission.asof import started as started_by
from scoring.submission.intake import REJECTED_COLUMNS, Submission, latest_date_of, load_submission
from scoring.submission.parsing import parse_day
from scoring.writers import explanation_lines, write_csv, write_json, write_jsonl


def balance_summary(sub: Submission) -> str:
    """Per-table row balance, Chinese first, one line per table."""
    lines = ["表 / table        数据行 lines   读入 in   接收 accepted   拒收 rejected"]
    for name, c in sub.counts.items():
        lines.append(f"{name:<16} {c.lines_in if c.lines_in is not None else c.rows_in:>12} {c.rows_in:>8} "
                     f"{c.rows_accepted:>14} {c.rows_rejected:>14}")
    missing = [t for t in ("staff", "inspections") if t not in sub.present]
    if missing:
        lines.append("未提供的可选表 / optional tables not supplied: " + ", ".join(missing))
    return "\n".join(lines)


def run_validate(submission: str | Path, out: str | Path | None = None) -> str:
    """Validate ``submission``; with ``out``, write ``rejected.csv`` there. Returns the summary."""
    if out is not None:
        check_output_dir(out, kind="validation.json", inputs=[submission])
    sub = load_submission(submission)
    text = balance_summary(sub)
    if out is not None:
        with atomic_dir(Path(out), kind="validation.json", inputs=[submission]) as tmp:
            write_csv(sub.rejected, tmp / "rejected.csv")
            write_json({**_balance(sub, submission), "tool_version": __version__}, tmp / "validation.json")
        text += f"\n拒收明细 / rejected rows: {Path(out) / 'rejected.csv'}"
    return text


def prepare(submission, rulebook: Rulebook | None = None, as_of=None) -> Prepared:
    """Intake, the as-of cut, rulebook and features on the local engine: the common first half of
    train, evaluate and retrain (``as_of``: default the latest date in the submission)."""
    rulebook = rulebook or load_rulebook()
    engine = Engine()
    sub = submission if isinstance(submission, Submission) else engine.load(submission, rulebook.dates.bounds())
    day = np.datetime64(as_of, "D") if as_of is not None else latest_date_of(sub)
    return engine.prepare(sub, rulebook, day)


def population(preps: list[Prepared]) -> pd.DataFrame:
    """The features of every policy of the submissions, labelled or not: the training data's
    track records and the reference for shift detection."""
    return pd.concat([p.features for p in preps], ignore_index=True)


def labelled_set(preps: list[Prepared]) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Features (with entity keys), labels (policy_id, outcome, selection, inspection_date) and
    policy years of every inspected policy, pooled over submissions.

    A policy that appears in several submissions keeps its latest inspection (later submission
    wins a tie).
    """
    parts = []
    for k, prep in enumerate(preps):
        lab = labels_from(prep.sub)
        if lab.empty:
            continue
        years = prep.sub["policies"].set_index("policy_id")["start_date"].dt.year
        lab = lab.assign(_k=k, year=lab["policy_id"].map(years).to_numpy())
        X = prep.features.loc[lab["policy_id"]].reset_index()
        parts.append(pd.concat([lab.reset_index(drop=True), X.drop(columns="policy_id")], axis=1))
    if not parts:
        raise ModelError(*render('jobs.labelled_set'))
    df = pd.concat(parts, ignore_index=True)
    df = df.sort_values(["policy_id", "inspection_date", "_k"], kind="stable").drop_duplicates("policy_id", keep="last")
    df = df.sort_values(["year", "policy_id"], kind="stable").reset_index(drop=True)
    X = df[list(FEATURE_NAMES) + list(KEY_COLUMNS)].set_index(df["policy_id"])
    return (X, df[["policy_id", "outcome", "selection", "inspection_date"]].reset_index(drop=True),
            df["year"].reset_index(drop=True))


def run_train(submissions, out, seed: int = 0, rulebook: str | Path | None = None, name: str | None = None,
              source: str | None = None) -> dict:
    """``scoring train``: validate on held-out labels (the latest labelled year, or with one year
    the latest inspections by date), refit on every label, save the model."""
    check_output_dir(out, kind="metadata.json", inputs=list(submissions))
    rb = load_rulebook(rulebook)
    preps = [prepare(s, rb) for s in submissions]
    X, labels, years = labelled_set(preps)
    model = train(X.reset_index(drop=True), labels, years, seed=seed, population=population(preps)).model
    save_model(model, out, name=name, extra={
        **rb.identity(),
        "training_source": source or [str(s) for s in submissions],
        "input_sha256": [dict(sorted((t, h) for t, (_, h) in p.sub.files.items())) for p in preps],
    })
    return model.metadata


def run_evaluate(submission, model_dir=None, capacity: float = 0.10, rulebook: str | Path | None = None) -> dict:
    """``scoring evaluate``: metrics of a saved model (the shipped champion by default) on a labelled submission."""
    model = load_model(resolve_model_dir(model_dir) if model_dir else default_model_dir())
    prep = prepare(submission, load_rulebook(rulebook))
    labels = labels_from(prep.sub)
    if labels.empty:
        raise ModelError(*render('jobs.run_evaluate'))
    scores = model.predict(model.design(prep.features)).reset_index()
    return {"model_version": model.version, "as_of": str(prep.as_of), "capacity": capacity,
            **evaluate_scores(labels, scores, capacity)}


POLICY_SCORE_COLUMNS = ["policy_id", "insurer_id", "region_code", "industry", "rule_codes", "p_missing", "p_poor_quality",
                        "flag", "priority", "reasons", "priority_score", "industry_zh", "region_name", "flag_zh"]
SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "models" / "champion"
#: What 通知61号 names that no submission shows (``run.json`` → ``not_visible``).
NOT_VISIBLE = [{"item": item, **dict(zip(("zh", "en"), render(key)))}
               for item, key in (("通知61号（四）", "not_visible.permit"), ("通知61号（六）", "not_visible.corruption"))]


def default_model_dir() -> Path:
    """The shipped champion (or ``$SCORING_MODEL``): ``models/champion`` of a checkout, else the
    copy an installed wheel carries as package data (``scoring/_champion``)."""
    import os
    from importlib import resources

    if "SCORING_MODEL" in os.environ:
        return Path(os.environ["SCORING_MODEL"])
    if (SHIPPED_MODEL / "metadata.json").exists():
        return SHIPPED_MODEL
    return Path(str(resources.files("scoring").joinpath("_champion")))


#: Explanation lines built and written to the scratch file at a time.
LINES_AT_ONCE = 50_000


def _reasons(scored: pd.DataFrame, pf, findings: pd.DataFrame, model_text: dict[str, str],
             evidence_text: dict[str, str] | None = None) -> pd.Series:
    """Short Chinese reasons per policy: the evidence index's largest shortfalls (when the priority
    rests on it), the top model reasons of a flag, then the most severe findings (``pf``:
    :func:`scoring.outputs.ranking.policy_findings` of ``findings``). Built in Arrow: a Python
    string per policy would take gigabytes at millions of policies."""
    ids, texts = rule_reasons(pf, findings)
    rules = aligned(scored.index, ids, pc.binary_join_element_wise(zh_text("reasons.rules"), texts, ""))
    evidence_text = evidence_text or {}
    lead = {}
    for i in set(model_text) | set(evidence_text):
        parts = ([zh_text("reasons.evidence") + evidence_text[i]] if evidence_text.get(i) else []) + \
                ([zh_text("reasons.model") + model_text[i]] if model_text.get(i) else [])
        lead[i] = "；".join(parts)
    where = np.sort(scored.index.get_indexer(list(lead)))
    if len(where):
        model = pa.array([lead[i] for i in scored.index[where]], pa.string())
        theirs = rules.take(pa.array(where))
        # "模型：" + model reasons, then "；" + the rules' reasons where there are any
        tail = pc.if_else(pc.equal(theirs, ""), "", pc.binary_join_element_wise("；", theirs, ""))
        mask = np.zeros(len(scored), dtype=bool)
        mask[where] = True
        rules = pc.replace_with_mask(rules, pa.array(mask), pc.binary_join_element_wise(model, tail, ""))
    return pd.Series(pd.arrays.ArrowStringArray(rules), index=scored.index)


def _policy_scores(scored: pd.DataFrame, policies: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    """``policy_scores.csv``: ``scored`` (index policy_id) with its policies' insurer, region and
    industry and the ``reasons`` (aligned with ``scored``), in priority order. Built column by
    column in that order: a join, an index reset and a sort of the whole table would each copy
    every column, gigabytes of text at millions of policies."""
    order = np.argsort(scored["priority"].to_numpy(), kind="stable")
    ids = pd.Index(policies["policy_id"])
    at = order if ids.equals(scored.index) else ids.get_indexer(scored.index)[order]  # -1: not among the policies

    def meta(c):
        return pd.Series(policies[c].array.take(at, allow_fill=True))

    def ordered(values):
        return pd.Series(values.array.take(order) if isinstance(values, pd.Series) else values[order])

    table = {"policy_id": pd.Series(scored.index.array.take(order))}
    for c in ("insurer_id", "region_code", "industry"):
        table[c] = meta(c)
    table["rule_codes"] = ordered(scored["rule_codes"])
    for c in ("p_missing", "p_poor_quality"):
        table[c] = ordered(scored[c].to_numpy().round(6))
    table["flag"] = ordered(scored["flag"])
    table["priority"] = ordered(scored["priority"])
    table["reasons"] = ordered(reasons)
    table["priority_score"] = ordered(scored["priority_score"].to_numpy().round(6))
    table["industry_zh"] = table["industry"].map(INDUSTRIES).fillna(table["industry"])
    codes = table["region_code"].astype(str)
    table["region_name"] = codes.map({c: region_name(c) for c in codes.unique()})
    table["flag_zh"] = table["flag"].map(CLASS_ZH).fillna("")
    columns = list(POLICY_SCORE_COLUMNS)
    if "evidence_index" in scored:
        table["evidence_index"] = ordered(scored["evidence_index"].to_numpy().round(6))
        columns.append("evidence_index")
    return pd.DataFrame(table)[columns]


def as_of_option(value, option: str = "--as-of", bounds=None) -> np.datetime64:
    """``--as-of`` as a day: written as the data writes dates (:func:`scoring.submission.parsing.parse_day`),
    within the plausible dates (``bounds``: the rulebook's ``dates``) and not after today (a run
    judges what is known, and nothing later is); anything else is an
    :class:`~scoring.errors.OptionError`."""
    bounds = bounds or DateBounds()
    if isinstance(value, (np.datetime64, dt.date)):
        return np.datetime64(value, "D")
    day = parse_day(value)
    latest = min(bounds.latest, dt.date.today() + dt.timedelta(days=bounds.future_grace_days))
    if day is None or not bounds.earliest <= day <= latest:
        raise OptionError(*render("bad_date_option", option=option, value=value, earliest=bounds.earliest, latest=latest))
    return np.datetime64(day, "D")


@dataclass(frozen=True)
class ScorePlan:
    """What a ``scoring score`` run will do, decided once before any work: every option checked."""

    submission: str | Path
    out: Path
    rulebook: Rulebook
    model_dir: Path
    as_of: np.datetime64 | None  # None: the latest date of the submission, fixed when it is read
    capacity: int | None  # None: 10% of the policies scored
    engine: Engine


def plan_score(submission, out, model_dir=None, rulebook=None, as_of=None, capacity: int | None = None,
               engine: str = "local", scheduler: str | None = None, workers: int | None = None) -> ScorePlan:
    """The :class:`ScorePlan` of ``scoring score``, or an :class:`~scoring.errors.OptionError` for
    the first option that cannot work (nothing is read or written before)."""
    check_output_dir(out, kind="run.json", inputs=[submission, model_dir])
    rb = load_rulebook(rulebook)
    check_settings(rb.evidence_index)
    day = as_of_option(as_of, bounds=rb.dates.bounds()) if as_of is not None else None
    chosen = choose(engine, scheduler, workers)
    if capacity is not None and capacity < 1:
        raise OptionError(*render("capacity_option", capacity=capacity))
    return ScorePlan(submission, Path(out), rb, resolve_model_dir(model_dir) if model_dir else default_model_dir(), day,
                     capacity, chosen)


def run_score(submission, out, model_dir=None, rulebook=None, as_of=None, capacity: int | None = None,
              progress=None, engine: str = "local", scheduler: str | None = None, workers: int | None = None) -> dict:
    """``scoring score``: everything in results-format.md, written atomically into ``out``.
    ``engine="dask"`` runs the rulebook's partition-local work on a Dask cluster (``scheduler``,
    or a LocalCluster of ``workers`` processes started for the run): same outputs."""
    plan = plan_score(submission, out, model_dir, rulebook, as_of, capacity, engine, scheduler, workers)
    with Spill(out) as spill:  # the findings and explanation lines, memory-mapped, until written
        return score(plan, progress, spill)


def score(plan: ScorePlan, progress=None, spill=None) -> dict:
    """The score job as stages, each a function of the one before: prepared (read, rules,
    features) -> ranked (the model's scores, the capacity cut) -> explained (SHAP of the flags) ->
    written. Returns ``run.json``."""
    say = _steps(progress)
    started = dt.datetime.now(dt.timezone.utc)
    with plan.engine as engine:  # the cluster, if any, for the reading and the rules only
        prepared, engine_info = prepare_stage(plan, engine, say, spill, started)
    model = load_model(plan.model_dir)
    ranked, X = rank_stage(plan, prepared, model, say)
    prepared = replace(prepared, features=None)  # X alone holds the features, released once the flags are explained
    explained = explain_stage(ranked, X, model, say, spill)
    del X  # the run's largest array, not needed for the summaries and the report
    return write_stage(plan, prepared, ranked, explained, model, engine_info, started, say)


def _steps(progress):
    def say(msg: str) -> None:
        release()  # what the last step freed, before the next one allocates
        if progress:
            progress(msg)

    return say


def prepare_stage(plan: ScorePlan, engine: Engine, say, spill, started) -> tuple[Prepared, dict]:
    """Read and validate the submission, fix the as-of date (once), run the rules and build the
    features on ``engine``. A submission with nothing to score writes what explains it and stops
    (:class:`~scoring.errors.SubmissionError`)."""
    info = engine.info()
    if info["name"] != "local":
        where = f" at {info['scheduler']}" if info.get("scheduler") else ""
        say(" / ".join(render("engine_started", workers=info["workers"], where=where)))
    say(" / ".join(render("step_read")))
    sub = engine.load(plan.submission, plan.rulebook.dates.bounds())
    if sub["policies"].empty:
        _nothing_to_score(sub, plan.submission, plan.out, plan.rulebook, plan.as_of, started)
    day = plan.as_of if plan.as_of is not None else latest_date_of(sub)
    if not started_by(sub["policies"], day).any():
        _nothing_to_score(sub, plan.submission, plan.out, plan.rulebook, day, started, not_started=True)
    say(" / ".join(render("step_rules")))
    return engine.prepare(sub, plan.rulebook, day, progress=say if info["name"] != "local" else None, spill=spill), info


@dataclass(frozen=True)
class Ranked:
    """The model's scores ranked with the rule findings and cut to capacity (``scored``, index
    policy_id), and what the run decided on the way."""

    scored: pd.DataFrame
    capacity: int
    thresholds: dict
    shift: dict
    rules_match: dict
    model_weight: float
    policy_findings: object  # :func:`scoring.outputs.ranking.policy_findings` of the findings
    evidence: object  # :class:`scoring.model.evidence.Evidence`, or None without an index in the rulebook
    basis: dict  # run.json ``priority_basis``
    evidence_text: dict  # the flags' evidence reasons, when the priority rests on the index


def rank_stage(plan: ScorePlan, prepared: Prepared, model, say) -> tuple[Ranked, pd.DataFrame]:
    """The model's probabilities, the shift check, the priority and the capacity cut. Returns the
    ranking and the design matrix (for the explanations)."""
    say(" / ".join(render("step_model")))
    X = model.design(prepared.features, inplace=True)  # prepared is this run's own: no copy at a million rows
    rules_match = rules_match_of(model, plan.rulebook)
    say(" / ".join(render("step_shift")))
    shift = shift_of(model, X, plan.rulebook)
    scores = model.predict(X)
    n = len(scores)
    cap = plan.capacity if plan.capacity is not None else max(1, int(round(0.10 * n)))
    thresholds = {c: float(model.metadata.get("thresholds", {}).get(c, 0.5)) for c in CLASSES}
    rb = plan.rulebook
    model_weight = rb.model_shift.model_weight if shift["warning"] else 1.0
    findings = prepared.rules.findings
    evidence = None
    pol = prepared.sub["policies"]
    at = pd.Index(pol["policy_id"]).get_indexer(scores.index)  # scores follow the features' rows
    if rb.evidence_index is not None:
        evidence = evidence_index(prepared.features, pol["industry"].to_numpy()[at], pol["region_code"].to_numpy()[at],
                                  rb.evidence_index)
    decisive = decisive_policies(prepared, findings, rb, at)
    index = evidence.index.reindex(scores.index) if evidence is not None else None
    finding_weight = rb.model_shift.finding_weight if shift["warning"] and evidence is not None else 1.0
    scored = rank(scores, findings, rb.priority, thresholds, cap, model_weight=model_weight, index=index, decisive=decisive,
                  finding_weight=finding_weight)
    del scores
    if evidence is not None:
        scored["evidence_index"] = index.to_numpy()
    basis = priority_basis(model_weight, evidence is not None, finding_weight)
    evidence_text = {}
    if evidence is not None and basis["basis"] in ("blend", "index"):
        flagged = scored.index[scored["flag"] != ""]
        evidence_text = dict(zip(flagged, evidence.reasons(prepared.features, flagged)))
    pf = policy_findings(findings)
    scored["rule_codes"] = pd.arrays.ArrowStringArray(aligned(scored.index, *rule_codes(pf)))
    return Ranked(scored, cap, thresholds, shift, rules_match, model_weight, pf, evidence, basis, evidence_text), X


def decisive_policies(prepared: Prepared, findings: pd.DataFrame, rb: Rulebook, at: np.ndarray) -> np.ndarray:
    """Per scored policy (``at``: its row among the submission's policies), whether a finding of a
    ``decisive`` rule is on it and its whole period has passed without a record (before the end,
    a plan of few visits explains an empty file as often as missing service does:
    scripts/evidence_index.py)."""
    ids = pd.Index(prepared.sub["policies"]["policy_id"].to_numpy()[at])
    return with_findings(ids, findings, {r.code for r in rb.rules if r.role == "decisive"}) & \
        prepared.sub.aggregates.ended(prepared.as_of)[at]


def insurer_shares(policies: pd.DataFrame, probabilities: pd.DataFrame, labels: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """``estimates.csv`` per insurer from the scored policies' ``probabilities`` (index policy_id,
    p_missing, p_poor_quality) and the inspections ``labels``."""
    at = pd.Index(policies["policy_id"]).get_indexer(probabilities.index)
    return estimates(pd.DataFrame({"policy_id": probabilities.index, "insurer_id": policies["insurer_id"].to_numpy()[at],
                                   "p_missing": probabilities["p_missing"].to_numpy(),
                                   "p_poor_quality": probabilities["p_poor_quality"].to_numpy()}),
                     labels, confidence=confidence)


def with_estimates(insurers: pd.DataFrame, share: pd.DataFrame) -> pd.DataFrame:
    """``insurer_summary.csv`` with the random-arm estimate of each insurer's share of missing
    service and its interval (``estimate_missing``, ``_lower``, ``_upper``; empty without random
    inspections), as results-format v1.2 adds them."""
    m = share[(share["class"] == "missing") & (share["method"] == "random_arm")].set_index("group_id")
    out = insurers.copy()
    for col, src in (("estimate_missing", "estimate"), ("estimate_missing_lower", "lower"), ("estimate_missing_upper", "upper")):
        out[col] = out["insurer_id"].map(m[src]).to_numpy()
    out["inspected_random"] = out["insurer_id"].map(m["inspected_random"]).fillna(0).astype(int).to_numpy()
    return out


def priority_basis(model_weight: float, has_index: bool, finding_weight: float = 1.0) -> dict:
    """run.json ``priority_basis``: what the priority rested on (``model``; when the model's
    weight is lowered, ``blend`` with the evidence index, ``index`` at weight 0, or ``findings``
    without an index in the rulebook), with the weights (``finding_weight``: what the findings'
    weights counted for)."""
    if model_weight >= 1:
        basis = "model"
    elif not has_index:
        basis = "findings"
    else:
        basis = "index" if model_weight == 0 else "blend"
    index_weight = round(1 - model_weight, 6) if basis in ("blend", "index") else 0.0
    zh, en = render(f"basis.{basis}", weight=f"{model_weight:g}", index_weight=f"{index_weight:g}",
                    finding_weight=f"{finding_weight:g}")
    return {"basis": basis, "model_weight": model_weight, "index_weight": index_weight, "finding_weight": finding_weight,
            "zh": zh, "en": en}


@dataclass(frozen=True)
class Explained:
    """The flags' explanation lines (on disk, memory-mapped, in policy_scores order), each flag's
    two top model reasons, and the records the report details."""

    lines: object  # an Arrow column of JSON lines
    order: np.ndarray
    model_text: dict
    detailed: list


def explain_stage(ranked: Ranked, X: pd.DataFrame, model, say, spill) -> Explained:
    """SHAP contributions of every flag, as explanations.jsonl lines built column-wise and parked in
    ``spill`` (100,000 flags x 37 contributions as dicts would take gigabytes)."""
    say(" / ".join(render("step_explain")))
    scored = ranked.scored
    line_ids, line_file = [], spill.writer(pa.schema([("line", pa.large_string())]))
    model_text: dict[str, str] = {}
    flagged = scored[scored["flag"] != ""].sort_values("priority")
    detailed_ids = set(flagged.index[:DETAILED])
    detailed: dict[str, dict] = {}
    for cls in CLASSES:
        ids = scored.index[scored["flag"] == cls]
        probs = scored.loc[ids, f"p_{cls}"].to_numpy(dtype=float).round(6)
        e = explanations(model, X.loc[ids], cls)
        head = {"flag": cls, "threshold": ranked.thresholds[cls], "model_version": model.version}
        line_ids.extend(ids)
        for a in range(0, len(ids), LINES_AT_ONCE):  # about 7 kB a line: 500,000 flags would hold 7 GB twice
            b = a + LINES_AT_ONCE
            line_file.write(pa.table({"line": explanation_lines(ids[a:b], probs[a:b], head, e.json_bodies(a, b))}))
        model_text.update(zip(ids, e.top_texts(2)))
        for i in np.flatnonzero(ids.isin(detailed_ids)):
            detailed[ids[i]] = {"policy_id": ids[i], "flag": cls, "probability": float(probs[i]), **head, **e.record(i)}
        del e
    # lines in priority order; policies without a flag have none
    order = np.argsort(scored["priority"].to_numpy(), kind="stable")
    at = pd.Index(line_ids).get_indexer(scored.index[order])
    return Explained(line_file.mapped().column("line"), at[at >= 0], model_text,
                     [detailed[pid] for pid in flagged.index if pid in detailed])


def write_stage(plan: ScorePlan, prepared: Prepared, ranked: Ranked, explained: Explained, model, engine_info: dict,
                started, say) -> dict:
    """The tables of results-format.md, the report and run.json, written into ``plan.out`` whole."""
    sub, findings, scored = prepared.sub, prepared.rules.findings, ranked.scored
    policies = sub["policies"]
    policy_scores = _policy_scores(scored, policies, _reasons(scored, ranked.policy_findings, findings, explained.model_text,
                                                              ranked.evidence_text))
    say(" / ".join(render("step_summaries")))
    svc = pd.Series(sub.aggregates.spend, index=policies["policy_id"])
    ended = pd.Series(sub.aggregates.ended(prepared.as_of), index=policies["policy_id"])
    insurers = summarise(policies, scored, findings, svc, ended, plan.rulebook, prepared.rules.rate_cells)
    adequacy = None
    if prepared.rules.rate_cells is not None:
        adequacy = adequacy_table(prepared.rules.rate_cells,
                                  [r for r in plan.rulebook.rules if r.kind == "loss_ratio" and r.in_force(prepared.as_of)])
    rb = plan.rulebook
    share = None
    labels = labels_from(sub)
    if len(labels):
        share = insurer_shares(policies, scored, labels, rb.sampling.confidence)
        insurers = with_estimates(insurers, share)
    run = {
        **_balance(sub, plan.submission),
        "policies_scored": int(len(scored)),
        "flagged": int((scored["flag"] != "").sum()),
        "capacity": int(ranked.capacity),
        "as_of": str(np.datetime64(prepared.as_of, "D")),
        "model_version": model.version,
        "model_sha256": model.metadata.get("artifact_sha256"),
        "rulebook_version": rb.version,
        "rulebook_sha256": rb.sha256,
        "rules_match_model": ranked.rules_match,
        "out_of_scope": prepared.out_of_scope,
        "thresholds": ranked.thresholds,
        "priority_weights": rb.priority,
        "model_shift": ranked.shift,
        "model_weight": ranked.model_weight,
        "priority_basis": ranked.basis,
        "model_training_data": model.metadata.get("training_data", "unknown"),
        "not_checkable": prepared.rules.not_checkable,
        "not_visible": NOT_VISIBLE,
        "engine": engine_info,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "tool_version": __version__,
    }
    say(" / ".join(render("step_write")))
    with atomic_dir(plan.out, kind="run.json", inputs=[plan.submission]) as tmp:
        write_csv(policy_scores, tmp / "policy_scores.csv")
        write_csv(findings, tmp / "findings.csv")
        write_jsonl(explained.lines, tmp / "explanations.jsonl", order=explained.order)
        write_csv(insurers, tmp / "insurer_summary.csv")
        write_csv(sub.rejected[REJECTED_COLUMNS], tmp / "rejected.csv")
        if adequacy is not None:
            write_csv(adequacy, tmp / "rate_adequacy.csv")
        if share is not None:
            write_csv(share, tmp / "estimates.csv")
        report = ReportInput(run, policies, scored, findings, insurers, explained.detailed, rb, model, ranked.capacity,
                             ranked.thresholds, adequacy, notices(run, model))
        (tmp / "report.html").write_text(render_report(report), encoding="utf-8")
        write_json(run, tmp / "run.json")
    return run


def _balance(sub: Submission, submission) -> dict:
    """The part of ``run.json`` that accounts for every input row."""
    tables = {}
    for name, c in sub.counts.items():
        tables[name] = {"rows_in": c.rows_in, "rows_scored": c.rows_accepted, "rows_rejected": c.rows_rejected,
                        "balanced": c.rows_in == c.rows_accepted + c.rows_rejected,
                        "lines_in": c.lines_in if c.lines_in is not None else c.rows_in}
        if c.normalised:  # ids written with invisible characters, read without them
            tables[name]["ids_normalised"] = dict(c.normalised)
    return {
        "submission": str(submission),
        "submission_path": str(Path(submission).resolve()),  # found again from any folder (scoring review)
        "input_sha256": {label: digest for label, digest in sub.files.values()},
        "tables": tables,
        "rows_in": {t: v["rows_in"] for t, v in tables.items()},
        "rows_rejected": {t: v["rows_rejected"] for t, v in tables.items()},
        "rows_rejected_total": int(sum(v["rows_rejected"] for v in tables.values())),
    }


def _nothing_to_score(sub: Submission, submission, out, rb: Rulebook, as_of, started, not_started: bool = False) -> None:
    """No policy survived validation: write what explains it (rejected.csv, run.json, a report and
    the result files with their headers only), then stop with exit 2."""
    c = sub.counts["policies"]
    day = str(np.datetime64(as_of, "D")) if as_of is not None else ""
    if not_started:
        zh, en = render("nothing_not_started", day=day, n=c.rows_accepted)
    elif c.rows_in:
        zh, en = render("nothing_all_rejected", n=c.rows_in)
    else:
        zh, en = render("nothing_header_only")
    where = render("nothing_where", rejected=Path(out) / "rejected.csv")
    zh, en = zh + where[0], en + where[1]
    run = {
        **_balance(sub, submission),
        "policies_scored": 0, "flagged": 0, "capacity": 0,
        "as_of": str(np.datetime64(as_of, "D") if as_of else latest_date_of(sub)),
        "model_version": None, "model_sha256": None, "rulebook_version": rb.version, "rulebook_sha256": rb.sha256,
        "status": "nothing_scored", "message_zh": zh, "message_en": en,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "tool_version": __version__,
    }
    with atomic_dir(Path(out), kind="run.json", inputs=[submission]) as tmp:
        scores = POLICY_SCORE_COLUMNS + (["evidence_index"] if rb.evidence_index is not None else [])
        for name, columns in (("policy_scores.csv", scores), ("findings.csv", FINDING_COLUMNS),
                              ("insurer_summary.csv", SUMMARY_COLUMNS)):
            write_csv(pd.DataFrame(columns=columns), tmp / name)
        (tmp / "explanations.jsonl").write_bytes(b"")
        write_csv(sub.rejected[REJECTED_COLUMNS], tmp / "rejected.csv")
        (tmp / "report.html").write_text(render_empty(run), encoding="utf-8")
        write_json(run, tmp / "run.json")
    raise SubmissionError(zh, en)


def score_summary(run: dict, out) -> str:
    """The one-screen summary printed at the end of ``scoring score``."""
    lines = [both("summary.scored", n=run["policies_scored"]), both("summary.rejected", n=run["rows_rejected_total"]),
             both("summary.flagged", capacity=run["capacity"], n=run["flagged"]),
             both("summary.versions", as_of=run["as_of"], model=run["model_version"], rulebook=run["rulebook_version"])]
    eng = run.get("engine") or {}
    if eng.get("name") != "local" and eng.get("workers"):
        where = f" @ {eng['scheduler']}" if eng.get("scheduler") else ""
        lines.append(both("summary.engine", workers=eng["workers"], where=where))
    if run["not_checkable"]:
        lines.append(both("summary.not_checkable", codes=", ".join(r["rule_code"] for r in run["not_checkable"])))
    warning = shift_warning(run.get("model_shift") or {}, run.get("priority_basis") or {})
    if warning:
        lines.insert(0, warning)
    warning = rules_warning(run.get("rules_match_model") or {})
    if warning:
        lines.insert(0, warning)
    oos = run.get("out_of_scope") or {}
    if oos.get("policies_not_started") or oos.get("services_after") or oos.get("inspections_after"):
        lines.append(both("summary.out_of_scope", policies=oos["policies_not_started"], services=oos["services_after"],
                          inspections=oos["inspections_after"]))
    lines.append(both("summary.report", path=Path(out) / "report.html"))
    return "\n".join(lines)


def shift_of(model, X: pd.DataFrame, rb: Rulebook) -> dict:
    """``run.json`` → ``model_shift`` for features ``X`` (designed by ``model``)."""
    unseen = {}
    if model.memory is not None:
        for col, name in (("insurer_key", "insurers"), ("provider_key", "providers")):
            known = set(model.memory.labels.get(col, {}))
            keys = X[col].dropna()
            unseen[name] = round(float((~keys.astype(str).isin(known)).mean()), 4) if len(keys) else None
    return model_shift(model.reference, X, rb.model_shift.warn_score, unseen=unseen)


def rules_match_of(model, rb: Rulebook) -> dict:
    """``run.json`` → ``rules_match_model``: were the rules that build the features (findings
    counted per policy) the ones the model was trained with?"""
    trained = model.metadata.get("rules_sha256")
    return {"model": trained, "in_force": rb.rules_sha256,
            "match": None if trained is None else trained == rb.rules_sha256,
            "model_rulebook_version": model.metadata.get("rulebook_version"), "rulebook_version": rb.version}


def run_retrain(submissions, registry, seed: int = 0, rulebook: str | Path | None = None, rollback_to: str | None = None):
    """``scoring retrain``: challenger vs champion on the latest labelled year, or ``--rollback``."""
    from scoring.model.registry import retrain, rollback

    if rollback_to:
        return rollback(registry, rollback_to)
    if not submissions:
        raise SubmissionError(*render('jobs.run_retrain'))
    rb = load_rulebook(rulebook)
    preps = [prepare(s, rb) for s in submissions]
    X, labels, years = labelled_set(preps)
    return retrain(preps, X, labels, years, registry, seed=seed, rulebook=rb.identity(), population=population(preps))


def run_estimate(submission, out, model_dir=None, rulebook=None) -> dict:
    """``scoring estimate``: each insurer's share of missing and poor-quality service from the
    submission's random inspections (:func:`scoring.sampling.estimate.estimates`, the model's
    probabilities for the model-assisted estimate), written to ``out`` with ``estimate.json``."""
    check_output_dir(out, kind="estimate.json", inputs=[submission, model_dir])
    rb = load_rulebook(rulebook)
    prep = prepare(submission, rb)
    labels = labels_from(prep.sub)
    if labels.empty:
        raise SubmissionError(*render("jobs.run_estimate"))
    model = load_model(resolve_model_dir(model_dir) if model_dir else default_model_dir())
    share = insurer_shares(prep.sub["policies"], model.predict(model.design(prep.features)), labels, rb.sampling.confidence)
    meta = {"estimates": "estimates.csv", "submission": str(submission), "as_of": str(np.datetime64(prep.as_of, "D")),
            "model_version": model.version, "rulebook_version": rb.version, "confidence": rb.sampling.confidence,
            "inspections": {s: int((labels["selection"] == s).sum()) for s in ("random", "targeted")},
            "groups": int(share["group_id"].nunique()), "tool_version": __version__}
    with atomic_dir(Path(out), kind="estimate.json", inputs=[submission]) as tmp:
        write_csv(share, tmp / "estimates.csv")
        write_json(meta, tmp / "estimate.json")
    return meta


def estimate_summary(meta: dict, out) -> str:
    """What ``scoring estimate`` prints."""
    return both("estimate.summary", out=Path(out) / "estimates.csv", groups=meta["groups"],
                random=meta["inspections"]["random"], targeted=meta["inspections"]["targeted"])


def run_sample(run_dir, out, rulebook=None, capacity: int | None = None, confidence: float | None = None,
               tolerable: float | None = None, expected: float | None = None, strata: str | None = None,
               seed: int | None = None) -> tuple[Plan, dict]:
    """``scoring sample``: the inspection plan of a finished run (:func:`scoring.sampling.plan.make_plan`),
    written to ``out`` whole; the rulebook's ``sampling`` section, each value overridable.
    Returns the plan and the settings it used."""
    import json

    from scoring.sampling.plan import PLAN_COLUMNS, STRATA, make_plan

    run_dir, out = Path(run_dir), Path(out)
    if not (run_dir / "run.json").is_file() or not (run_dir / "policy_scores.csv").is_file():
        raise OptionError(*render("cli.not_a_run", run_dir=run_dir))
    rb = load_rulebook(rulebook)
    given = {"confidence": confidence, "tolerable": tolerable, "expected": expected, "strata": strata, "seed": seed}
    if strata is not None and strata not in STRATA:
        raise OptionError(*render("sampling.strata", by=strata))
    merged = {**rb.sampling.model_dump(), **{k: v for k, v in given.items() if v is not None}}
    if isinstance(merged["expected"], (int, float)) and isinstance(merged["tolerable"], (int, float)) \
            and merged["expected"] >= merged["tolerable"]:
        raise OptionError(*render("sampling.expected", expected=merged["expected"], tolerable=merged["tolerable"]))
    try:
        settings = rb.sampling.model_validate({**rb.sampling.model_dump(), **{k: v for k, v in given.items() if v is not None}})
    except ValidationError as e:
        issues = [pydantic_issue(err) for err in e.errors(include_url=False)]
        raise OptionError("；".join(f"--{f} {z}" if f else z for f, z, _ in issues),
                          "; ".join(f"--{f} {x}" if f else x for f, _, x in issues)) from None
    if capacity is not None and capacity < 1:
        raise OptionError(*render("capacity_option", capacity=capacity))
    if out.exists() and (out.is_dir() or out.read_bytes()[:200].lstrip(b"\xef\xbb\xbf").split(b"\n")[0].replace(b'"', b"")
                         != ",".join(PLAN_COLUMNS).encode()):
        raise OptionError(*render("sampling.not_plan", out=out))
    run = json.loads((run_dir / "run.json").read_text("utf-8"))
    wanted = {"policy_id", "insurer_id", "region_code", "industry", "priority", "region_name", "industry_zh", "flag_zh"}
    scores = pd.read_csv(run_dir / "policy_scores.csv", dtype=str, keep_default_na=False, usecols=lambda c: c in wanted)
    scores["priority"] = pd.to_numeric(scores["priority"])
    if settings.seed is None:  # a fresh seed, recorded in the plan: reproducible, not foreseeable
        import secrets

        settings = settings.model_copy(update={"seed": secrets.randbelow(2**31)})
    plan = make_plan(scores, capacity if capacity is not None else int(run.get("capacity") or 0), settings.confidence,
                     settings.tolerable, settings.expected, settings.strata, settings.seed)
    replace_file(out, lambda tmp: write_csv(plan.rows, tmp))
    return plan, settings.model_dump()


def sample_summary(plan, settings: dict, out) -> str:
    """What ``scoring sample`` prints: the arms, the strata and the settings, Chinese first."""
    arms = plan.rows["arm"].value_counts()
    lines = [both("sampling.summary", out=out, random=int(arms.get("random", 0)), risk=int(arms.get("risk", 0)),
                  total=len(plan.rows), n_strata=len(plan.strata), by=settings["strata"], capacity=plan.capacity,
                  **{k: settings[k] for k in ("confidence", "tolerable", "expected", "seed")})]
    if plan.random_over_capacity:
        key = "sampling.over_capacity" if settings["strata"] != "insurer" else "sampling.over_capacity_insurer"
        lines.append(both(key, random=int(arms.get("random", 0)), capacity=plan.capacity))
    return "\n".join(lines)


def resolve_model_dir(path) -> Path:
    """A model directory, or a registry directory (then its champion)."""
    p = Path(path)
    return champion_dir(p) if (p / REGISTRY_FILE).exists() else p
