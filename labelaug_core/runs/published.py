"""Published results: the small files of a plan's runs, committed so that a book can read them
without retraining (``labelaug publish``).

:func:`publish` trains or finds every run of a plan (:func:`~labelaug_core.runs.training.ensure_run`),
runs the strong ensemble (:func:`~labelaug_core.runs.strong.strong_evaluation`) on the first
``strong_subset`` test images of every run (Adv+ on its first K logits and on all K + M), and
copies into ``<out_dir>/<run_id>/``:

- the run's own files (:data:`~labelaug_core.runs.store.RUN_FILES`: config, env, history,
  per-class table, per-example predictions, metrics) — never the checkpoint;
- ``strong-classes.npz`` / ``.json`` and, for Adv+, ``strong-all.npz`` / ``.json``: the ensemble's
  per-example masks (:class:`~labelaug_core.evaluation.ladder.StrongEval`).

``<out_dir>/manifest.json`` is written last (then the run folders of an earlier publication that
the plan no longer lists are removed): the plan, the command that made the files, its wall
time, the CPU or GPU, the commit, and the run ids in plan order. :func:`load_published` reads the
files back by name (not by cache key), so a published result stays readable when the code that
made it changes; the manifest says which commit made it.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from labelaug_core.cache import write_json_atomic
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.ladder import StrongEval
from labelaug_core.runs.store import RUN_FILES, Run, cpu_model, git_commit, load_run

MANIFEST = "manifest.json"


@dataclass
class Published:
    """Published runs read back: ``manifest`` (see the module docstring), ``runs`` in plan order,
    ``strong[run_id]``: ``{"classes": StrongEval}`` (+ ``"all"`` for Adv+)."""

    out_dir: Path
    manifest: dict
    runs: list[Run]
    strong: dict[str, dict[str, StrongEval]]

    def select(self, method: str, init_from: str = "") -> list[Run]:
        """The runs of ``method`` trained from scratch (``init_from=""``) or fine-tuned from Std
        (``"std"``), sorted by seed."""
        chosen = [r for r in self.runs if r.config.method == method and r.config.init_from == init_from]
        return sorted(chosen, key=lambda r: r.config.seed)


def publish(plan, out_dir: Path | str, *, strong_subset: int, runs_dir: Path | str = "runs",
            data_dir: str | None = None, device: str | None = None, progress: bool = True,
            command: str = "", **strong_options) -> Path:
    """Make (or find) every run of ``plan`` and its strong evaluations, and copy the small files
    to ``out_dir`` (see the module docstring). ``strong_options``: further arguments of
    :func:`~labelaug_core.runs.strong.strong_evaluation` (default: the full ensemble). Returns the
    manifest's path."""
    from labelaug_core.runs.strong import strong_evaluation
    from labelaug_core.runs.training import ensure_run

    if strong_subset < 1:
        raise ConfigError(f"strong_subset must be >= 1 (test images attacked by the ensemble); got {strong_subset}")
    for name in ("apgd_steps", "n_target_classes", "pgd_restarts"):
        if name in strong_options and strong_options[name] < 1:
            raise ConfigError(f"{name} must be >= 1; got {strong_options[name]}")
    out_dir = Path(out_dir)
    started = time.perf_counter()
    run_ids = []
    for i, config in enumerate(plan.runs, 1):
        if progress:
            print(f"publish {plan.profile}: run {i}/{len(plan.runs)} {config.run_id}", flush=True)
        run = load_run(ensure_run(config, runs_dir, data_dir=data_dir, device=device, progress=progress))
        target = out_dir / run.run_id
        target.mkdir(parents=True, exist_ok=True)
        for name in RUN_FILES[:-1]:  # metrics.json last: its presence marks a complete copy
            shutil.copyfile(run.run_dir / name, target / name)
        for logits in ("classes", "all") if run.config.method == "advplus" else ("classes",):
            strong = strong_evaluation(run, n=strong_subset, logits=logits, data_dir=data_dir, device=device,
                                       **strong_options)
            strong.save(target / f"strong-{logits}.npz")
        shutil.copyfile(run.run_dir / "metrics.json", target / "metrics.json")
        run_ids.append(run.run_id)
    manifest = {"profile": plan.profile, "description": plan.description, "seeds": plan.seeds,
                "strong_subset": strong_subset, "strong_options": strong_options, "command": command,
                "wall_time_s": round(time.perf_counter() - started, 1), "device": device or "auto",
                "cpu": cpu_model(), "git_commit": git_commit(), "runs": run_ids}
    write_json_atomic(out_dir / MANIFEST, manifest)
    for stale in out_dir.iterdir():  # runs of an earlier publication that this plan no longer has
        if stale.is_dir() and stale.name not in run_ids and (stale / "config.json").is_file():
            shutil.rmtree(stale)
    return out_dir / MANIFEST


def load_published(out_dir: Path | str) -> Published:
    """Read what :func:`publish` wrote to ``out_dir``; a ConfigError saying how to make it if absent."""
    out_dir = Path(out_dir)
    if not (out_dir / MANIFEST).is_file():
        raise ConfigError(f"published results: {out_dir / MANIFEST} is missing; make them with "
                          "'labelaug publish --profile verdict'")
    manifest = json.loads((out_dir / MANIFEST).read_text())
    runs, strong = [], {}
    for run_id in manifest["runs"]:
        run = load_run(out_dir / run_id)
        runs.append(run)
        found = {p.stem.removeprefix("strong-"): StrongEval.load(p) for p in sorted((out_dir / run_id).glob("strong-*.npz"))}
        if "classes" not in found:
            raise ConfigError(f"published results: {out_dir / run_id} lacks strong-classes.npz (rerun labelaug publish)")
        strong[run_id] = found
    return Published(out_dir, manifest, runs, strong)
