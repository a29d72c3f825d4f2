"""Run storage: the one schema of a run directory ``runs/<run_id>/``.

``run_id`` is a readable prefix (data set, method, δ, ``-f<adv_fraction>`` for mixed batches,
seed) and 8 hex digits of the run's key: the resolved config's training fields (precision
included; not the evaluation fields ``test_subset``, ``eval_subset``, ``eval_steps``) and the
digests of the code that trains it (:meth:`labelaug_core.config.TrainConfig.run_key`,
:mod:`labelaug_core.cache`). A finished run is never retrained; a change of its training settings
or of the training code gives a new run id. The run's evaluation is a cached artifact of its own
(:mod:`labelaug_core.runs.evaluation`): a change of the evaluation settings or code re-evaluates
the checkpoint and retrains nothing.

Files of a run directory:

- ``config.json``: the resolved :class:`~labelaug_core.config.TrainConfig` of the call that trained it
  (its evaluation fields are that call's; each evaluation folder records its own);
- ``key.json``: the run key (training fields and ``{module: code digest}``), for ``labelaug status``;
- ``env.json``: git commit, package versions, device, host, precision, world size, and the
  absolute ``data_dir`` it was trained from (null: found through ``$LABELAUG_DATA`` or defaults);
- ``data.json``: the identity of the data it was trained on (:func:`labelaug_core.data.identity.data_identity`:
  data set, the folder the files were found in, number of files, bytes, and a 16-hex digest of the
  files' names, sizes and modification times). The run id does not hold it (a run's key is its
  training settings and code); instead a cached run is reused only for the data it was trained on:
  :func:`check_cached_data` refuses other data with a one-line ConfigError naming ``--data-dir`` and
  ``--runs-dir`` (``labelaug train``, ``publish``, ``book``), and ``labelaug report`` refuses to
  average runs of different data. A run without ``data.json`` (made before it existed) is compared
  by the ``data_dir`` of its ``env.json``;
- ``checkpoint.pt``: weights and training state, written after every epoch (not committed;
  ``weights_only`` loading);
- ``history.csv``: one row per epoch (epoch, lr, train_loss, train_err %, epoch_time_s), written
  (atomically) when training ends: its presence marks a trained run;
- ``evaluation/test<T>-pgd<k>-n<N>-<key>/``: the protocol's evaluation (``per_class.csv``,
  ``predictions.npz``, ``metrics.json``) with its ``.key.json`` sidecar beside it, one per set of
  evaluation settings (:mod:`labelaug_core.runs.evaluation`);
- ``corruption-<key>.csv``: per corruption and severity, error and per-class errors
  (:mod:`labelaug_core.runs.corruptions`);
- ``evals/``: cached studies of the run, each ``<name>-<key>.<ext>`` with a ``<name>-<key>.key.json``
  sidecar written last (settings and code digests):

  - ``pgd<k>-<logits>-n<subset>-<key>.json``: a re-evaluation (``labelaug evaluate``);
  - ``strong-<logits>-n<n>-<key>.npz`` + ``.json``: the attack ladder, per example;
  - ``paper-style-n<n>-<key>.csv``: paper-style PGD-40, per example;
  - ``checks-<logits>-n<n>-<key>.csv``: gradient-masking checks;
  - ``temperature-n<n>-pgd<k>-<key>.csv``: the Temperature-PGD sweep;
  - ``heldout-*``, ``bias-*``, ``logit-adjusted-*`` ``.csv``: weakest-class defences.

Beside the run directories, ``runs/<run_id>.lock`` serialises two processes making one run.

A *published* run (``labelaug publish``, :mod:`labelaug_core.runs.published`) and a run directory
made before training and evaluation were keyed apart are flat: the evaluation's files sit in the
run folder itself. :func:`load_run` reads both.
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
from labelaug_core.config import EVAL_FIELDS, TrainConfig
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.metrics import Predictions
from labelaug_core.runs.evaluation import EVAL_FILES, evaluation_dir
from labelaug_core.train import (
    CHECKPOINT,
    load_checkpoint_model,
)

TRAIN_FILES = ("config.json", "env.json", "history.csv")
RUN_FILES = TRAIN_FILES + EVAL_FILES  # a flat (published) run folder; metrics.json last


@dataclass
class Run:
    """A trained and evaluated run read back from disk: ``run_dir`` holds the training files and the
    cached studies, ``eval_dir`` the evaluation of ``config``'s evaluation settings (the same
    folder for a flat, published run)."""

    run_dir: Path
    config: TrainConfig
    metrics: dict
    per_class: pd.DataFrame
    history: pd.DataFrame
    env: dict
    eval_dir: Path | None = None  # None: the run folder itself (a flat run, or one made by hand in a test)

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    def identity(self) -> dict:
        """What a cached study of this run is keyed by besides its own settings: the run id (the
        weights) and the evaluation fields (which test images, in which order, the run attacks)."""
        return {"run_id": self.run_id} | {k: getattr(self.config, k) for k in EVAL_FIELDS}

    def predictions(self) -> Predictions:
        with np.load((self.eval_dir or self.run_dir) / "predictions.npz") as f:
            op = {k: f[k] for k in ("op_clean", "op_pgd") if k in f.files}
            return Predictions(f["y"], f["clean"], f["fgsm"], f["pgd"], f["attacked"], **op)

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


def is_trained(run_dir: Path | str) -> bool:
    """Has training finished in ``run_dir`` (``history.csv`` is written when it ends)?"""
    return (Path(run_dir) / "history.csv").is_file()


def is_flat(run_dir: Path | str) -> bool:
    """A published (or pre-split) run folder: the evaluation's files are in the run folder itself."""
    return (Path(run_dir) / "metrics.json").is_file()


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


