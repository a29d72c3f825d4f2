"""Published results: the small files of a plan's runs, committed so that a book can read them
without retraining (``labelaug publish``).

:func:`publish` trains or finds every run of a plan (:func:`~labelaug_core.runs.training.ensure_run`),
runs the strong ensemble (:func:`~labelaug_core.runs.strong.strong_evaluation`) on the first
``strong_subset`` test images of every run (Adv+ on its first K logits and on all K + M), and
copies into ``<out_dir>/<run_id>/``:

- the run's own files (:data:`~labelaug_core.runs.store.RUN_FILES`: config, env, history,
  per-class table, per-example predictions, metrics) — never the checkpoint;
- ``strong-classes.npz`` / ``.json`` and, for Adv+, ``strong-all.npz`` / ``.json``: the ensemble's
  per-example masks (:class:`~labelaug_core.evaluation.ladder.StrongEval`);
- ``paper-style.csv``: paper-style PGD-40 on the first ``paper_style_subset`` test images, per example
  (:mod:`labelaug_core.runs.paper_style`).

A plan with ``confirm:`` is a screen followed by a confirmation on fresh seeds
(:mod:`labelaug_core.runs.screen`): the ensemble then attacks the confirmation's runs only.

``<out_dir>/manifest.json`` is written last (then the run folders that the previous manifest
listed and the plan no longer has are removed; publish never deletes anything it did not write,
and refuses an ``out_dir`` inside the runs directory): the plan, the command that made the files,
its wall time, the CPU or GPU, the commit, the run ids in plan order and, for a screened plan,
``screen`` (its run ids) and ``confirm`` (seeds, the rule in words, the chosen run and its control,
the confirmation's run ids). :func:`load_published` reads the
files back by name (not by cache key), so a published result stays readable when the code that
made it changes; the manifest says which commit made it.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from labelaug_core.cache import write_json_atomic, write_text_atomic
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.ladder import StrongEval
from labelaug_core.runs.store import EVAL_FILES, TRAIN_FILES, Run, cpu_model, git_commit, load_run

MANIFEST = "manifest.json"
PAPER_STYLE_FILE = "paper-style.csv"


@dataclass
class Published:
    """Published runs read back: ``manifest`` (see the module docstring), ``runs`` in plan order,
    ``strong[run_id]``: ``{"classes": StrongEval}`` (+ ``"all"`` for Adv+)."""

    out_dir: Path
    manifest: dict
    runs: list[Run]
    strong: dict[str, dict[str, StrongEval]]
    paper_style: dict[str, pd.DataFrame] = field(default_factory=dict)

    def by_id(self, run_id: str) -> Run:
        return next(r for r in self.runs if r.run_id == run_id)

    def stage(self, name: str) -> list[Run]:
        """The runs of a screened plan's ``"screen"`` or ``"confirm"`` stage, in plan order."""
        ids = self.manifest["screen"] if name == "screen" else self.manifest["confirm"]["runs"]
        return [self.by_id(run_id) for run_id in ids]

    def select(self, method: str, init_from: str = "") -> list[Run]:
        """The runs of ``method`` trained from scratch (``init_from=""``) or fine-tuned from Std
        (``"std"``), sorted by seed."""
        chosen = [r for r in self.runs if r.config.method == method and r.config.init_from == init_from]
        return sorted(chosen, key=lambda r: r.config.seed)


def _publish_run(config, out_dir: Path, *, strong_subset: int, paper_style_subset: int, runs_dir, data_dir,
                 device, progress: bool, strong_options: dict) -> str:
    """Make (or find) one run and its studies, and copy its small files to ``out_dir/<run_id>/``."""
    from labelaug_core.runs.paper_style import paper_style_evaluation
    from labelaug_core.runs.strong import strong_evaluation
    from labelaug_core.runs.training import ensure_run

    run = load_run(ensure_run(config, runs_dir, data_dir=data_dir, device=device, progress=progress), config)
    target = out_dir / run.run_id
    target.mkdir(parents=True, exist_ok=True)
    for name in TRAIN_FILES:
        shutil.copyfile(run.run_dir / name, target / name)
    for name in EVAL_FILES[:-1]:  # metrics.json last: its presence marks a complete copy
        shutil.copyfile(run.eval_dir / name, target / name)
    if strong_subset:
        for logits in ("classes", "all") if run.config.method == "advplus" else ("classes",):
            strong = strong_evaluation(run, n=strong_subset, logits=logits, data_dir=data_dir, device=device,
                                       **strong_options)
            strong.save(target / f"strong-{logits}.npz")
    if paper_style_subset:
        frame = paper_style_evaluation(run, n=paper_style_subset, data_dir=data_dir, device=device)
        write_text_atomic(target / PAPER_STYLE_FILE, frame.to_csv(index=False))
    shutil.copyfile(run.eval_dir / "metrics.json", target / "metrics.json")
    return run.run_id


def check_out_dir(out_dir: Path | str, runs_dir: Path | str) -> None:
    """``out`` must not be, or lie inside, the runs directory (publish deletes what it published before)."""
    out, runs = Path(out_dir).resolve(), Path(runs_dir).resolve()
    if out == runs or runs in out.parents:
        raise ConfigError(f"out must be a folder outside the runs directory {runs_dir}; got {out_dir}")


