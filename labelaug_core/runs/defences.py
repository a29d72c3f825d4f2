"""Defences of the weakest class (Tian et al. 2021, "Analysis and Applications of Class-wise
Robustness in Adversarial Training", KDD, Sec. 6): a class-weighted training loss and a
per-class logit adjustment at inference, both aimed at the class with the lowest robust
accuracy, both chosen on held-out data and never on the test images they are reported on.

- **Held-out split** (:func:`heldout_indices`): the training images that the run's
  class-balanced ``train_subset`` leaves out (:func:`labelaug_core.data.sampling.balanced_subset`);
  when the run trains on every training image, the test images outside its ``test_subset``;
  when both are whole, there is none and a ConfigError says so.
- **Which class is weakest** (:func:`weakest_classes`): the highest PGD error of the adv run's
  model on the held-out split. The class-weighted runs (TrainConfig ``weak_classes`` /
  ``weak_class_weight``, the loss in :mod:`labelaug_core.losses`) must name their class before
  they train, so an experiment plan states it; the report recomputes it here and says whether
  they agree.
- **Logit adjustment** (:class:`LogitAdjusted`): a constant bias added to the weakest class's
  logit among the first K; the bias is the one of a grid that maximises the worst-class robust
  accuracy on the held-out split (:func:`choose_bias`). Attacks are white-box against the
  adjusted model: the bias is part of the model.

Accuracies and errors are percentages (0-100); the SD across classes is the population SD
(``ddof = 0``), as in :mod:`labelaug_core.evaluate`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from labelaug_core.cache import Artifact, cached_table
from labelaug_core.data.loaders import load_examples, split_labels
from labelaug_core.data.sampling import balanced_subset
from labelaug_core.data.sources import dataset_info
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.defences import (
    LogitAdjusted,
    _best_bias,
    choose_bias,
    class_robustness,
    rank_weakest,
)
from labelaug_core.evaluation.metrics import per_class_error
from labelaug_core.runs.protocol import protocol_predictions
from labelaug_core.runs.store import Run, load_model

# The code that determines the cached defence tables (with everything it imports): labelaug_core.cache.
DEFENCE_CODE = ("labelaug_core.evaluation.defences", "labelaug_core.runs.protocol", "labelaug_core.runs.defences")


def heldout_indices(config, size: int = 0, *, data_dir: str | None = None) -> tuple[str, torch.Tensor]:
    """A class-balanced held-out split that the run neither trained nor is reported on.

    Args:
        config: the run's TrainConfig (any data set; folder sets are indexed in sorted path order).
        size: how many held-out images (class-balanced, fixed choice); 0 = all that are free.

    Returns:
        (split, indices): ``"train"`` and sorted int64 indices of training images outside the
        run's ``balanced_subset(train_labels, train_subset)``; or, if ``train_subset`` uses every
        training image, ``"test"`` and indices of test images outside its ``test_subset``.
    """
    config = config.resolved()
    if size < 0:
        raise ConfigError(f"heldout_size must be >= 0; got {size}")
    for split, used_n in (("train", config.train_subset), ("test", config.test_subset)):
        if used_n == 0:
            continue
        labels = split_labels(config.dataset, split, data_dir)
        free = torch.ones(len(labels), dtype=torch.bool)
        free[balanced_subset(labels, used_n)] = False
        free = free.nonzero().squeeze(1)
        if len(free) == 0:
            continue
        if size > len(free):
            raise ConfigError(f"heldout_size must be at most {len(free)} (the {split} images the run leaves out); got {size}")
        return split, free[balanced_subset(labels[free], size)]
    raise ConfigError(
        "train_subset: the run uses every training and every test image (train_subset and test_subset are 0 or "
        "whole), so there is no held-out data; train with train_subset below the training set's size")


def heldout_data(config, size: int = 1000, *, data_dir: str | None = None, device: str | torch.device = "cpu"):
    """:func:`heldout_indices`' images: (split, x (N, C, H, W) float [0, 1], y (N,) int64) on ``device``."""
    split, idx = heldout_indices(config, size, data_dir=data_dir)
    config = config.resolved()
    x, y = load_examples(config.dataset, split, idx, data_dir=data_dir, image_size=config.image_size or None)
    return split, x.to(device), y.to(device)