def load_run(run_dir: Path | str, config: TrainConfig | None = None) -> Run:
    """Read a trained and evaluated run (see the module docstring for the files): its evaluation
    under ``config``'s evaluation settings (default: those of ``config.json``). A flat folder
    (published, or made before the split) is read as it is."""
    run_dir = Path(run_dir)
    if is_flat(run_dir):
        run_dir = _require_run_dir(run_dir, RUN_FILES)
        eval_dir, config = run_dir, read_config(run_dir)
    else:
        run_dir = _require_run_dir(run_dir, TRAIN_FILES)
        config = config or read_config(run_dir)
        eval_dir = evaluation_dir(config, run_dir)
        if eval_dir is None:
            raise ConfigError(f"run_dir: {run_dir} has no evaluation at test_subset {config.test_subset}, "
                              f"eval_subset {config.eval_subset}, eval_steps {config.eval_steps} (make it with "
                              "'labelaug train' with the same settings, or 'labelaug book')")
    return Run(
        run_dir=run_dir, config=config,
        metrics=json.loads((eval_dir / "metrics.json").read_text()),
        per_class=pd.read_csv(eval_dir / "per_class.csv"),
        history=pd.read_csv(run_dir / "history.csv"),
        env=json.loads((run_dir / "env.json").read_text()),
        eval_dir=eval_dir,
    )


def is_finished(config: TrainConfig, runs_dir: Path | str) -> bool:
    """Is ``config``'s run in ``runs_dir`` trained and evaluated under its evaluation settings?"""
    run_dir = Path(runs_dir) / config.run_id
    return is_trained(run_dir) and evaluation_dir(config, run_dir) is not None


def recorded_data_dir(run_dir: Path | str) -> str | None:
    """The data folder a run was trained from (``env.json``), if one was given and still exists."""
    try:
        recorded = json.loads((Path(run_dir) / "env.json").read_text()).get("data_dir")
    except (OSError, json.JSONDecodeError):
        return None
    return recorded if recorded and Path(recorded).is_dir() else None


