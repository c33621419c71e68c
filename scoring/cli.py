"""Command line: parse arguments, call one library function, map errors to exit codes.

Exit codes (``../shared/spec/cli.md``): 0 done, 2 the input cannot be read as a
submission, 1 anything else.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import ScoringError, SubmissionError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="安责险事故预防服务评估 / work-safety liability insurance audit")


@app.callback()
def _root() -> None:
    """安责险事故预防服务评估 / work-safety liability insurance audit."""


def _exit_code(exc: BaseException) -> int:
    return 2 if isinstance(exc, SubmissionError) else 1


def _run(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ScoringError as e:
        typer.echo(f"错误：{e.message_zh}\nError: {e.message_en}", err=True)
        raise typer.Exit(_exit_code(e)) from None


@app.command()
def validate(
    submission: Path = typer.Argument(..., help="提交数据（文件夹或 .xlsx）/ submission folder or .xlsx"),
    out: Optional[Path] = typer.Option(None, "--out", help="写出 rejected.csv 的目录 / directory for rejected.csv"),
    quiet: bool = typer.Option(False, "--quiet", help="不显示进度 / no progress output"),
):
    """只做校验：打印汇总，给出 --out 时写出 rejected.csv / validation only."""
    from .pipeline import run_validate

    summary = _run(run_validate, submission, out)
    typer.echo(summary)


@app.command()
def rules(
    rulebook: Optional[Path] = typer.Option(None, "--rulebook", help="规则库文件（替换或扩展内置规则库）/ rulebook file"),
):
    """列出规则库中的规则 / list the rules with severity, clause, parameters and dates."""
    from rich.console import Console
    from rich.table import Table

    from .rulebook import describe, load_rulebook

    rb = _run(load_rulebook, rulebook)
    table = Table(title=f"规则库 rulebook {rb.version}", show_lines=False)
    for col in ("代码 code", "严重程度 severity", "范围 scope", "依据 clause", "施行 from", "止 to", "参数 params"):
        table.add_column(col, overflow="fold")
    for r in describe(rb).itertuples():
        table.add_row(r.code, r.severity, r.scope, r.clause, r.effective_from, r.effective_to, r.params)
    Console().print(table)


def main() -> None:
    try:
        app()
    except ScoringError as e:  # pragma: no cover - _run handles the commands
        typer.echo(str(e), err=True)
        sys.exit(_exit_code(e))
