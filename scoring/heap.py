"""Handing freed memory back to the operating system between the steps of a job.

A job at a million policies frees gigabytes between its steps (the pass-one results once
condensed, the unsorted findings once sorted). The allocators keep much of it: glibc's malloc
holds freed arenas for reuse and Arrow's memory pool (mimalloc or jemalloc) holds freed pages,
so the process's resident size stays at its high-water mark, and the next step's peak comes on
top of memory nothing uses. The job hands it back at each step (the same ``malloc_trim`` Dask
runs on its workers); the results do not change.
"""
from __future__ import annotations

import contextlib
import ctypes
import gc
import sys
from functools import lru_cache

import pyarrow as pa


@lru_cache(maxsize=1)
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # musl and other C libraries without malloc_trim
        return None


def release() -> None:
    """Return freed memory of this process to the operating system, where the allocators allow."""
    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@contextlib.contextmanager
def collect_only_new():
    """In the block, a full garbage collection looks only at the objects made in it.

    A rule's pandas temporaries sit in reference cycles, so the rules collect garbage after each
    rule; each full collection walks every object the process holds, in a Dask worker the
    worker's own state as well, so its cost grows with the process, not with the rule. What
    exists on entry is collected once and then set aside (``gc.freeze``) until the block ends,
    so a collection in the block costs what the block made (``scripts/bench_scale.py`` measures runs)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
