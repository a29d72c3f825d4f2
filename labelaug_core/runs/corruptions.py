"""Corruption error of a finished run, computed once and kept in its run directory.

Amerehi & Healy (2025) report mCE on ImageNet-C (Table 1) and ``E_{c,s}`` by corruption and
severity (Fig. 2). :func:`corruption_eval` measures the same quantities for any run and keeps
them beside its other results:

- ``<run_dir>/corruption-n<n>-s<seed>-<key>.csv``: one row per (corruption, severity), the columns
  of :func:`labelaug_core.evaluation.corrupted_sets.corruption_errors` (``n``, ``err``,
  ``class_{k}_err``; percent), under the cache rule of :mod:`labelaug_core.cache`;
- its ``.key.json`` sidecar: the settings, the code digests and how the table was made.

Where the corrupted images come from:

- small sets (28-32 px): the run's test images corrupted with the CIFAR-10-C constants (the
  ImageNet-C ones would wipe out so small an image), generated once per image set and cached;
- imagenet with the released ImageNet-C files (``imagenet_c_dir``, or ``<data root>/imagenet-c``):
  those files, for the same validation images as the clean subset, as the paper did;
- imagenet or imagefolder otherwise: the clean evaluation crops corrupted with the ImageNet-C
  constants (the ImageNet-C recipe at 224 px; at 32 px and below the CIFAR-10-C constants).
"""
from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from labelaug_core.cache import Artifact, write_text_atomic
from labelaug_core.config import TrainConfig
from labelaug_core.errors import ConfigError


def find_imagenet_c(data_dir: str | None = None) -> Path | None:
    """``<root>/imagenet-c`` for the first root among ``data_dir`` and ``$LABELAUG_DATA`` that has it."""
    for root in dict.fromkeys((data_dir, os.environ.get("LABELAUG_DATA"))):
        if root and (Path(root) / "imagenet-c").is_dir():
            return Path(root) / "imagenet-c"
    return None


def _test_loader(config: TrainConfig, n_images: int, data_dir: str | None, workers: int):
    """The evaluation loader of a folder data set over a class-balanced ``n_images`` subset."""
    from labelaug_core.data.loaders import make_loader

    def loader(subset: int):
        return make_loader(config.dataset, "test", 256, train=False, data_dir=data_dir, seed=config.seed,
                           subset=subset, image_size=config.image_size or None, num_workers=workers)

    everything = loader(0)
    if n_images > len(everything.samples):
        raise ConfigError(f"n_images must be at most {len(everything.samples)} (the validation images of "
                          f"{config.dataset}); got {n_images}")
    return everything if n_images == 0 else loader(n_images)


def clean_images(config: TrainConfig, n_images: int, *, data_dir: str | None = None,
                 workers: int = 2) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """The clean test images whose corrupted copies are scored: a fixed class-balanced subset.

    Returns images uint8 (N, C, H, W) as the model sees them (folder sets: the evaluation
    resize and centre crop), labels int64 (N,), and the image paths (folder sets; else None).
    ``n_images`` = 0: the whole test split (all in memory).
    """
    from labelaug_core.data.readers import load_arrays
    from labelaug_core.data.sampling import balanced_subset
    from labelaug_core.data.sources import SMALL_DATASETS

    if n_images < 0:
        raise ConfigError(f"n_images must be >= 0 (0 = the whole test split); got {n_images}")
    if config.dataset in SMALL_DATASETS:
        images, labels = load_arrays(config.dataset, "test", data_dir)
        if n_images > len(labels):
            raise ConfigError(f"n_images must be at most {len(labels)} (the test split of {config.dataset}); "
                              f"got {n_images}")
        keep = balanced_subset(labels, n_images)
        return images[keep].numpy(), labels[keep].numpy(), None
    loader = _test_loader(config, n_images, data_dir, workers)
    xs, ys = zip(*[(x.mul(255).round().to(torch.uint8), y) for x, y in loader])
    return torch.cat(xs).numpy(), torch.cat(ys).numpy(), loader.paths()


# The code that determines a corruption table (with everything it imports): labelaug_core.cache.
CORRUPTION_CODE = ("labelaug_core.evaluation.corrupted_sets", "labelaug_core.runs.corruptions")


def _artifact(run_dir: Path, n_images: int, seed: int, imagenet_c: Path | None) -> Artifact:
    settings = {"run_id": run_dir.name, "n_images": n_images, "seed": seed,
                "source": "imagenet-c" if imagenet_c is not None else "generated"}
    return Artifact(run_dir, f"corruption-n{n_images}-s{seed}", settings, CORRUPTION_CODE)


def _imagenet_c(config: TrainConfig, data_dir: str | None, imagenet_c_dir: str | Path | None) -> Path | None:
    imagenet_c = Path(imagenet_c_dir) if imagenet_c_dir else None
    if imagenet_c is not None and config.dataset != "imagenet":
        raise ConfigError(f"imagenet_c_dir applies to dataset imagenet only; got dataset {config.dataset!r}")
    if imagenet_c is None and config.dataset == "imagenet":
        imagenet_c = find_imagenet_c(data_dir)
    return imagenet_c