def heldout_class_errors(run: Run, *, size: int = 1000, steps: int | None = None, data_dir: str | None = None,
                         device: str | None = None) -> pd.DataFrame:
    """Per-class clean and PGD error (%) of a run's model on its held-out split (:func:`heldout_indices`).

    ``steps`` defaults to the run's ``eval_steps``. Cached in ``<run_dir>/evals/heldout-*.csv``.
    Columns: ``class``, ``name``, ``n``, ``clean_err``, ``robust_err``, ``split``.
    """
    config = run.config
    steps = config.eval_steps if steps is None else steps
    settings = {**run.identity(), "size": size, "steps": steps, "eps": config.eps}

    def compute() -> pd.DataFrame:
        model = load_model(run.run_dir, device, data_dir=data_dir)
        split, x, y = heldout_data(config, size, data_dir=data_dir, device=next(model.parameters()).device)
        table = class_robustness(model, x, y, config.eps, steps=steps, seed=config.seed)
        return pd.DataFrame({"class": table["class"], "name": dataset_info(config.dataset, data_dir).class_names,
                             "n": table["n"], "clean_err": 100.0 - table["clean_acc"],
                             "robust_err": 100.0 - table["robust_acc"], "split": split})

    return cached_table(Artifact(Path(run.run_dir) / "evals", f"heldout-n{size}-pgd{steps}", settings, DEFENCE_CODE), compute)


def weakest_classes(run: Run, n: int = 1, *, size: int = 1000, steps: int | None = None, data_dir: str | None = None,
                    device: str | None = None) -> list[int]:
    """The ``n`` classes with the highest PGD error of ``run``'s model (the adv run) on held-out data,
    weakest first (:func:`heldout_class_errors`, :func:`rank_weakest`)."""
    table = heldout_class_errors(run, size=size, steps=steps, data_dir=data_dir, device=device)
    return rank_weakest(table["robust_err"].to_numpy(), n)


def choose_run_bias(run: Run, weak_class: int, biases, *, size: int = 1000, steps: int = 10,
                    data_dir: str | None = None, device: str | None = None) -> tuple[float, pd.DataFrame]:
    """:func:`choose_bias` for a run's model on its held-out split; the table cached in ``<run_dir>/evals/``."""
    biases = [float(b) for b in biases]
    settings = {**run.identity(), "weak_class": int(weak_class), "biases": biases, "size": size, "steps": steps}

    def compute() -> pd.DataFrame:
        model = load_model(run.run_dir, device, data_dir=data_dir)
        _, x, y = heldout_data(run.config, size, data_dir=data_dir, device=next(model.parameters()).device)
        return choose_bias(model, x, y, run.config.eps, weak_class, biases, steps=steps, seed=run.config.seed)[1]

    frame = cached_table(Artifact(Path(run.run_dir) / "evals", f"bias-c{weak_class}", settings, DEFENCE_CODE), compute)
    return _best_bias(frame), frame


def evaluate_adjusted(run: Run, bias: torch.Tensor | None = None, *, data_dir: str | None = None,
                      device: str | None = None) -> pd.DataFrame:
    """Per-class clean / FGSM / PGD error (%) of a run's model with a logit ``bias`` ((K,) or None), on
    its test set with the run's own protocol (:mod:`labelaug_core.runs.evaluation`: clean on
    ``test_subset``, white-box FGSM and PGD-``eval_steps`` on the first ``eval_subset``, the same
    random starts). Without a bias this is the run's ``per_class.csv``; otherwise cached in
    ``<run_dir>/evals/logit-adjusted-*.csv``.
    """
    if bias is None or not bool(torch.as_tensor(bias).any()):
        return run.per_class.copy()
    config = run.config
    bias = torch.as_tensor(bias, dtype=torch.float32)
    settings = {**run.identity(), "bias": [round(float(b), 6) for b in bias]}

    def compute() -> pd.DataFrame:
        model = LogitAdjusted(load_model(run.run_dir, device, data_dir=data_dir), bias)
        pred = protocol_predictions(model, config, data_dir=data_dir)
        info = dataset_info(config.dataset, data_dir)
        a = pred.attacked
        return pd.DataFrame({
            "class": range(info.num_classes), "name": info.class_names,
            "clean_err": per_class_error(pred.y, pred.clean, info.num_classes),
            "fgsm_err": per_class_error(pred.y[a], pred.fgsm[a], info.num_classes),
            "pgd_err": per_class_error(pred.y[a], pred.pgd[a], info.num_classes),
        })

    return cached_table(Artifact(Path(run.run_dir) / "evals", "logit-adjusted", settings, DEFENCE_CODE), compute)


