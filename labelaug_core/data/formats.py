"""The small sets' files: checked readers of their own formats (idx for Fashion-MNIST, CIFAR pickles,
SVHN .mat) and torchvision's (md5-checked) downloaders. A reader takes a split's located files and returns
``(images uint8 (N, C, H, W), labels int64-able (N,))`` as numpy arrays; a corrupt file is a ConfigError
naming it. The data sets' records (:mod:`labelaug_core.data.registry`) name their reader and downloader.
"""
from __future__ import annotations

import gzip
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

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


def read_fashion_mnist(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST's idx images and labels (``files``: images, labels), their counts checked."""
    images, labels = read_idx(files[0], IDX_IMAGES_MAGIC)[:, None], read_idx(files[1], IDX_LABELS_MAGIC)
    if len(images) != len(labels):
        raise ConfigError(f"{files[0]} holds {len(images)} images but {files[1]} holds {len(labels)} labels")
    return images, labels


def _read_cifar(files: list[Path], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    parts = [_read_cifar_batch(f, label_key) for f in files]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def read_cifar10(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10's python batches, concatenated."""
    return _read_cifar(files, "labels")


def read_cifar100(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-100's python batch, fine labels."""
    return _read_cifar(files, "fine_labels")


def read_svhn(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """SVHN's .mat file (cropped digits)."""
    return _read_svhn(files[0])


FMNIST_PREFIX = {"train": "train", "test": "t10k"}  # the idx files' prefix per split


def download_fashion_mnist(split: str, cache: Path) -> None:
    """Fashion-MNIST's ``split`` into ``cache``/fashion-mnist."""
    from torchvision.datasets import FashionMNIST
    from torchvision.datasets.utils import download_url

    for filename, md5 in FashionMNIST.resources:
        if filename.startswith(FMNIST_PREFIX[split]):
            download_url(FashionMNIST.mirrors[0] + filename, cache / "fashion-mnist", filename, md5)


def download_cifar10(split: str, cache: Path) -> None:
    """CIFAR-10 (both splits: one archive) into ``cache``/cifar-10-batches-py."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(CIFAR10.url, cache, filename=CIFAR10.filename, md5=CIFAR10.tgz_md5, remove_finished=True)


def download_cifar100(split: str, cache: Path) -> None:
    """CIFAR-100 (both splits: one archive) into ``cache``/cifar-100-python."""
    from torchvision.datasets import CIFAR100
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(CIFAR100.url, cache, filename=CIFAR100.filename, md5=CIFAR100.tgz_md5,
                                 remove_finished=True)


def download_svhn(split: str, cache: Path) -> None:
    """SVHN's ``split`` .mat file into ``cache``/svhn."""
    from torchvision.datasets import SVHN
    from torchvision.datasets.utils import download_url

    url, filename, md5 = SVHN.split_list[split]
    download_url(url, cache / "svhn", filename, md5)
