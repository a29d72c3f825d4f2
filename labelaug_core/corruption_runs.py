"""Corruption error of a finished run, computed once and kept in its run directory.

Amerehi & Healy (2025) report mCE on ImageNet-C (Table 1) and ``E_{c,s}`` by corruption and
severity (Fig. 2). :func:`corruption_eval` measures the same quantities for any run and keeps
them beside its other results:

- ``<run_dir>/corruption.json``: how they were made (images, seed, source of the corruptions);
- ``<run_dir>/corruption.csv``: one row per (corruption, severity), the columns of
  :func:`labelaug_core.corruptions.corruption_errors` (``n``, ``err``, ``class_{k}_err``; percent).
  Written last and atomically: its presence marks a finished evaluation, never recomputed.

Where the corrupted images come from:

- small sets (28-32 px): the run's test images corrupted with the CIFAR-10-C constants (the
  ImageNet-C ones would wipe out so small an image), generated once per image set and cached;
- imagenet with the released ImageNet-C files (``imagenet_c_dir``, or ``<data root>/imagenet-c``):
  those files, for the same validation images as the clean subset, as the paper did;
- imagenet or imagefolder otherwise: the clean evaluation crops corrupted with the ImageNet-C
  constants (the ImageNet-C recipe at 224 px; at 32 px and below the CIFAR-10-C constants).
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from labelaug_core.config import TrainConfig
from labelaug_core.errors import ConfigError
from labelaug_core.reporting import METHOD_NAMES, PAPER_TABLE1, method_means

CSV = "corruption.csv"
META = "corruption.json"


def find_imagenet_c(data_dir: str | None = None) -> Path | None:
    """``<root>/imagenet-c`` for the first root among ``data_dir`` and ``$LABELAUG_DATA`` that has it."""
    for root in dict.fromkeys((data_dir, os.environ.get("LABELAUG_DATA"))):
        if root and (Path(root) / "imagenet-c").is_dir():
            return Path(root) / "imagenet-c"
    return None


def _test_loader(config: TrainConfig, n_images: int, data_dir: str | None, workers: int):
    """The evaluation loader of a folder data set over a class-balanced ``n_images`` subset."""
    from labelaug_core.data import make_loader

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
    from labelaug_core.data import SMALL_DATASETS, balanced_subset, load_arrays

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


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_corruption(run_dir: Path | str) -> pd.DataFrame | None:
    """A run's stored ``E_{c,s}`` table, or None if it has not been computed."""
    path = Path(run_dir) / CSV
    return pd.read_csv(path) if path.is_file() else None


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

    Computed once into ``run_dir/corruption.csv`` and read from there afterwards (see the module
    docstring for the files and where the images come from). ``n_images``: class-balanced test
    images scored (0 = all); ``seed``: the corruptions' randomness; ``cache_dir``: where generated
    corrupted sets are cached (shared by every run of a data set); ``workers``: CPU processes
    (corruption and image loading; default: every core). Returns the table of
    :func:`labelaug_core.corruptions.corruption_errors`: corruption, severity, n, err,
    class_{k}_err (percent); :func:`labelaug_core.corruptions.mce` turns it into CE_c and mCE.
    A stored table made with other ``n_images`` or ``seed`` raises ConfigError (delete the file to
    recompute).
    """
    from labelaug_core.runs import load_model, read_config

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0; got {seed!r}")
    if isinstance(n_images, bool) or not isinstance(n_images, int) or n_images < 0:
        raise ConfigError(f"n_images must be an integer >= 0 (0 = the whole test split); got {n_images!r}")
    stored = read_corruption(run_dir)
    if stored is not None:
        meta = json.loads((run_dir / META).read_text()) if (run_dir / META).is_file() else {}
        made = (meta.get("n_images", n_images), meta.get("seed", seed))
        if made != (n_images, seed):
            raise ConfigError(f"n_images/seed: {run_dir / CSV} was made with n_images={made[0]}, seed={made[1]}; "
                              f"got n_images={n_images}, seed={seed} (delete it to recompute)")
        return stored
    from labelaug_core import corruptions as C

    imagenet_c = Path(imagenet_c_dir) if imagenet_c_dir else None
    if imagenet_c is not None and config.dataset != "imagenet":
        raise ConfigError(f"imagenet_c_dir applies to dataset imagenet only; got dataset {config.dataset!r}")
    if imagenet_c is None and config.dataset == "imagenet":
        imagenet_c = find_imagenet_c(data_dir)
    model = load_model(run_dir, device, data_dir=data_dir)
    dev = next(model.parameters()).device
    workers = workers or len(os.sched_getaffinity(0))
    loading = 0 if workers == 1 else min(workers, 8)  # DataLoader processes; 1 worker = this process only
    if imagenet_c is not None:  # the released files of the same validation images: only their names are needed
        from labelaug_core.data import dataset_info

        info = dataset_info(config.dataset, data_dir)
        side = config.image_size or info.image_size
        names = [os.path.basename(p) for p in _test_loader(config, n_images, data_dir, 0).paths()]
        source = f"ImageNet-C files in {imagenet_c}, {side} px"
        table = C.imagenet_c_errors(model, imagenet_c, batch_size=128, image_size=side, device=dev,
                                    workers=loading, classes=info.class_names, file_names=names,
                                    progress=progress)
    else:
        images, labels, _ = clean_images(config, n_images, data_dir=data_dir, workers=loading)
        side = images.shape[-1]
        constants = "CIFAR-10-C" if side <= C.SMALL_IMAGE_SIZE else "ImageNet-C"
        source = f"generated, {constants} constants, {side} px"
        try:
            table = C.corruption_errors(model, images, labels, dataset_name=f"{config.dataset}-{side}px",
                                        batch_size=256, device=dev, seed=seed, cache_dir=cache_dir, workers=workers,
                                        progress=progress)
        finally:
            C.close_pool()  # the next run's sets are usually cached: no idle workers left behind
    meta = {"n_images": n_images, "seed": seed, "n_scored": int(table["n"].iloc[0]), "image_size": side,
            "source": source, "imagecorruptions-imaug": importlib.metadata.version("imagecorruptions-imaug")}
    _write_atomic(run_dir / META, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    _write_atomic(run_dir / CSV, table.to_csv(index=False))
    return read_corruption(run_dir)


def corruption_source(run_dir: Path | str) -> str:
    """How a run's corruption table was made (``corruption.json``'s ``source``), '' if unknown."""
    path = Path(run_dir) / META
    return json.loads(path.read_text()).get("source", "") if path.is_file() else ""


def table1_with_mce(runs, errors: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The paper's Table 1 complete: clean error, mCE and PGD error per method (percent).

    runs: finished :class:`~labelaug_core.runs.Run` s; errors: run_id -> its ``E_{c,s}`` table.
    Means over seeds, ours beside the paper's (whose mCE is on ImageNet-C, 224 px).
    """
    from labelaug_core.corruptions import mce

    missing = [r.run_id for r in runs if r.run_id not in errors]
    if missing:
        raise ConfigError(f"errors has no corruption table for run {missing[0]}")
    runs = [dataclasses.replace(r, metrics=r.metrics | {"mce": mce(errors[r.run_id])[1]}) for r in runs]
    cols = ["clean_err", "mce", "pgd_err"]
    ours = method_means(runs, tuple(cols))
    return pd.concat({"ours": ours, "paper": PAPER_TABLE1.loc[ours.index, cols]}, axis=1).rename(index=METHOD_NAMES)


