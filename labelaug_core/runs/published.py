"""Published results: the small files of a plan's runs and their strong evaluations, never
checkpoints, written to a folder that is committed, so that a book can show evidence it cannot
afford to recompute on a laptop (the ``verdict`` profile: several seeds, two training protocols).

``labelaug verdict --profile verdict`` (:func:`publish_plan`) trains the plan's runs (cached in
``runs/``), evaluates each with the strong ensemble (:func:`~labelaug_core.runs.strong.strong_evaluation`;
Adv+ also on all K + M logits) and copies into ``<out_dir>/<run_id>/``:

- the run files of :data:`~labelaug_core.runs.store.RUN_FILES` and ``key.json`` (metrics, per-class
  tables, per-example predictions of the run's own clean/FGSM/PGD-40 evaluation);
- ``evals/strong-<logits>-n<n>-<key>.npz`` / ``.json``: the ladder's per-example error masks;

and ``<out_dir>/manifest.json``: the command, plan, commit, CPU, threads, start time and wall time.
Run folders of earlier publications that the plan no longer lists are removed. The book reads the
folder with :func:`load_published` (by what the files say, not by run id: a published run stays
readable after the code changes; the manifest's commit says which code made it).
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from labelaug_core.cache import write_json_atomic
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.ladder import StrongEval, worst_of
from labelaug_core.runs.store import RUN_FILES, Run, cpu_model, git_commit, is_finished, load_run

MANIFEST = "manifest.json"
PUBLISHED_FILES = (*RUN_FILES, "key.json")
PROTOCOLS = {"": "from scratch", "std": "fine-tuned from Std"}  # init_from -> label


def publish_plan(plan, runs_dir: Path | str, out_dir: Path | str, *, strong: dict, command: str,
                 data_dir: str | None = None, device: str | None = None, progress: bool = True) -> dict:
    """Train and strongly evaluate every run of ``plan`` (:class:`~labelaug_core.book.plan.Plan`), then
    publish them to ``out_dir`` (module docstring). ``strong``: keyword arguments of
    :func:`~labelaug_core.runs.strong.strong_evaluation` (``n``, ``apgd_steps``, ``pgd_restarts``,
    ``n_target_classes``). Returns the manifest. Interrupted, it resumes: runs from their last epoch,
    evaluations from the cache."""
    from labelaug_core.runs.strong import strong_evaluation
    from labelaug_core.runs.training import ensure_run

    started, wall = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), time.perf_counter()
    run_dirs = [ensure_run(c, runs_dir, data_dir=data_dir, device=device, progress=progress)
                for c in tqdm(plan.runs, desc="verdict: runs", disable=not progress)]
    for run_dir in tqdm(run_dirs, desc="verdict: strong evaluations", disable=not progress):
        run = load_run(run_dir)
        strong_evaluation(run, **strong, data_dir=data_dir, device=device)
        if run.config.method == "advplus":
            strong_evaluation(run, logits="all", **strong, data_dir=data_dir, device=device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keep = {d.name for d in run_dirs}
    for old in out_dir.iterdir():
        if old.is_dir() and old.name not in keep:
            shutil.rmtree(old)
    for run_dir in run_dirs:
        _copy_run(run_dir, out_dir / run_dir.name)
    manifest = {"command": command, "profile": plan.profile, "seeds": plan.seeds, "settings": plan.settings,
                "strong": strong, "runs": sorted(keep), "git_commit": git_commit(), "cpu": cpu_model(),
                "torch_threads": torch.get_num_threads(), "started_utc": started,
                "wall_s": round(time.perf_counter() - wall, 1),
                "note": "wall_s counts only what this call computed; runs and evaluations already cached "
                        "in runs/ cost nothing here (their own times are in metrics.json and evals/*.json)"}
    write_json_atomic(out_dir / MANIFEST, manifest)
    return manifest


def _copy_run(run_dir: Path, dest: Path) -> None:
    (dest / "evals").mkdir(parents=True, exist_ok=True)
    for name in PUBLISHED_FILES:
        shutil.copy2(run_dir / name, dest / name)
    for old in (dest / "evals").iterdir():
        old.unlink()
    for path in (run_dir / "evals").glob("strong-*"):
        shutil.copy2(path, dest / "evals" / path.name)


@dataclass(frozen=True)
class Published:
    """A published folder read back: its manifest and its runs."""

    directory: Path
    manifest: dict
    runs: list[Run]

    def groups(self) -> dict[str, dict[str, list[Run]]]:
        """``{protocol label: {method: [run per seed, by seed]}}``; Std (trained from scratch) belongs
        to every protocol, as the paper's fine-tunes start from it."""
        std = sorted((r for r in self.runs if r.config.method == "std"), key=lambda r: r.config.seed)
        out: dict[str, dict[str, list[Run]]] = {}
        for init, label in PROTOCOLS.items():
            methods = {m: sorted((r for r in self.runs if r.config.method == m and r.config.init_from == init
                                  and not r.config.weak_classes), key=lambda r: r.config.seed)
                       for m in ("adv", "advplus")}
            if all(methods.values()):
                out[label] = {"std": std} | methods
        return out


def load_published(directory: Path | str) -> Published:
    """Read a folder written by :func:`publish_plan`; a ConfigError naming the folder and the command
    that makes it if it is missing or incomplete."""
    directory = Path(directory)
    if not (directory / MANIFEST).is_file():
        raise ConfigError(f"verdict_dir: {directory} holds no {MANIFEST}; make it with "
                          "'labelaug verdict --profile verdict' (or check out the committed results/verdict)")
    import json

    manifest = json.loads((directory / MANIFEST).read_text())
    runs = []
    for run_id in manifest["runs"]:
        if not is_finished(directory / run_id):
            raise ConfigError(f"verdict_dir: {directory / run_id} is incomplete (no metrics.json)")
        runs.append(load_run(directory / run_id))
    return Published(directory, manifest, runs)


def published_strong(run: Run, logits: str = "classes") -> StrongEval:
    """The published strong evaluation of ``run`` attacking ``logits`` (classes | all)."""
    found = sorted((Path(run.run_dir) / "evals").glob(f"strong-{logits}-n*.npz"))
    if len(found) != 1:
        raise ConfigError(f"{run.run_dir}/evals: expected one strong-{logits}-*.npz; found {len(found)}")
    return StrongEval.load(found[0])


def strongest_evaluations(groups: dict[str, list[Run]]) -> dict[str, list[StrongEval]]:
    """Per method, the strong evaluation of each seed: first-K attacks for Std and Adv, and for Adv+
    the per-example worst of attacking the first K and all K + M logits (its strongest evaluation)."""
    out = {m: [published_strong(r) for r in runs] for m, runs in groups.items() if m != "advplus"}
    out["advplus"] = [worst_of(published_strong(r), published_strong(r, "all")) for r in groups["advplus"]]
    return out
