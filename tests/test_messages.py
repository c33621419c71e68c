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
           "memory.json", "review", "import", "reviewer", "submission", "inspections", "pip", "install", "ancx-scoring", "score", "bootstrap", "n", "Platt", "all",
           "random", "selection", "sample", "confidence", "estimates.csv", "estimate.json", "evidence_index", "insurer", "industry", "prefecture", "strata", "tolerable", "sampling.confidence", "scripts/evidence_index.py", "ROC", "AUC", "MODEL_CARD.md", "p", "tcp", "host", "rejected.csv", "RUN_DIR/review.sqlite", "inspections.csv", "labelled"}  # file names, commands and options a user types, and products


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


def _sentences(path):
    """String literals of a module that read as a Chinese sentence (Chinese with a full-width
    comma, stop, semicolon, colon, exclamation or question mark), docstrings left out."""
    import ast

    cjk = re.compile(r"[\u4e00-\u9fff]")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}  # read with their f-string
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs | parts:
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        else:
            continue
        if len(cjk.findall(text)) >= 2 and re.search(r"[，。；：！？]", text):
            found.append(f"line {node.lineno}: {text[:60]}")
    return found


PACKAGE = __import__("pathlib").Path(__file__).resolve().parents[1] / "scoring"


@pytest.mark.parametrize("path", sorted(p for p in PACKAGE.rglob("*.py") if p.name not in ("messages.py", "schema.py") or p.parent != PACKAGE),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_sentence_a_user_reads_is_in_the_catalogue(path):
    """No module but the catalogue (messages) and the contract (schema) writes a Chinese sentence."""
    assert _sentences(path) == []


def test_the_sentence_test_sees_a_sentence(tmp_path):
    p = tmp_path / "m.py"
    p.write_text('"""文档，不算。"""\nx = "这是一句话，不该写在这里"\ny = f"共 {1} 件，已完成"\nz = "服务缺失"\n', encoding="utf-8")
    assert [s.split(":")[0] for s in _sentences(p)] == ["line 2", "line 3"]
