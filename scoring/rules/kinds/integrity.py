"""Signs of fabrication across records: one person at two enterprises on a day, a photo at two
enterprises, one provider's text at several.
"""
from __future__ import annotations


import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from scoring.arrays import arrow
from scoring.messages import TEMPLATES, zh_text
from scoring.rules.context import Hits, Params, Ref, make_hits, numbers, both, dates, fmt, haversine_km, kind, num, zh
from scoring.rules.exchange import Exchange, hash_strings
from scoring.rules.kinds.services import NoParams


class Overlap(Params):
    """One staff member at two or more enterprises on one day, with more than ``max_hours`` on
    site in all or check-ins more than ``max_km`` apart. Scope: service.
    Example: ``{max_hours: 10, max_km: 80}``."""

    max_hours: float
    max_km: float

    def sentence(self) -> str:
        return zh_text("cond.staff_overlap", hours=num(self.max_hours), km=num(self.max_km))


def _photo_keys(ctx, frame, p) -> tuple[np.ndarray, np.ndarray]:
    lists = pc.split_pattern(arrow(frame["photo_hashes"]), ";")
    parent = pc.list_parent_indices(lists)
    flat = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    keep = pc.not_equal(flat, "")
    return parent.filter(keep).to_numpy(), hash_strings(flat.filter(keep).to_numpy(zero_copy_only=False))


def _staff_day_keys(ctx, frame, p):
    long = ctx.sub.aggregates.staff_long
    i = long["i"].to_numpy()
    days = frame["service_date"].to_numpy().astype("datetime64[D]").astype(np.int64)[i]
    with np.errstate(over="ignore"):
        key = hash_strings(long["staff"].to_numpy(dtype=object)) * np.uint64(0x9E3779B97F4A7C15) + days.astype(np.uint64)
    measures = {"hours": frame["onsite_hours"].to_numpy(dtype=float, na_value=np.nan)[i],
                "lat": numbers(frame, "checkin_lat")[i], "lon": numbers(frame, "checkin_lon")[i]}
    return i, key, measures


def _staff_day_could_fire(summary: pd.DataFrame, p) -> np.ndarray:
    """A staff-day can fire only if its hours (over all its records) exceed ``max_hours`` or its
    check-ins span more than ``max_km`` (the corners of their latitude-longitude box bound any
    two of them; 1% and a metre of slack against rounding)."""
    s = summary
    span = np.fmax(haversine_km(s["lat_min"], s["lon_min"], s["lat_max"], s["lon_max"]),
                   haversine_km(s["lat_min"], s["lon_max"], s["lat_max"], s["lon_min"]))
    with np.errstate(invalid="ignore"):
        return (s["hours_sum"].to_numpy() > p.max_hours - 1e-6) | (np.nan_to_num(np.asarray(span, dtype=float)) * 1.01 + 1e-3 > p.max_km)


def _text_keys(ctx, frame, p) -> tuple[np.ndarray, np.ndarray]:
    idx, norm = _normalized_text(frame, p.column)
    ok = np.asarray(pc.greater_equal(pc.utf8_length(norm), p.min_chars).to_numpy(zero_copy_only=False), dtype=bool)
    rows = idx[ok]
    prov = pc.take(arrow(frame["provider"]), pa.array(rows))
    joined = pc.binary_join_element_wise(prov, norm.filter(pa.array(ok)), "\x1f")
    return rows, hash_strings(joined.to_numpy(zero_copy_only=False))


@kind("staff_overlap", Overlap, ("service",), stricter={"max_hours": "lower", "max_km": "lower"},
      exchange=Exchange(_staff_day_keys, keep=_staff_day_could_fire))


