"""Run storage: the one schema of a run directory ``runs/<run_id>/``.

``run_id`` is a readable prefix (data set, method, δ, seed) and 8 hex digits of the run's key:
the resolved config (precision included) and the digests of the code that trains and evaluates
it (:meth:`labelaug_core.config.TrainConfig.run_key`, :mod:`labelaug_core.cache`). A finished
run is never recomputed; a change of its settings or of its code gives a new run id.

Files of a run directory:

- ``config.json``: the resolved :class:`~labelaug_core.config.TrainConfig`;
- ``key.json``: the run key (config and ``{module: code digest}``), for ``labelaug status``;
- ``env.json``: git commit, package versions, device, host, precision, world size, and the
  absolute ``data_dir`` it was trained from (null: found through ``$LABELAUG_DATA`` or defaults);
- ``history.csv``: one row per epoch (epoch, lr, train_loss, train_err %, epoch_time_s);
- ``per_class.csv``: one row per class (class, name, clean_err, fgsm_err, pgd_err; percent);
- ``predictions.npz``: per-example labels and clean/FGSM/PGD predictions, ``attacked`` mask;
- ``metrics.json``: written last (atomically), so its presence marks a finished run;
- ``checkpoint.pt``: weights and training state (not committed; ``weights_only`` loading);
- ``corruption-<key>.csv``: per corruption and severity, error and per-class errors
  (:mod:`labelaug_core.runs.corruptions`);
- ``evals/``: cached studies of the run, each ``<name>-<key>.<ext>`` with a ``<name>-<key>.key.json``
  sidecar written last (settings and code digests):

  - ``pgd<k>-<logits>-n<subset>-<key>.json``: a re-evaluation (``labelaug evaluate``);
  - ``strong-<logits>-n<n>-<key>.npz`` + ``.json``: the attack ladder, per example;
  - ``checks-<logits>-n<n>-<key>.csv``: gradient-masking checks;
  - ``temperature-n<n>-pgd<k>-<key>.csv``: the Temperature-PGD sweep;
  - ``heldout-*``, ``bias-*``, ``logit-adjusted-*`` ``.csv``: weakest-class defences.

Beside the run directories, ``runs/<run_id>.lock`` serialises two processes making one run.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from labelaug_core import __version__
from labelaug_core.config import TrainConfig
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.metrics import Predictions
from labelaug_core.train import (
    CHECKPOINT,
    load_checkpoint_model,
)

RUN_FILES = ("config.json", "env.json", "history.csv", "per_class.csv", "predictions.npz", "metrics.json")


@dataclass
class Run:
    """A finished run read back from disk."""

    run_dir: Path
    config: TrainConfig
    metrics: dict
    per_class: pd.DataFrame
    history: pd.DataFrame
    env: dict

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    def predictions(self) -> Predictions:
        with np.load(self.run_dir / "predictions.npz") as f:
            return Predictions(f["y"], f["clean"], f["fgsm"], f["pgd"], f["attacked"])

    def error_mask(self, kind: str = "pgd") -> np.ndarray:
        """(N,) bool: True where the run's own evaluation gets example i wrong. ``kind``: ``"clean"``
        (all ``test_subset`` images) or ``"fgsm"`` / ``"pgd"`` (the ``eval_subset`` attacked images, in
        protocol order: two runs with the same settings have the same images, so masks pair up)."""
        if kind not in ("clean", "fgsm", "pgd"):
            raise ConfigError(f"kind must be one of clean, fgsm, pgd; got {kind!r}")
        pred = self.predictions()
        if kind == "clean":
            return pred.clean != pred.y
        return (getattr(pred, kind) != pred.y)[pred.attacked]


def git_commit() -> str:
    """The commit of the repository holding this package, '+dirty' if changed; 'unknown' outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else ``platform.processor()``: timings depend on it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment(device: torch.device, precision: str) -> dict:
    """Versions, device and commit: what ``env.json`` records."""
    import torchvision

    env = {
        "git_commit": git_commit(), "labelaug_core": __version__, "python": platform.python_version(),
        "torch": torch.__version__, "torchvision": torchvision.__version__, "numpy": np.__version__,
        "platform": platform.platform(), "processor": platform.processor(), "cpu": cpu_model(), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "device": str(device), "precision": precision,
    }
    if device.type == "cuda":
        env["device_name"] = torch.cuda.get_device_name(device)
    return env


def is_finished(run_dir: Path) -> bool:
    return (Path(run_dir) / "metrics.json").exists()


def _require_run_dir(run_dir: Path | str, needs: tuple[str, ...]) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run_dir: {run_dir} is not a directory (expected runs/<run_id>/ made by 'labelaug train')")
    missing = [f for f in needs if not (run_dir / f).is_file()]
    if missing:
        raise ConfigError(f"run_dir: {run_dir} lacks {', '.join(missing)} (unfinished or not a run directory)")
    return run_dir


def read_config(run_dir: Path | str) -> TrainConfig:
    run_dir = _require_run_dir(run_dir, ("config.json",))
    try:
        return TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"run_dir: {run_dir / 'config.json'} is unreadable ({type(exc).__name__})") from exc


def load_run(run_dir: Path | str) -> Run:
    """Read a finished run (see the module docstring for the files)."""
    run_dir = _require_run_dir(run_dir, RUN_FILES)
    config = read_config(run_dir)
    return Run(
        run_dir=run_dir, config=config,
        metrics=json.loads((run_dir / "metrics.json").read_text()),
        per_class=pd.read_csv(run_dir / "per_class.csv"),
        history=pd.read_csv(run_dir / "history.csv"),
        env=json.loads((run_dir / "env.json").read_text()),
    )


def recorded_data_dir(run_dir: Path | str) -> str | None:
    """The data folder a run was trained from (``env.json``), if one was given and still exists."""
    try:
        recorded = json.loads((Path(run_dir) / "env.json").read_text()).get("data_dir")
    except (OSError, json.JSONDecodeError):
        return None
    return recorded if recorded and Path(recorded).is_dir() else None


def load_model(run_dir: Path | str, device: str | None = None, *, data_dir: str | None = None):
    """The trained model of a run, in eval mode on ``device``; ``data_dir`` defaults to the run's own."""
    run_dir = _require_run_dir(run_dir, ("config.json", CHECKPOINT))
    return load_checkpoint_model(read_config(run_dir), run_dir, data_dir=data_dir or recorded_data_dir(run_dir),
                                 device=device)


def find_run(config: TrainConfig, runs_dir: Path | str = "runs") -> Run:
    """The finished run of ``config`` in ``runs_dir``; a ConfigError saying how to make it if absent.

    Notebooks use this (never :func:`ensure_run`): the book renders runs, it does not train.
    """
    run_dir = Path(runs_dir) / config.run_id
    if not is_finished(run_dir):
        raise ConfigError(
            f"run {config.run_id} is not in {runs_dir}; make it with 'labelaug book' (its plan lists it) "
            f"or 'labelaug train' with the same settings"
        )
    return load_run(run_dir)


def find_runs(
    runs_dir: Path | str, seeds: list[int], methods: tuple[str, ...] = ("std", "adv", "advplus"), **settings
) -> dict[str, list[Run]]:
    """Finished runs of each method over ``seeds``, the other TrainConfig fields from ``settings``."""
    return {
        method: [find_run(TrainConfig.from_dict(settings | {"method": method, "seed": seed}), runs_dir) for seed in seeds]
        for method in methods
    }
