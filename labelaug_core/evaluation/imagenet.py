"""ImageNet-only evaluations: ReaL error and ImageNet-X factors of variation.

- **ReaL** (Beyer et al., "Are we done with ImageNet?", 2020): re-assessed, multi-label labels
  of the 50,000 validation images. A prediction is right if it is in the image's ReaL set;
  the 3,163 images whose set is empty (no original label survived re-assessment) are left out,
  the convention of the ReaL paper. Amerehi & Healy (2025) report it in Table 2 and Fig. 1.
- **ImageNet-X** (Idrissi et al., "ImageNet-X: understanding model mistakes with factor of
  variation annotations", ICLR 2023): 16 human-annotated factors (pose, background, ...) per
  validation image. Error per factor and error ratio ``(1 - acc(factor)) / (1 - acc(model))``
  are the paper's Figs. 3 and 4; both are computed by the ``imagenet-x`` package itself.

Both annotation sets come from the ``imagenet-x`` package (pinned): it ships ReaL's labels
(``imagenet_real_labels.jsonl``, from google-research/reassessed-imagenet), ImageNet's class list
and validation labels, and its own annotations, which are licensed **CC BY-NC 4.0** (the
package's LICENSE file): non-commercial use only.

**Class indices.** ReaL and ImageNet-X name classes by their ImageNet index, the position of the
class's WordNet id (``n01440764`` ...) in the sorted list of the 1000 ids. A model trained here on
``imagenet`` has one output per ``train/`` class folder, in sorted order, so with all 1000
folders its output k *is* ImageNet class k. With a subset of the classes (as in the tests), its
output k is the k-th folder, whose ImageNet index is looked up by WordNet id; such a model can
only ever predict classes of its subset, so an image whose ReaL set holds none of them counts as
an error, as it should. A model with 1000 class outputs (torchvision's, say) is read as
predicting ImageNet indices directly, whatever folders the images come from.

Validation images are matched to annotations by file name (``ILSVRC2012_val_00000001.JPEG`` ...
``ILSVRC2012_val_00050000.JPEG``), read from the loader's paths; a file with another name, or
filed under a class folder that is not its ImageNet label, raises :class:`ConfigError`.
Every ``*_err`` is a percentage; ImageNet-X accuracies are fractions, as the package returns them.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.metrics import class_stats
from labelaug_core.models import predict

N_VAL = 50_000


NUM_IMAGENET_CLASSES = 1000


VAL_NAMES = "ILSVRC2012_val_00000001.JPEG ... ILSVRC2012_val_00050000.JPEG"


_VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG")


def _annotations() -> Path:
    """The imagenet-x package's annotation folder, found without importing the package (scipy: seconds)."""
    spec = importlib.util.find_spec("imagenet_x")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("imagenet-x is not installed; ReaL and ImageNet-X need it (pip install imagenet-x==0.0.7)")
    return Path(spec.submodule_search_locations[0]) / "annotations"


def require_imagenet(dataset: str) -> None:
    """ConfigError unless ``dataset`` is imagenet: ReaL and ImageNet-X annotate ImageNet only."""
    if dataset != "imagenet":
        raise ConfigError(f"dataset must be imagenet for ReaL and ImageNet-X (they annotate ImageNet's "
                          f"validation images only); got {dataset!r}")


@functools.cache
def imagenet_classes() -> pd.DataFrame:
    """The 1000 ImageNet classes in index order: columns ``wnid``, ``name`` (index 0-999)."""
    return pd.read_csv(_annotations() / "imagenet_labels.txt", names=["wnid", "name"])


@functools.cache
def _real_sets() -> tuple[frozenset[int], ...]:
    """ReaL label set of validation image i + 1 at position i (50,000 entries)."""
    with open(_annotations() / "imagenet_real_labels.jsonl") as f:  # one JSON list, despite the name
        return tuple(frozenset(labels) for labels in json.load(f))


@functools.cache
def _val_labels() -> np.ndarray:
    """Original label (ImageNet index) of validation image i + 1 at position i."""
    table = pd.read_csv(_annotations() / "filename_label.csv")
    labels = np.full(N_VAL, -1, dtype=np.int64)
    labels[[_val_index(f) for f in table["file_name"]]] = table["label"].to_numpy()
    return labels


def _val_index(file_name: str) -> int:
    """0-based position of a validation file name; ConfigError naming the expected names otherwise."""
    match = _VAL_NAME.fullmatch(file_name)
    number = int(match.group(1)) if match else 0
    if not 1 <= number <= N_VAL:
        raise ConfigError(f"validation file {file_name!r} matches no ReaL/ImageNet-X annotation; "
                          f"expected ImageNet's validation names {VAL_NAMES}")
    return number - 1