def corruption_eval(
    run_dir: Path | str,
    *,
    n_images: int = 1000,
    seed: int = 0,
    data_dir: str | None = None,
    cache_dir: str | Path | None = None,
    imagenet_c_dir: str | Path | None = None,
    device: str | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """``E_{c,s}`` of a finished run on 15 corruptions x 5 severities (Hendrycks & Dietterich 2019).

    Stored as ``run_dir/corruption-n<n_images>-s<seed>-<key>.csv`` (the key covers the settings and
    the code, :mod:`labelaug_core.cache`) and read from there while they are unchanged (see the
    module docstring for where the images come from). ``n_images``: class-balanced test
    images scored (0 = all); ``seed``: the corruptions' randomness; ``cache_dir``: where generated
    corrupted sets are cached (shared by every run of a data set); ``workers``: CPU processes
    (corruption and image loading; default: every core). Returns the table of
    :func:`labelaug_core.corruptions.corruption_errors`: corruption, severity, n, err,
    class_{k}_err (percent); :func:`labelaug_core.corruptions.mce` turns it into CE_c and mCE.
    """
    from labelaug_core.runs.store import load_model, read_config

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0; got {seed!r}")
    if isinstance(n_images, bool) or not isinstance(n_images, int) or n_images < 0:
        raise ConfigError(f"n_images must be an integer >= 0 (0 = the whole test split); got {n_images!r}")
    imagenet_c = _imagenet_c(config, data_dir, imagenet_c_dir)
    artifact = _artifact(run_dir, n_images, seed, imagenet_c)
    if artifact.exists():
        return pd.read_csv(artifact.path(".csv"))
    from labelaug_core.evaluation import corrupted_sets as CE
    from labelaug_core.evaluation import corruptions as C

    model = load_model(run_dir, device, data_dir=data_dir)
    dev = next(model.parameters()).device
    workers = workers or len(os.sched_getaffinity(0))
    loading = 0 if workers == 1 else min(workers, 8)  # DataLoader processes; 1 worker = this process only
    if imagenet_c is not None:  # the released files of the same validation images: only their names are needed
        from labelaug_core.data.sources import dataset_info

        info = dataset_info(config.dataset, data_dir)
        side = config.image_size or info.image_size
        names = [os.path.basename(p) for p in _test_loader(config, n_images, data_dir, 0).paths()]
        source = f"ImageNet-C files in {imagenet_c}, {side} px"
        table = CE.imagenet_c_errors(model, imagenet_c, batch_size=128, image_size=side, device=dev,
                                    workers=loading, classes=info.class_names, file_names=names,
                                    progress=progress)
    else:
        images, labels, _ = clean_images(config, n_images, data_dir=data_dir, workers=loading)
        side = images.shape[-1]
        constants = "CIFAR-10-C" if side <= C.SMALL_IMAGE_SIZE else "ImageNet-C"
        source = f"generated, {constants} constants, {side} px"
        try:
            table = CE.corruption_errors(model, images, labels, dataset_name=f"{config.dataset}-{side}px",
                                        batch_size=256, device=dev, seed=seed, cache_dir=cache_dir, workers=workers,
                                        progress=progress)
        finally:
            C.close_pool()  # the next run's sets are usually cached: no idle workers left behind
    write_text_atomic(artifact.path(".csv"), table.to_csv(index=False))
    artifact.mark_done({"n_scored": int(table["n"].iloc[0]), "image_size": side, "description": source,
                        "imagecorruptions-imaug": importlib.metadata.version("imagecorruptions-imaug")})
    return table


def corruption_source(run_dir: Path | str, *, n_images: int = 1000, seed: int = 0, data_dir: str | None = None,
                      imagenet_c_dir: str | Path | None = None) -> str:
    """How a run's corruption table (of :func:`corruption_eval` with these arguments) was made, '' if
    it has not been."""
    from labelaug_core.runs.store import read_config

    run_dir = Path(run_dir)
    artifact = _artifact(run_dir, n_images, seed, _imagenet_c(read_config(run_dir), data_dir, imagenet_c_dir))
    return json.loads(artifact.sidecar.read_text()).get("description", "") if artifact.exists() else ""


def corruption_examples(image, *, seed: int = 0) -> dict[tuple[str, int], np.ndarray]:
    """One image under every corruption and severity: (corruption, severity) -> uint8 (C, H, W).

    image: uint8 (C, H, W) or floats in [0, 1]. Corrupted in this process (no worker pool).
    """
    from labelaug_core.evaluation.corruptions import CORRUPTIONS, SEVERITIES, corrupt

    batch = np.asarray(image.detach().cpu() if isinstance(image, torch.Tensor) else image)[None]
    return {(c, s): corrupt(batch, c, s, seed, workers=1)[0] for c in CORRUPTIONS for s in SEVERITIES}