def staff_overlap(ctx, frame, active, p: Overlap) -> Hits:
    long = ctx.sub.aggregates.staff_long
    i = long["i"].to_numpy()
    # staff-days at two or more enterprises, by integer codes: (staff, day) key, then (key, enterprise)
    staff = pc.dictionary_encode(arrow(long["staff"]))
    ent = pc.dictionary_encode(arrow(frame["enterprise_id"]))
    s_code = staff.indices.to_numpy().astype(np.int64)
    e_code = ent.indices.to_numpy().astype(np.int64)[i]
    days = frame["service_date"].to_numpy().astype("datetime64[D]").astype(np.int64)[i]
    key = s_code * (int(days.max() - days.min()) + 1) + (days - days.min())
    pairs = sorted_unique(key * len(ent.dictionary) + e_code) // len(ent.dictionary)
    multi = sorted_unique(pairs[1:][pairs[1:] == pairs[:-1]])
    if not len(multi):
        return make_hits(np.zeros(len(frame), bool), "", "")
    sel = np.flatnonzero(np.isin(key, multi))
    rows = i[sel]
    cand = pd.DataFrame({"i": rows, "staff": pc.take(staff.dictionary, pa.array(s_code[sel])).to_pandas(),
                         "date": days[sel].astype("datetime64[D]"),
                         "ent": pc.take(ent.dictionary, pa.array(e_code[sel])).to_pandas()})
    cand = cand.sort_values(["i", "staff"], kind="stable").reset_index(drop=True)
    rows = cand["i"].to_numpy()
    cand["hours"] = frame["onsite_hours"].to_numpy(dtype=float, na_value=np.nan)[rows]
    cand["lat"] = numbers(frame, "checkin_lat")[rows]
    cand["lon"] = numbers(frame, "checkin_lon")[rows]
    gc = cand.groupby(["staff", "date"], sort=False)
    cand["sum_hours"] = gc["hours"].transform("sum").to_numpy()
    # farthest pair of check-ins within the staff-day (pairs within each small group)
    pts = cand.dropna(subset=["lat", "lon"])[["staff", "date", "lat", "lon", "ent"]]
    pairs = pts.merge(pts, on=["staff", "date"], suffixes=("", "_b"))
    pairs = pairs[pairs["ent"] != pairs["ent_b"]]
    pairs["km"] = haversine_km(pairs["lat"], pairs["lon"], pairs["lat_b"], pairs["lon_b"])
    far = pairs.groupby(["staff", "date"])["km"].max().rename("max_km")
    cand = cand.join(far, on=["staff", "date"])
    cand["max_km"] = cand["max_km"].fillna(0.0)
    bad = cand[(cand["sum_hours"] > p.max_hours) | (cand["max_km"] > p.max_km)]
    bad = bad.assign(n=bad.groupby(["staff", "date"])["ent"].transform("nunique"))
    bad = bad.sort_values(["i", "staff"]).drop_duplicates("i")
    fire = np.zeros(len(frame), dtype=bool)
    fire[bad["i"].to_numpy()] = True
    fire &= active
    obs = np.empty(len(frame), dtype=object)
    exp = np.empty(len(frame), dtype=object)
    at = bad["i"].to_numpy()
    zh, en = both("staff_overlap", staff=bad["staff"].astype(str).to_numpy(), date=dates(bad["date"].to_numpy()),
                  n=bad["n"].astype(str).to_numpy(), hours=fmt(bad["sum_hours"]), km=fmt(bad["max_km"].round(1)))
    obs_en = np.empty(len(frame), dtype=object)
    obs[at], obs_en[at] = zh, en
    limit = {"hours": fmt([p.max_hours])[0], "km": fmt([p.max_km])[0]}
    exp[at] = TEMPLATES["staff_overlap_limit"][0].format(**limit)
    exp_en = np.empty(len(frame), dtype=object)
    exp_en[at] = TEMPLATES["staff_overlap_limit"][1].format(**limit)
    return make_hits(fire, obs, exp, obs_en, exp_en)

