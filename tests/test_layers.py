"""The package's shape: imports point one way (each layer imports only the layers below it, nothing forms a
cycle), and no module grows past 400 lines.

Every import counts, including those inside functions (imported late to keep start-up fast): a late
import upward is still a dependency upward. README's Layout section draws the same picture.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fec"

# Bottom to top. A unit is a subpackage (fec.data) or a top-level module (fec.verify).
LAYERS = [
    ("foundations", {"fec", "fec.errors", "fec.io", "fec.vocabulary", "fec.hardware", "fec.preprocessing",
                     "fec.artifacts"}),
    ("face detection", {"fec.detect"}),
    ("data and models", {"fec.data", "fec.models"}),
    ("the metric", {"fec.metrics"}),
    ("scoring", {"fec.losses", "fec.evaluate"}),
    ("training and export", {"fec.train", "fec.export"}),
    ("runtimes", {"fec.runtimes"}),
    ("verification, benchmarks, serving", {"fec.verify", "fec.bench", "fec.triton"}),
    ("embedding pictures and photos", {"fec.embedding"}),
    ("deployment", {"fec.deploy"}),
    ("command line", {"fec.cli"}),
]
LAYER_OF = {unit: index for index, (_, units) in enumerate(LAYERS) for unit in units}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def imported_modules(path: Path) -> set[str]:
    """Every fec module `path` imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
    return {name for name in found if name == "fec" or name.startswith("fec.")}


def unit_imports() -> dict[str, dict[str, list[str]]]:
    """unit -> {imported unit -> [the modules that import it]}, across units only."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        for target in imported_modules(path):
            if unit_of(target) != unit_of(source):
                graph.setdefault(unit_of(source), {}).setdefault(unit_of(target), []).append(source)
    return graph


def test_every_unit_has_a_layer():
    units = {unit_of(module_name(path)) for path in PACKAGE.rglob("*.py")}
    assert sorted(units - set(LAYER_OF)) == []


def test_imports_point_down_the_layers():
    wrong = [f"{importer} imports {target}, but {LAYERS[LAYER_OF[unit]][0]} may only import the layers below it"
             for unit, targets in unit_imports().items() for target, importers in targets.items()
             for importer in importers
             if LAYER_OF[target] > LAYER_OF[unit] or (LAYER_OF[target] == LAYER_OF[unit] and LAYER_OF[unit] > 0)]
    assert wrong == []


def test_no_import_cycle_between_units():
    graph = {unit: set(targets) for unit, targets in unit_imports().items()}
    done: set[str] = set()

    def visit(unit: str, trail: list[str]) -> None:
        if unit in trail:
            pytest.fail("import cycle: " + " -> ".join(trail[trail.index(unit):] + [unit]))
        if unit in done:
            return
        for target in sorted(graph.get(unit, ())):
            visit(target, trail + [unit])
        done.add(unit)

    for unit in sorted(graph):
        visit(unit, [])


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The rule can fail: a data module that imports the trainer is reported."""
    fake = tmp_path / "fec"
    (fake / "data").mkdir(parents=True)
    (fake / "train").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "data" / "__init__.py").write_text("")
    (fake / "data" / "loader.py").write_text("def load():\n    from fec.train.trainer import Trainer\n")
    (fake / "train" / "__init__.py").write_text("from fec.data import loader\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert unit_imports() == {"fec.data": {"fec.train": ["fec.data.loader"]}, "fec.train": {"fec.data": ["fec.train"]}}
    with pytest.raises(AssertionError, match="fec.data.loader imports fec.train"):
        test_imports_point_down_the_layers()
    with pytest.raises(pytest.fail.Exception, match=r"import cycle: fec.data -> fec.train -> fec.data"):
        test_no_import_cycle_between_units()


MAX_MODULE_LINES = 400


def test_no_module_over_400_lines():
    """A module that outgrows this does more than one job: split it (as fec/data/download/ was)."""
    sizes = {str(path.relative_to(PACKAGE.parent)): len(path.read_text(encoding="utf-8").splitlines())
             for path in PACKAGE.rglob("*.py")}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}
