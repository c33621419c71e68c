"""The jobs behind the commands, as library functions the CLI calls."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ModelError
from .features import FEATURE_NAMES, build_features
from .intake import Submission, latest_date, load_submission
from .labels import labels_from
from .metrics import evaluate_scores
from .model import load_model, save_model, train_and_validate
from .results import atomic_dir, write_csv
from .rulebook import RuleResults, Rulebook, load_rulebook, run_rules


def balance_summary(sub: Submission) -> str:
    """Per-table row balance, Chinese first, one line per table."""
    lines = ["表 / table        读入 in   接收 accepted   拒收 rejected"]
    for name, c in sub.counts.items():
        lines.append(f"{name:<16} {c.rows_in:>8} {c.rows_accepted:>14} {c.rows_rejected:>14}")
    missing = [t for t in ("staff", "inspections") if t not in sub.present]
    if missing:
        lines.append("未提供的可选表 / optional tables not supplied: " + ", ".join(missing))
    return "\n".join(lines)


def run_validate(submission: str | Path, out: str | Path | None = None) -> str:
    """Validate ``submission``; with ``out``, write ``rejected.csv`` there. Returns the summary."""
    sub = load_submission(submission)
    text = balance_summary(sub)
    if out is not None:
        with atomic_dir(Path(out)) as tmp:
            write_csv(sub.rejected, tmp / "rejected.csv")
        text += f"\n拒收明细 / rejected rows: {Path(out) / 'rejected.csv'}"
    return text


@dataclass(frozen=True)
class Prepared:
    """A validated submission with its rule results and features at one as-of date."""

    sub: Submission
    as_of: np.datetime64
    rules: RuleResults
    features: pd.DataFrame


def prepare(submission, rulebook: Rulebook | None = None, as_of=None, progress=None) -> Prepared:
    """Intake, rulebook and features: the common first half of every job."""
    sub = submission if isinstance(submission, Submission) else load_submission(submission)
    as_of = np.datetime64(as_of, "D") if as_of is not None else latest_date(sub.tables)
    rules = run_rules(sub, rulebook or load_rulebook(), as_of, progress=progress)
    return Prepared(sub, as_of, rules, build_features(sub, as_of, rules.findings))


def labelled_set(preps: list[Prepared]) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Features, labels and policy years of every inspected policy, pooled over submissions.

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
    X = df[list(FEATURE_NAMES)].set_index(df["policy_id"])
    return X, df[["policy_id", "outcome", "selection"]].reset_index(drop=True), df["year"].reset_index(drop=True)


def run_train(submissions, out, seed: int = 0, rulebook: str | Path | None = None, name: str | None = None,
              source: str | None = None) -> dict:
    """``scoring train``: fit on earlier years, validate on the latest labelled year, save the model."""
    rb = load_rulebook(rulebook)
    preps = [prepare(s, rb) for s in submissions]
    X, labels, years = labelled_set(preps)
    model, record = train_and_validate(X.reset_index(drop=True), labels, years, seed=seed)
    save_model(model, out, name=name, extra={
        "rulebook_version": rb.version,
        "training_source": source or [str(s) for s in submissions],
        "input_sha256": [dict(sorted((t, h) for t, (_, h) in p.sub.files.items())) for p in preps],
    })
    return model.metadata


def run_evaluate(submission, model_dir, capacity: float = 0.10, rulebook: str | Path | None = None) -> dict:
    """``scoring evaluate``: metrics of a saved model on a labelled submission."""
    model = load_model(model_dir)
    prep = prepare(submission, load_rulebook(rulebook))
    labels = labels_from(prep.sub)
    if labels.empty:
        raise ModelError("提交数据中没有核查结果（inspections），无法评估", "the submission holds no inspection outcomes to evaluate against")
    scores = model.predict(prep.features).reset_index()
    return {"model_version": model.version, "as_of": str(prep.as_of), "capacity": capacity,
            **evaluate_scores(labels, scores, capacity)}
