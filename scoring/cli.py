"""Command line: parse arguments, call one library function, map errors to exit codes.

Exit codes (``docs/spec/cli.md``): 0 done, 2 the input cannot be read as a
submission, 1 anything else.
"""
from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Optional

import typer
import typer.core

from scoring.errors import OptionError, RulebookError, ScoringError, SubmissionError
from scoring.messages import both, error_text, render

# rich_markup_mode=None: plain help ("--quiet  不显示进度"), not typer's boxes with "<bool>" beside every flag
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None, help=both("cli.help.1"))


@app.callback()
def _root() -> None:
    """安责险事故预防服务评估 / work-safety liability insurance audit."""


def _exit_code(exc: BaseException) -> int:
    """2: the input cannot be read (a submission, or a rulebook given with --rulebook), or an
    argument cannot be used; 1: anything else."""
    return 2 if isinstance(exc, (SubmissionError, RulebookError, OptionError)) else 1


def _run(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ScoringError as e:
        typer.echo(error_text(e.message_zh, e.message_en), err=True)
        raise typer.Exit(_exit_code(e)) from None
    except OSError as e:  # a full disk, a read-only folder, a file that vanished: said, not a traceback
        zh, en = _os_error(e)
        typer.echo(error_text(zh, en), err=True)
        raise typer.Exit(1) from None
    except sqlite3.Error as e:  # the review database: a full disk reads "database or disk is full", or "disk I/O error"
        from scoring.messages import render

        zh, en = render("database_error", detail=str(e))
        typer.echo(error_text(zh, en), err=True)
        raise typer.Exit(1) from None


#: What the system's error numbers mean, in Chinese (the English is the system's own text).
_ERRNO_ZH = {"ENOSPC": "磁盘空间已满", "EROFS": "文件系统为只读", "EACCES": "没有权限", "EPERM": "不允许该操作",
             "ENOENT": "文件或文件夹不存在", "EDQUOT": "超出磁盘配额", "EIO": "输入输出错误", "EMFILE": "打开的文件过多"}


def _os_error(e: OSError) -> tuple[str, str]:
    import errno

    from scoring.messages import render

    import os
    import re

    number = e.errno
    if number is None:  # Arrow's writers say "[errno 28]" in their text and set no errno
        m = re.search(r"\[errno (\d+)\]", str(e), flags=re.I)
        number = int(m.group(1)) if m else None
    name = errno.errorcode.get(number or 0, "")
    where = e.filename if e.filename is not None else "--out"
    reason_en = os.strerror(number) if number else (e.strerror or str(e) or type(e).__name__)
    return render("os_error", path=where, reason_zh=_ERRNO_ZH.get(name, reason_en), reason_en=reason_en)


class _Steps:
    """Long steps on a terminal: one line per step with a spinner and the time it took (rich)."""

    def __init__(self):
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.bar = Progress(SpinnerColumn(finished_text="✓"), TextColumn("{task.description}"), TimeElapsedColumn(),
                            console=Console(stderr=True))
        self.task = None
        self.bar.start()

    def __call__(self, message: str) -> None:
        self._finish()
        self.task = self.bar.add_task(message, total=1)

    def _finish(self) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=1)

    def close(self) -> None:
        self._finish()
        self.bar.stop()


def _progress(quiet: bool):
    """Step progress on a terminal (stderr); None (silent) when piped or with --quiet."""
    if quiet or not sys.stderr.isatty():
        return None
    return _Steps()


@app.command()
def score(
    submission: Path = typer.Argument(..., help="提交数据（文件夹或 .xlsx）/ submission folder or .xlsx"),
    out: Path = typer.Option(..., "--out", help=both("cli.help.2")),
    model: Optional[Path] = typer.Option(None, "--model", help=both("cli.help.3")),
    rulebook: Optional[Path] = typer.Option(None, "--rulebook", help=both("cli.help.4")),
    as_of: Optional[str] = typer.Option(None, "--as-of", help=both("cli.help.5")),
    capacity: Optional[int] = typer.Option(None, "--capacity", help=both("cli.help.6")),
    quiet: bool = typer.Option(False, "--quiet", help=both("cli.help.7")),
    engine: str = typer.Option("local", "--engine", help=both("cli.help.engine")),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help=both("cli.help.8")),
    workers: Optional[int] = typer.Option(None, "--workers", help=both("cli.help.9")),
):
    """评分：校验、规则、模型、解释、报告 / validate, run the rulebook, score, explain and report."""
    from scoring.jobs import run_score, score_summary

    steps = _progress(quiet)
    try:
        run = _run(run_score, submission, out, model_dir=model, rulebook=rulebook, as_of=as_of, capacity=capacity,
                   progress=steps, engine=engine, scheduler=scheduler, workers=workers)
    finally:
        if steps is not None:
            steps.close()
    typer.echo(score_summary(run, out))


