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
    {"outputs"},
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
