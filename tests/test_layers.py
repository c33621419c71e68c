"""The package's layers, in the order data flows: each imports only from those below it, never a
private name of another module, and only the engines know Dask."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "scoring"
#: Layers, lowest first. A module's layer is its folder, or for a top-level module its name.
LAYERS = [
    {"errors", "messages", "schema", "regions", "arrays", "files", "writers", "heap", "spill"},  # foundation
    {"submission"},
    {"rules"},
    {"model"},
    {"engines"},
    {"outputs", "sampling"},
    {"jobs"},
    {"cli", "__main__", "review", "__init__"},
]


def layer_of(module: str) -> int:
    """``scoring.rules.kinds.market`` -> the index of ``rules`` in :data:`LAYERS`."""
    parts = module.split(".")
    head = parts[1] if len(parts) > 1 else "__init__"
    for i, names in enumerate(LAYERS):
        if head in names:
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        yield name, path


def imports(name: str, path: Path):
    """(imported module, imported names, line) of every import in the file, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, [a.name for a in node.names], node.lineno


ALL = list(modules())


@pytest.mark.parametrize("name, path", ALL, ids=[n for n, _ in ALL])
def test_imports_point_down_and_reach_no_private_name(name, path):
    own = layer_of(name)
    bad = []
    for target, names, line in imports(name, path):
        if not target.startswith("scoring"):
            continue
        targets = [target] + [f"{target}.{n}" for n in names if (PACKAGE.parent / f"{target}.{n}".replace(".", "/")).with_suffix(".py").exists()
                              or (PACKAGE.parent / f"{target}.{n}".replace(".", "/") / "__init__.py").exists()]
        for t in targets:
            if t != "scoring" and layer_of(t) > own:
                bad.append(f"line {line}: {t} is above {name}")
        if target != name and any(n.startswith("_") and not n.startswith("__") for n in names):
            bad.append(f"line {line}: private name from {target}: {[n for n in names if n.startswith('_')]}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name, path", ALL, ids=[n for n, _ in ALL])
def test_only_the_engines_import_dask(name, path):
    if name.startswith("scoring.engines"):
        return
    found = [f"line {line}: {t}" for t, _, line in imports(name, path)
             if t.split(".")[0] in ("dask", "distributed") or t == "scoring.engines.dask"]
    assert not found, found


def test_the_layers_name_every_folder_and_top_level_module():
    known = set().union(*LAYERS)
    here = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert here - known - {"data", "templates", "_champion"} == set()


#: Modules whose cases live in another module's test file (the test reaches them through it).
COVERED_BY = {
    "scoring.arrays": "outputs/test_ranking.py",
    "scoring.cli": "test_jobs.py",
    "scoring.engines.base": "engines/test_dask.py",
    "scoring.errors": "test_public.py",
    "scoring.schema": "submission/test_intake.py",
    "scoring.model.card": "model/test_estimator.py",
    "scoring.model.explain": "model/test_estimator.py",
    "scoring.model.features": "model/test_estimator.py",
    "scoring.model.labels": "model/test_estimator.py",
    "scoring.outputs.insurers": "test_jobs.py",
    "scoring.outputs.notices": "model/test_shift.py",
    "scoring.outputs.plots": "test_jobs.py",
    "scoring.outputs.report": "test_jobs.py",
    "scoring.review.exchange": "review/test_app.py",
    "scoring.review.run": "review/test_app.py",
    "scoring.review.store": "review/test_app.py",
    "scoring.rules.apply": "rules/test_book.py",
    "scoring.rules.background": "rules/test_book.py",
    "scoring.rules.context": "rules/test_kinds.py",
    "scoring.rules.exchange": "engines/test_dask.py",
    "scoring.rules.run": "rules/test_checks.py",
    "scoring.submission.aggregates": "rules/test_checks.py",
    "scoring.submission.asof": "test_jobs.py",
    "scoring.submission.convert": "submission/test_dataset.py",
    "scoring.submission.csvfile": "submission/test_intake.py",
    "scoring.submission.folder": "submission/test_intake.py",
    "scoring.submission.raw": "submission/test_intake.py",
    "scoring.submission.workbook": "submission/test_intake.py",
}
#: Test files about the whole rather than one module.
WHOLE = {"test_layers.py", "test_public.py", "test_install.py", "test_synth.py", "rules/test_checks.py",
         "rules/test_findings_text.py"}
TESTS = PACKAGE.parent / "tests"


def _own_test(name: str) -> str:
    """``scoring.rules.book`` -> ``rules/test_book.py``; a check kind's family -> ``rules/test_kinds.py``."""
    parts = name.split(".")[1:]
    if parts[:2] == ["rules", "kinds"]:
        return "rules/test_kinds.py"
    return "/".join(parts[:-1] + [f"test_{parts[-1]}.py"])


def test_tests_mirror_the_modules():
    """Every module has its own test file at the mirrored path, or names (in COVERED_BY) the file
    that holds its cases; every test file belongs to a module or to the whole."""
    names = [n for n, p in ALL if p.name not in ("__init__.py", "__main__.py")]
    missing = [n for n in names if not (TESTS / _own_test(n)).exists() and n not in COVERED_BY]
    assert not missing, f"no test file: {missing}"
    stale = [n for n in COVERED_BY if (TESTS / _own_test(n)).exists() or n not in names]
    assert not stale, f"has its own test file now, or is gone: {stale}"
    assert all((TESTS / f).exists() for f in COVERED_BY.values())
    files = {str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py")}
    orphans = files - {_own_test(n) for n in names} - WHOLE
    assert not orphans, f"test files of no module: {sorted(orphans)}"
