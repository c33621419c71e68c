"""Small generated submissions for tests."""
from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from datasets.synth import Config, World, generate, write_submission


@functools.lru_cache(maxsize=8)
def world(n: int = 400, seed: int = 3, **kw) -> World:
    return generate(Config(n_policies=n, seed=seed, **kw))


def write(tmp: Path, n: int = 400, seed: int = 3, **kw) -> Path:
    """Write a small valid submission as CSV into ``tmp`` and return the folder."""
    fmt_kw = {k: kw.pop(k) for k in ("fmt", "encoding", "zh_headers") if k in kw}
    return write_submission(world(n, seed, **kw), tmp, **fmt_kw)


def set_cell(folder: Path, table: str, row: int, column: str, value) -> None:
    """Overwrite one cell (0-based data row) of ``table``.csv as text."""
    path = folder / f"{table}.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.loc[row, column] = value
    df.to_csv(path, index=False)
