"""The shape of labelaug_core.report: plain modules by study that only arrange what runs/ and
evaluation/ compute (no torch, no model, no attack, no training), and thin notebooks that import
from at most two of them."""
from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "labelaug_core" / "report"
FORBIDDEN = ("torch", "labelaug_core.models", "labelaug_core.attacks", "labelaug_core.train")
MODEL_LOADERS = {"load_model", "load_state_dict", "first_models"}
MODULES = sorted(REPORT.rglob("*.py"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _imports(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(REPORT)))
def test_a_report_module_neither_imports_torch_nor_models_attacks_or_training(path):
    tree = ast.parse(path.read_text())
    bad = [n for n in _imports(tree) if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)]
    assert not bad, f"{path.name} imports {bad}: what evaluates belongs in runs/ or evaluation/"
    loads = [n for n in _imports(tree) if n.rsplit(".", 1)[-1] in MODEL_LOADERS]
    calls = [node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))]
    assert not loads and not set(calls) & MODEL_LOADERS, f"{path.name} loads a model ({loads or calls})"


def test_the_report_package_re_exports_nothing():
    for init in REPORT.rglob("__init__.py"):
        tree = ast.parse(init.read_text())
        assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr), f"{init}: a docstring only"


def test_report_modules_keep_to_one_concern_each_in_at_most_400_lines():
    long = {p.name: n for p in MODULES if (n := len(p.read_text().splitlines())) > 400}
    assert not long


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_imports_from_at_most_two_report_modules(path):
    modules = set()
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("labelaug_core.report"):
                modules.add(node.module)
            elif isinstance(node, ast.Import):
                modules |= {a.name for a in node.names if a.name.startswith("labelaug_core.report")}
    # labelaug_core.report.widgets is how every figure reaches a page (show, the sliders), in every
    # chapter alike: not one of the studies counted here.
    modules.discard("labelaug_core.report.widgets")
    assert len(modules) <= 2, f"{path.name} imports from {sorted(modules)}"


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_a_captioned_figure_cell_shows_one_figure_and_nothing_else(path):
    """myst-nb gives a captioned cell's label to each of its outputs, so a cell with a numbered
    caption must produce one output: the figure (two outputs broke the ImageNet book's build with
    "Duplicate explicit target name")."""
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and "figure" in cell.metadata.get("mystnb", {}):
            calls = [line for line in cell.source.splitlines() if not line.lstrip().startswith(("#", "if "))]
            shows = sum(line.count("show(") for line in calls)
            others = [line for line in calls if "display(" in line or "print(" in line]
            assert shows == 1 and not others, f"{path.stem}: a captioned cell must only show(one figure):\n{cell.source}"
