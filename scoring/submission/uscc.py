"""Unified social credit code (统一社会信用代码, GB 32100-2015).

Eighteen characters from a 31-symbol alphabet (digits and capitals without I, O, S, V, Z);
the last is a check character computed from the first 17 with weights 3^i mod 31.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_LOOKUP = np.full(256, -1, dtype=np.int64)
for _i, _ch in enumerate(ALPHABET):
    _LOOKUP[ord(_ch)] = _i


def check_char(body17: str) -> str:
    """Return the check character for the first 17 characters ``body17``."""
    vals = np.array([ALPHABET.index(c) for c in body17], dtype=np.int64)
    return ALPHABET[(31 - int(vals @ WEIGHTS) % 31) % 31]


def valid(codes) -> np.ndarray:
    """Vectorised validity of codes (an Arrow string array or a sequence; null counts as invalid)."""
    n = len(codes)
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    arr = codes if isinstance(codes, pa.Array) else pa.array(codes, pa.string(), from_pandas=True)
    lengths = np.asarray(pc.fill_null(pc.utf8_length(arr), 0).to_numpy(zero_copy_only=False))
    # Non-ASCII characters become "?" (not in the alphabet, so invalid); longer codes fail on length.
    enc = np.char.encode(np.asarray(pc.fill_null(arr, "").to_numpy(zero_copy_only=False), dtype="U18"), "ascii", errors="replace")
    b = np.frombuffer(np.asarray(enc, dtype="S18").tobytes(), dtype=np.uint8).reshape(n, 18)
    vals = _LOOKUP[b]
    ok = (lengths == 18) & (vals >= 0).all(axis=1)
    expect = (31 - (vals[:, :17] @ WEIGHTS) % 31) % 31
    out = ok & (expect == vals[:, 17])
    return out


def generate(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random valid codes (registration authority 9 = 工商, type 1 = 企业)."""
    body = rng.integers(0, 31, size=(n, 17))
    body[:, 0] = ALPHABET.index("9")
    body[:, 1] = 1
    body[:, 2:8] = rng.integers(0, 10, size=(n, 6))  # region part is numeric
    check = (31 - (body @ WEIGHTS) % 31) % 31
    full = np.concatenate([body, check[:, None]], axis=1)
    ascii_codes = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)[full]
    return np.ascontiguousarray(ascii_codes).view("S18").ravel().astype("U18").astype(object)