@app.command()
def estimate(
    submission: Path = typer.Argument(..., help="提交数据（文件夹或 .xlsx）/ submission folder or .xlsx"),
    out: Path = typer.Option(..., "--out", help=both("cli.help.estimate_out")),
    model: Optional[Path] = typer.Option(None, "--model", help=both("cli.help.3")),
    rulebook: Optional[Path] = typer.Option(None, "--rulebook", help=both("cli.help.4")),
):
    """估计各保险机构服务缺失与服务质量差的比例（仅用随机抽查）/ estimate each insurer's shares from random inspections."""
    from scoring.jobs import estimate_summary, run_estimate

    meta = _run(run_estimate, submission, out, model_dir=model, rulebook=rulebook)
    typer.echo(estimate_summary(meta, out))


@app.command()
def sample(
    run_dir: Path = typer.Argument(..., help=both("cli.help.sample_run")),
    out: Path = typer.Option(..., "--out", help=both("cli.help.sample_out")),
    rulebook: Optional[Path] = typer.Option(None, "--rulebook", help=both("cli.help.4")),
    capacity: Optional[int] = typer.Option(None, "--capacity", help=both("cli.help.sample_capacity")),
    confidence: Optional[float] = typer.Option(None, "--confidence", help=both("cli.help.sample_confidence")),
    tolerable: Optional[float] = typer.Option(None, "--tolerable", help=both("cli.help.sample_tolerable")),
    expected: Optional[float] = typer.Option(None, "--expected", help=both("cli.help.sample_expected")),
    strata: Optional[str] = typer.Option(None, "--strata", help=both("cli.help.sample_by")),
    seed: Optional[int] = typer.Option(None, "--seed", help=both("cli.help.sample_seed")),
):
    """抽查计划：分层随机组与风险组 / an inspection plan: a stratified random arm and a risk arm."""
    from scoring.jobs import run_sample, sample_summary

    plan, settings = _run(run_sample, run_dir, out, rulebook=rulebook, capacity=capacity, confidence=confidence,
                          tolerable=tolerable, expected=expected, strata=strata, seed=seed)
    typer.echo(sample_summary(plan, settings, out))


@app.command()
def validate(
    submission: Path = typer.Argument(..., help="提交数据（文件夹或 .xlsx）/ submission folder or .xlsx"),
    out: Optional[Path] = typer.Option(None, "--out", help=both("cli.help.10")),
    quiet: bool = typer.Option(False, "--quiet", help=both("cli.help.11")),
):
    """只做校验：打印汇总，给出 --out 时写出 rejected.csv / validation only."""
    from scoring.jobs import run_validate

    summary = _run(run_validate, submission, out)
    typer.echo(summary)


@app.command()
def train(
    submissions: list[Path] = typer.Argument(..., help=both("cli.help.12")),
    out: Path = typer.Option(..., "--out", help=both("cli.help.13")),
    seed: int = typer.Option(0, "--seed", help=both("cli.help.14")),
    rulebook: Optional[Path] = typer.Option(None, "--rulebook"),
    quiet: bool = typer.Option(False, "--quiet"),
):
    """训练模型：留出最新年份（只有一年时留出最新的核查）验证，再用全部标签重训 / validate on held-out labels, refit on all."""
    from scoring.model.metrics import metric_text
    from scoring.model.card import validation_text
    from scoring.jobs import run_train

    meta = _run(run_train, submissions, out, seed=seed, rulebook=rulebook)
    v = meta["validation"]
    typer.echo(f"模型 model {meta['version']} → {out}")
    typer.echo(validation_text(v))
    for slice_name, per in v["models"]["model"].items():
        for cls in ("missing", "poor_quality"):
            m = per[cls]
            typer.echo(f"  [{slice_name}] {cls}: {metric_text(m)}  precision@{int(v['capacity'] * 100)}% "
                       f"{m['precision_at_capacity']}  Brier {m.get('brier')}")