_MIX = np.uint64(0x100000001B3)


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` by sorting (numpy's hash-based unique is several times slower on millions of ints)."""
    s = np.sort(values)
    return s[np.concatenate([[True], s[1:] != s[:-1]])] if len(s) else s


def duplicate_mask(values: pa.Array) -> np.ndarray:
    """Rows whose exact (non-empty) string occurs more than once.

    Hash tables over millions of distinct random strings are slow here, so strings are grouped
    by byte length and read as fixed-width rows of 64-bit words mixed into one key. Keys that
    occur twice are found by a sort of the keys alone; only the rows holding such a key are
    then compared word for word with their sorted neighbour: exact, with no per-row Python.
    """
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    values = values.cast(pa.string())
    if values.null_count:
        values = pc.fill_null(values, "")
    lens = np.asarray(pc.binary_length(values).to_numpy(zero_copy_only=False))
    out = np.zeros(len(values), dtype=bool)
    for L in np.unique(lens):
        if L == 0:
            continue
        idx = np.flatnonzero(lens == L)
        if len(idx) < 2:
            continue
        part = values if len(idx) == len(values) else values.take(pa.array(idx))
        offsets = np.frombuffer(part.buffers()[1], dtype=np.int32)[part.offset: part.offset + len(part) + 1]
        data = np.frombuffer(part.buffers()[2], dtype=np.uint8)[offsets[0]: offsets[-1]].reshape(len(idx), int(L))
        pad = (-int(L)) % 8
        if pad:
            data = np.concatenate([data, np.zeros((len(idx), pad), np.uint8)], axis=1)
        words = np.ascontiguousarray(data).view(np.uint64)
        key = words[:, 0].copy()
        with np.errstate(over="ignore"):
            for j in range(1, words.shape[1]):
                key = key * _MIX ^ words[:, j]
        sk = np.sort(key)
        twice = sorted_unique(sk[1:][sk[1:] == sk[:-1]])
        if not len(twice):
            continue
        pos = np.minimum(np.searchsorted(twice, key), len(twice) - 1)  # few keys: cache-friendly
        cand = np.flatnonzero(twice[pos] == key)
        ck, cw = key[cand], words[cand]
        order = np.lexsort([*cw.T[::-1], ck]) if cw.shape[1] > 1 else np.argsort(ck, kind="stable")
        w = cw[order]
        same = (w[1:] == w[:-1]).all(axis=1)
        hit = np.zeros(len(cand), dtype=bool)
        hit[1:] |= same
        hit[:-1] |= same
        out[idx[cand[order[hit]]]] = True
    return out


@kind("shared_photo", NoParams, ("service",), background=True, exchange=Exchange(_photo_keys))
def shared_photo(ctx, frame, active, p: NoParams) -> Hits:
    """The same photo hash on service records of two or more enterprises. Scope: service."""
    lists = pc.split_pattern(arrow(frame["photo_hashes"]), ";")
    parent = pc.list_parent_indices(lists)
    flat = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    keep = pc.not_equal(flat, "")
    flat, parent = flat.filter(keep), parent.filter(keep)
    # only hashes seen more than once can be shared; count their enterprises (on the strings)
    again = pa.array(duplicate_mask(flat))
    cand = pd.DataFrame({"h": flat.filter(again).to_numpy(zero_copy_only=False), "i": parent.filter(again).to_numpy()})
    fire = np.zeros(len(frame), dtype=bool)
    obs = np.empty(len(frame), dtype=object)
    if len(cand):
        cand["e"] = pc.take(arrow(frame["enterprise_id"]), pa.array(cand["i"].to_numpy())).to_pandas()
        cand = cand[cand.groupby("h")["e"].transform("nunique").to_numpy() >= 2]
        fire[cand["i"].to_numpy()] = True
        first = cand.groupby("i")["h"].first()
        obs[first.index.to_numpy()] = first.to_numpy()
    zh, en = TEMPLATES["photo_own"]
    return make_hits(fire & active, obs, zh, expected_en=en)

_SLICE = 250_000


class DuplicateText(Params):
    """The same text (digits, spaces, punctuation and the enterprise's own name removed; at least
    ``min_chars`` characters) in ``column`` from one provider for ``min_enterprises`` or more
    enterprises. Scope: service.
    Example: ``{column: report_summary, min_chars: 30, min_enterprises: 3}``."""

    column: str
    min_chars: int
    min_enterprises: int

    def refs(self):
        yield Ref("column", self.column, ("text",))

    def sentence(self) -> str:
        return f"同一服务主体的{zh(self.column)}（至少 {self.min_chars} 字）在 {self.min_enterprises} 家及以上企业雷同"


def _normalized_text(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, pa.Array]:
    """The rows with a ``column`` text, and each text with its enterprise's own name, digits,
    spaces, punctuation and symbols removed."""
    text = arrow(frame[column], large_ok=True)
    has = np.asarray(pc.is_valid(text).to_numpy(zero_copy_only=False), dtype=bool)
    idx = np.flatnonzero(has)
    texts = text.filter(pa.array(has))
    names = pc.take(arrow(frame["enterprise_name"], large_ok=True), pa.array(idx))
    # the enterprise's own name is cut from its text (Python str.replace), in slices so that
    # millions of texts never sit in memory as Python objects all at once
    parts = []
    for a in range(0, len(texts), _SLICE):
        raw = texts.slice(a, _SLICE).to_numpy(zero_copy_only=False)
        nm = names.slice(a, _SLICE).to_numpy(zero_copy_only=False)
        stripped = pa.array([t.replace(n, "") if n else t for t, n in zip(raw, nm)], pa.string())
        parts.append(pc.replace_substring_regex(stripped, r"[\d\s\p{P}\p{S}]+", ""))
    norm = pa.concat_arrays(parts) if parts else pa.array([], pa.string())
    return idx, norm


@kind("duplicate_text", DuplicateText, ("service",), stricter={"min_chars": "lower", "min_enterprises": "lower"},
      background=True, exchange=Exchange(_text_keys, lambda p: p.min_enterprises))


def duplicate_text(ctx, frame, active, p: DuplicateText) -> Hits:
    idx, norm = _normalized_text(frame, p.column)
    ok = np.asarray(pc.greater_equal(pc.utf8_length(norm), p.min_chars).to_numpy(zero_copy_only=False), dtype=bool)
    again = duplicate_mask(pc.if_else(pa.array(ok), norm, pa.scalar("", pa.string())))
    fire = np.zeros(len(frame), dtype=bool)
    obs = np.empty(len(frame), dtype=object)
    if again.any():
        rows = idx[again]
        take = pa.array(rows)
        t = pd.DataFrame({"i": rows, "norm": norm.filter(pa.array(again)).to_pandas(),
                          "prov": pc.take(arrow(frame["provider"]), take).to_pandas(),
                          "ent": pc.take(arrow(frame["enterprise_id"]), take).to_pandas()})
        t["n"] = t.groupby(["prov", "norm"], sort=False)["ent"].transform("nunique")
        bad = t[t["n"] >= p.min_enterprises]
        fire[bad["i"].to_numpy()] = True
        obs[bad["i"].to_numpy()] = bad["n"].astype(str).to_numpy()
    zh, en = (t.format(n=p.min_enterprises) for t in TEMPLATES["fewer_enterprises"])
    return make_hits(fire & active, obs, zh, expected_en=en)