def imagenet_indices(class_names) -> np.ndarray:
    """ImageNet index (0-999) of each class folder name (a WordNet id such as ``n01440764``)."""
    index = {wnid: i for i, wnid in enumerate(imagenet_classes()["wnid"])}
    unknown = [c for c in class_names if c not in index]
    if unknown:
        raise ConfigError(f"class folder {unknown[0]!r} is not an ImageNet class; expected WordNet ids "
                          f"such as n01440764 (the folder names of ImageNet's train/ and val/)")
    return np.array([index[c] for c in class_names], dtype=np.int64)


def predictions_frame(paths, y, pred, class_names, num_classes: int) -> pd.DataFrame:
    """Predictions on validation images as ImageNet indices, checked against ImageNet's labels.

    paths: (N,) file paths (only the base names are used); y, pred: (N,) ints, the folder class
    and the model's argmax over its first ``num_classes`` logits; class_names: the train/ class
    folders (WordNet ids), sorted. ``num_classes`` is 1000 (outputs are ImageNet classes) or
    ``len(class_names)`` (outputs are the folders). Returns columns file_name, label,
    predicted_class (ImageNet indices 0-999), one row per image, in the given order.
    """
    y, pred = np.asarray(y, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    if not len(paths) == len(y) == len(pred):
        raise ConfigError(f"paths, y and pred must have one entry per image; got {len(paths)}, {len(y)}, {len(pred)}")
    folders = imagenet_indices(class_names)
    if num_classes == NUM_IMAGENET_CLASSES:
        predicted = pred
    elif num_classes == len(class_names):
        predicted = folders[pred]
    else:
        raise ConfigError(f"num_classes must be {NUM_IMAGENET_CLASSES} (ImageNet outputs) or {len(class_names)} "
                          f"(one per class folder); got {num_classes}")
    names = [os.path.basename(str(p)) for p in paths]
    positions = np.array([_val_index(n) for n in names], dtype=np.int64)
    official, label = _val_labels()[positions], folders[y]
    wrong = np.flatnonzero(official != label)
    if len(wrong):
        i = wrong[0]
        raise ConfigError(f"validation file {names[i]} is filed under {class_names[y[i]]} but its ImageNet label "
                          f"is {imagenet_classes()['wnid'][official[i]]}; expected val/<wnid>/ folders sorted by "
                          f"ImageNet's labels")
    return pd.DataFrame({"file_name": names, "label": label, "predicted_class": predicted})


@torch.no_grad()
def model_predictions(model, loader, class_names, *, progress: bool = False) -> pd.DataFrame:
    """:func:`predictions_frame` of ``model`` on every batch of a validation FolderLoader.

    loader: from ``make_loader("imagenet", "test", ..., train=False)``, yielding (x [0, 1]
    (B, 3, H, W), y) on the model's device; its :meth:`paths` give the file names.
    """
    paths = loader.paths()
    y = np.asarray([t for _, t in loader.samples])[loader.epoch_indices().numpy()]
    predictions_frame(paths, y, y, class_names, len(class_names))  # file names and folders: fail before the pass
    was_training = model.training
    model.eval()
    try:
        preds = [predict(model, x).cpu() for x, _ in tqdm(loader, disable=not progress)]
    finally:
        model.train(was_training)
    return predictions_frame(paths, y, torch.cat(preds).numpy(), class_names, model.num_classes)


def real_error(predictions: pd.DataFrame) -> tuple[dict[str, float], pd.DataFrame]:
    """ReaL error (Beyer et al. 2020) of a :func:`predictions_frame`, overall and per class.

    Images with an empty ReaL set are left out. Per-class error groups the remaining images by
    their original label; the class statistics are over the classes present among them (every
    class once at least 1,000 images are scored, since evaluation order interleaves the classes),
    and ``n_classes`` says how many. Returns metrics (percent): ``real_err``, ``real_class_mean``,
    ``real_class_sd`` (ddof=0, as Table 2), ``real_class_worst``, and counts ``n_real`` (images
    scored), ``n_excluded``; and a table with columns label, wnid, n, real_err (one row per class).
    """
    sets = _real_sets()
    real = [sets[_val_index(f)] for f in predictions["file_name"]]
    scored = np.array([len(s) > 0 for s in real])
    correct = np.array([p in s for p, s in zip(predictions["predicted_class"], real)])
    frame = pd.DataFrame({"label": predictions["label"].to_numpy()[scored], "wrong": ~correct[scored]})
    per_class = frame.groupby("label")["wrong"].agg(n="size", real_err="mean").reset_index()
    per_class["real_err"] *= 100.0
    per_class.insert(1, "wnid", imagenet_classes()["wnid"].to_numpy()[per_class["label"]])
    stats = (class_stats(per_class["real_err"].to_numpy()) if len(per_class)
             else dict.fromkeys(("mean", "sd", "worst"), np.nan))
    metrics = {"real_err": float(100.0 * frame["wrong"].mean()) if len(frame) else float("nan"),
               **{f"real_class_{k}": v for k, v in stats.items()},
               "n_real": int(scored.sum()), "n_excluded": int((~scored).sum()), "n_classes": int(len(per_class))}
    return metrics, per_class


@functools.cache
def _imagenet_x_annotations(which_factor: str) -> pd.DataFrame:
    """The package's validation annotations without prototypical images (read once: 17 MB of JSON)."""
    from imagenet_x import load_annotations

    if which_factor not in ("top", "multi"):
        raise ConfigError(f"which_factor must be one of top, multi; got {which_factor!r}")
    return load_annotations(which_factor=which_factor, partition="val", filter_prototypes=True)


def imagenet_x_accuracies(predictions: dict[str, pd.DataFrame | list[pd.DataFrame]], *,
                          which_factor: str = "top") -> pd.DataFrame:
    """Top-1 accuracy per ImageNet-X factor (Idrissi et al. 2023), by the ``imagenet-x`` package.

    predictions: model name -> :func:`predictions_frame` (or a list of them, one per seed: their
    accuracies are averaged). ``which_factor``: ``top`` (each image's main factor, the package's
    default) or ``multi`` (every factor marked). Prototypical images are left out, as the
    package does. Returns one row per model: the 16 factors (fractions; NaN for a factor none of
    the images has), ``worst_factor`` and ``average`` (accuracy on the annotated images).
    """
    from imagenet_x import FACTORS, augment_model_predictions
    from imagenet_x.aggregate import compute_factor_accuracies

    annotations = _imagenet_x_annotations(which_factor)
    models, owner = {}, {}
    for name, frames in predictions.items():
        for i, frame in enumerate(frames if isinstance(frames, list) else [frames]):
            key = name if not isinstance(frames, list) else f"{name}#{i}"
            models[key] = frame.loc[:, ["file_name", "predicted_class"]].assign(predicted_probability=1.0)
            owner[key] = name
    for key, frame in models.items():
        if not frame["file_name"].isin(annotations["file_name"]).any():
            raise ConfigError(f"predictions of {owner[key]!r}: none of its {len(frame)} validation images has an "
                              f"ImageNet-X annotation; expected ImageNet's validation names {VAL_NAMES}")
    with warnings.catch_warnings():
        # imagenet-x 0.0.7 reads the ReaL file without closing it and pads ReaL's ragged lists with
        # a pandas construction that pandas 3 deprecates (Pandas4Warning, a DeprecationWarning);
        # neither changes its results.
        warnings.filterwarnings("ignore", "unclosed file.*imagenet_real_labels", ResourceWarning)
        warnings.filterwarnings("ignore", "Constructing a DataFrame from a list of sequences", DeprecationWarning)
        merged = augment_model_predictions(annotations, models)
    acc = compute_factor_accuracies(merged, FACTORS, "is_correct").reindex(list(models))
    # The package counts correct images by grouping the correct rows only, so a model that is never
    # right gets NaN instead of 0: an accuracy is 0 wherever the factor has images.
    totals = merged.groupby("model")[FACTORS].sum().reindex(list(models))
    acc[FACTORS] = acc[FACTORS].where(acc[FACTORS].notna() | (totals == 0), 0.0)
    acc["average"] = merged.groupby("model")["is_correct"].mean().reindex(list(models))
    acc = acc.groupby(pd.Series(owner)[acc.index].to_numpy(), sort=False).mean()
    acc["worst_factor"] = acc[FACTORS].min(axis=1)
    acc.index.name = "model"
    return acc[[*FACTORS, "worst_factor", "average"]]


def imagenet_x_counts(predictions: pd.DataFrame, *, which_factor: str = "top") -> pd.Series:
    """How many of the predicted images carry each factor (the support of each accuracy)."""
    from imagenet_x import FACTORS

    annotations = _imagenet_x_annotations(which_factor)
    return annotations[annotations["file_name"].isin(predictions["file_name"])][FACTORS].sum().rename("images")


def factor_errors(accuracies: pd.DataFrame) -> pd.DataFrame:
    """Error per factor in percent, ``100 * (1 - acc)``, plus ``average``: the paper's Fig. 3."""
    from imagenet_x import FACTORS

    return 100.0 * (1.0 - accuracies[[*FACTORS, "average"]])


def error_ratios(accuracies: pd.DataFrame) -> pd.DataFrame:
    """``(1 - acc(factor)) / (1 - acc(model))`` per factor, by the package: the paper's Fig. 4.

    Above 1: the model errs more often on images with that factor than on average.
    """
    from imagenet_x import error_ratio

    return error_ratio(accuracies)


def real_errors(predictions: dict[str, pd.DataFrame], score=None) -> tuple[dict[str, dict], dict[str, pd.DataFrame]]:
    """ReaL error of every run's predictions (``{run_id: frame}``, :func:`labelaug_core.runs.run_predictions`):
    ``({run_id: metrics}, {run_id: per-class table})`` of ``score`` (default :func:`real_error`)."""
    if score is None:
        score = real_error
    scored = {run_id: score(frame) for run_id, frame in predictions.items()}
    return ({run_id: metrics for run_id, (metrics, _) in scored.items()},
            {run_id: table for run_id, (_, table) in scored.items()})
