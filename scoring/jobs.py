"""The jobs behind the commands, as library functions the CLI calls."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring.errors import ModelError, SubmissionError
from scoring.model.features import FEATURE_NAMES, KEY_COLUMNS, build_features, text_rules
from scoring.submission.asof import in_scope, started as started_by
from scoring.submission.intake import Submission, latest_date_of, load_submission
from scoring.model.labels import labels_from
from scoring.model.metrics import evaluate_scores
from scoring.model.estimator import load_model, save_model, train
from scoring.submission.dataset import is_dataset
from scoring.files import atomic_dir
from scoring.writers import write_csv
from scoring.rules.run import RuleResults, run_rules
from scoring.rules.book import Rulebook, load_rulebook


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
    from scoring import __version__
    from scoring.files import check_output_dir
    from scoring.writers import write_json

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


@dataclass(frozen=True)
class Prepared:
    """A validated submission with its rule results and features at one as-of date."""

    sub: Submission
    as_of: np.datetime64
    rules: RuleResults
    features: pd.DataFrame
    out_of_scope: dict | None = None


def prepare(submission, rulebook: Rulebook | None = None, as_of=None, progress=None, client=None, spill=None) -> Prepared:
    """Intake, the as-of cut, rulebook and features: the common first half of every job.
    ``client``: a Dask client; the partition-local rules then run on its cluster
    (:mod:`scoring.engines.dask`), with the same results. ``spill``: a
    :class:`scoring.spill.Spill` that holds the findings on disk, memory-mapped."""
    rulebook = rulebook or load_rulebook()
    sub = submission if isinstance(submission, Submission) else load_submission(submission, rulebook.dates.bounds())
    as_of = np.datetime64(as_of, "D") if as_of is not None else latest_date_of(sub)
    from scoring.engines.dask import DatasetSubmission, prepare_dataset

    if isinstance(sub, DatasetSubmission):  # a converted dataset whose service records the workers read
        sub, rules, features, out_of_scope = prepare_dataset(client, sub, rulebook, as_of, progress=progress, spill=spill)
        return Prepared(sub, as_of, rules, features, out_of_scope)
    sub, out_of_scope = in_scope(sub, as_of)
    if client is not None:
        from scoring.engines.dask import run_rules_dask

        rules = run_rules_dask(client, sub, rulebook, as_of, progress=progress, spill=spill)
    else:
        rules = run_rules(sub, rulebook, as_of, progress=progress, spill=spill)
    return Prepared(sub, as_of, rules, build_features(sub, as_of, rules.findings, text_rules(rulebook)), out_of_scope)


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
        raise ModelError("提交数据中没有核查结果（inspections），无法训练或评估",
                         "the submissions hold no inspection outcomes (inspections), so nothing can be trained or evaluated")
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
    from scoring.files import check_output_dir

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
        raise ModelError("提交数据中没有核查结果（inspections），无法评估", "the submission holds no inspection outcomes to evaluate against")
    scores = model.predict(model.design(prep.features)).reset_index()
    return {"model_version": model.version, "as_of": str(prep.as_of), "capacity": capacity,
            **evaluate_scores(labels, scores, capacity)}


POLICY_SCORE_COLUMNS = ["policy_id", "insurer_id", "region_code", "industry", "rule_codes", "p_missing", "p_poor_quality",
                        "flag", "priority", "reasons", "priority_score", "industry_zh", "region_name", "flag_zh"]
SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "models" / "champion"
NOT_VISIBLE = [
    {"item": "通知61号（四）", "zh": "将投保作为行政审批、许可前置条件：提交数据中不可见", "en": "insurance as a permit precondition: not visible in a submission"},
    {"item": "通知61号（六）", "zh": "腐败问题：提交数据中不可见", "en": "corruption: not visible in a submission"},
]


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


def _reasons(scored: pd.DataFrame, pf, findings: pd.DataFrame, model_text: dict[str, str]) -> pd.Series:
    """Short Chinese reasons per policy: top model reasons of a flag, then the most severe findings
    (``pf``: :func:`scoring.outputs.ranking.policy_findings` of ``findings``). Built in Arrow: a Python
    string per policy would take gigabytes at millions of policies."""
    from scoring.outputs.ranking import aligned, rule_reasons

    ids, texts = rule_reasons(pf, findings)
    rules = aligned(scored.index, ids, pc.binary_join_element_wise("规则：", texts, ""))
    where = np.sort(scored.index.get_indexer(list(model_text)))
    if len(where):
        model = pa.array([model_text[i] for i in scored.index[where]], pa.string())
        theirs = rules.take(pa.array(where))
        # "模型：" + model reasons, then "；" + the rules' reasons where there are any
        tail = pc.if_else(pc.equal(theirs, ""), "", pc.binary_join_element_wise("；", theirs, ""))
        mask = np.zeros(len(scored), dtype=bool)
        mask[where] = True
        rules = pc.replace_with_mask(rules, pa.array(mask), pc.binary_join_element_wise("模型：", model, tail, ""))
    return pd.Series(pd.arrays.ArrowStringArray(rules), index=scored.index)


def _policy_scores(scored: pd.DataFrame, policies: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    """``policy_scores.csv``: ``scored`` (index policy_id) with its policies' insurer, region and
    industry and the ``reasons`` (aligned with ``scored``), in priority order. Built column by
    column in that order: a join, an index reset and a sort of the whole table would each copy
    every column, gigabytes of text at millions of policies."""
    from scoring.schema import CLASS_ZH
    from scoring.regions import region_name
    from scoring.schema import INDUSTRIES

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
    return pd.DataFrame(table)[POLICY_SCORE_COLUMNS]


def as_of_option(value, option: str = "--as-of", bounds=None) -> np.datetime64:
    """``--as-of`` as a day: written as the data writes dates (:func:`scoring.submission.parsing.parse_day`),
    within the plausible dates (``bounds``: the rulebook's ``dates``) and not after today (a run
    judges what is known, and nothing later is); anything else is an
    :class:`~scoring.errors.OptionError`."""
    import datetime as dt

    from scoring.errors import OptionError
    from scoring.messages import render
    from scoring.submission.parsing import parse_day
    from scoring.schema import DateBounds

    bounds = bounds or DateBounds()
    if isinstance(value, (np.datetime64, dt.date)):
        return np.datetime64(value, "D")
    day = parse_day(value)
    latest = min(bounds.latest, dt.date.today() + dt.timedelta(days=bounds.future_grace_days))
    if day is None or not bounds.earliest <= day <= latest:
        raise OptionError(*render("bad_date_option", option=option, value=value, earliest=bounds.earliest, latest=latest))
    return np.datetime64(day, "D")


def run_score(submission, out, model_dir=None, rulebook=None, as_of=None, capacity: int | None = None,
              progress=None, engine: str = "local", scheduler: str | None = None, workers: int | None = None) -> dict:
    """``scoring score``: everything in results-format.md, written atomically into ``out``.
    ``engine="dask"`` runs the rulebook's partition-local work on a Dask cluster (``scheduler``,
    or a LocalCluster of ``workers`` processes started for the run): same outputs."""
    from scoring.errors import OptionError
    from scoring.files import check_output_dir

    check_output_dir(out, kind="run.json", inputs=[submission, model_dir])
    if as_of is not None:
        as_of = as_of_option(as_of, bounds=load_rulebook(rulebook).dates.bounds())
    if engine not in ("local", "dask"):
        raise OptionError(f"--engine 应为 local 或 dask；现为 {engine}", f"--engine must be local or dask; got {engine}")
    if engine == "local" and (scheduler or workers is not None):
        raise OptionError("--scheduler 和 --workers 只用于 --engine dask", "--scheduler and --workers apply to --engine dask only")
    if workers is not None and (workers < 1 or scheduler):
        raise OptionError(f"--workers 应为不小于 1 的整数，且只用于本机集群（不给 --scheduler 时）；现为 {workers}",
                          f"--workers must be at least 1, and applies to a local cluster only (no --scheduler); got {workers}")
    if capacity is not None and capacity < 1:
        raise OptionError(f"--capacity 应为不小于 1 的整数（可核查的保单数）；现为 {capacity}",
                          f"--capacity must be a whole number of at least 1 (policies that can be inspected); got {capacity}")
    from scoring.spill import Spill

    with Spill(out) as spill:  # the findings and explanation lines, memory-mapped, until written
        return _score(submission, out, model_dir, rulebook, as_of, capacity, progress, engine, scheduler, workers, spill)


def _score(submission, out, model_dir, rulebook, as_of, capacity, progress, engine, scheduler, workers, spill) -> dict:
    """:func:`run_score` once its options are checked, with a scratch directory ``spill``."""
    import datetime as dt

    from scoring import __version__
    from scoring.model.explain import explanations
    from scoring.outputs.report import DETAILED
    from scoring.writers import explanation_lines
    from scoring.outputs.insurers import summarise
    from scoring.submission.intake import REJECTED_COLUMNS
    from scoring.outputs.ranking import aligned, policy_findings, rank, rule_codes
    from scoring.heap import release
    from scoring.outputs.report import render
    from scoring.writers import write_json, write_jsonl

    def step(msg):
        release()  # what the last step freed, before the next one allocates
        if progress:
            progress(msg)

    started = dt.datetime.now(dt.timezone.utc)
    rb = load_rulebook(rulebook)
    with contextlib.ExitStack() as stack:
        client, engine_info = None, {"name": "local", "workers": 1}
        if engine == "dask":  # the cluster first: an unreachable scheduler is said before any work
            from scoring.engines.dask import cluster

            client = stack.enter_context(cluster(scheduler, workers))
            n_workers = len(client.scheduler_info()["workers"])
            engine_info = {"name": "dask", "workers": n_workers, **({"scheduler": scheduler} if scheduler else {})}
            step(f"Dask 集群 {n_workers} 个工作进程 / Dask cluster with {n_workers} workers"
                 + (f" at {scheduler}" if scheduler else ""))
        step("读取并校验提交数据 / reading and validating")
        if client is not None and is_dataset(submission):  # out of core: the workers read the service records
            from scoring.engines.dask import load_dataset

            sub = load_dataset(submission)
        else:
            sub = load_submission(submission, rb.dates.bounds())
        if sub["policies"].empty:
            _nothing_to_score(sub, submission, out, rb, as_of, started)
        day = np.datetime64(as_of, "D") if as_of is not None else latest_date_of(sub)
        if not started_by(sub["policies"], day).any():
            _nothing_to_score(sub, submission, out, rb, day, started, not_started=True)
        step("运行规则库 / running the rulebook")
        prep = prepare(sub, rb, as_of, progress=progress if client is not None else None, client=client, spill=spill)
    sub = prep.sub  # as known on the as-of date
    step("加载模型并评分 / scoring with the model")
    model = load_model(resolve_model_dir(model_dir) if model_dir else default_model_dir())
    policies = sub["policies"]
    X = model.design(prep.features, inplace=True)  # prep is this run's own: no copy at a million rows
    prep = replace(prep, features=None)  # X alone holds the features, released once the flags are explained
    rules_match = rules_match_of(model, rb)
    step("比较提交数据与模型训练数据 / comparing the submission with the model's training data")
    shift = shift_of(model, X, rb)
    scores = model.predict(X)
    n = len(scores)
    cap = capacity if capacity is not None else max(1, int(round(0.10 * n)))
    thresholds = {c: float(model.metadata.get("thresholds", {}).get(c, 0.5)) for c in ("missing", "poor_quality")}
    model_weight = rb.model_shift.model_weight if shift["warning"] else 1.0
    scored = rank(scores, prep.rules.findings, rb.priority, thresholds, cap, model_weight=model_weight)
    del scores
    findings = prep.rules.findings
    pf = policy_findings(findings)
    scored["rule_codes"] = pd.arrays.ArrowStringArray(aligned(scored.index, *rule_codes(pf)))
    step("解释标记 / explaining flags")
    # JSON lines are built column-wise (100,000 flags x 37 contributions as dicts would take
    # minutes and gigabytes) and wait on disk, memory-mapped; the report keeps the few records it details.
    line_ids, line_file = [], spill.writer(pa.schema([("line", pa.large_string())]))
    model_text: dict[str, str] = {}
    flagged = scored[scored["flag"] != ""].sort_values("priority")
    detailed_ids = set(flagged.index[:DETAILED])
    detailed: dict[str, dict] = {}
    for cls in ("missing", "poor_quality"):
        ids = scored.index[scored["flag"] == cls]
        probs = scored.loc[ids, f"p_{cls}"].to_numpy(dtype=float).round(6)
        e = explanations(model, X.loc[ids], cls)
        head = {"flag": cls, "threshold": thresholds[cls], "model_version": model.version}
        line_ids.extend(ids)
        for a in range(0, len(ids), LINES_AT_ONCE):  # about 7 kB a line: 500,000 flags would hold 7 GB twice
            b = a + LINES_AT_ONCE
            line_file.write(pa.table({"line": explanation_lines(ids[a:b], probs[a:b], head, e.json_bodies(a, b))}))
        model_text.update(zip(ids, e.top_texts(2)))
        for i in np.flatnonzero(ids.isin(detailed_ids)):
            detailed[ids[i]] = {"policy_id": ids[i], "flag": cls, "probability": float(probs[i]), **head, **e.record(i)}
        del e
    del X  # 1.5 GB at five million policies, not needed for the summaries and the report
    policy_scores = _policy_scores(scored, policies, _reasons(scored, pf, findings, model_text))
    del pf
    # lines in policy_scores order (priority); policies without a flag have none
    at = pd.Index(line_ids).get_indexer(policy_scores["policy_id"])
    lines = line_file.mapped().column("line")
    line_order = at[at >= 0]
    ordered_detail = [detailed[pid] for pid in flagged.index if pid in detailed]
    step("汇总保险机构 / summarising insurers")
    svc = pd.Series(sub.aggregates.spend, index=policies["policy_id"])
    ended = pd.Series(sub.aggregates.ended(prep.as_of), index=policies["policy_id"])
    insurers = summarise(policies, scored, findings, svc, ended, rb, prep.rules.rate_cells)
    adequacy = None
    if prep.rules.rate_cells is not None:
        from scoring.rules.rates import adequacy_table

        adequacy = adequacy_table(prep.rules.rate_cells, [r for r in rb.rules if r.kind == "loss_ratio" and r.in_force(prep.as_of)])
    finished = dt.datetime.now(dt.timezone.utc)
    run = {
        **_balance(sub, submission),
        "policies_scored": int(n),
        "flagged": int((scored["flag"] != "").sum()),
        "capacity": int(cap),
        "as_of": str(np.datetime64(prep.as_of, "D")),
        "model_version": model.version,
        "model_sha256": model.metadata.get("artifact_sha256"),
        "rulebook_version": rb.version,
        "rulebook_sha256": rb.sha256,
        "rules_match_model": rules_match,
        "out_of_scope": prep.out_of_scope,
        "thresholds": thresholds,
        "priority_weights": rb.priority,
        "model_shift": shift,
        "model_weight": model_weight,
        "model_training_data": model.metadata.get("training_data", "unknown"),
        "not_checkable": prep.rules.not_checkable,
        "not_visible": NOT_VISIBLE,
        "engine": engine_info,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": finished.isoformat(timespec="seconds"),
        "tool_version": __version__,
    }
    step("写出结果 / writing results")
    with atomic_dir(Path(out), kind="run.json", inputs=[submission]) as tmp:
        write_csv(policy_scores, tmp / "policy_scores.csv")
        write_csv(findings, tmp / "findings.csv")
        write_jsonl(lines, tmp / "explanations.jsonl", order=line_order)
        write_csv(insurers, tmp / "insurer_summary.csv")
        write_csv(sub.rejected[REJECTED_COLUMNS], tmp / "rejected.csv")
        if adequacy is not None:
            write_csv(adequacy, tmp / "rate_adequacy.csv")
        html = render(run, policies, scored, findings, insurers, ordered_detail, rb, model, prep.rules.not_checkable, cap, thresholds,
                      adequacy=adequacy)
        (tmp / "report.html").write_text(html, encoding="utf-8")
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
        "input_sha256": {label: digest for label, digest in sub.files.values()},
        "tables": tables,
        "rows_in": {t: v["rows_in"] for t, v in tables.items()},
        "rows_rejected": {t: v["rows_rejected"] for t, v in tables.items()},
        "rows_rejected_total": int(sum(v["rows_rejected"] for v in tables.values())),
    }


def _nothing_to_score(sub: Submission, submission, out, rb: Rulebook, as_of, started, not_started: bool = False) -> None:
    """No policy survived validation: write what explains it (rejected.csv, run.json, a report and
    the result files with their headers only), then stop with exit 2."""
    import datetime as dt

    from scoring import __version__
    from scoring.submission.intake import REJECTED_COLUMNS
    from scoring.outputs.report import render_empty
    from scoring.outputs.insurers import SUMMARY_COLUMNS
    from scoring.writers import write_json
    from scoring.rules.apply import FINDING_COLUMNS

    c = sub.counts["policies"]
    day = str(np.datetime64(as_of, "D")) if as_of is not None else ""
    from scoring.messages import render as say

    if not_started:
        zh, en = say("nothing_not_started", day=day, n=c.rows_accepted)
    elif c.rows_in:
        zh, en = say("nothing_all_rejected", n=c.rows_in)
    else:
        zh, en = say("nothing_header_only")
    where = say("nothing_where", rejected=Path(out) / "rejected.csv")
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
        for name, columns in (("policy_scores.csv", POLICY_SCORE_COLUMNS), ("findings.csv", FINDING_COLUMNS),
                              ("insurer_summary.csv", SUMMARY_COLUMNS)):
            write_csv(pd.DataFrame(columns=columns), tmp / name)
        (tmp / "explanations.jsonl").write_bytes(b"")
        write_csv(sub.rejected[REJECTED_COLUMNS], tmp / "rejected.csv")
        (tmp / "report.html").write_text(render_empty(run), encoding="utf-8")
        write_json(run, tmp / "run.json")
    raise SubmissionError(zh, en)


def score_summary(run: dict, out) -> str:
    """The one-screen summary printed at the end of ``scoring score``."""
    lines = [
        f"参评保单 policies scored: {run['policies_scored']}",
        f"拒收数据行 rejected rows: {run['rows_rejected_total']}",
        f"标记核查 flagged (capacity {run['capacity']}): {run['flagged']}",
        f"评估日 as-of: {run['as_of']}；模型 model: {run['model_version']}；规则库 rulebook: {run['rulebook_version']}",
    ]
    eng = run.get("engine") or {}
    if eng.get("name") == "dask":
        lines.append(f"引擎 engine: Dask，{eng['workers']} 个工作进程 workers" + (f"，调度器 scheduler {eng['scheduler']}" if eng.get("scheduler") else ""))
    if run["not_checkable"]:
        lines.append("无法检查 not checkable: " + ", ".join(r["rule_code"] for r in run["not_checkable"]))
    warning = shift_warning(run.get("model_shift") or {}, run.get("model_weight", 1.0))
    if warning:
        lines.insert(0, warning)
    warning = rules_warning(run.get("rules_match_model") or {})
    if warning:
        lines.insert(0, warning)
    oos = run.get("out_of_scope") or {}
    if oos.get("policies_not_started") or oos.get("services_after") or oos.get("inspections_after"):
        lines.append(f"评估日后的数据未使用 / after the as-of date, not used: 保单 policies {oos['policies_not_started']}，"
                     f"服务记录 services {oos['services_after']}，核查 inspections {oos['inspections_after']}")
    lines.append(f"报告 report: {Path(out) / 'report.html'}")
    return "\n".join(lines)


def shift_of(model, X: pd.DataFrame, rb: Rulebook) -> dict:
    """``run.json`` → ``model_shift`` for features ``X`` (designed by ``model``)."""
    from scoring.model.shift import model_shift

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


def rules_warning(match: dict) -> str:
    """The warning a person reads when the rules in force differ from the model's ("" if not)."""
    if match.get("match") is not False:
        return ""
    from scoring.messages import render as say

    return " / ".join(say("rules_differ", now=match["rulebook_version"], then=match["model_rulebook_version"]))