@app.command()
def evaluate(
    submission: Path = typer.Argument(..., help=both("cli.help.15")),
    model: Optional[Path] = typer.Option(None, "--model", help=both("cli.help.16")),
    capacity: float = typer.Option(0.10, "--capacity", help="核查能力（保单比例）/ inspection capacity as a share of policies"),
    as_json: bool = typer.Option(False, "--json", help=both("cli.help.17")),
    rulebook: Optional[Path] = typer.Option(None, "--rulebook"),
):
    """评估模型：ROC AUC、平均精确率、容量内精确率与召回率、Brier、校准表 / evaluate a model on labelled data."""
    import json

    from scoring.model.metrics import metric_text
    from scoring.jobs import run_evaluate

    res = _run(run_evaluate, submission, model, capacity=capacity, rulebook=rulebook)
    if as_json:
        typer.echo(json.dumps(res, ensure_ascii=False, indent=2))
        return
    typer.echo(both("cli.evaluate_head", version=res["model_version"], as_of=res["as_of"], capacity=f"{capacity:.0%}"))
    for slice_name in ("all", "random"):
        per = res.get(slice_name, {})
        typer.echo(f"[{slice_name}] n = {per.get('n', 0)}")
        for cls in ("missing", "poor_quality"):
            m = per.get(cls)
            if m:
                typer.echo(f"  {cls}: {metric_text(m)}  precision {m['precision_at_capacity']}  "
                           f"recall {m['recall_at_capacity']}  Brier {m['brier']}")


@app.command()
def retrain(
    submissions: Optional[list[Path]] = typer.Argument(None, help=both("cli.help.18")),
    registry: Path = typer.Option(..., "--registry", help=both("cli.help.19")),
    rollback: Optional[str] = typer.Option(None, "--rollback", help=both("cli.help.20")),
    start_with_champion: bool = typer.Option(
        False, "--start-with-champion",
        help=both("cli.help.21")),
    seed: int = typer.Option(0, "--seed", help=both("cli.help.22")),
    rulebook: Optional[Path] = typer.Option(None, "--rulebook", help=both("cli.help.23")),
):
    """挑战者与冠军比较，按注册库规则决定是否晋升 / train a challenger and promote it only if better."""
    from scoring.jobs import default_model_dir, run_retrain
    from scoring.model.registry import decision_line, metric_lines
    from scoring.model.registry import seed as seed_registry

    decisions = []
    if start_with_champion:
        decisions.append(_run(seed_registry, registry, default_model_dir()))
    if submissions or rollback or not start_with_champion:
        decisions.append(_run(run_retrain, submissions or [], registry, seed=seed, rulebook=rulebook, rollback_to=rollback))
    for d in decisions:
        typer.echo(decision_line(d))
        typer.echo(d.reason_zh)
        typer.echo(d.reason_en)
        for line in metric_lines(getattr(d, "metrics", None)):
            typer.echo(f"  {line}")


@app.command()
def convert(
    submission: Path = typer.Argument(..., help="提交数据（文件夹、.xlsx 或数据集）/ submission"),
    out: Path = typer.Option(..., "--out", help=both("cli.help.24")),
):
    """校验一次并写成按保单年度和省份分区的 Parquet 数据集 / validate once, write a partitioned Parquet dataset."""
    from scoring.submission.convert import convert as run_convert, summary

    balance = _run(run_convert, submission, out)
    typer.echo(summary(balance, out))


