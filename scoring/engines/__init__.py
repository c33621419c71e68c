"""Engines: how a job runs (one process, or a Dask cluster), never what it computes.

:func:`choose` checks the engine options once and returns the engine a job uses as a context
manager (:class:`~scoring.engines.base.Engine`).
"""
from __future__ import annotations

from scoring.engines.base import Engine, Prepared
from scoring.errors import OptionError
from scoring.messages import render

__all__ = ["Engine", "Prepared", "choose"]


def choose(name: str = "local", scheduler: str | None = None, workers: int | None = None) -> Engine:
    """The engine ``name`` (``local`` or ``dask``) with its options, refused with an
    :class:`~scoring.errors.OptionError` when they cannot work together."""
    if name not in ("local", "dask"):
        raise OptionError(*render("engine_unknown", engine=name))
    if name == "local" and (scheduler or workers is not None):
        raise OptionError(*render("engine_local_options"))
    if workers is not None and (workers < 1 or scheduler):
        raise OptionError(*render("engine_workers", workers=workers))
    if name == "local":
        return Engine()
    from scoring.engines.dask import DaskEngine  # only a Dask run imports Dask

    return DaskEngine(scheduler, workers)