def shift_warning(shift: dict, model_weight: float) -> str:
    """The warning a person reads when the submission is unlike the model's training data ("" if not)."""
    if not shift.get("warning"):
        return ""
    from scoring.model.features import BY_NAME

    from scoring.messages import render as say

    top = shift.get("features", [])[:3]
    return " / ".join(say("shift", score=f"{shift['score']:.2f}", warn=f"{shift['warn_score']:.2f}", weight=f"{model_weight:g}",
                          names_zh="、".join(BY_NAME[f].zh for f in top), names_en=", ".join(top)))


def run_retrain(submissions, registry, seed: int = 0, rulebook: str | Path | None = None, rollback_to: str | None = None):
    """``scoring retrain``: challenger vs champion on the latest labelled year, or ``--rollback``."""
    from scoring.model.registry import retrain, rollback

    if rollback_to:
        return rollback(registry, rollback_to)
    if not submissions:
        raise SubmissionError("请给出至少一个带核查结果的提交数据", "give at least one labelled submission")
    rb = load_rulebook(rulebook)
    preps = [prepare(s, rb) for s in submissions]
    X, labels, years = labelled_set(preps)
    return retrain(preps, X, labels, years, registry, seed=seed, rulebook=rb.identity(), population=population(preps))


def resolve_model_dir(path) -> Path:
    """A model directory, or a registry directory (then its champion)."""
    from scoring.model.registry import REGISTRY_FILE, champion_dir

    p = Path(path)
    return champion_dir(p) if (p / REGISTRY_FILE).exists() else p
