"""Error under corruption: cached corrupted test sets, per-corruption errors, mCE and ImageNet-C.

``corrupted_set`` stores generated sets under the cache directory, keyed by the clean images,
the corruption, the severity, the seed and the code that generates them. Images larger than
32 px (the ImageNet-C recipe) end, as Hendrycks' ``make_imagenet_c.py`` writes every ImageNet-C file,
with a JPEG save at quality 85 decoded back to pixels; 28-32 px sets (Fashion-MNIST, CIFAR) do not,
as CIFAR-10-C's ``make_cifar_c.py`` stores uint8 arrays (:mod:`labelaug_core.evaluation.corruptions`).
mCE follows Hendrycks & Dietterich 2019 (errors relative to a baseline model, averaged over severities).
"""
from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from labelaug_core.cache import Artifact, write_bytes_atomic
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.corruptions import (
    _PACKAGE_VERSION,
    CORRUPTIONS,
    SEVERITIES,
    _as_uint8,
    _check_seed,
    corrupt,
    log,
    validate,
)
from labelaug_core.evaluation.metrics import error_pct, per_class_error
from labelaug_core.models import predict

# The code that generates corrupted images (with everything it imports): labelaug_core.cache.
GENERATOR_CODE = ("labelaug_core.evaluation.corruptions",)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/labelaug/corruptions``, or ``~/.cache/labelaug/corruptions``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "labelaug" / "corruptions"


def _digest(images: np.ndarray, labels: np.ndarray) -> str:
    h = hashlib.sha256(repr((images.shape, labels.shape)).encode())
    h.update(images.tobytes())
    h.update(labels.astype(np.int64).tobytes())
    return h.hexdigest()


def _load_checked(path: Path, shape: tuple[int, ...], labels: np.ndarray) -> np.ndarray | None:
    """The cached images if the file is complete and matches its stored hash, else None."""
    try:
        with open(path, "rb") as handle, np.load(handle) as f:  # own handle: np.load leaks it on bad zips
            images, stored_labels, digest = f["images"], f["labels"], str(f["sha256"])
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        log.info("regenerating %s: unreadable (%s)", path, err)
        return None
    if images.shape != shape or images.dtype != np.uint8 or not np.array_equal(stored_labels, labels) \
            or digest != _digest(images, stored_labels):
        log.info("regenerating %s: content check failed", path)
        return None
    return images


