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

from labelaug_core.data.folders import _FOLDER_LAYOUT, _class_folders, _folder_root
from labelaug_core.errors import ConfigError

DATASETS: tuple[str, ...] = ("fashion-mnist", "cifar10", "cifar100", "svhn", "imagefolder", "imagenet")


SMALL_DATASETS = DATASETS[:4]


SPLITS = ("train", "test")


DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist


# (zero padding of the random crop in pixels, horizontal flip): flipping digits is wrong for SVHN.
AUGMENTATION = {"fashion-mnist": (2, True), "cifar10": (4, True), "cifar100": (4, True), "svhn": (4, False)}


_CIFAR100_NAMES = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel "
    "can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur "
    "dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion "
    "lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree "
    "pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea "
    "seal shark shrew skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table "
    "tank telephone television tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split()


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a data set (image_size: side of the square input)."""

    name: str
    num_classes: int
    channels: int
    image_size: int
    class_names: tuple[str, ...]


_SMALL_INFO = {
    "fashion-mnist": DatasetInfo("fashion-mnist", 10, 1, 28, (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")),
    "cifar10": DatasetInfo("cifar10", 10, 3, 32, (
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")),
    "cifar100": DatasetInfo("cifar100", 100, 3, 32, tuple(_CIFAR100_NAMES)),
    "svhn": DatasetInfo("svhn", 10, 3, 32, tuple(str(d) for d in range(10))),
}


def _check_name(name: str, allowed=DATASETS) -> None:
    if name not in allowed:
        raise ConfigError(f"dataset must be one of {', '.join(allowed)}; got {name!r}")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")


def cache_dir() -> Path:
    """Where downloads go: ``$XDG_CACHE_HOME/labelaug``, else ``~/.cache/labelaug``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "labelaug"


def dataset_info(name: str, data_dir: str | None = None) -> DatasetInfo:
    """Classes, channels and image side of ``name``: a fixed table for the small sets (no disk
    read); for imagefolder/imagenet the sorted class folders of ``<root>/train``, 3 channels, and
    the side 224 (imagenet) or the shorter side of the first training image (imagefolder)."""
    _check_name(name)
    if name in _SMALL_INFO:
        return _SMALL_INFO[name]
    train = _folder_root(name, data_dir) / "train"
    classes = _class_folders(name, train)
    if name == "imagenet":
        size = 224
    else:
        from PIL import Image
        from torchvision.datasets.folder import IMG_EXTENSIONS

        first = next((p for c in classes for p in sorted((train / c).iterdir())
                      if p.suffix.lower() in IMG_EXTENSIONS), None)
        if first is None:
            raise ConfigError(f"{name}: no image files under {train}; expected {_FOLDER_LAYOUT}")
        try:
            with Image.open(first) as image:
                size = min(image.size)
        except OSError as exc:  # PIL's UnidentifiedImageError is an OSError
            raise ConfigError(f"{first}: not a readable image ({exc})") from None
    return DatasetInfo(name, len(classes), 3, size, tuple(classes))


# Per data set: its folder name (under a data root and the cache) and, per split, the files
# it needs, each as alternatives (the idx files may be gzipped or not).
_FMNIST_PREFIX = {"train": "train", "test": "t10k"}


_FILES = {
    "fashion-mnist": ("fashion-mnist", lambda s: tuple(
        (f"{_FMNIST_PREFIX[s]}-{kind}.gz", f"{_FMNIST_PREFIX[s]}-{kind}")
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"))),
    "cifar10": ("cifar-10-batches-py", lambda s: tuple(
        (f,) for f in ([f"data_batch_{i}" for i in range(1, 6)] if s == "train" else ["test_batch"]))),
    "cifar100": ("cifar-100-python", lambda s: ((s,),)),
    "svhn": ("svhn", lambda s: ((f"{s}_32x32.mat",),)),
}


def _candidate_dirs(name: str, data_dir: str | None) -> list[Path]:
    """The search order: data_dir, $LABELAUG_DATA (each as-is and its data-set folder),
    Debian's path (fashion-mnist), the cache."""
    folder = _FILES[name][0]
    roots = [r for r in dict.fromkeys((data_dir, os.environ.get("LABELAUG_DATA"))) if r]
    dirs = [d for r in roots for d in (Path(r), Path(r) / folder)]
    if name == "fashion-mnist":
        dirs.append(DEBIAN_FASHION_MNIST)
    return dirs + [cache_dir() / folder]


def _files_in(directory: Path, needed) -> list[Path] | None:
    found = []
    for alternatives in needed:
        path = next((directory / f for f in alternatives if (directory / f).is_file()), None)
        if path is None:
            return None
        found.append(path)
    return found


def _download(name: str, split: str, cache: Path) -> None:
    """Fetch ``name``'s ``split`` into ``cache`` with torchvision's (md5-checked) downloader."""
    from torchvision.datasets import CIFAR10, CIFAR100, SVHN, FashionMNIST
    from torchvision.datasets.utils import download_and_extract_archive, download_url

    if name == "fashion-mnist":
        for filename, md5 in FashionMNIST.resources:
            if filename.startswith(_FMNIST_PREFIX[split]):
                download_url(FashionMNIST.mirrors[0] + filename, cache / "fashion-mnist", filename, md5)
    elif name in ("cifar10", "cifar100"):
        cls = CIFAR10 if name == "cifar10" else CIFAR100
        download_and_extract_archive(cls.url, cache, filename=cls.filename, md5=cls.tgz_md5, remove_finished=True)
    else:
        url, filename, md5 = SVHN.split_list[split]
        download_url(url, cache / "svhn", filename, md5)


def _locate(name: str, split: str, data_dir: str | None) -> list[Path]:
    """The files of ``name``/``split`` from the first directory holding them all, else a download."""
    needed = _FILES[name][1](split)
    dirs = _candidate_dirs(name, data_dir)
    for directory in dirs:
        found = _files_in(directory, needed)
        if found:
            return found
    try:
        _download(name, split, cache_dir())
        problem = "torchvision's download did not produce them"
    except (OSError, RuntimeError) as exc:  # URLError is an OSError; torchvision raises RuntimeError on bad md5
        problem = f"torchvision's download failed ({type(exc).__name__}: {exc})"
    found = _files_in(cache_dir() / _FILES[name][0], needed)
    if found:
        return found
    how = "`apt install dataset-fashion-mnist`, " if name == "fashion-mnist" else ""
    raise ConfigError(
        f"{name}: no {split} files ({', '.join(a[0] for a in needed)}) in {', '.join(map(str, dirs))}; "
        f"{problem}. Get it with {how}--data-dir DIR or LABELAUG_DATA=DIR naming a folder that holds them, "
        f"or an internet connection for torchvision's download into {cache_dir()}"
    )
