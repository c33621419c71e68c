"""The message catalogue: every entry in Chinese and English, the same fields, no untranslated
English in the Chinese line (codes, abbreviations and units excepted)."""
import re
import string

import pytest

from scoring.messages import TEMPLATES

#: Latin words a Chinese line may carry: values the user types or reads as such, and units.
ALLOWED = {"true/false", "Y/N", "agency", "z", "xlsx", "MiB", "UTF-", "YYYY-MM-DD", "YYYY/MM/DD", "GB/T", "Parquet", "open",
           "run.json", "report.html", "scoring", "train", "retrain", "convert", "convert.json", "sha", "Excel",
           "token", "port", "out", "KiB", "engine", "local", "dask", "Dask", "scheduler", "workers", "capacity",
           "true", "false", "latest", "earliest", "Brier", "registry.json", "rollback", "metadata.json", "artifact_sha",
           "memory.json", "review", "import", "reviewer", "submission", "inspections", "pip", "install", "ancx-scoring", "score"}  # file names, commands and options a user types, and products


def _fields(text: str) -> set:
    """Placeholders, a language's own variant (``what_zh`` / ``what_en``) counted as one."""
    return {re.sub(r"_(zh|en)$", "", f) for _, f, _, _ in string.Formatter().parse(text) if f is not None}


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_entry_has_both_languages_with_the_same_fields(key):
    zh, en = TEMPLATES[key]
    assert zh.strip() and en.strip()
    assert re.search(r"[\u4e00-\u9fff]", zh), "the Chinese line holds no Chinese"
    # the English line may quote Chinese input forms (是/否, YYYY年MM月DD日), never Chinese prose
    assert not re.search(r"[\u4e00-\u9fff]{4,}", en), "the English line holds Chinese prose"
    assert _fields(zh) == _fields(en)


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_chinese_line_has_no_untranslated_english(key):
    words = re.findall(r"[A-Za-z][A-Za-z/_.-]*", re.sub(r"\{[^}]*\}", "", TEMPLATES[key][0]))
    stray = [w for w in words if w not in ALLOWED and not w.isupper()]
    assert not stray, stray


def test_every_check_kind_has_a_line_in_both_languages():
    from scoring.rules.kinds import KINDS

    assert {k for k in TEMPLATES if k.startswith("kind:")} == {f"kind:{k}" for k in KINDS}
