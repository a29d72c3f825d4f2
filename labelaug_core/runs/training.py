"""Training a run and its standard evaluation: :func:`ensure_run` (training, then the cached
evaluation of :mod:`labelaug_core.runs.evaluation`) and :func:`evaluate_again`. The files they
write are listed in :mod:`labelaug_core.runs.store`."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path

import pandas as pd

from labelaug_core.cache import Artifact, write_json_atomic, write_text_atomic
from labelaug_core.config import TrainConfig
from labelaug_core.data.identity import data_identity
from labelaug_core.data.loaders import check_sizes, make_loader
from labelaug_core.data.sources import dataset_info
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.metrics import summarize
from labelaug_core.runs.evaluation import ensure_evaluation, evaluation_dir
from labelaug_core.runs.protocol import protocol_predictions
from labelaug_core.runs.store import (
    DATA_FILE,
    check_cached_data,
    environment,
    is_trained,
    load_model,
    read_config,
    recorded_data_dir,
)
from labelaug_core.train import CHECKPOINT, pick_device, train

# The code of a re-evaluation (evals/pgd*), with everything it imports (labelaug_core.cache).
REEVAL_CODE = ("labelaug_core.runs.protocol",)


@contextlib.contextmanager
def run_lock(runs_dir: Path, run_id: str):
    """An exclusive lock on ``runs_dir/<run_id>.lock``: a second process making the same run waits for
    the first and then finds it finished, instead of training it twice."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    with open(runs_dir / f"{run_id}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_inputs(config: TrainConfig, data_dir: str | None = None) -> None:
    """Everything a run needs that can be checked before anything is written: the data of both splits
    and class indices that exist. Raises a one-line ConfigError."""
    info = dataset_info(config.dataset, data_dir)
    config.check_classes(info.num_classes)
    for split in ("train", "test"):
        make_loader(config.dataset, split, 1, train=False, data_dir=data_dir, num_workers=0,
                    image_size=config.image_size or None)