@app.command()
def rules(
    rulebook: Optional[Path] = typer.Option(None, "--rulebook", help="规则库文件（替换或扩展内置规则库）/ rulebook file"),
    kinds: bool = typer.Option(False, "--kinds", help=both("cli.help.25")),
):
    """列出规则库中的规则 / list the rules with severity, clause, parameters and dates."""
    from rich.console import Console
    from rich.table import Table

    from scoring.rules.book import describe, load_rulebook

    if kinds:
        from scoring.rules.kinds import KINDS

        from scoring.messages import TEMPLATES

        for name, k in sorted(KINDS.items()):
            fields = ", ".join(f"{f}{'' if info.is_required() else '=' + repr(info.default)}"
                               for f, info in k.params.model_fields.items())
            zh, en = TEMPLATES.get(f"kind:{name}", ("", ""))
            line = render("cli.kind_line", name=name, kind_zh=zh, kind_en=en, scopes=", ".join(k.scopes))
            needs = render("cli.kind_needs", tables=", ".join(k.tables)) if k.tables else ("", "")
            typer.echo(f"{line[0]}{needs[0]} / {line[1]}{needs[1]}\n  " + both("cli.kind_params", fields=fields or "—")
                       + "\n  " + k.doc.replace("\n", "\n  ") + "\n")
        return
    rb = _run(load_rulebook, rulebook)
    table = Table(title=f"规则库 rulebook {rb.version}", show_lines=False)
    for col in ("代码 code", "严重程度 severity", "范围 scope", "依据 clause", "施行 from", "止 to", "参数 params"):
        table.add_column(col, overflow="fold")
    for r in describe(rb).itertuples():
        table.add_row(r.code, r.severity, r.scope, r.clause, r.effective_from, r.effective_to, r.params)
    Console().print(table)


