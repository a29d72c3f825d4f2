"""Turn typed chapter numbers in the book's Markdown into MyST cross-references.

"chapter 10" becomes {numref}`chapter %s <ch-trustworthy-evaluation>`, which Sphinx renders as
"chapter 10", linked, with the number the chapter has now: a typed number goes stale when chapters
move. The labels are the chapters' own, ``ch-<notebook name without its number>``, written before
each chapter's title. Idempotent: a role has no digit after "chapter".

    python tools/cite_chapters.py notebooks/01_adversarial_examples.ipynb book/glossary.md ...
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"\b([Cc]hapter)s? (\d+)((?:,? (?:and|or) \d+|, \d+)*)\b")


def chapter_labels(root: Path = REPO) -> dict[int, str]:
    """Chapter number -> label, from the notebooks' names (01_adversarial_examples -> 1, ch-adversarial-examples)."""
    return {int(p.stem[:2]): "ch-" + re.sub(r"^\d+_", "", p.stem).replace("_", "-")
            for p in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))}


def cite(text: str, labels: dict[int, str]) -> str:
    """``text`` with every "chapter N" (and "chapters N and M") replaced by {numref} roles."""
    def one(word: str, number: int) -> str:
        return f"{{numref}}`{word} %s <{labels[number]}>`"

    def replace(match: re.Match) -> str:
        word, numbers = match.group(1), [int(n) for n in re.findall(r"\d+", match.group(2) + match.group(3))]
        if any(n not in labels for n in numbers):
            return match.group(0)
        if len(numbers) == 1:
            return one(word, numbers[0])
        rest = [f"{{numref}}`%s <{labels[n]}>`" for n in numbers[1:]]
        joiner = " or " if " or " in match.group(3) else " and "
        head = f"{{numref}}`{word}s %s <{labels[numbers[0]]}>`"
        return head + (", ".join([""] + rest[:-1]) if len(rest) > 1 else "") + joiner + rest[-1]

    # Leave code alone: inline code and fenced blocks, but not MyST directives (```{glossary} ...),
    # whose body is Markdown.
    parts = re.split(r"(```(?!\{).*?```|`[^`\n]*`)", text, flags=re.S)
    return "".join(p if i % 2 else NUMBER.sub(replace, p) for i, p in enumerate(parts))


def main(paths: list[str]) -> None:
    labels = chapter_labels()
    for name in paths:
        path = Path(name)
        if path.suffix == ".ipynb":
            nb = nbformat.read(path, as_version=4)
            for cell in nb.cells:
                if cell.cell_type == "markdown":
                    cell.source = cite(cell.source, labels)
            nbformat.write(nb, path)
        else:
            path.write_text(cite(path.read_text(), labels))


if __name__ == "__main__":
    main(sys.argv[1:])
