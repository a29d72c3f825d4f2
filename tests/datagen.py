"""Tiny data sets written in their real on-disk formats, for tests.

Each writer returns the arrays it wrote (images uint8 (N, C, H, W), labels int64 (N,)) so a test
can compare what a reader returns with what is on disk.
"""
from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

Arrays = tuple[np.ndarray, np.ndarray]


def _random(n: int, shape: tuple[int, ...], num_classes: int, seed: int) -> Arrays:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % num_classes  # every class present, balanced
    rng.shuffle(labels)
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8), labels.astype(np.int64)


def idx_bytes(array: np.ndarray) -> bytes:
    """LeCun's idx format: 0, 0, type 0x08 (uint8), ndim, big-endian uint32 dims, data."""
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def write_fashion_mnist(directory: Path, n_train: int = 20, n_test: int = 10, *, gz: bool = True, seed: int = 0) -> dict[str, Arrays]:
    """The four idx files of Fashion-MNIST (28x28 grey, 10 classes) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images, labels = _random(n, (1, 28, 28), 10, seed + (split == "test"))
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images[:, 0])
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        out[split] = (images, labels)
    return out


def _dump(path: Path, obj) -> None:
    with path.open("wb") as f:
        pickle.dump(obj, f, protocol=2)  # the originals are Python 2 cPickle files


def write_cifar10(root: Path, per_batch: int = 4, n_test: int = 6, *, seed: int = 0) -> dict[str, Arrays]:
    """``root/cifar-10-batches-py/`` with data_batch_1..5, test_batch and batches.meta."""
    directory = root / "cifar-10-batches-py"
    directory.mkdir(parents=True, exist_ok=True)
    train = _random(5 * per_batch, (3, 32, 32), 10, seed)
    test = _random(n_test, (3, 32, 32), 10, seed + 1)
    for i in range(5):
        part = slice(i * per_batch, (i + 1) * per_batch)
        _dump(directory / f"data_batch_{i + 1}", {
            "batch_label": f"training batch {i + 1} of 5", "labels": train[1][part].tolist(),
            "data": train[0][part].reshape(per_batch, 3072), "filenames": [f"img_{j}.png" for j in range(per_batch)],
        })
    _dump(directory / "test_batch", {"batch_label": "testing batch 1 of 1", "labels": test[1].tolist(),
                                     "data": test[0].reshape(n_test, 3072), "filenames": ["t.png"] * n_test})
    _dump(directory / "batches.meta", {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog",
                                                      "frog", "horse", "ship", "truck"],
                                       "num_cases_per_batch": per_batch, "num_vis": 3072})
    return {"train": train, "test": test}


def write_cifar100(root: Path, n_train: int = 200, n_test: int = 100, *, seed: int = 0) -> dict[str, Arrays]:
    """``root/cifar-100-python/`` with train, test and meta (fine and coarse labels)."""
    directory = root / "cifar-100-python"
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images, fine = _random(n, (3, 32, 32), 100, seed + (split == "test"))
        _dump(directory / split, {"filenames": ["x.png"] * n, "batch_label": split, "fine_labels": fine.tolist(),
                                  "coarse_labels": (fine // 5).tolist(), "data": images.reshape(n, 3072)})
        out[split] = (images, fine)
    _dump(directory / "meta", {"fine_label_names": [f"c{i}" for i in range(100)],
                               "coarse_label_names": [f"s{i}" for i in range(20)]})
    return out


def write_svhn(directory: Path, n_train: int = 20, n_test: int = 10, *, seed: int = 0) -> dict[str, Arrays]:
    """``train_32x32.mat`` and ``test_32x32.mat``: X (32, 32, 3, N) uint8, y (N, 1) in 1..10 (10 = digit 0)."""
    import scipy.io

    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = _random(n, (3, 32, 32), 10, seed + (split == "test"))
        mat_y = np.where(labels == 0, 10, labels).astype(np.uint8)[:, None]
        scipy.io.savemat(directory / f"{split}_32x32.mat", {"X": images.transpose(2, 3, 1, 0), "y": mat_y})
        out[split] = (images, labels)
    return out


def write_image_folder(root: Path, classes: dict[str, dict[str, int]], size: tuple[int, int] = (12, 12), *,
                       ext: str = ".png", names=None, seed: int = 0) -> dict[str, list[tuple[Path, str, np.ndarray]]]:
    """``root/<split>/<class>/<name><ext>`` RGB images; ``classes[split][class]`` = how many.

    ``names(split, class, i)`` gives file stems (default ``img<i>``). Returns, per split, the
    (path, class, pixels uint8 (3, H, W)) written, in sorted path order.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    out: dict[str, list] = {}
    for split, counts in classes.items():
        for cls, n in counts.items():
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
                path = root / split / cls / f"{names(split, cls, i) if names else f'img{i}'}{ext}"
                Image.fromarray(pixels).save(path)
                out.setdefault(split, []).append((path, cls, pixels.transpose(2, 0, 1)))
        out[split].sort(key=lambda item: str(item[0]))
    return out