def check_options(plan, strong_subset: int, paper_style_subset: int, strong_options: dict) -> None:
    """The options of :func:`publish`, checked before anything runs: subsets >= 0 (0: none), the
    ensemble's ``apgd_steps``/``n_target_classes``/``pgd_restarts`` >= 1, and a plan with runs."""
    if strong_subset < 0:
        raise ConfigError(f"strong_subset must be >= 0 (test images attacked by the ensemble; 0: none); got {strong_subset}")
    if paper_style_subset < 0:
        raise ConfigError(f"paper_style_subset must be >= 0 (test images of paper-style PGD-40; 0: none); got "
                          f"{paper_style_subset}")
    for name in ("apgd_steps", "n_target_classes", "pgd_restarts"):
        if name in strong_options and strong_options[name] < 1:
            raise ConfigError(f"{name} must be >= 1; got {strong_options[name]}")
    if not plan.runs:
        raise ConfigError(f"{plan.source or plan.profile}: runs: the plan lists no runs; nothing to publish")


def publish(plan, out_dir: Path | str, *, strong_subset: int, paper_style_subset: int = 0,
            runs_dir: Path | str = "runs", data_dir: str | None = None, device: str | None = None,
            progress: bool = True, command: str = "", **strong_options) -> Path:
    """Make (or find) every run of ``plan`` and its studies, and copy the small files to ``out_dir``
    (see the module docstring). ``strong_options``: further arguments of
    :func:`~labelaug_core.runs.strong.strong_evaluation` (default: the full ensemble); ``strong_subset``
    0 skips the ensemble, ``paper_style_subset`` 0 the paper-style PGD-40. A plan with ``confirm:``
    is a screen (:mod:`labelaug_core.runs.screen`): its rule picks an Adv+ setting from the screen's
    runs, which is then trained with its matched Adv on the fresh seeds; the ensemble attacks the
    confirmation's runs only. Returns the manifest's path."""
    from labelaug_core.runs.screen import RULES, choose, confirmation_configs, matched_pairs

    check_options(plan, strong_subset, paper_style_subset, strong_options)
    check_out_dir(out_dir, runs_dir)
    out_dir = Path(out_dir)
    previous = _previous_runs(out_dir)
    started = time.perf_counter()
    common = dict(paper_style_subset=paper_style_subset, runs_dir=runs_dir, data_dir=data_dir, device=device,
                  progress=progress, strong_options=strong_options)
    stage_strong = 0 if plan.confirm else strong_subset
    run_ids = []
    for i, config in enumerate(plan.runs, 1):
        if progress:
            print(f"publish {plan.profile}: run {i}/{len(plan.runs)} {config.run_id}", flush=True)
        run_ids.append(_publish_run(config, out_dir, strong_subset=stage_strong, **common))
    manifest = {"profile": plan.profile, "description": plan.description, "seeds": plan.seeds,
                "strong_subset": strong_subset, "strong_options": strong_options,
                "paper_style_subset": paper_style_subset, "command": command}
    if plan.confirm:
        screen = [load_run(out_dir / run_id) for run_id in run_ids]
        chosen, control = choose(matched_pairs(screen), plan.confirm["rule"])
        configs = confirmation_configs(chosen.config, plan.confirm["seeds"])
        confirmed = []
        for i, config in enumerate(configs, 1):
            if progress:
                print(f"publish {plan.profile}: confirmation run {i}/{len(configs)} {config.run_id}", flush=True)
            confirmed.append(_publish_run(config, out_dir, strong_subset=strong_subset, **common))
        manifest["screen"] = list(run_ids)
        manifest["confirm"] = {"seeds": plan.confirm["seeds"], "rule": plan.confirm["rule"],
                               "rule_text": RULES[plan.confirm["rule"]], "chosen": chosen.run_id,
                               "chosen_control": control.run_id, "runs": confirmed}
        run_ids += confirmed
    manifest |= {"wall_time_s": round(time.perf_counter() - started, 1), "device": device or "auto",
                 "cpu": cpu_model(), "git_commit": git_commit(), "runs": run_ids}
    write_json_atomic(out_dir / MANIFEST, manifest)
    for stale in sorted(previous - set(run_ids)):  # published before, by publish, and no longer in the plan
        if (out_dir / stale / "config.json").is_file():
            shutil.rmtree(out_dir / stale)
    return out_dir / MANIFEST


def _previous_runs(out_dir: Path) -> set[str]:
    """The run folders that an earlier publication's manifest in ``out_dir`` lists (plain names only)."""
    try:
        runs = json.loads((out_dir / MANIFEST).read_text()).get("runs", [])
    except (OSError, json.JSONDecodeError):
        return set()
    return {r for r in runs if isinstance(r, str) and r and "/" not in r and r not in (".", "..")}


def load_published(out_dir: Path | str) -> Published:
    """Read what :func:`publish` wrote to ``out_dir``; a ConfigError saying how to make it if absent."""
    out_dir = Path(out_dir)
    if not (out_dir / MANIFEST).is_file():
        raise ConfigError(f"published results: {out_dir / MANIFEST} is missing; make them with "
                          "'labelaug publish --profile verdict'")
    manifest = json.loads((out_dir / MANIFEST).read_text())
    attacked = set(manifest["confirm"]["runs"] if "confirm" in manifest else manifest["runs"])
    runs, strong, paper_style = [], {}, {}
    for run_id in manifest["runs"]:
        run = load_run(out_dir / run_id)
        runs.append(run)
        found = {p.stem.removeprefix("strong-"): StrongEval.load(p) for p in sorted((out_dir / run_id).glob("strong-*.npz"))}
        if manifest.get("strong_subset", 1) and run_id in attacked and "classes" not in found:
            raise ConfigError(f"published results: {out_dir / run_id} lacks strong-classes.npz (rerun labelaug publish)")
        strong[run_id] = found
        if (out_dir / run_id / PAPER_STYLE_FILE).is_file():
            paper_style[run_id] = pd.read_csv(out_dir / run_id / PAPER_STYLE_FILE)
    return Published(out_dir, manifest, runs, strong, paper_style)
