"""Handing freed memory back to the operating system between the steps of a job.

A job at a million policies frees gigabytes between its steps (the pass-one results once
condensed, the unsorted findings once sorted). The allocators keep much of it: glibc's malloc
holds freed arenas for reuse and Arrow's memory pool (mimalloc or jemalloc) holds freed pages,
so the process's resident size stays at its high-water mark, and the next step's peak comes on
top of memory nothing uses. The job hands it back at each step (the same ``malloc_trim`` Dask
runs on its workers); the results do not change.
"""
from __future__ import annotations

import ctypes
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