# --- the weakest-class chapter's defences of every run (chapter 11) ---------------------------------

def bias_choices(runs_by_method: dict[str, list[Run]], weak_class: int, biases, *, size: int, steps: int,
                 methods: tuple[str, ...] = ("adv", "advplus"), data_dir: str | None = None,
                 choose=None) -> tuple[dict[tuple[str, int], float], pd.DataFrame]:
    """The logit bias of ``weak_class`` chosen for each run of ``methods`` on its held-out split
    (``choose`` = :func:`choose_run_bias` by default): ``({(method, seed): bias}, the candidates' table
    of each method's first seed, index (model, row))``."""
    from labelaug_core.runs.collect import METHOD_NAMES

    if choose is None:
        choose = choose_run_bias
    chosen, grids = {}, {}
    for method in methods:
        for run in runs_by_method[method]:
            chosen[(method, run.config.seed)], grid = choose(run, weak_class, biases, size=size, steps=steps,
                                                             data_dir=data_dir)
            grids.setdefault(METHOD_NAMES.get(method, method), grid)
    return chosen, pd.concat(grids, names=["model", "row"])  # report.defences.bias_grid_table names the classes


def defence_rows(runs_by_method: dict[str, list[Run]], weighted: dict[str, list[Run]] | None,
                 chosen: dict[tuple[str, int], float], weak_class: int, num_classes: int,
                 weak_class_weight: float, data_dir: str | None = None) -> dict[str, list[pd.DataFrame]]:
    """Per-class error tables (one per seed) of every model and defence of the weakest-class chapter:
    ``Adv`` and ``Adv+``; with ``weighted`` (the class-weighted runs, or None) ``Adv, loss weight w``
    and ``Adv+, loss weight w``; and ``Adv, logit bias`` / ``Adv+, logit bias`` (the run evaluated
    with the ``chosen`` bias on ``weak_class``, :func:`evaluate_adjusted`).
    Ready for :func:`labelaug_core.report.defences.defence_table`."""
    from labelaug_core.evaluation.defences import class_bias
    from labelaug_core.runs.collect import METHOD_NAMES

    rows = {"Adv": [r.per_class for r in runs_by_method["adv"]], "Adv+": [r.per_class for r in runs_by_method["advplus"]]}
    if weighted is not None:
        rows[f"Adv, loss weight {weak_class_weight:g}"] = [r.per_class for r in weighted["adv"]]
        rows[f"Adv+, loss weight {weak_class_weight:g}"] = [r.per_class for r in weighted["advplus"]]
    for method in ("adv", "advplus"):
        rows[f"{METHOD_NAMES[method]}, logit bias"] = [
            evaluate_adjusted(r, class_bias(num_classes, [weak_class], chosen[(method, r.config.seed)]), data_dir=data_dir)
            for r in runs_by_method[method]]
    return rows


def attacked_class_counts(runs: list[Run], num_classes: int) -> list[int]:
    """The attacked test images per class of the first of ``runs`` (the runs' own PGD evaluation,
    the same images for every seed and model of a plan): what a per-class robust accuracy of
    chapter 11 rests on, per seed."""
    pred = runs[0].predictions()
    return [int(k) for k in np.bincount(np.asarray(pred.y)[np.asarray(pred.attacked)], minlength=num_classes)]
