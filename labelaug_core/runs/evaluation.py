"""A run's standard evaluation, cached apart from its training.

A run directory holds what training made (its key: the training settings and the training code,
:meth:`~labelaug_core.config.TrainConfig.run_key`). Its evaluation under the protocol
(:mod:`labelaug_core.runs.protocol`: clean error on the ``test_subset``, FGSM and PGD-``eval_steps``
on the first ``eval_subset`` images) is a cached artifact of its own, in
``<run_dir>/evaluation/test<T>-pgd<k>-n<N>-<key>/`` with the sidecar
``<run_dir>/evaluation/test<T>-pgd<k>-n<N>-<key>.key.json`` written last. Its key holds the run id
(the checkpoint's key), the evaluation settings (:data:`~labelaug_core.config.EVAL_FIELDS`) and
the digests of :data:`EVAL_CODE` with everything it imports. So a change of
:func:`~labelaug_core.evaluation.metrics.summarize` re-evaluates from the checkpoint and retrains
nothing; a change of the training code gives a new run id, and so a new evaluation too.

Files of an evaluation folder: ``per_class.csv`` (class, name, clean_err, fgsm_err, pgd_err; %),
``predictions.npz`` (per-example ``y``, ``clean``, ``fgsm``, ``pgd`` predictions, the ``attacked``
mask and, for K + M-output models, ``op_clean``/``op_pgd`` operation probabilities), and
``metrics.json`` (:func:`~labelaug_core.evaluation.metrics.summarize`'s metrics, the attack, the
training time, and for Adv+ :func:`~labelaug_core.evaluation.operation.operation_separation`).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from labelaug_core.cache import Artifact, write_bytes_atomic, write_json_atomic, write_text_atomic
from labelaug_core.config import EVAL_FIELDS, TrainConfig
from labelaug_core.data.sources import dataset_info
from labelaug_core.evaluation.metrics import summarize
from labelaug_core.evaluation.operation import operation_separation
from labelaug_core.runs.protocol import protocol_predictions
from labelaug_core.train import load_checkpoint_model

EVAL_CODE = ("labelaug_core.runs.evaluation",)
EVAL_DIR = "evaluation"
EVAL_FILES = ("per_class.csv", "predictions.npz", "metrics.json")


def evaluation_artifact(config: TrainConfig, run_dir: Path | str) -> Artifact:
    """The cached evaluation of the run ``run_dir`` under ``config``'s evaluation settings (resolved)."""
    config = config.resolved()
    settings = {"run_id": Path(run_dir).name} | {k: getattr(config, k) for k in EVAL_FIELDS}
    name = f"test{config.test_subset}-pgd{config.eval_steps}-n{config.eval_subset}"
    return Artifact(Path(run_dir) / EVAL_DIR, name, settings, EVAL_CODE)


def evaluation_dir(config: TrainConfig, run_dir: Path | str) -> Path | None:
    """The finished evaluation folder of ``config`` in ``run_dir``; None if not (yet) made."""
    artifact = evaluation_artifact(config, run_dir)
    return artifact.stem if artifact.exists() and (artifact.stem / "metrics.json").is_file() else None


def ensure_evaluation(config: TrainConfig, run_dir: Path | str, *, model=None, data_dir: str | None = None,
                      device: str | None = None, progress: bool = True) -> Path:
    """The evaluation folder of the trained run ``run_dir`` under ``config``; evaluated (from the
    checkpoint, or from ``model`` when given) unless already cached."""
    found = evaluation_dir(config, run_dir)
    if found is not None:
        return found
    config = config.resolved(device)
    artifact = evaluation_artifact(config, run_dir)
    if model is None:
        model = load_checkpoint_model(config, Path(run_dir), data_dir=data_dir, device=device)
    info = dataset_info(config.dataset, data_dir)
    pred = protocol_predictions(model, config, data_dir=data_dir, progress=progress)
    metrics, per_class = summarize(pred, info.num_classes)
    metrics.update({"eps": config.eps, "eval_steps": config.eval_steps, "attack": "pgd-linf-first-K-logits"})
    history = pd.read_csv(Path(run_dir) / "history.csv")
    metrics["train_time_s"] = float(history["epoch_time_s"].sum())
    if pred.op_clean is not None:
        metrics["operation"] = operation_separation(pred.op_clean[pred.attacked], pred.op_pgd[pred.attacked])
    out = artifact.stem
    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({"class": range(info.num_classes), "name": info.class_names})
    for name, errs in per_class.items():
        table[f"{name}_err"] = errs
    write_text_atomic(out / "per_class.csv", table.to_csv(index=False))
    buffer = io.BytesIO()
    np.savez(buffer, **pred.arrays())
    write_bytes_atomic(out / "predictions.npz", buffer.getvalue())
    write_json_atomic(out / "metrics.json", metrics)
    artifact.mark_done({"config": config.to_dict()})
    return out