def mce_headline(runs, errors: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Relative changes of mCE, ``(before - after) / before`` in percent, ours beside the paper's."""
    from labelaug_core.reporting import relative_change

    means = table1_with_mce(runs, errors)
    rows = []
    for label, before, after in (("Adv vs Std, mCE (drop; negative = worse)", "Std", "Adv"),
                                 ("Adv+ vs Adv, mCE (drop)", "Adv", "Adv+")):
        if before in means.index and after in means.index:
            rows.append({"comparison": label,
                         **{f"{who}_%": relative_change(means.loc[before, (who, "mce")], means.loc[after, (who, "mce")])
                            for who in ("ours", "paper")}})
    return pd.DataFrame(rows, columns=["comparison", "ours_%", "paper_%"]).set_index("comparison")


def method_tables(runs, errors: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Per method, its ``E_{c,s}`` table averaged over seeds (same rows and columns as one run's)."""
    by_method: dict[str, list[pd.DataFrame]] = {}
    for run in runs:
        by_method.setdefault(run.config.method, []).append(errors[run.run_id].set_index(["corruption", "severity"]))
    return {method: (sum(tables) / len(tables)).reset_index() for method, tables in by_method.items()}


def class_mce(table: pd.DataFrame, class_names=None) -> pd.Series:
    """Per-class mCE (percent): the mean over corruptions of each class's CE_c, indexed by class name."""
    from labelaug_core.corruptions import class_ce

    per_class = class_ce(table).mean()
    if class_names is not None:
        per_class.index = [class_names[k] for k in per_class.index]
    return per_class


def corruption_examples(image, *, seed: int = 0) -> dict[tuple[str, int], np.ndarray]:
    """One image under every corruption and severity: (corruption, severity) -> uint8 (C, H, W).

    image: uint8 (C, H, W) or floats in [0, 1]. Corrupted in this process (no worker pool).
    """
    from labelaug_core.corruptions import CORRUPTIONS, SEVERITIES, corrupt

    batch = np.asarray(image.detach().cpu() if isinstance(image, torch.Tensor) else image)[None]
    return {(c, s): corrupt(batch, c, s, seed, workers=1)[0] for c in CORRUPTIONS for s in SEVERITIES}
