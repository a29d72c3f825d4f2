"""Checked readers of the small sets' own file formats: idx (Fashion-MNIST), CIFAR pickles, SVHN .mat."""
from __future__ import annotations

import functools
import gzip
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from labelaug_core.data.sources import (
    _SMALL_INFO,
    SMALL_DATASETS,
    _check_name,
    _check_split,
    _locate,
)
from labelaug_core.errors import ConfigError

IDX_IMAGES_MAGIC = 0x00000803  # idx: 0, 0, type 0x08 (uint8), 3 dimensions


IDX_LABELS_MAGIC = 0x00000801


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """An idx(.gz) file (LeCun's MNIST format) as a uint8 array, its magic number and length checked.

    A wrong magic number or a wrong length raises ConfigError naming the file, so a corrupt file
    is reported as such and not as a shape error deep inside training.
    """
    kind = {IDX_IMAGES_MAGIC: "idx3 uint8 images", IDX_LABELS_MAGIC: "idx1 uint8 labels"}[magic]
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except EOFError as exc:
        raise ConfigError(f"{path}: truncated gzip stream ({exc})") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise ConfigError(f"{path}: corrupt gzip stream ({exc})") from None
    found_magic = int.from_bytes(raw[:4], "big")
    if len(raw) >= 4 and found_magic != magic:
        raise ConfigError(f"{path}: bad magic number 0x{found_magic:08x} (expected 0x{magic:08x} for {kind})")
    header = 4 + 4 * (magic & 0xFF)
    if len(raw) < header:
        raise ConfigError(f"{path}: truncated: expected at least {header} bytes of header, found {len(raw)}")
    dims = struct.unpack(f">{magic & 0xFF}I", raw[4:header])
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "trailing data"
        raise ConfigError(f"{path}: {what}: expected {expected} bytes, found {len(raw)}")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


# CIFAR batches are pickles, and a pickle can run code: allow only what the real files hold.
_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): np.empty(0).__reduce__()[0],
    ("numpy._core.multiarray", "_reconstruct"): np.empty(0).__reduce__()[0],
    ("numpy.core.multiarray", "scalar"): np.float64(0).__reduce__()[0],
    ("numpy._core.multiarray", "scalar"): np.float64(0).__reduce__()[0],
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): __import__("codecs").encode,  # how protocol 2 spells bytes
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return _PICKLE_GLOBALS[(module, name)]


def _read_cifar_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as f:
            batch = _ArrayUnpickler(f, encoding="latin1").load()
        data, labels = np.asarray(batch["data"]), np.asarray(batch[label_key])
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ConfigError(f"{path}: not a CIFAR python batch ({type(exc).__name__}: {exc})") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (len(data),):
        raise ConfigError(f"{path}: expected uint8 data (N, 3072) and N labels; found {data.dtype} {data.shape}, "
                          f"{labels.shape[0] if labels.ndim else 0} labels")
    return data.reshape(-1, 3, 32, 32), labels  # rows are 1024 red, 1024 green, 1024 blue values


def _read_svhn(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
        images, labels = mat["X"], mat["y"].reshape(-1)
    except (scipy.io.matlab.MatReadError, ValueError, TypeError, KeyError, IndexError, OSError, NotImplementedError) as exc:
        raise ConfigError(f"{path}: not an SVHN .mat file ({type(exc).__name__}: {exc})") from None
    if images.dtype != np.uint8 or images.shape[:3] != (32, 32, 3) or images.shape[3:] != labels.shape:
        raise ConfigError(f"{path}: expected uint8 X (32, 32, 3, N) and N labels y; found {images.dtype} {images.shape}")
    return images.transpose(3, 2, 0, 1), np.where(labels == 10, 0, labels)  # SVHN's label 10 is the digit 0


@functools.lru_cache(maxsize=2)  # a run reads train and test more than once (model building, evaluation)
def _read(name: str, files: tuple[Path, ...], _stamp: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    if name == "fashion-mnist":
        images, labels = read_idx(files[0], IDX_IMAGES_MAGIC)[:, None], read_idx(files[1], IDX_LABELS_MAGIC)
        if len(images) != len(labels):
            raise ConfigError(f"{files[0]} holds {len(images)} images but {files[1]} holds {len(labels)} labels")
    elif name == "svhn":
        images, labels = _read_svhn(files[0])
    else:
        parts = [_read_cifar_batch(f, "labels" if name == "cifar10" else "fine_labels") for f in files]
        images, labels = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    num_classes = _SMALL_INFO[name].num_classes
    if labels.size and not (0 <= labels.min() and labels.max() < num_classes):
        raise ConfigError(f"{files[-1]}: labels outside 0-{num_classes - 1} (found {labels.min()}-{labels.max()})")
    return torch.from_numpy(images.copy(order="C")), torch.from_numpy(labels.astype(np.int64))


def load_arrays(name: str, split: str, data_dir: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A small data set's split as ``(images uint8 (N, C, H, W), labels int64 (N,))`` on the CPU.

    Searched in: ``data_dir``, ``$LABELAUG_DATA`` (each as given and its data-set folder:
    fashion-mnist/, cifar-10-batches-py/, cifar-100-python/, svhn/), Debian's
    /usr/share/datasets/fashion-mnist, the cache (:func:`cache_dir`); else downloaded there.
    Fashion-MNIST: 60000 / 10000 28x28 grey images; CIFAR: 50000 / 10000 32x32; SVHN: 73257 / 26032.
    """
    _check_name(name, SMALL_DATASETS)
    _check_split(split)
    files = tuple(_locate(name, split, data_dir))
    stamp = tuple((f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    images, labels = _read(name, files, stamp)
    return images.clone(), labels.clone()
