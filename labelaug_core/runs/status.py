"""``labelaug status``: for a plan, what is cached, what is stale and why.

Every derived artifact carries its key (settings and ``{module: code digest}``, see
:mod:`labelaug_core.cache`): a run in ``key.json``, a cached study in its ``.key.json`` sidecar,
an executed chapter in its ``.stamp.json``. An artifact is stale when the code it recorded has
changed since; it is then recomputed under a new key by the next ``labelaug book`` and the stale
file is left in place, so nothing is deleted by hand (and nothing is lost if the change is undone).
"""
from __future__ import annotations

import json
from pathlib import Path

from labelaug_core.cache import changed_modules, stale_sidecars
from labelaug_core.runs.store import is_finished


def _short(modules: list[str]) -> str:
    return ", ".join(m.removeprefix("labelaug_core.") for m in modules)


def run_status(plan, runs_dir: Path | str, device: str | None = None) -> list[dict]:
    """One row per run of ``plan`` (``status``: finished | missing) and per other run directory
    in ``runs_dir`` (``status``: stale, with the modules whose code changed, or not in this plan)."""
    runs_dir = Path(runs_dir)
    rows, expected = [], set()
    for config in plan.runs:
        run_id = config.run_id_for(device)
        expected.add(run_id)
        done = is_finished(config, runs_dir)
        rows.append({"kind": "run", "name": run_id, "status": "finished" if done else "missing", "why": ""})
    for run_dir in sorted(p for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []:
        if run_dir.name in expected:
            continue
        try:
            recorded = json.loads((run_dir / "key.json").read_text()).get("code", {})
        except (OSError, json.JSONDecodeError):
            rows.append({"kind": "run", "name": run_dir.name, "status": "stale", "why": "made before run keys"})
            continue
        changed = changed_modules(recorded)
        rows.append({"kind": "run", "name": run_dir.name, "status": "stale" if changed else "not in this plan",
                     "why": f"code changed: {_short(changed)}" if changed else "other settings"})
    return rows


def study_status(runs_dir: Path | str, run_ids: set[str]) -> list[dict]:
    """The stale cached studies (``evals/``, corruption tables) of the runs ``run_ids``."""
    rows = []
    for run_id in sorted(run_ids):
        run_dir = Path(runs_dir) / run_id
        if not run_dir.is_dir():
            continue
        for sidecar, changed in stale_sidecars(run_dir):
            rows.append({"kind": "study", "name": f"{run_id}/{sidecar.relative_to(run_dir)}".removesuffix(".key.json"),
                         "status": "stale", "why": f"code changed: {_short(changed)}"})
    return rows


def chapter_status(book_dir: Path | str, chapters: list[str]) -> list[dict]:
    """One row per chapter: executed (its recorded code unchanged), stale (and why), or not executed."""
    rows = []
    for name in chapters:
        stamp = Path(book_dir) / f"{name}.stamp.json"
        if not stamp.is_file():
            rows.append({"kind": "chapter", "name": name, "status": "not executed", "why": ""})
            continue
        changed = changed_modules(json.loads(stamp.read_text()).get("code", {}))
        rows.append({"kind": "chapter", "name": name, "status": "stale" if changed else "executed",
                     "why": f"code changed: {_short(changed)}" if changed else ""})
    return rows


def plan_status(plan, runs_dir: Path | str = "runs", book_dir: Path | str = "book",
                device: str | None = None) -> list[dict]:
    """Runs, their stale studies and the chapters of ``plan``: rows of kind, name, status, why.

    A chapter whose parameters or runs changed is re-executed too; this lists code changes only."""
    runs = run_status(plan, runs_dir, device)
    finished = {r["name"] for r in runs if r["status"] == "finished"}
    return runs + study_status(runs_dir, finished) + chapter_status(book_dir, plan.chapters)
