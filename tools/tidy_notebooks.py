"""Mechanical tidying of the chapter notebooks (idempotent; run after editing notebooks/).

    python tools/tidy_notebooks.py [notebooks/NAME.ipynb ...]   # default: every notebooks/*.ipynb

- Plumbing collapsed: the ``parameters`` cell and every code cell that only assigns and calls no
  attack, loss or evaluation get Jupyter Book's ``hide-input`` tag (a toggle shows the code); a
  cell whose only output is ``display(Markdown(...))`` gets ``remove-input`` (the page shows the
  generated prose, not the code that formats it). Cells that teach stay shown: those that end in
  an expression (a figure, a table) or call an attack, a loss or an evaluation, and every cell
  that imports what later cells use (in every chapter alike, a function never appears from
  nowhere); a prose cell may import only what it uses itself.
- Every cell has an ``id`` (nbformat 4.5; a cell added by hand without one gets a stable id
  derived from the notebook's name and the cell's position).
- Comments fit the code box (:data:`WIDTH` characters): a long comment is wrapped, and a long
  trailing comment moves onto its own lines above its code line (``ruff format --line-length 88``
  formats the code itself).
- No doubled section numbers: the toc numbers the sections ("10.1."), so a heading's own number
  ("## 1. Error under ...") is removed.

Each notebook is read right before it is written (other editors may have changed other cells);
only tags and heading lines change.
"""
from __future__ import annotations

import ast
import io
import json
import re
import sys
import textwrap
import tokenize
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
HIDE, REMOVE = "hide-input", "remove-input"
# A call whose name contains one of these teaches (an attack, a loss, an evaluation): stays shown.
TEACHING_CALLS = ("pgd", "fgsm", "apgd", "attack", "square", "loss", "evaluat", "ensemble")
WIDTH = 88  # characters per code line (ruff's line length)
NUMBERED_HEADING = re.compile(r"^(#{1,6}\s+)\d+(?:\.\d+)*\.?\s+(?=\S)")


def _calls(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            names.append(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def _is_markdown_display(node: ast.stmt) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "id", "") == "display"
            and all(isinstance(a, ast.Call) and getattr(a.func, "id", "") == "Markdown" for a in node.value.args))


def cell_tag(source: str, tags: list[str]) -> str | None:
    """The tag a code cell should carry (``hide-input``, ``remove-input``) or None (shown)."""
    if "parameters" in tags:
        return HIDE
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    body = tree.body
    if not body:
        return None
    plumbing = (ast.Import, ast.ImportFrom, ast.Assign, ast.AugAssign, ast.AnnAssign)
    if any(name and any(word in name.lower() for word in TEACHING_CALLS) for name in _calls(tree)):
        return None
    imports = [node for node in body if isinstance(node, (ast.Import, ast.ImportFrom))]
    imported = {(alias.asname or alias.name).split(".")[0] for node in imports for alias in node.names}
    used_here = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    if imported - used_here:
        return None  # imports for later cells: shown, so that the reader sees where functions come from
    if all(isinstance(node, plumbing) for node in body):
        return None if imports else HIDE
    if any(_is_markdown_display(node) for node in body) and all(
            isinstance(node, plumbing) or _is_markdown_display(node) for node in body):
        return REMOVE
    return None


def wrap_comments(source: str, width: int = WIDTH) -> str:
    """``source`` with every comment line longer than ``width`` wrapped (trailing ones moved above)."""
    try:
        comments = {tok.start[0]: tok for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                    if tok.type == tokenize.COMMENT}
    except (tokenize.TokenError, SyntaxError):
        return source
    out = []
    for number, line in enumerate(source.split("\n"), 1):
        tok = comments.get(number)
        if len(line) <= width or tok is None:
            out.append(line)
            continue
        code = line[:tok.start[1]].rstrip()
        indent = line[:len(line) - len(line.lstrip())]
        text = tok.string.lstrip("#").strip()
        wrapped = textwrap.wrap(text, width - len(indent) - 2, break_long_words=False, break_on_hyphens=False)
        out += [f"{indent}# {part}" for part in wrapped]
        if code:
            out.append(code)
    return "\n".join(out)


def tidy_cells(cells: list[dict], stem: str = "cell") -> bool:
    """Tag, renumber and id ``cells`` in place; returns whether anything changed."""
    changed = False
    taken = {cell["id"] for cell in cells if "id" in cell}
    for index, cell in enumerate(cells):
        if "id" not in cell:
            candidate, n = f"{stem[:2]}-c{index:02d}", 0
            while candidate in taken:
                n += 1
                candidate = f"{stem[:2]}-c{index:02d}-{n}"
            cell["id"] = candidate
            taken.add(candidate)
            changed = True
        source = "".join(cell["source"])
        if cell["cell_type"] == "code":
            wrapped = wrap_comments(source)
            if wrapped != source:
                cell["source"] = wrapped.splitlines(keepends=True)
                source, changed = wrapped, True
            tags = cell.setdefault("metadata", {}).get("tags", [])
            wanted = cell_tag(source, tags)
            new = [t for t in tags if t not in (HIDE, REMOVE)] + ([wanted] if wanted else [])
            if new != tags:
                if new:
                    cell["metadata"]["tags"] = new
                else:
                    cell["metadata"].pop("tags", None)
                changed = True
        elif cell["cell_type"] == "markdown":
            fixed = "\n".join(NUMBERED_HEADING.sub(r"\1", line) for line in source.split("\n"))
            if fixed != source:
                cell["source"] = fixed.splitlines(keepends=True)
                changed = True
    return changed


def tidy(path: Path) -> bool:
    """Tidy one notebook file; returns whether it was rewritten."""
    nb = json.loads(path.read_text())  # read right before writing
    if not tidy_cells(nb["cells"], path.stem):
        return False
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return True


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        print(f"{path}: {'tidied' if tidy(path) else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