def check_cached_inputs(config: TrainConfig, runs_dir: Path | str, data_dir: str | None = None,
                        device: str | None = None, *, where: str = "") -> None:
    """What the command line and the book check of a run before anything trains or is written: class
    indices that exist, the sizes it asks of the data (:func:`labelaug_core.data.loaders.check_sizes`)
    and, for a run cached in ``runs_dir`` (and the Std run a fine-tune starts from), that it was
    trained on these data (:func:`labelaug_core.runs.store.check_cached_data`). One-line ConfigErrors;
    ``where`` (e.g. the plan file) prefixes those about classes and sizes."""
    config = config.resolved(device)
    try:
        config.check_classes(dataset_info(config.dataset, data_dir).num_classes)
        check_sizes(config.dataset, data_dir, train_subset=config.train_subset, test_subset=config.test_subset,
                    eval_subset=config.eval_subset, batch_size=config.batch_size)
    except ConfigError as exc:
        if not where:
            raise
        raise ConfigError(f"{where}: {exc}") from exc
    if config.init_source() is not None:
        check_cached_data(config.init_source(), runs_dir, data_dir, device)
    check_cached_data(config, runs_dir, data_dir, device)


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
    """Train ``config`` unless ``runs_dir/<run_id>`` is trained, and evaluate it under its evaluation
    settings unless that evaluation is cached (:mod:`labelaug_core.runs.evaluation`); return the run dir.

    A fine-tune (``init_from: std``) first ensures the Std run it starts from
    (:meth:`~labelaug_core.config.TrainConfig.init_source`), in the same ``runs_dir``.
    Bad input (missing data, unknown classes) is refused before anything is written. An
    interrupted run resumes from its last epoch checkpoint; a second process asking for the same
    run waits for the first (:func:`run_lock`). Under torchrun every rank trains its shard; rank 0
    alone writes files and evaluates, the others wait at a barrier.
    """
    from labelaug_core.distributed import barrier

    run_id = config.run_id_for(device)
    config = config.resolved(device)
    run_dir = Path(runs_dir) / run_id
    if is_trained(run_dir) and evaluation_dir(config, run_dir) is not None:
        return run_dir
    check_inputs(config, data_dir)
    source = config.init_source()
    init_checkpoint = None
    if source is not None:
        source_dir = ensure_run(source, runs_dir, data_dir=data_dir, device=device, progress=progress,
                                rank=rank, world_size=world_size)
        init_checkpoint = source_dir / CHECKPOINT
    lock = run_lock(Path(runs_dir), run_id) if rank == 0 else contextlib.nullcontext()
    with lock:
        if is_trained(run_dir):  # trained earlier, or by another process while this one waited
            if rank == 0:
                ensure_evaluation(config, run_dir, data_dir=data_dir, device=device, progress=progress)
            barrier()
            return run_dir
        dev = pick_device(device)
        if rank == 0:
            run_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(run_dir / "config.json", config.to_dict())
            write_json_atomic(run_dir / "key.json", config.run_key(device))
            data_root = os.path.abspath(data_dir) if data_dir else None
            write_json_atomic(run_dir / "env.json", environment(dev, config.precision)
                              | {"world_size": world_size, "data_dir": data_root})
            write_json_atomic(run_dir / DATA_FILE, data_identity(config.dataset, data_dir))
        barrier()
        model, history = train(config, run_dir, data_dir=data_dir, device=device, progress=progress,
                               rank=rank, world_size=world_size, init_checkpoint=init_checkpoint)
        if rank == 0:
            write_text_atomic(run_dir / "history.csv", pd.DataFrame(history).to_csv(index=False))
            ensure_evaluation(config, run_dir, model=model, data_dir=data_dir, device=device, progress=progress)
        barrier()
    return run_dir


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
    """Re-evaluate a run's checkpoint with other attack settings, under the same protocol.

    Writes ``evals/pgd<k>-<logits>-n<subset>-<key>.json`` in the run dir (the run's own evaluation
    is left as it is; the key covers the settings and the code) and returns the metrics; a cached
    re-evaluation is read back, not recomputed. ``data_dir`` defaults to where the run was trained
    from. A run whose training has not finished is refused.
    """
    config = read_config(run_dir)
    if not is_trained(run_dir):
        raise ConfigError(f"run_dir: {run_dir} has not finished training (no history.csv); finish it with "
                          "'labelaug train' and the same settings")
    steps = config.eval_steps if eval_steps is None else eval_steps
    subset = config.eval_subset if eval_subset is None else eval_subset
    if steps < 1:
        raise ConfigError(f"eval_steps must be >= 1; got {steps}")
    if subset < 0:
        raise ConfigError(f"eval_subset must be >= 0; got {subset}")
    if attack_logits not in ("classes", "all"):
        raise ConfigError(f"attack_logits must be one of classes, all; got {attack_logits!r}")
    data_dir = data_dir or recorded_data_dir(run_dir)
    settings = {"run_id": Path(run_dir).name, "test_subset": config.test_subset, "eval_steps": steps, "attack_logits": attack_logits, "eval_subset": subset}
    artifact = Artifact(Path(run_dir) / "evals", f"pgd{steps}-{attack_logits}-n{subset}", settings, REEVAL_CODE)
    if artifact.exists() and artifact.path(".json").is_file():
        return json.loads(artifact.path(".json").read_text())
    model = load_model(run_dir, device, data_dir=data_dir)
    info = dataset_info(config.dataset, data_dir)
    pred = protocol_predictions(model, config, eval_steps=steps, attack_logits=attack_logits, eval_subset=subset,
                                data_dir=data_dir, progress=progress)
    metrics, _ = summarize(pred, info.num_classes)
    metrics.update({"eps": config.eps, "eval_steps": steps, "attack_logits": attack_logits})
    write_json_atomic(artifact.path(".json"), metrics)
    artifact.mark_done()
    return metrics
