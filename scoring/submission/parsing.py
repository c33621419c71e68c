"""Vectorised parsers from submission text to typed values.

Every parser takes an Arrow string array (already trimmed, empty = null) and returns
``(values, bad)``: typed values (a NumPy array, or an Arrow string array for codes) and a boolean mask of cells that held
text but could not be parsed. Nulls are never ``bad``; intake decides whether a null is
allowed. Arrow compute does the work, so no Python loop runs over rows.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scoring.arrays import bool_mask
from scoring.schema import INVISIBLE

TRUE = ["true", "1", "是", "y", "yes", "t", "1.0"]
FALSE = ["false", "0", "否", "n", "no", "f", "0.0"]

_NUMBER = r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d*)?([eE][+-]?\d+)?$|^[+-]?\.\d+([eE][+-]?\d+)?$"
_INT = r"^[+-]?\d+(\.0*)?$"
_DATE = r"^(?P<y>\d{4})[-/年](?P<m>\d{1,2})[-/月](?P<d>\d{1,2})日?(?:[ T]00:00(?::00(?:\.0+)?)?)?$"
#: One way of writing a date throughout: 2025-12-31, 2025/12/31 or 2025年12月31日, never a mix.
_ONE_FORM = r"^\d{4}(?:-\d{1,2}-\d{1,2}|/\d{1,2}/\d{1,2}|年\d{1,2}月\d{1,2}日?)(?:[ T]|$)"


def clean_text(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Trim whitespace; empty strings become null."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.utf8_trim_whitespace(arr.cast(pa.string()))
    return pc.if_else(pc.equal(pc.binary_length(arr), 0), pa.scalar(None, pa.string()), arr)


def normalise_ids(arr: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Identifiers as they are meant: NFKC-normalised (full-width ``Ｐ００１`` is ``P001``) with every
    character that shows nothing removed (:data:`scoring.schema.INVISIBLE`: controls, zero-width and
    format characters, spaces, blank letters), so that ``P1`` and ``P1`` followed by a zero-width
    space or a Hangul filler are the same id. Returns the values and the cells that changed. Visible
    ASCII, which NFKC leaves as it is, costs one scan."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.string())
    other = pc.match_substring_regex(arr, r"[^\x21-\x7e]")
    if not pc.any(other).as_py():
        return arr, np.zeros(len(arr), dtype=bool)
    out = pc.replace_substring_regex(pc.utf8_normalize(arr, "NFKC"), INVISIBLE, "")
    changed = bool_mask(pc.fill_null(pc.not_equal(out, arr), False))
    return out, changed


def try_fast(kind: str, arr: pa.ChunkedArray | pa.Array) -> np.ndarray | None:
    """Typed values when every present cell is already in canonical form, else None.

    The common case (a machine-written file) then costs one Arrow cast and no cleaning.
    """
    if kind not in ("int", "money", "float", "date"):
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if kind == "int":
        fast = _fast_cast(arr, pa.int64())
        return None if fast is None else np.asarray(pc.cast(fast, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    if kind in ("money", "float"):
        fast = _fast_cast(arr, pa.float64())
        if fast is None:
            return None
        values = np.asarray(fast.to_numpy(zero_copy_only=False), dtype=np.float64)
        present = bool_mask(pc.is_valid(arr))
        return values if np.isfinite(values[present]).all() else None
    if kind == "date":
        # Arrow's strict cast accepts only real calendar dates written YYYY-MM-DD
        fast = _fast_cast(arr, pa.date32())
        return None if fast is None else fast.to_numpy(zero_copy_only=False).astype("datetime64[s]")
    return None


def _bad(arr: pa.Array, ok: pa.Array) -> np.ndarray:
    present = pc.is_valid(arr)
    return np.asarray(pc.and_(present, pc.invert(pc.fill_null(ok, False))).to_numpy(zero_copy_only=False), dtype=bool)


def _fast_cast(arr: pa.Array, to: pa.DataType):
    """Arrow's strict cast, or None when any cell does not cast (then the slow path explains which)."""
    try:
        return pc.cast(arr, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def parse_float(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decimal numbers, with optional thousands separators (``1,234.50``): values (NaN where bad),
    bad cells, and of those the ones written as a number too large to hold (``1e999``)."""
    none = np.zeros(len(arr), dtype=bool)
    fast = _fast_cast(arr, pa.float64())
    if fast is not None:
        values = np.asarray(fast.to_numpy(zero_copy_only=False), dtype=np.float64)
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(values) | np.isnan(values) & ~bool_mask(pc.is_valid(arr))
        if finite.all():
            return values, none, none
    ok = pc.match_substring_regex(arr, _NUMBER)
    cleaned = pc.replace_substring(pc.if_else(ok, arr, pa.scalar(None, pa.string())), ",", "")
    values = np.asarray(pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    too_big = bool_mask(pc.fill_null(ok, False)) & np.isinf(values)
    bad = _bad(arr, ok) | too_big
    return np.where(bad, np.nan, values), bad, too_big


#: Whole numbers at or beyond this (2**63) cannot be held and are rejected, not wrapped round.
INT_LIMIT = 2.0 ** 63


def parse_int(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole numbers; ``3.0`` (as Excel writes) is accepted. Nulls become NaN (float array). Returns
    values, bad cells, and of those the ones at or beyond :data:`INT_LIMIT`."""
    fast = _fast_cast(arr, pa.int64())
    if fast is not None:
        none = np.zeros(len(arr), dtype=bool)
        return np.asarray(pc.cast(fast, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64), none, none
    ok = pc.match_substring_regex(arr, _INT)
    cleaned = pc.replace_substring_regex(pc.if_else(ok, arr, pa.scalar(None, pa.string())), r"\.0*$", "")
    values = np.asarray(pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    with np.errstate(invalid="ignore"):
        too_big = bool_mask(pc.fill_null(ok, False)) & ~(np.abs(values) < INT_LIMIT)  # would wrap round in 64 bits
    bad = _bad(arr, ok) | too_big
    return np.where(bad, np.nan, values), bad, too_big


def parse_date(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Dates ``YYYY-MM-DD``, ``YYYY/MM/DD`` or ``YYYY年MM月DD日`` to ``datetime64[s]``.

    Impossible calendar dates (2023-02-30) are bad: the parsed date must give back the
    same year, month and day. ISO dates take a fast path; only the rest meets the regex.
    """
    ts = pc.strptime(arr, format="%Y-%m-%d", unit="s", error_is_null=True)
    back = pc.cast(pc.cast(ts, pa.date32()), pa.string())
    iso_ok = pc.fill_null(pc.equal(back, arr), False)
    if pc.all(pc.or_(iso_ok, pc.is_null(arr))).as_py() is not False:
        return ts.to_numpy(zero_copy_only=False).astype("datetime64[s]"), np.zeros(len(arr), dtype=bool)
    slow_values, slow_bad = _parse_date_slow(arr)
    fast_values = ts.to_numpy(zero_copy_only=False).astype("datetime64[s]")
    iso = bool_mask(iso_ok)
    return np.where(iso, fast_values, slow_values), np.where(iso, False, slow_bad)


def parse_day(text: str | None):
    """One date written as the data writes dates (:func:`parse_date`: ``YYYY-MM-DD``,
    ``YYYY/MM/DD``, ``YYYY年MM月DD日``), as a ``datetime.date``; None when it is not one. Every date
    a user types (``--as-of``, an order's date) is read by this, so that what the data accepts
    the command line accepts, and nothing else (``20211231`` is not a date here)."""
    if text is None:
        return None
    values, bad = parse_date(clean_text(pa.array([str(text)], pa.string())))
    if bad[0] or np.isnat(values[0]):
        return None
    return values[0].astype("datetime64[D]").item()


def _parse_date_slow(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    parts = pc.extract_regex(arr, _DATE)
    y = pc.cast(pc.struct_field(parts, "y"), pa.int32())
    m = pc.cast(pc.struct_field(parts, "m"), pa.int32())
    d = pc.cast(pc.struct_field(parts, "d"), pa.int32())
    iso = pc.binary_join_element_wise(
        pc.struct_field(parts, "y"),
        pc.utf8_lpad(pc.struct_field(parts, "m"), 2, "0"),
        pc.utf8_lpad(pc.struct_field(parts, "d"), 2, "0"),
        "-",
    )
    ts = pc.strptime(iso, format="%Y-%m-%d", unit="s", error_is_null=True)
    ok = pc.and_(pc.and_(pc.equal(pc.year(ts), y), pc.equal(pc.month(ts), m)), pc.equal(pc.day(ts), d))
    ok = pc.and_(ok, pc.match_substring_regex(arr, _ONE_FORM))
    ts = pc.if_else(pc.fill_null(ok, False), ts, pa.scalar(None, ts.type))
    values = ts.to_numpy(zero_copy_only=False).astype("datetime64[s]")
    return values, _bad(arr, ok)


def parse_bool(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Booleans from true/false, 1/0, 是/否, Y/N (case-insensitive). Nulls become False."""
    low = pc.utf8_lower(arr)
    is_true = pc.is_in(low, value_set=pa.array(TRUE))
    is_false = pc.is_in(low, value_set=pa.array(FALSE))
    ok = pc.or_(is_true, is_false)
    return np.asarray(is_true.to_numpy(zero_copy_only=False), dtype=bool), _bad(arr, ok)


def parse_enum(arr: pa.Array, values: dict[str, str]) -> tuple[pa.Array, np.ndarray]:
    """Enum codes, accepting the canonical code (case-insensitive) or its Chinese label."""
    codes = list(values)
    spellings = [c.lower() for c in codes] + list(values.values())
    target = codes + codes
    idx = pc.index_in(pc.utf8_lower(arr), value_set=pa.array(spellings))
    out = pc.take(pa.array(target, pa.string()), idx)
    return out, _bad(arr, pc.is_valid(idx))


def parse_region(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Six-digit GB/T 2260 codes whose first two digits name a province-level division."""
    provinces = "11|12|13|14|15|21|22|23|31|32|33|34|35|36|37|41|42|43|44|45|46|50|51|52|53|54|61|62|63|64|65|71|81|82"
    ok = pc.match_substring_regex(arr, rf"^({provinces})\d{{4}}$")
    return arr, _bad(arr, ok)
