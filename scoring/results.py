"""Write results: deterministic CSV / JSONL, formula-safe cells, atomic directories.

Same data in, same bytes out: floats are rounded to 6 significant digits, rows come in a
stable order, and no timestamps go into CSV or JSONL. Cells that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) get a leading ``'``
(OWASP's recommendation), except plain numbers such as ``-3.5``.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .parsing import arrow

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"
SIGNIFICANT = 6


def round_sig(values, digits: int = SIGNIFICANT) -> np.ndarray:
    """Round to 6 decimals, then to ``digits`` significant digits: the float a person should read.

    Arrow prints a double by its shortest round-trip text, so the rounded value is written
    without float noise (0.123457, 300000, 1234570).
    """
    v = np.round(np.asarray(values, dtype=float), 6)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.floor(np.log10(np.abs(v)))
    d = np.clip(np.where(np.isfinite(mag), digits - 1 - mag, 0), -15, 15).astype(int)
    up, down = 10.0 ** np.maximum(d, 0), 10.0 ** np.maximum(-d, 0)
    return np.where(d >= 0, np.round(v * up) / up, np.round(v / down) * down)


def _strings(series: pd.Series) -> pa.Array:
    arr = arrow(series, large_ok=True)  # pandas' large_string kept: no copy of the text
    return arr if pa.types.is_large_string(arr.type) or pa.types.is_string(arr.type) else arr.cast(pa.string())


def neutralise(values: pa.Array) -> pa.Array:
    """Prefix ``'`` to text cells that would start a spreadsheet formula (plain numbers stay).

    Only cells whose first byte is a formula start are looked at further (all such starts are
    ASCII), and only those that are not plain numbers are rewritten.
    """
    raw = values.cast(pa.large_binary() if pa.types.is_large_string(values.type) else pa.binary())
    first = pc.binary_slice(raw, 0, 1)
    risky = pc.fill_null(pc.is_in(first, value_set=pa.array([s.encode() for s in _FORMULA_START], first.type)), False)
    if not pc.any(risky).as_py():
        return values
    idx = np.flatnonzero(risky.to_numpy(zero_copy_only=False))
    cand = values.take(pa.array(idx))
    plain = np.asarray(pc.fill_null(pc.match_substring_regex(cand, _PLAIN_NUMBER), False).to_numpy(zero_copy_only=False), dtype=bool)
    if plain.all():
        return values
    mask = np.zeros(len(values), dtype=bool)
    mask[idx[~plain]] = True
    fixed = pc.binary_join_element_wise(pa.scalar("'", values.type), cand.filter(pa.array(~plain)), pa.scalar("", values.type))
    return pc.replace_with_mask(values, pa.array(mask), fixed)


#: UTF-8 byte-order mark: Excel on a Chinese Windows reads a CSV without it as GBK (garbage).
BOM = b"\xef\xbb\xbf"


def write_csv(df: pd.DataFrame, path) -> None:
    """Write ``df`` as UTF-8 CSV with a byte-order mark (Arrow's writer) to a path or binary
    file: neutralised text, missing as empty, floats rounded.

    Text cells are quoted, numbers are not; the same frame always gives the same bytes.
    """
    if isinstance(path, (str, Path)):
        with open(path, "wb") as f:
            write_csv(df, f)
        return
    path.write(BOM)
    if not len(df.columns):
        return
    writer = schema = None
    for a in range(0, max(len(df), 1), CSV_ROWS):  # a slice at a time: the text is never converted whole
        table = _csv_table(df.iloc[a:a + CSV_ROWS])
        if writer is None:
            schema = table.schema
            writer = pacsv.CSVWriter(path, schema, write_options=pacsv.WriteOptions(quoting_style="needed"))
        writer.write_table(table.cast(schema))
    writer.close()


#: Rows converted and written at a time by :func:`write_csv`.
CSV_ROWS = 200_000


def _csv_table(df: pd.DataFrame) -> pa.Table:
    """``df`` as the Arrow table :func:`write_csv` writes: neutralised text, missing as empty,
    floats rounded, booleans spelled out."""
    cols = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_bool_dtype(s.dtype):
            cols[c] = pa.array(np.where(s.to_numpy(dtype=bool), "True", "False"), pa.string())
        elif pd.api.types.is_float_dtype(s.dtype):
            cols[c] = pa.array(round_sig(s.to_numpy(dtype=float, na_value=np.nan)), pa.float64(), from_pandas=True)
        elif pd.api.types.is_integer_dtype(s.dtype):
            cols[c] = pa.array(s.to_numpy(), pa.int64())
        else:
            text = neutralise(_strings(s))
            cols[c] = pc.fill_null(text, pa.scalar("", text.type))
    return pa.table(cols)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (pd.Timestamp, np.datetime64)):
        return str(pd.Timestamp(o).date())
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def json_line(record) -> str:
    """One record as a JSONL line (keys in the order given, Chinese unescaped, with the newline)."""
    return json.dumps(record, ensure_ascii=False, default=_json_default) + "\n"


def json_numbers(x: np.ndarray) -> pa.Array:
    """JSON numbers: shortest round-trip text of each float (as ``float.__repr__`` gives, in Arrow's
    spelling, e.g. ``3`` and ``1e-7``: valid JSON that reads back to the same float); NaN is ``null``."""
    x = np.asarray(x, dtype=float)
    text = pc.cast(pa.array(x), pa.string())
    return pc.if_else(pa.array(np.isnan(x)), pa.scalar("null"), text)


def json_strings(values) -> pa.Array:
    """JSON string literals of ``values`` (Chinese kept as is); only the values that need escaping
    (quotes, backslashes, control characters) go through :func:`json.dumps`."""
    arr = pa.array(values, pa.string()) if not isinstance(values, pa.Array) else values.cast(pa.string())
    quoted = pc.binary_join_element_wise('"', arr, '"', "")
    needs = pc.match_substring_regex(arr, r'["\\\x00-\x1f]')
    if not pc.any(needs).as_py():
        return quoted
    escaped = [json.dumps(v, ensure_ascii=False) for v in arr.filter(needs).to_pylist()]
    return pc.replace_with_mask(quoted, needs, pa.array(escaped, pa.string()))


def explanation_lines(ids, probabilities, head: dict, bodies: pa.ChunkedArray) -> pa.ChunkedArray:
    """explanations.jsonl lines for many policies at once: ``{"policy_id": …, "flag": …,
    "probability": …, <head's other members>, <body>}`` with the body from
    :meth:`scoring.explain.Explanations.json_bodies` (same keys and order as :func:`json_line`)."""
    rest = json.dumps({k: v for k, v in head.items() if k != "flag"}, ensure_ascii=False, default=_json_default)[1:-1]
    lines = pc.binary_join_element_wise(
        '{"policy_id": ', json_strings([str(i) for i in ids]), ', "flag": ' + json.dumps(head["flag"], ensure_ascii=False) + ', "probability": ',
        json_numbers(probabilities), ", " + rest + ", ", bodies, "}\n", "")
    return lines


def write_jsonl(records, path: Path, order=None) -> None:
    """One JSON object per line; ``records`` may also be ready lines from :func:`json_line`, or an
    Arrow string array (or chunked array) of such lines, written straight from its buffers —
    in the positions ``order`` gives when given (no reordered copy of the text is made)."""
    if isinstance(records, (pa.Array, pa.ChunkedArray)):
        chunks = [c for c in (records.chunks if isinstance(records, pa.ChunkedArray) else [records])]
        if any(c.null_count for c in chunks):
            raise ValueError("JSONL lines may not be null")
        chunks = [c.cast(pa.large_string()) for c in chunks]
        data = [memoryview(c.buffers()[2]) if len(c) else None for c in chunks]
        offsets = [np.frombuffer(c.buffers()[1], dtype=np.int64)[c.offset: c.offset + len(c) + 1] for c in chunks]
        with open(path, "wb") as f:
            if order is None:
                for d, o in zip(data, offsets):
                    if d is not None:
                        f.write(d[int(o[0]): int(o[-1])])
                return
            order = np.asarray(order, dtype=np.int64)
            starts = np.cumsum([0] + [len(c) for c in chunks])
            which = np.searchsorted(starts, order, side="right") - 1
            local = order - starts[which]
            for k, i in zip(which.tolist(), local.tolist()):
                o = offsets[k]
                f.write(data[k][int(o[i]): int(o[i + 1])])
        return
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in records:
            f.write(r if isinstance(r, str) else json_line(r))


def write_json(obj, path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2, default=_json_default)
        f.write("\n")


#: What marks a directory as one this program wrote, by the file that describes it and a key that
#: file always holds: a run (``score``), a validation, a dataset (``convert``), a model.
MANIFESTS = {"run.json": "tool_version", "validation.json": "tables", "convert.json": "partitioning",
             "metadata.json": "artifact_sha256"}
#: Entries of an earlier result set that a new one keeps, by name: the review database (and the
#: files SQLite keeps beside it), which other commands write into a run directory.
KEPT = ("review.sqlite", "review.sqlite-wal", "review.sqlite-shm")


def is_result_set(path) -> bool:
    """Whether ``path`` is a directory this program wrote: it holds one of :data:`MANIFESTS`."""
    path = Path(path)
    for name, key in MANIFESTS.items():
        f = path / name
        if f.is_file() and not f.is_symlink():
            try:
                doc = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError):
                continue
            if isinstance(doc, dict) and key in doc:
                return True
    return False


def _refuse_foreign(out: Path, option: str) -> None:
    """An existing, non-empty directory that this program did not write is the user's: refused."""
    from .errors import OptionError
    from .messages import render

    if out.is_dir() and not out.is_symlink() and any(out.iterdir()) and not is_result_set(out):
        raise OptionError(*render("out_not_ours", option=option, out=out, manifests=", ".join(MANIFESTS)))


def check_output_dir(out, option: str = "--out") -> None:
    """Refuse, before any work, an output directory that is an existing file, a link, an existing
    directory this program did not write (:func:`is_result_set`), or whose nearest existing parent
    cannot be written."""
    from .errors import OptionError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OptionError(f"{option} {out} 是一个已存在的文件，不是目录；请指定目录",
                          f"{option} {out} is an existing file, not a directory; give a directory")
    _refuse_foreign(out, option)
    parent = out if out.exists() else out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OptionError(f"{option} {out} 无法写入（{parent} 不可写）",
                          f"{option} {out} cannot be written ({parent} is not writable)")


def remove_tree(path) -> None:
    """Remove ``path`` and what it holds without ever leaving its filesystem: a directory that is a
    mount point (another filesystem, or a bind mount of the same one) is left as it is, with its
    parents. Links are removed, never followed. Errors are ignored, as ``shutil.rmtree(...,
    ignore_errors=True)`` does."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except OSError:
        return
    if not os.path.isdir(path) or os.path.islink(path):
        with contextlib.suppress(OSError):
            os.unlink(path)
        return

    def walk(d: str, dev: int) -> None:
        try:
            entries = list(os.scandir(d))
        except OSError:
            return
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    if e.stat(follow_symlinks=False).st_dev != dev or os.path.ismount(e.path):
                        continue  # another filesystem: not ours to clean
                    walk(e.path, dev)
                    os.rmdir(e.path)
                else:
                    os.unlink(e.path)
            except OSError:
                continue

    walk(str(path), st.st_dev)
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _take_mode(tmp: Path, out: Path | None) -> None:
    """Give the new directory the mode and group of the one it replaces (``out``), or, for a new
    one, the mode a plain ``mkdir`` would give (a temporary directory is made 0700)."""
    if out is None:
        os.chmod(tmp, 0o777 & ~_umask())
        return
    st = os.stat(out)
    os.chmod(tmp, st.st_mode & 0o7777)
    with contextlib.suppress(OSError):  # a group the user is not in cannot be given; the mode still is
        os.chown(tmp, -1, st.st_gid)


_TMP, _OLD, _SPILL = "tmp", "old", "spill"


def _sibling(out: Path, kind: str) -> Path:
    """A fresh hidden sibling of ``out`` whose name says whose it is: ``.NAME.KIND-PID-XXXX``."""
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.{kind}-{os.getpid()}-", dir=out.parent))


def scratch_dir(out: Path) -> Path:
    """A fresh hidden directory beside ``out`` for a run's intermediate files
    (:class:`scoring.spill.Spill`); one a killed run leaves is removed by :func:`clean_stale`."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    return _sibling(Path(out), _SPILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(out: Path) -> list[Path]:
    """Remove what killed runs left beside ``out``: temporary result sets and scratch
    directories of processes that no longer exist. A previous result set left aside by a run
    killed mid-swap is put back when ``out`` is missing. Returns the paths removed."""
    import glob

    removed = []
    for p in sorted(out.parent.glob(f".{glob.escape(out.name)}.*-*-*")):
        kind, _, rest = p.name[len(out.name) + 2:].partition("-")
        pid = rest.split("-", 1)[0]
        if kind not in (_TMP, _OLD, _SPILL) or not pid.isdigit() or _alive(int(pid)):
            continue
        if kind == _OLD and not out.exists() and (p / "set").is_dir():
            os.replace(p / "set", out)
        remove_tree(p)
        removed.append(p)
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def _carry_over(out: Path, tmp: Path) -> None:
    """Give the new set the entries of ``out`` kept by name (:data:`KEPT`: the review database), as
    hard links where possible, so that the old set stays whole until the swap. Nothing else of
    the old set survives: a result set holds the new run's files only."""
    for name in KEPT:
        p = out / name
        dest = tmp / name
        if not p.is_file() or p.is_symlink() or dest.exists() or dest.is_symlink():
            continue
        _link_or_copy(p, dest)


def _link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


@contextlib.contextmanager
def atomic_dir(out: Path, option: str = "--out"):
    """Yield a temporary directory beside ``out``; on success it replaces ``out`` as a whole.

    The switch is one rename: a reader sees the old result set or the new one, never a mix.
    Only an earlier result set of this program is replaced (:func:`is_result_set`; anything else
    that is not empty is refused with :class:`~scoring.errors.OptionError`), and the new one takes
    its mode and group. Of the old set only the entries in :data:`KEPT` (the review database) are
    carried over. On an exception the temporary directory is removed and ``out`` is left
    untouched; temporaries of killed runs are removed on the next run (:func:`clean_stale`).
    Removal never crosses into another filesystem (:func:`remove_tree`).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(out)
    _refuse_foreign(out, option)
    tmp = _sibling(out, _TMP)
    try:
        yield tmp
        existed = out.is_dir()
        if existed:
            _carry_over(out, tmp)
        _take_mode(tmp, out if existed else None)
    except BaseException:
        remove_tree(tmp)
        raise
    if not out.exists():
        os.replace(tmp, out)
        return
    if _exchange(tmp, out):  # tmp now holds the old set
        remove_tree(tmp)
        return
    old = _sibling(out, _OLD)  # elsewhere: two renames; between them out is briefly absent, never mixed
    os.replace(out, old / "set")
    os.replace(tmp, out)
    remove_tree(old)
