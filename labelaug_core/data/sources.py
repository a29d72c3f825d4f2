"""Data sets: finding them on disk, reading them, and deterministic batches for training.

Two kinds of data set, one loader interface (``len``, ``set_epoch``, iterate to get
``(x float32 [0, 1] (B, C, H, W), y int64 (B,))`` on the device):

- the small sets (fashion-mnist, cifar10, cifar100, svhn) live on the device as uint8
  (N, C, H, W) and are augmented there, vectorised (random crop with zero padding and
  horizontal flip, as in airbench): no DataLoader, no per-image Python;
- folder sets (imagefolder, imagenet) are read by torchvision's ``ImageFolder`` through a
  ``DataLoader``; ImageNet uses the ResNet-50 recipe (RandomResizedCrop + flip for training,
  Resize(256/224 * size) + CenterCrop(size) for evaluation).

Batches of epoch ``e`` depend only on ``(seed, e)`` (never on the global RNG, the number of
workers or an earlier epoch), so a resumed run sees exactly the batches of an uninterrupted
one. With ``world_size`` ranks every rank takes a strided slice of the same global order, so
the ranks' k-th batches together are the single-process k-th batch of ``world_size`` times
the size. Local files are read in their own formats (idx, CIFAR pickles, SVHN .mat) by
checked readers; torchvision is used only to download into the cache.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from labelaug_core.data.folders import FOLDER_LAYOUT, class_folders, folder_root
from labelaug_core.data.registry import REGISTRY, check_name
from labelaug_core.errors import ConfigError

# The names in the registry's order, taken from it at import (for callers outside data/ that list them;
# data/ and config look the records up at every call).
DATASETS: tuple[str, ...] = tuple(REGISTRY)
SMALL_DATASETS: tuple[str, ...] = tuple(n for n, spec in REGISTRY.items() if spec.small)


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a data set (image_size: side of the square input)."""

    name: str
    num_classes: int
    channels: int
    image_size: int
    class_names: tuple[str, ...]


def cache_dir() -> Path:
    """Where downloads go: ``$XDG_CACHE_HOME/labelaug``, else ``~/.cache/labelaug``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "labelaug"


def dataset_info(name: str, data_dir: str | None = None) -> DatasetInfo:
    """Classes, channels and image side of ``name``: a fixed table for the small sets (no disk
    read); for imagefolder/imagenet the sorted class folders of ``<root>/train``, 3 channels, and
    the side 224 (imagenet) or the shorter side of the first training image (imagefolder)."""
    spec = check_name(name)
    if spec.small:
        return DatasetInfo(name, spec.num_classes, spec.channels, spec.image_size, spec.class_names)
    train = folder_root(name, data_dir) / "train"
    classes = class_folders(name, train)
    if spec.image_size:
        size = spec.image_size
    else:
        from PIL import Image
        from torchvision.datasets.folder import IMG_EXTENSIONS

        first = next((p for c in classes for p in sorted((train / c).iterdir())
                      if p.suffix.lower() in IMG_EXTENSIONS), None)
        if first is None:
            raise ConfigError(f"{name}: no image files under {train}; expected {FOLDER_LAYOUT}")
        try:
            with Image.open(first) as image:
                size = min(image.size)
        except OSError as exc:  # PIL's UnidentifiedImageError is an OSError
            raise ConfigError(f"{first}: not a readable image ({exc})") from None
    return DatasetInfo(name, len(classes), spec.channels, size, tuple(classes))


def candidate_dirs(name: str, data_dir: str | None) -> list[Path]:
    """Where ``name``'s files are searched, in order: data_dir, $LABELAUG_DATA (each as-is and its
    data-set folder), the record's system folder (Debian's for fashion-mnist), the cache."""
    spec = REGISTRY[name]
    roots = [r for r in dict.fromkeys((data_dir, os.environ.get("LABELAUG_DATA"))) if r]
    dirs = list(dict.fromkeys(d for r in roots for d in (Path(r), Path(r) / spec.folder)))
    if spec.system_dir is not None:
        dirs.append(spec.system_dir)
    return dirs + [cache_dir() / spec.folder]


def _files_in(directory: Path, needed) -> list[Path] | None:
    found = []
    for alternatives in needed:
        path = next((directory / f for f in alternatives if (directory / f).is_file()), None)
        if path is None:
            return None
        found.append(path)
    return found


def _download(name: str, split: str, cache: Path) -> None:
    """Fetch ``name``'s ``split`` into ``cache`` with its record's downloader."""
    REGISTRY[name].download(split, cache)


def locate(name: str, split: str, data_dir: str | None) -> list[Path]:
    """The files of small set ``name``'s ``split`` from the first directory of :func:`candidate_dirs`
    holding them all, else its record's download into the cache; a ConfigError naming the places and
    remedies."""
    spec = REGISTRY[name]
    needed = spec.files[split]
    dirs = candidate_dirs(name, data_dir)
    for directory in dirs:
        found = _files_in(directory, needed)
        if found:
            return found
    if spec.download is None:
        raise ConfigError(
            f"{name}: no {split} files ({', '.join(a[0] for a in needed)}) in {', '.join(map(str, dirs))}. "
            f"Get it with --data-dir DIR or LABELAUG_DATA=DIR naming a folder that holds them")
    try:
        _download(name, split, cache_dir())
        problem = "torchvision's download did not produce them"
    except (OSError, RuntimeError) as exc:  # URLError is an OSError; torchvision raises RuntimeError on bad md5
        problem = f"torchvision's download failed ({type(exc).__name__}: {exc})"
    found = _files_in(cache_dir() / spec.folder, needed)
    if found:
        return found
    how = f"{spec.install}, " if spec.install else ""
    raise ConfigError(
        f"{name}: no {split} files ({', '.join(a[0] for a in needed)}) in {', '.join(map(str, dirs))}; "
        f"{problem}. Get it with {how}--data-dir DIR or LABELAUG_DATA=DIR naming a folder that holds them, "
        f"or an internet connection for torchvision's download into {cache_dir()}"
    )
