"""The package layout: modules are imported by their path, and a package's ``__init__.py`` is its
docstring only (what the package holds), so every name has one place and no second list to keep true."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import labelaug_core

PACKAGE_DIR = Path(labelaug_core.__file__).parent
# report/__init__.py is changed the same way by another branch; it is checked here once it holds only
# its docstring, and skipped until then.
PENDING = {"report"}


def _subpackages() -> list[Path]:
    return sorted(p for p in PACKAGE_DIR.rglob("__init__.py") if p.parent != PACKAGE_DIR)


def _docstring_only(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return (len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str))


@pytest.mark.parametrize("init", _subpackages(), ids=lambda p: p.parent.name)
def test_a_package_init_is_its_docstring_only(init):
    if init.parent.name in PENDING and not _docstring_only(init):
        pytest.skip(f"{init.parent.name}/__init__.py: changed to a docstring by another branch")
    assert _docstring_only(init), f"{init} must hold only a docstring (no imports, no definitions)"


def test_the_subpackages_are_found():
    names = {p.parent.name for p in _subpackages()}
    assert {"attacks", "bench", "book", "data", "evaluation", "report", "runs"} <= names