class _ReviewGroup(typer.core.TyperGroup):
    """``scoring review RUN_DIR`` serves the app: a first argument that is not a subcommand means ``serve``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["serve", *args]
        return super().parse_args(ctx, args)


review_app = typer.Typer(cls=_ReviewGroup, no_args_is_help=True, rich_markup_mode=None,
                         help=both("cli.help.26"))
app.add_typer(review_app, name="review")

LOOPBACK = ("127.0.0.1", "localhost", "::1")


#: Shortest access token accepted: a token guessed in a few tries protects nothing.
TOKEN_MIN = 16


def _listen(host: str, port: int):
    """A socket bound to ``host:port`` (``port`` 0: a free one), or an :class:`OptionError` saying
    the port is taken, before any address is printed that may be serving another program."""
    import errno
    import socket

    from scoring.errors import OptionError
    from scoring.messages import render

    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError as e:
        key = "port_in_use" if e.errno == errno.EADDRINUSE else "cannot_listen"
        raise OptionError(*render(key, host=host, port=port, detail=e.strerror or str(e))) from None
    return sock


@review_app.command("serve")
def review_serve(
    run_dir: Path = typer.Argument(..., help=both("cli.help.27")),
    host: str = typer.Option("127.0.0.1", "--host", help=both("cli.help.28")),
    port: int = typer.Option(8000, "--port", help=both("cli.help.29")),
    token: Optional[str] = typer.Option(None, "--token", envvar="SCORING_REVIEW_TOKEN",
                                        help=both("cli.help.token", min=TOKEN_MIN)),
    db: Optional[Path] = typer.Option(None, "--db", help=both("cli.help.30")),
    submission: Optional[Path] = typer.Option(None, "--submission", help="评分所用提交数据（默认取 run.json 记录）/ the scored submission"),
    plan: Optional[Path] = typer.Option(None, "--plan", help=both("cli.help.review_plan")),
):
    """启动复核网页 / serve the review web app (scoring review RUN_DIR)."""
    import json
    import secrets

    import uvicorn

    from scoring.errors import OptionError
    from scoring.messages import render
    from scoring.review.app import create_app, earlier_verdicts
    from scoring.review.store import DB_NAME, ReviewStore

    if token is not None and len(token) < TOKEN_MIN:
        _run(_raise, OptionError(*render("token_too_short", n=len(token), min=TOKEN_MIN)))
    if host not in LOOPBACK and not token:
        token = secrets.token_urlsafe(24)  # 32 random characters, printed once below
    web = _run(create_app, run_dir, db=db, token=token, submission=submission, host=host, plan=plan)
    sock = _run(_listen, host, port)
    port = sock.getsockname()[1]
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    note = earlier_verdicts(ReviewStore(db or run_dir / DB_NAME), run)
    if note:
        typer.echo(note)
    shown = f"http://{'[' + host + ']' if ':' in host else host}:{port}/" + (f"?token={token}" if token else "")
    typer.echo(f"复核网页 review app: {shown}（Ctrl+C 停止 / to stop）")
    uvicorn.Server(uvicorn.Config(web, log_level="warning")).run(sockets=[sock])


def _raise(exc: BaseException):
    raise exc


def _review_parts(run_dir: Path, db: Optional[Path], submission: Optional[Path] = None, need_submission: bool = False):
    from scoring.review.run import ReviewRun
    from scoring.review.store import DB_NAME, ReviewStore

    _run(ReviewRun.check, run_dir)  # before the review database is made in a folder that is not a run
    run = _run(ReviewRun.open, run_dir, submission) if need_submission else None
    store = _run(ReviewStore, db or run_dir / DB_NAME)
    return run, store


@review_app.command("export")
def review_export(
    run_dir: Path = typer.Argument(..., help=both("cli.help.31")),
    out: Optional[Path] = typer.Option(None, "--out", help=both("cli.help.32")),
    labelled: Optional[Path] = typer.Option(None, "--labelled", help=both("cli.help.33")),
    submission: Optional[Path] = typer.Option(None, "--submission", help="评分所用提交数据（默认取 run.json 记录）/ the scored submission"),
    db: Optional[Path] = typer.Option(None, "--db"),
):
    """导出复核结论为 inspections 表（供 scoring retrain 使用）/ export verdicts as an inspections table."""
    import json

    from scoring.review.exchange import export_inspections, export_labelled
    from scoring.review.run import REQUIRED

    if not (run_dir / REQUIRED[0]).is_file():
        typer.echo(error_text(*render("cli.not_a_run", run_dir=run_dir)), err=True)
        raise typer.Exit(1)
    if out is None and labelled is None:
        typer.echo(error_text(*render("cli.out_or_labelled")), err=True)
        raise typer.Exit(1)
    _, store = _review_parts(run_dir, db)
    if out is not None:
        n = _run(export_inspections, store, out)
        typer.echo("\n".join(render("cli.exported", n=n, out=out)))
    if labelled is not None:
        run_json = json.loads((run_dir / "run.json").read_text("utf-8"))
        r = _run(export_labelled, run_json, store, labelled, submission)
        typer.echo("\n".join(render("cli.labelled", out=labelled, before=r["inspections_before"], review=r["inspections_review"])))


@review_app.command("workbook")
def review_workbook(
    run_dir: Path = typer.Argument(..., help=both("cli.help.34")),
    out: Path = typer.Option(..., "--out", help=both("cli.help.35")),
    db: Optional[Path] = typer.Option(None, "--db"),
    submission: Optional[Path] = typer.Option(None, "--submission"),
    plan: Optional[Path] = typer.Option(None, "--plan", help=both("cli.help.workbook_plan")),
):
    """写出 Excel 复核表（下拉选择结论）/ write the review list as an Excel workbook."""
    from scoring.review.exchange import write_workbook
    from scoring.review.run import plan_arms

    run, store = _review_parts(run_dir, db, submission, need_submission=True)
    arms = _run(plan_arms, plan)
    n = _run(write_workbook, run, store, out, arms)
    typer.echo(f"复核表 {n} 件保单 → {out}\nreview workbook with {n} policies → {out}")


@review_app.command("import")
def review_import(
    run_dir: Path = typer.Argument(..., help=both("cli.help.36")),
    workbook: Path = typer.Argument(..., help=both("cli.help.37")),
    reviewer: str = typer.Option(..., "--reviewer", help=both("cli.help.38")),
    rejected: Optional[Path] = typer.Option(None, "--rejected", help=both("cli.help.39")),
    db: Optional[Path] = typer.Option(None, "--db"),
    submission: Optional[Path] = typer.Option(None, "--submission"),
):
    """读回 Excel 复核表，经校验后记录结论 / read a filled workbook back (validated as an inspections table)."""
    from scoring.writers import write_csv
    from scoring.review.exchange import import_workbook

    run, store = _review_parts(run_dir, db, submission, need_submission=True)
    steps = _progress(False)
    try:
        res = _run(import_workbook, run, store, workbook, reviewer, progress=steps)
    finally:
        if steps is not None:
            steps.close()
    typer.echo(res.summary())
    for r in res.rejected.head(20).itertuples():
        typer.echo(f"  {r.message_zh}\n  {r.message_en}")
    if len(res.rejected) > 20:
        typer.echo(f"  …（另 {len(res.rejected) - 20} 行 / {len(res.rejected) - 20} more）")
    if rejected is not None:
        write_csv(res.rejected, rejected)
        typer.echo(f"拒收行 rejected rows → {rejected}")


def main() -> None:
    try:
        app()
    except ScoringError as e:  # pragma: no cover - _run handles the commands
        typer.echo(str(e), err=True)
        sys.exit(_exit_code(e))