def load_model(run_dir: Path | str, device: str | None = None, *, data_dir: str | None = None):
    """The trained model of a run, in eval mode on ``device``; ``data_dir`` defaults to the run's own.
    A truncated or corrupt ``checkpoint.pt`` is a one-line ConfigError naming it."""
    import pickle
    import zipfile

    run_dir = _require_run_dir(run_dir, ("config.json", CHECKPOINT))
    config = read_config(run_dir)
    try:
        return load_checkpoint_model(config, run_dir, data_dir=data_dir or recorded_data_dir(run_dir), device=device)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise ConfigError(f"run_dir: {run_dir / CHECKPOINT} is not a readable checkpoint ({reason}); "
                          "retrain the run with 'labelaug train' in a fresh --runs-dir") from None


DATA_FILE = "data.json"


def recorded_data(run_dir: Path | str) -> dict | None:
    """The identity of the data a run was trained on (``data.json``), or None if not recorded."""
    try:
        recorded = json.loads((Path(run_dir) / DATA_FILE).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return recorded if isinstance(recorded, dict) and isinstance(recorded.get("digest"), str) else None


def check_cached_data(config: TrainConfig, runs_dir: Path | str, data_dir: str | None,
                      device: str | None = None) -> dict:
    """The identity of the data ``config`` would be trained on now (``data_dir``), checked against what
    its run in ``runs_dir`` was trained on, if that run exists (finished or interrupted): a ConfigError
    naming ``--data-dir`` and ``--runs-dir`` if they differ, instead of returning (or resuming) a run
    of other data. Returns the identity, for :data:`DATA_FILE` of a run trained now."""
    from labelaug_core.data.identity import data_identity

    now = data_identity(config.dataset, data_dir)
    run_id = config.run_id_for(device)
    run_dir = Path(runs_dir) / run_id
    if not (run_dir / "env.json").is_file() and not is_trained(run_dir):
        return now
    recorded = recorded_data(run_dir)
    if recorded is not None:
        if recorded["digest"] != now["digest"]:
            raise ConfigError(
                f"data_dir: the {config.dataset} files found now ({now['root']}: {now['files']} files, digest "
                f"{now['digest']}) are not those run {run_id} in {runs_dir} was trained on ({recorded.get('root')}: "
                f"{recorded.get('files')} files, digest {recorded['digest']}); give --data-dir those data, or "
                "--runs-dir another folder for runs of these data")
        return now
    try:
        before = json.loads((run_dir / "env.json").read_text()).get("data_dir")
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        before = None
    given = os.path.abspath(data_dir) if data_dir else None
    if before and given and os.path.realpath(before) != os.path.realpath(given):
        raise ConfigError(f"data_dir: run {run_id} in {runs_dir} was trained from {before}, not {given}; give "
                          "--data-dir that folder, or --runs-dir another folder for runs of these data")
    return now


def find_run(config: TrainConfig, runs_dir: Path | str = "runs") -> Run:
    """The finished run of ``config`` in ``runs_dir``; a ConfigError saying how to make it if absent.

    Notebooks use this (never :func:`ensure_run`): the book renders runs, it does not train.
    """
    run_dir = Path(runs_dir) / config.run_id
    if not is_finished(config, runs_dir):
        raise ConfigError(
            f"run {config.run_id} is not in {runs_dir}; make it with 'labelaug book' (its plan lists it) "
            f"or 'labelaug train' with the same settings"
        )
    return load_run(run_dir, config.resolved())


def find_runs(
    runs_dir: Path | str, seeds: list[int], methods: tuple[str, ...] = ("std", "adv", "advplus"), **settings
) -> dict[str, list[Run]]:
    """Finished runs of each method over ``seeds``, the other TrainConfig fields from ``settings``."""
    return {
        method: [find_run(TrainConfig.from_dict(settings | {"method": method, "seed": seed}), runs_dir) for seed in seeds]
        for method in methods
    }
