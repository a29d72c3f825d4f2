"""Reading a small set: its located files through its record's reader, checked and memoised, as tensors."""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from labelaug_core.data.registry import REGISTRY, check_name, check_split
from labelaug_core.data.sources import locate
from labelaug_core.errors import ConfigError


@functools.lru_cache(maxsize=2)  # a run reads train and test more than once (model building, evaluation)
def _read(name: str, files: tuple[Path, ...], _stamp: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    spec = REGISTRY[name]
    images, labels = spec.reader(list(files))
    if labels.size and not (0 <= labels.min() and labels.max() < spec.num_classes):
        raise ConfigError(f"{files[-1]}: labels outside 0-{spec.num_classes - 1} (found {labels.min()}-{labels.max()})")
    return torch.from_numpy(images.copy(order="C")), torch.from_numpy(labels.astype(np.int64))


def load_arrays(name: str, split: str, data_dir: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A small data set's split as ``(images uint8 (N, C, H, W), labels int64 (N,))`` on the CPU.

    Searched in: ``data_dir``, ``$LABELAUG_DATA`` (each as given and its data-set folder:
    fashion-mnist/, cifar-10-batches-py/, cifar-100-python/, svhn/), Debian's
    /usr/share/datasets/fashion-mnist, the cache (:func:`~labelaug_core.data.sources.cache_dir`); else
    downloaded there (:func:`~labelaug_core.data.sources.locate`).
    Fashion-MNIST: 60000 / 10000 28x28 grey images; CIFAR: 50000 / 10000 32x32; SVHN: 73257 / 26032.
    """
    check_name(name, small=True)
    check_split(split)
    files = tuple(locate(name, split, data_dir))
    stamp = tuple((f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    images, labels = _read(name, files, stamp)
    return images.clone(), labels.clone()
