"""Progress of ``labelaug book``: the plan-level steps and, beneath them, the executing chapter's cells.

On a terminal (stderr is a TTY) both are tqdm bars: the plan's steps (runs, chapters, the HTML
build) and, beneath it, the running chapter's code cells done of cells total with the first
line of the running cell. Elsewhere (a log file, a pipe, CI) each step and each cell start is
one printed line, ``book: 09_classwise_robustness: cell 4/12: strong = map_runs(...)``, so that
a slow chapter can be told from a hung one in any log.

The cell hooks are nbclient's ``on_cell_execute`` (just before a code cell runs) and
``on_cell_executed`` (just after), which papermill passes through to its notebook client.
"""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from tqdm.auto import tqdm

FIRST_LINE_CHARS = 60  # of the running cell's first line, shown beside the bar


def interactive(stream: TextIO | None = None) -> bool:
    """Whether bars can be drawn: ``stream`` (default: stderr, where tqdm draws) is a terminal."""
    stream = sys.stderr if stream is None else stream
    return bool(getattr(stream, "isatty", lambda: False)())


def first_line(source: str, width: int = FIRST_LINE_CHARS) -> str:
    """The first non-blank, non-comment line of a cell's source, cut to ``width`` characters."""
    lines = [line.strip() for line in source.splitlines()]
    code = [line for line in lines if line and not line.startswith("#")] or [line for line in lines if line] or [""]
    line = code[0]
    return line if len(line) <= width else line[: width - 3] + "..."


def executable_cells(cells: list[dict[str, Any]]) -> int:
    """Code cells that nbclient executes: code cells with a non-blank source."""
    return sum(1 for cell in cells if cell["cell_type"] == "code" and "".join(cell["source"]).strip())


class PlanProgress:
    """The plan-level steps of a build: a bar on a terminal, one line per step elsewhere."""

    def __init__(self, total: int, label: str, *, enabled: bool = True, bars: bool | None = None,
                 file: TextIO | None = None):
        self.enabled = enabled
        self.bars = interactive() if bars is None else bars
        self.file = file
        self.total, self.label, self.done = total, label, 0
        self.bar = tqdm(total=total, desc=label, unit="step", dynamic_ncols=True, file=file,
                        disable=not (enabled and self.bars))

    def step(self, what: str) -> None:
        """A step starts (``what``: "run 2/9 <run_id>", "chapter 3/12 NAME", ...)."""
        if self.bars:
            self.bar.set_postfix_str(what)
        elif self.enabled:
            print(f"book: step {self.done + 1}/{self.total}: {what}", file=self.file or sys.stdout, flush=True)

    def done_step(self) -> None:
        self.done += 1
        self.bar.update()

    def write(self, message: str) -> None:
        """A message that does not break the bars."""
        if self.enabled:
            if self.bars:
                self.bar.write(message, file=self.file)
            else:
                print(message, file=self.file or sys.stdout, flush=True)

    def close(self) -> None:
        self.bar.close()

    def chapter(self, name: str, total_cells: int) -> CellProgress:
        """The progress of chapter ``name``, beneath this bar (see :class:`CellProgress`)."""
        return CellProgress(name, total_cells, enabled=self.enabled, bars=self.bars, file=self.file)


class CellProgress:
    """Cells done of ``total`` of one executing chapter, with the running cell's first line.

    ``hooks()`` gives the nbclient hooks to pass to ``papermill.execute_notebook``.
    """

    def __init__(self, name: str, total: int, *, enabled: bool = True, bars: bool | None = None,
                 file: TextIO | None = None):
        self.name, self.total, self.done = name, total, 0
        self.enabled = enabled
        self.bars = interactive() if bars is None else bars
        self.file = file
        self.started = time.perf_counter()
        self.bar = tqdm(total=total, desc=f"  {name}", unit="cell", position=1, leave=False, dynamic_ncols=True,
                        file=file, disable=not (enabled and self.bars))

    def on_cell_execute(self, cell, cell_index: int) -> None:
        line = first_line(cell.source)
        if self.bars:
            self.bar.set_postfix_str(line)
        elif self.enabled:
            print(f"book: {self.name}: cell {self.done + 1}/{self.total}: {line}", file=self.file or sys.stdout,
                  flush=True)

    def on_cell_executed(self, cell, cell_index: int, execute_reply=None) -> None:
        self.done += 1
        self.bar.update()

    def hooks(self) -> dict[str, Any]:
        return {"on_cell_execute": self.on_cell_execute, "on_cell_executed": self.on_cell_executed}

    def close(self) -> None:
        """Remove the bar; off a terminal, say how many cells ran in how long (if any ran)."""
        self.bar.close()
        if self.enabled and not self.bars and self.done:
            print(f"book: {self.name}: {self.done}/{self.total} cells in {time.perf_counter() - self.started:.0f} s",
                  file=self.file or sys.stdout, flush=True)
