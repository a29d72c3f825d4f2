"""The chapters' parameter defaults are the default profile's (idempotent; run after editing
experiments/fashion-mnist-cpu.yaml or a ``parameters`` cell).

    python tools/notebook_defaults.py [--check]      # then: python tools/tidy_notebooks.py

A chapter opened by hand (Jupyter, after ``make book``) runs with its ``parameters`` cell's
defaults, so they are what ``make book`` passes it: the default plan's ``settings`` (one dict),
``seeds``, the chapter's own ``notebooks:`` entry (:func:`labelaug_core.book.plan.notebook_parameters`)
and the paths as seen from ``notebooks/`` (where Jupyter starts a notebook's kernel): ``runs_dir =
"../runs"``, ``results_dir = "../benchmarks/results"``, ... (``make book`` passes them absolute). Only the assignments of those names change,
each read right before it is written; a trailing comment of a replaced assignment is kept.
``--check`` changes nothing and exits 1 naming every notebook whose defaults differ.
"""
from __future__ import annotations

import ast
import io
import json
import re
import sys
import tokenize
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PROFILE = "fashion-mnist-cpu"  # the Makefile's PROFILE: what `make book` builds
RUNS_DIR = Path("..") / "runs"  # `make book`'s runs, from notebooks/ (the kernel's folder when opened by hand)
COMMAND = "python tools/notebook_defaults.py && python tools/tidy_notebooks.py"

# The sentence of the parameters cells' comment that says whose defaults these are.
_WHOSE = re.compile(r"the\s+(?:#\s*)?defaults\s+(?:#\s*)?here\s+(?:#\s*)?are\s+(?:#\s*)?the\s+(?:#\s*)?smoke\s+(?:#\s*)?"
                    r"profile's,\s+(?:#\s*)?so\s+(?:#\s*)?that\s+(?:#\s*)?this\s+(?:#\s*)?notebook\s+(?:#\s*)?runs\s+"
                    r"(?:#\s*)?by\s+(?:#\s*)?hand\s+(?:#\s*)?after\s+(?:#\s*)?`labelaug\s+(?:#\s*)?book\s+(?:#\s*)?"
                    r"--profile\s+(?:#\s*)?smoke`\.")
WHOSE = ("the defaults here are the default profile's (experiments/fashion-mnist-cpu.yaml, written by "
         "tools/notebook_defaults.py), so that this notebook runs by hand after `make book`.")


def plan_defaults(profile: str = DEFAULT_PROFILE, root: Path = REPO) -> dict[str, dict[str, Any]]:
    """Chapter -> the parameters that ``profile``'s plan passes it, paths relative to ``notebooks/``."""
    import papermill

    from labelaug_core.book.plan import load_plan, notebook_parameters

    plan = load_plan(profile, root)
    out = {}
    for name in plan.chapters:
        declared = set(papermill.inspect_notebook(str(root / "notebooks" / f"{name}.ipynb")))
        out[name] = notebook_parameters(plan, name, declared, RUNS_DIR, None)
    return out


def literal(value: Any, indent: str = "") -> str:
    """``value`` as Python source in the notebooks' style (double quotes; a dict one key a line)."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = "".join(f'{indent}    {json.dumps(k)}: {literal(v, indent + "    ")},\n' for k, v in value.items())
        return "{\n" + inner + indent + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v, indent) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)  # numbers, True/False, None


def _comments(lines: list[str]) -> list[str]:
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline))
    except (tokenize.TokenError, SyntaxError):
        return []
    return [tok.string.lstrip("#").strip() for tok in tokens if tok.type == tokenize.COMMENT]


def rewrite_defaults(source: str, wanted: dict[str, Any]) -> str:
    """``source`` (a parameters cell) with the top-level assignments of ``wanted``'s names set to
    its values (other lines untouched; a replaced assignment's comments kept after it)."""
    tree = ast.parse(source)
    lines = source.split("\n")
    for node in sorted(tree.body, key=lambda n: n.lineno, reverse=True):  # bottom up: line numbers stay valid
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        if name not in wanted:
            continue
        try:
            if ast.literal_eval(node.value) == wanted[name] and type(ast.literal_eval(node.value)) is type(wanted[name]):
                continue  # already right: keep its formatting
        except ValueError:
            pass
        old = lines[node.lineno - 1:node.end_lineno]
        comments = _comments(old)
        new = f"{name} = {literal(wanted[name])}" + (f"  # {' '.join(comments)}" if comments else "")
        lines[node.lineno - 1:node.end_lineno] = new.split("\n")
    text = "\n".join(lines)
    return _WHOSE.sub(WHOSE, text)


def cell_defaults(source: str) -> dict[str, Any]:
    """The literal top-level assignments of a parameters cell."""
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return out


def differences(profile: str = DEFAULT_PROFILE, root: Path = REPO) -> list[str]:
    """One line per notebook parameter whose default is not what ``profile``'s plan passes."""
    out = []
    for name, wanted in plan_defaults(profile, root).items():
        nb = json.loads((root / "notebooks" / f"{name}.ipynb").read_text())
        cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        defaults = cell_defaults("".join(cells[0]["source"])) if cells else {}
        for key, value in wanted.items():
            if key not in defaults or defaults[key] != value or type(defaults[key]) is not type(value):
                out.append(f"notebooks/{name}.ipynb: {key} = {defaults.get(key, '(missing)')!r}, "
                           f"experiments/{profile}.yaml passes {value!r}")
    return out


def write_defaults(profile: str = DEFAULT_PROFILE, root: Path = REPO) -> list[str]:
    """Rewrite every chapter's parameters cell from ``profile``'s plan; returns the notebooks changed."""
    changed = []
    for name, wanted in plan_defaults(profile, root).items():
        path = root / "notebooks" / f"{name}.ipynb"
        nb = json.loads(path.read_text())  # read right before writing (others may edit other cells)
        for cell in nb["cells"]:
            if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
                source = "".join(cell["source"])
                new = rewrite_defaults(source, wanted)
                if new != source:
                    cell["source"] = new.splitlines(keepends=True)
                    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
                    changed.append(str(path.relative_to(root)))
                break
    return changed


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(REPO))
    if "--check" in argv:
        wrong = differences()
        print("\n".join(wrong) or "every notebook's defaults are the default profile's")
        return 1 if wrong else 0
    for path in write_defaults():
        print(f"{path}: defaults rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
