"""The rules of background kinds (duplicate photos and reports: sorts of millions of keys) run in
one forked worker process beside the other rules, on large submissions where ``fork`` exists.
"""
from __future__ import annotations


import pyarrow as pa

from scoring.rules.kinds import KINDS
from scoring.rules.context import Context
from scoring.rules.book import Rule
from scoring.rules.apply import active_rows, apply_rule, requirements


#: Service records from which the background kinds (which read service records) run in a forked
#: worker. A Dask run's driver holds only the records of shared keys: it does not fork for them.
BACKGROUND_ROWS = 800_000

_FORKED: list[tuple] = []  # what the forked worker inherits: (rule, ctx, frame, active) per task


def _die_with_parent(parent: int) -> None:
    """In a forked worker: end when the parent ends, whatever kills it (SIGTERM, SIGKILL, a crash).
    Linux delivers SIGKILL to the worker when its parent dies (``PR_SET_PDEATHSIG``); a parent that
    died before this line ran is caught by the parent-pid check. Elsewhere nothing is done."""
    import os
    import signal
    import sys

    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def worker_pool():
    """One forked worker that inherits this process's memory and ends with it."""
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("fork"), initializer=_die_with_parent,
                               initargs=(os.getpid(),))


def _run_forked(i: int) -> pa.Table | None:
    rule, ctx, frame, active = _FORKED[i]
    return apply_rule(rule, ctx, frame, active)


class Background:
    """The rules of ``background`` kinds (duplicate photos and reports: sorts of millions of keys),
    run in one forked worker process while this process applies the others.

    Only for submissions of ``BACKGROUND_ROWS`` service records or more, and only where ``fork`` exists: the
    worker inherits the validated tables instead of receiving a copy, and sends back findings
    tables (small). If the worker cannot be started or dies, the same rules run here instead.
    """

    def __init__(self, ordered: list[Rule], ctx: Context):
        import multiprocessing as mp

        self.tasks: list[tuple] = []
        self.pool = None
        self.futures: list = []
        large = len(ctx.sub["services"]) >= BACKGROUND_ROWS
        if not large or "fork" not in mp.get_all_start_methods():
            return
        for rule in ordered:
            if not KINDS[rule.kind].background or rule.scope not in ("policy", "service") or requirements(rule, ctx):
                continue
            frame = ctx.frame(rule.scope)
            active = active_rows(rule, frame)
            if active.any():
                self.tasks.append((rule, ctx, frame, active))
        if not self.tasks:
            return
        _FORKED[:] = self.tasks
        try:
            self.pool = worker_pool()
            self.futures = [self.pool.submit(_run_forked, i) for i in range(len(self.tasks))]
        except OSError:  # cannot fork (e.g. no memory for the page tables): run them here
            self.close()
            self.futures = []
        finally:
            _FORKED.clear()

    def __contains__(self, rule: Rule) -> bool:
        return any(rule is t[0] for t in self.tasks)

    def results(self) -> list[pa.Table]:
        """The background findings tables, in rule order (waits for the worker; once)."""
        from concurrent.futures.process import BrokenProcessPool

        out = []
        for i, task in enumerate(self.tasks):
            try:
                table = self.futures[i].result() if i < len(self.futures) else apply_rule(*task)
            except BrokenProcessPool:
                table = apply_rule(*task)
            if table is not None:
                out.append(table)
        self.tasks, self.futures = [], []
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