def corrupted_set(dataset_name: str, images, labels, corruption: str, severity: int, *, seed: int = 0,
                  cache_dir: str | Path | None = None, workers: int | None = None,
                  progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The corrupted test set (uint8 (N, C, H, W), int64 (N,) labels), generated once and cached.

    The file ``<cache_dir>/<dataset_name>/<corruption>_s<severity>_seed<seed>-<key>.npz`` holds
    the images, labels and their SHA-256; ``key`` covers the clean input, the corruption package's
    version and the code that generates the images (:data:`GENERATOR_CODE`, under the cache rule of
    :mod:`labelaug_core.cache`), so another subset or a change of the generator gets another file.
    Written atomically; a truncated or altered file is detected and regenerated.
    """
    validate(corruption, severity)
    _check_seed(seed)
    if not dataset_name or any(sep in dataset_name for sep in ("/", "\\")) or dataset_name.startswith("."):
        raise ConfigError(f"dataset_name must be a plain name without path separators; got {dataset_name!r}")
    images = _as_uint8(images)
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels, dtype=np.int64)
    if len(labels) != len(images):
        raise ConfigError(f"labels must have one entry per image ({len(images)}); got {len(labels)}")
    settings = {"images": _digest(images, labels), "imagecorruptions-imaug": _PACKAGE_VERSION}
    artifact = Artifact(Path(cache_dir or default_cache_dir()) / dataset_name, f"{corruption}_s{severity}_seed{seed}",
                        settings, GENERATOR_CODE)
    path = artifact.path(".npz")
    if artifact.exists() and path.exists() and (cached := _load_checked(path, images.shape, labels)) is not None:
        return cached, labels
    out = corrupt(images, corruption, severity, seed, workers=workers, progress=progress)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=out, labels=labels, sha256=_digest(out, labels))
    write_bytes_atomic(path, buffer.getvalue())
    artifact.mark_done()
    return out, labels


@torch.no_grad()
def _predict(model, batches, device) -> tuple[np.ndarray, np.ndarray]:
    """(labels, predictions) over (x float [0, 1] (B, C, H, W), y) batches; argmax of the first K logits."""
    was_training = model.training
    model.eval()
    ys, preds = [], []
    try:
        for x, y in batches:
            preds.append(predict(model, x.to(device)).cpu())
            ys.append(torch.as_tensor(y).cpu())
    finally:
        model.train(was_training)
    return torch.cat(ys).numpy(), torch.cat(preds).numpy()


def _row(corruption: str, severity: int, y: np.ndarray, pred: np.ndarray, num_classes: int) -> dict:
    row = {"corruption": corruption, "severity": severity, "n": len(y), "err": error_pct(y, pred)}
    row.update({f"class_{k}_err": e for k, e in enumerate(per_class_error(y, pred, num_classes))})
    return row


def corruption_errors(model, images, labels, *, dataset_name: str, corruptions=CORRUPTIONS,
                      severities=SEVERITIES, batch_size: int = 256, device="cpu", seed: int = 0,
                      cache_dir: str | Path | None = None, workers: int | None = None,
                      progress: bool = True) -> pd.DataFrame:
    """``E_{c,s}`` of ``model`` on corrupted copies of a test set (Amerehi & Healy 2025, Fig. 2).

    ``images``: uint8 (N, C, H, W) or floats in [0, 1]; ``labels``: (N,) ints. Returns one row per
    (corruption, severity): ``corruption``, ``severity``, ``n``, ``err`` and ``class_{k}_err`` for
    k < K (percent; NaN for a class absent from ``labels``). Feed it to :func:`mce` / :func:`class_ce`.
    """
    rows = []
    for corruption in tqdm(corruptions, desc="corruptions", disable=not progress):
        for severity in severities:
            x, y = corrupted_set(dataset_name, images, labels, corruption, severity, seed=seed,
                                 cache_dir=cache_dir, workers=workers, progress=progress)
            batches = ((torch.from_numpy(x[i : i + batch_size]).float() / 255, y[i : i + batch_size])
                       for i in range(0, len(x), batch_size))
            rows.append(_row(corruption, severity, *_predict(model, batches, device), model.num_classes))
    return pd.DataFrame(rows)


def mce(errors: pd.DataFrame) -> tuple[pd.Series, float]:
    """``CE_c`` (mean of ``err`` over severities, percent, by corruption) and ``mCE`` (mean of the CE_c)."""
    missing = {"corruption", "err"} - set(errors.columns)
    if missing:
        raise ConfigError(f"errors must have columns corruption and err; missing {sorted(missing)}")
    ce = errors.groupby("corruption", sort=False)["err"].mean().rename("ce")
    return ce, float(ce.mean())


def class_ce(errors: pd.DataFrame) -> pd.DataFrame:
    """Per-class ``CE_c``: rows corruption, columns class k, mean of ``class_{k}_err`` over severities.

    ``class_ce(df).mean()`` is the per-class mCE (K,), the class-wise view of Fig. 2.
    """
    columns = [c for c in errors.columns if c.startswith("class_") and c.endswith("_err")]
    table = errors.groupby("corruption", sort=False)[columns].mean()
    table.columns = [int(c[len("class_") : -len("_err")]) for c in columns]
    return table


_LAYOUT = "<root>/<corruption>/<severity>/<class>/*.JPEG"


def imagenet_c_loader(root: str | Path, corruption: str, severity: int, batch_size: int, image_size: int = 224,
                      *, workers: int = 2, classes=None, file_names=None) -> torch.utils.data.DataLoader:
    """Batches (x float [0, 1] (B, 3, image_size, image_size), y int64) of one ImageNet-C folder.

    Reads the standard layout ``<root>/<corruption>/<severity>/<class>/*.JPEG`` with torchvision's
    ImageFolder (classes sorted, so WordNet-id folders get the usual ImageNet indices). ImageNet-C
    images are already 224 x 224 centre crops, so the transform is Resize(image_size) +
    CenterCrop(image_size): the identity at 224, as in Hendrycks' evaluation. No normalisation.

    ``classes``: the model's class folders (WordNet ids) in the order of its outputs, for a model
    trained on a subset of ImageNet's classes; images of other classes are left out and the label
    of an image is its class's position in ``classes`` (default: every class folder, sorted).
    ``file_names``: keep only the images with these base names (ImageNet-C keeps the validation
    file names, so these can be the clean images a model was evaluated on); each must be there.
    """
    from torchvision import datasets, transforms

    validate(corruption, severity)
    folder = Path(root) / corruption / str(severity)
    if not folder.is_dir() or not any(p.is_dir() for p in folder.iterdir()):
        raise ConfigError(f"root must hold ImageNet-C as {_LAYOUT}; {folder} is missing or has no class folders")
    tf = transforms.Compose([transforms.Resize(image_size), transforms.CenterCrop(image_size), transforms.ToTensor()])
    try:
        dataset = datasets.ImageFolder(str(folder), transform=tf)
    except FileNotFoundError as err:
        raise ConfigError(f"root must hold ImageNet-C as {_LAYOUT}; {err}") from None
    if classes is not None or file_names is not None:
        dataset.samples = dataset.imgs = _select(dataset, folder, classes, file_names)
        dataset.targets = [t for _, t in dataset.samples]
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)


def _select(dataset, folder: Path, classes, file_names) -> list[tuple[str, int]]:
    """ImageFolder samples of ``classes`` (labels = positions in it) named in ``file_names``."""
    index = dataset.class_to_idx if classes is None else {c: i for i, c in enumerate(classes)}
    wanted = None if file_names is None else set(file_names)
    samples = [(path, index[dataset.classes[t]]) for path, t in dataset.samples
               if dataset.classes[t] in index and (wanted is None or os.path.basename(path) in wanted)]
    missing = sorted((wanted or set()) - {os.path.basename(path) for path, _ in samples})
    if missing:
        raise ConfigError(f"root must hold every evaluated image in {_LAYOUT}; {folder} lacks {len(missing)} of "
                          f"{len(wanted)} (e.g. {missing[0]}) in the model's class folders")
    return samples


def imagenet_c_errors(model, root: str | Path, *, corruptions=CORRUPTIONS, severities=SEVERITIES,
                      batch_size: int = 64, image_size: int = 224, device="cpu", workers: int = 2,
                      classes=None, file_names=None, progress: bool = True) -> pd.DataFrame:
    """:func:`corruption_errors` on an ImageNet-C directory (the paper's Fig. 2): same columns.

    ``classes`` and ``file_names`` select images as in :func:`imagenet_c_loader`.
    """
    rows = []
    for corruption in tqdm(corruptions, desc="ImageNet-C", disable=not progress):
        for severity in severities:
            loader = imagenet_c_loader(root, corruption, severity, batch_size, image_size, workers=workers,
                                       classes=classes, file_names=file_names)
            rows.append(_row(corruption, severity, *_predict(model, loader, device), model.num_classes))
    return pd.DataFrame(rows)
