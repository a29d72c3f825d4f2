"""Run storage: ``runs/<run_id>/`` with a fixed schema, never recomputed once finished.

Files of a run directory:

- ``config.json``: the resolved :class:`~labelaug_core.config.TrainConfig`;
- ``env.json``: git commit, package versions, device, host;
- ``history.csv``: one row per epoch (epoch, lr, train_loss, train_err %, epoch_time_s);
- ``per_class.csv``: one row per class (class, name, clean_err, fgsm_err, pgd_err; percent);
- ``predictions.npz``: per-example labels and clean/FGSM/PGD predictions (for confusion matrices);
- ``metrics.json``: written last (atomically), so its presence marks a finished run;
- ``checkpoint.pt``: weights and training state (not committed; ``weights_only`` loading).
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
from labelaug_core.data import dataset_info, make_loader
from labelaug_core.errors import ConfigError
from labelaug_core.evaluate import Predictions, predict_all, summarize
from labelaug_core.train import CHECKPOINT, load_checkpoint_model, pick_device, pick_precision, train

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


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def git_commit() -> str:
    """The commit of the repository holding this package, '+dirty' if changed; 'unknown' outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def environment(device: torch.device, precision: str) -> dict:
    """Versions, device and commit: what ``env.json`` records."""
    import torchvision

    env = {
        "git_commit": git_commit(), "labelaug_core": __version__, "python": platform.python_version(),
        "torch": torch.__version__, "torchvision": torchvision.__version__, "numpy": np.__version__,
        "platform": platform.platform(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "device": str(device), "precision": precision,
    }
    if device.type == "cuda":
        env["device_name"] = torch.cuda.get_device_name(device)
    return env


def is_finished(run_dir: Path) -> bool:
    return (Path(run_dir) / "metrics.json").exists()


def ensure_run(
    config: TrainConfig,
    runs_dir: Path | str = "runs",
    *,
    data_dir: str | None = None,
    device: str | None = None,
    progress: bool = True,
    rank: int = 0,
    world_size: int = 1,
) -> Path:
    """Train and evaluate ``config`` unless ``runs_dir/<run_id>`` is finished; return the run dir.

    An interrupted run resumes from its last epoch checkpoint. Under torchrun every rank trains
    its shard; rank 0 alone writes files and evaluates, the others wait at a barrier.
    """
    from labelaug_core.distributed import barrier

    config = config.resolved()
    run_dir = Path(runs_dir) / config.run_id
    if is_finished(run_dir):
        return run_dir
    dev = pick_device(device)
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(run_dir / "config.json", config.to_dict())
        write_json_atomic(run_dir / "env.json", environment(dev, pick_precision(config, dev)) | {"world_size": world_size})
    barrier()
    model, history = train(config, run_dir, data_dir=data_dir, device=device, progress=progress,
                           rank=rank, world_size=world_size)
    if rank == 0:
        pd.DataFrame(history).to_csv(run_dir / "history.csv", index=False)
        evaluate_run(run_dir, config, model, data_dir=data_dir, progress=progress)
    barrier()
    return run_dir


def evaluate_run(run_dir: Path, config: TrainConfig, model, *, data_dir: str | None = None, progress: bool = True) -> dict:
    """Clean / FGSM / PGD-k evaluation of a trained model; writes per_class.csv, predictions.npz, metrics.json."""
    info = dataset_info(config.dataset, data_dir)
    device = next(model.parameters()).device
    loader = make_loader(
        config.dataset, "test", 500, train=False, data_dir=data_dir, device=device,
        seed=config.seed, subset=config.test_subset, image_size=config.image_size or None,
    )
    torch.manual_seed(config.seed + 1)  # PGD random starts: the same on every evaluation
    pred = predict_all(model, loader, eps=config.eps, eval_steps=config.eval_steps,
                       attack_limit=config.eval_subset, progress=progress)
    metrics, per_class = summarize(pred, info.num_classes)
    metrics.update({"eps": config.eps, "eval_steps": config.eval_steps, "attack": "pgd-linf-first-K-logits"})
    history = pd.read_csv(run_dir / "history.csv")
    metrics["train_time_s"] = float(history["epoch_time_s"].sum())
    table = pd.DataFrame({"class": range(info.num_classes), "name": info.class_names})
    for name, errs in per_class.items():
        table[f"{name}_err"] = errs
    table.to_csv(run_dir / "per_class.csv", index=False)
    np.savez(run_dir / "predictions.npz", y=pred.y, clean=pred.clean, fgsm=pred.fgsm, pgd=pred.pgd, attacked=pred.attacked)
    write_json_atomic(run_dir / "metrics.json", metrics)
    return metrics


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


def load_model(run_dir: Path | str, device: str | None = None, *, data_dir: str | None = None):
    """The trained model of a run, in eval mode on ``device``."""
    run_dir = _require_run_dir(run_dir, ("config.json", CHECKPOINT))
    return load_checkpoint_model(read_config(run_dir), run_dir, data_dir=data_dir, device=device)


def evaluate_again(
    run_dir: Path | str,
    *,
    eval_steps: int | None = None,
    attack_logits: str = "classes",
    eval_subset: int | None = None,
    data_dir: str | None = None,
    device: str | None = None,
    progress: bool = True,
) -> dict:
    """Re-evaluate a run's checkpoint with other attack settings.

    Writes ``evals/pgd<k>-<logits>-n<subset>.json`` in the run dir (``metrics.json`` is
    left as training wrote it) and returns the metrics.
    """
    config = read_config(run_dir)
    steps = config.eval_steps if eval_steps is None else eval_steps
    subset = config.eval_subset if eval_subset is None else eval_subset
    if steps < 1:
        raise ConfigError(f"eval_steps must be >= 1; got {steps}")
    if subset < 0:
        raise ConfigError(f"eval_subset must be >= 0; got {subset}")
    if attack_logits not in ("classes", "all"):
        raise ConfigError(f"attack_logits must be one of classes, all; got {attack_logits!r}")
    model = load_model(run_dir, device, data_dir=data_dir)
    info = dataset_info(config.dataset, data_dir)
    loader = make_loader(config.dataset, "test", 500, train=False, data_dir=data_dir, device=next(model.parameters()).device,
                         seed=config.seed, subset=config.test_subset, image_size=config.image_size or None)
    torch.manual_seed(config.seed + 1)
    pred = predict_all(model, loader, eps=config.eps, eval_steps=steps, attack_limit=subset,
                       attack_logits=attack_logits, progress=progress)
    metrics, _ = summarize(pred, info.num_classes)
    metrics.update({"eps": config.eps, "eval_steps": steps, "attack_logits": attack_logits})
    out = Path(run_dir) / "evals"
    out.mkdir(exist_ok=True)
    write_json_atomic(out / f"pgd{steps}-{attack_logits}-n{subset}.json", metrics)
    return metrics


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
