"""Region names for GB/T 2260 codes, for the places a person reads.

``data/regions.csv`` lists every province-level division (two-digit prefix + ``0000``) and a
set of prefecture-level cities (four-digit prefix + ``00``): each province's capital and the
cities in the shipped sample. Names follow the code table of the Ministry of Civil Affairs
(民政部《中华人民共和国县以上行政区划代码》, which maintains GB/T 2260). A code whose
prefecture is not listed is named by its province; add rows to the file to name more.
"""
from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources

#: The four province-level municipalities: every prefecture code under them is the city itself.
MUNICIPALITIES = ("11", "12", "31", "50")


@lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    text = resources.files("scoring").joinpath("data/regions.csv").read_text("utf-8")
    return {row["code"]: row["name"] for row in csv.DictReader(text.splitlines())}


def province_name(code: str) -> str:
    """The province-level division of a region code ("32…" -> 江苏省); the code itself if unknown."""
    code = str(code)
    return _table().get(code[:2] + "0000", code)


def region_name(code: str) -> str:
    """The prefecture-level city's name where listed ("苏州市"), a municipality's name ("北京市"),
    otherwise the province's name with the code ("江苏省（320900）")."""
    code = str(code)
    table = _table()
    if code[:2] in MUNICIPALITIES:
        return table.get(code[:2] + "0000", code)
    city = table.get(code[:4] + "00")
    if city:
        return city
    province = table.get(code[:2] + "0000")
    return f"{province}（{code}）" if province else code
