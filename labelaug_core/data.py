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

import functools
import gzip
import os
import pickle
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

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


# --- The small sets: where they are ------------------------------------------------------------

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


# --- The small sets: reading them, checked -----------------------------------------------------

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


# --- Batches -------------------------------------------------------------------------------------

def _generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator that depends only on (seed, epoch), well mixed for neighbouring values."""
    words = np.random.SeedSequence([seed, epoch]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(words[0]) << 31 | int(words[1]) >> 1)


def balanced_subset(labels: torch.Tensor, n: int) -> torch.Tensor:
    """Sorted indices (int64) of ``n`` examples, as equal in number per class as the classes allow
    (the first classes get one more when ``n`` does not divide). ``n = 0``: all. The choice is
    fixed (independent of any seed), so every run with the same ``n`` sees the same examples."""
    total = len(labels)
    if not 0 <= n <= total:
        raise ConfigError(f"subset must be between 0 (all) and {total} (the split's size); got {n}")
    if n == 0 or n == total:
        return torch.arange(total)
    order = torch.randperm(total, generator=torch.Generator().manual_seed(20250101)).numpy()
    labels = labels.cpu().numpy()
    counts = np.bincount(labels)
    quota, remaining = np.zeros_like(counts), n
    active = [k for k in range(len(counts)) if counts[k] > 0]
    while remaining > 0:  # water filling: a class with too few examples gives its share to the rest
        share, extra = divmod(remaining, len(active))
        for i, k in enumerate(active):
            take = min(counts[k] - quota[k], share + (i < extra))
            quota[k] += take
            remaining -= take
        active = [k for k in active if quota[k] < counts[k]]
    by_class = np.argsort(labels[order], kind="stable")  # numpy: torch's stable CPU sort is far slower
    shuffled_labels = labels[order][by_class]
    rank_in_class = np.arange(total) - (np.cumsum(counts) - counts)[shuffled_labels]
    return torch.from_numpy(np.sort(order[by_class[rank_in_class < quota[shuffled_labels]]]))


def crop_flip(images: torch.Tensor, shifts: torch.Tensor, flips: torch.Tensor, pad: int) -> torch.Tensor:
    """Random-crop-with-zero-padding and horizontal flip of a batch, in one gather (no Python loop).

    images (B, C, H, W) any dtype; shifts (B, 2) int in [0, 2 * pad]: the crop's top-left corner
    in the zero-padded image, so output[i, j] = input[i + dy - pad, j + dx - pad] (0 outside);
    flips (B,) bool: mirror the crop left-right. Returns (B, C, H, W), same dtype and device.
    """
    b, _, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    rows = shifts[:, 0, None] + torch.arange(h, device=images.device)  # (B, H)
    cols = torch.arange(w, device=images.device).expand(b, w)
    cols = shifts[:, 1, None] + torch.where(flips[:, None], w - 1 - cols, cols)  # (B, W)
    batch = torch.arange(b, device=images.device)[:, None, None]
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)  # (B, H, W, C) -> NCHW


class _Plan:
    """Order, batching and sharding shared by both loaders."""

    def __init__(self, labels: torch.Tensor, batch_size: int, *, train: bool, seed: int, subset: int,
                 rank: int, world_size: int):
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1; got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(f"rank must be in [0, world_size) and world_size >= 1; got rank {rank}, world_size {world_size}")
        if seed < 0:
            raise ConfigError(f"seed must be >= 0; got {seed}")
        self.indices = balanced_subset(labels, subset)  # the subset's positions in the split
        self.batch_size, self.train, self.seed = batch_size, train, seed
        self.rank, self.world_size, self.epoch = rank, world_size, 0
        n = len(self.indices)
        if train:  # drop_last, and the same number of batches on every rank
            self.num_batches = n // world_size // batch_size
            if self.num_batches == 0:
                raise ConfigError(f"batch_size must be at most {n // world_size} (training examples per rank); got {batch_size}")
        else:  # every example once; shards differ by at most one example (no padding duplicates)
            self.num_batches = -(-len(range(rank, n, world_size)) // batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Select epoch ``epoch``'s order and augmentation (they depend only on (seed, epoch))."""
        if epoch < 0:
            raise ConfigError(f"epoch must be >= 0; got {epoch}")
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_batches

    def draw(self) -> tuple[torch.Tensor, torch.Tensor, torch.Generator | None]:
        """This epoch's (positions in ``indices`` of this rank's examples in yield order, their
        positions in the global epoch order, the generator that drew that order).

        Loaders go on drawing augmentation from the generator for all global positions and take
        this rank's, so an example's augmentation does not depend on the rank or world size."""
        n = len(self.indices)
        mine = torch.arange(self.rank, n, self.world_size)
        if not self.train:
            return mine, mine, None
        mine = mine[: self.num_batches * self.batch_size]
        generator = _generator(self.seed, self.epoch)
        return torch.randperm(n, generator=generator)[mine], mine, generator

    def epoch_indices(self) -> torch.Tensor:
        """Split indices (int64) of this rank's examples in the order this epoch yields them."""
        return self.indices[self.draw()[0]]


class ArrayLoader(_Plan):
    """Batches of images held on the device as uint8 (N, C, H, W), augmented there.

    Yields ``(x float32 [0, 1] (B, C, H, W), y int64 (B,))`` on ``device``. With ``train``:
    shuffled, random crop with ``pad`` pixels of zero padding (+ horizontal flip if ``flip``),
    last partial batch dropped; otherwise in order, unaugmented, last partial batch kept.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, *, train: bool,
                 device: str | torch.device = "cpu", seed: int = 0, subset: int = 0, rank: int = 0,
                 world_size: int = 1, pad: int = 0, flip: bool = False):
        super().__init__(labels, batch_size, train=train, seed=seed, subset=subset, rank=rank, world_size=world_size)
        self.device = torch.device(device)
        whole = len(self.indices) == len(labels)
        self.images = (images if whole else images[self.indices]).to(self.device)
        self.labels = (labels if whole else labels[self.indices]).to(self.device)
        self.pad, self.flip = pad, flip

    def __iter__(self):
        positions, mine, generator = self.draw()
        positions, b = positions.to(self.device), self.batch_size
        if self.train:
            n = len(self.indices)
            shifts = torch.randint(0, 2 * self.pad + 1, (n, 2), generator=generator)[mine].to(self.device)
            flips = torch.rand(n, generator=generator)[mine] < 0.5 if self.flip else torch.zeros(len(mine), dtype=torch.bool)
            flips = flips.to(self.device)
        for k in range(self.num_batches):
            batch = positions[k * b : (k + 1) * b]
            x = self.images[batch]
            if self.train:
                x = crop_flip(x, shifts[k * b : (k + 1) * b], flips[k * b : (k + 1) * b], self.pad)
            yield x.to(torch.float32).div_(255), self.labels[batch]


# --- Folder data sets ---------------------------------------------------------------------------

_FOLDER_LAYOUT = "<root>/train/<class>/*.jpg|png and <root>/val/<class>/... (or test/ for val)"


def _folder_root(name: str, data_dir: str | None) -> Path:
    roots = [r for r in dict.fromkeys((data_dir, os.environ.get("LABELAUG_DATA"))) if r]
    candidates = [d for r in roots for d in ((Path(r), Path(r) / "imagenet") if name == "imagenet" else (Path(r),))]
    for candidate in candidates:
        if (candidate / "train").is_dir():
            return candidate
    where = ", ".join(map(str, candidates)) or "nowhere (pass data_dir / --data-dir or set LABELAUG_DATA)"
    raise ConfigError(f"{name}: no train/ folder in {where}; expected {_FOLDER_LAYOUT}")


def _class_folders(name: str, directory: Path) -> list[str]:
    classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
    if not classes:
        raise ConfigError(f"{name}: {directory} has no class subfolders; expected {_FOLDER_LAYOUT}")
    return classes


def _transform(name: str, train: bool, size: int):
    from torchvision.transforms import v2

    if name == "imagenet":  # the ResNet-50 recipe, scaled by size / 224
        geometry = ([v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()] if train
                    else [v2.Resize(round(size * 256 / 224), antialias=True), v2.CenterCrop(size)])
    else:  # CIFAR-style: fix the size, then pad-crop and flip as for the small sets
        geometry = [v2.Resize(size, antialias=True), v2.CenterCrop(size)]
        geometry += [v2.RandomCrop(size, padding=size // 8), v2.RandomHorizontalFlip()] if train else []
    return v2.Compose([*geometry, v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])


def _image_folder(name: str, split: str, data_dir: str | None, transform):
    """torchvision's ImageFolder on the split's folder, with train/'s class indices."""
    from torchvision.datasets import ImageFolder

    root = _folder_root(name, data_dir)
    classes = _class_folders(name, root / "train")
    directory = root / "train" if split == "train" else next(
        (root / d for d in ("val", "test") if (root / d).is_dir()), None)
    if directory is None:
        raise ConfigError(f"{name}: {root} has no val/ or test/ folder; expected {_FOLDER_LAYOUT}")
    unknown = sorted(set(_class_folders(name, directory)) - set(classes))
    if unknown:
        raise ConfigError(f"{name}: {directory} has class folders that train/ lacks: {', '.join(unknown[:5])}")
    try:
        folder = ImageFolder(str(directory), transform=transform, allow_empty=split == "test")
    except FileNotFoundError as exc:
        raise ConfigError(f"{name}: {exc} (in {directory}); expected {_FOLDER_LAYOUT}") from None
    # A val/ missing some classes would get shifted indices from ImageFolder: use train/'s.
    index = {c: i for i, c in enumerate(classes)}
    folder.samples = folder.imgs = [(path, index[folder.classes[t]]) for path, t in folder.samples]
    folder.targets = [t for _, t in folder.samples]
    folder.classes, folder.class_to_idx = classes, index
    return folder


class _Examples(torch.utils.data.Dataset):
    """ImageFolder examples addressed by (index, augmentation seed): an example's random
    transform depends on its seed only, not on the worker that loads it or the global RNG."""

    def __init__(self, folder):
        self.folder = folder

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, key):
        index, seed = key
        if seed < 0:
            return self.folder[index]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.folder[index]


class _Batches:
    """The DataLoader's batch sampler: the loader's plan for its current epoch."""

    def __init__(self, plan: _Plan):
        self.plan = plan

    def __len__(self) -> int:
        return len(self.plan)

    def __iter__(self):
        positions, mine, generator = self.plan.draw()
        indices, b = self.plan.indices[positions].tolist(), self.plan.batch_size
        seeds = ([-1] * len(indices) if generator is None
                 else torch.randint(0, 2**62, (len(self.plan.indices),), generator=generator)[mine].tolist())
        for k in range(len(self.plan)):
            yield list(zip(indices[k * b : (k + 1) * b], seeds[k * b : (k + 1) * b]))


class FolderLoader(_Plan):
    """Batches of an ImageFolder through a DataLoader, with the interface of :class:`ArrayLoader`.

    ``samples`` is the split's list of (path, class) (torchvision's); example ``j`` of an
    epoch is ``samples[epoch_indices()[j]]``, and :meth:`paths` lists the epoch's file paths.
    """

    def __init__(self, folder, batch_size: int, *, train: bool, device: str | torch.device = "cpu",
                 seed: int = 0, subset: int = 0, rank: int = 0, world_size: int = 1, num_workers: int = 2):
        super().__init__(torch.tensor(folder.targets, dtype=torch.int64), batch_size, train=train, seed=seed,
                         subset=subset, rank=rank, world_size=world_size)
        if num_workers < 0:
            raise ConfigError(f"num_workers must be >= 0; got {num_workers}")
        self.samples, self.device = folder.samples, torch.device(device)
        self._loader = torch.utils.data.DataLoader(
            _Examples(folder), batch_sampler=_Batches(self), num_workers=num_workers,
            pin_memory=self.device.type == "cuda", persistent_workers=num_workers > 0,
        )

    def paths(self) -> list[str]:
        """File paths of this rank's examples, in the order this epoch yields them."""
        return [self.samples[i][0] for i in self.epoch_indices().tolist()]

    def __iter__(self):
        for x, y in self._loader:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


def split_labels(name: str, split: str, data_dir: str | None = None) -> torch.Tensor:
    """(N,) int64 labels of a split, in the order its examples are indexed (folder sets: sorted paths,
    with train/'s class indices), without decoding any image of a folder set."""
    _check_name(name)
    _check_split(split)
    if name in SMALL_DATASETS:
        return load_arrays(name, split, data_dir)[1]
    return torch.tensor(_image_folder(name, split, data_dir, None).targets, dtype=torch.int64)


def load_examples(name: str, split: str, indices: torch.Tensor, *, data_dir: str | None = None,
                  image_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Examples ``indices`` of a split, unaugmented (as evaluation sees them), on the CPU.

    Returns x (n, C, H, W) float32 in [0, 1] and y (n,) int64. Folder sets are read at
    ``image_size`` (default: the data set's) with the evaluation transform of :func:`make_loader`.
    """
    _check_name(name)
    _check_split(split)
    indices = torch.as_tensor(indices, dtype=torch.int64)
    if name in SMALL_DATASETS:
        images, labels = load_arrays(name, split, data_dir)
        return images[indices].to(torch.float32).div_(255), labels[indices]
    size = image_size or dataset_info(name, data_dir).image_size
    folder = _image_folder(name, split, data_dir, _transform(name, False, size))
    examples = [folder[i] for i in indices.tolist()]
    if not examples:
        return torch.empty(0, 3, size, size), torch.empty(0, dtype=torch.int64)
    return torch.stack([x for x, _ in examples]), torch.tensor([y for _, y in examples], dtype=torch.int64)


def make_loader(
    name: str,
    split: str,
    batch_size: int,
    *,
    train: bool,
    data_dir: str | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
    subset: int = 0,
    rank: int = 0,
    world_size: int = 1,
    image_size: int | None = None,
    num_workers: int = 2,
) -> ArrayLoader | FolderLoader:
    """Batches of ``name``'s ``split``: ``(x float32 [0, 1] (B, C, H, W), y int64 (B,))`` on ``device``.

    ``len(loader)`` is the number of batches per epoch (equal on every rank when training);
    ``loader.set_epoch(e)`` selects epoch e, whose order and augmentation depend only on
    ``(seed, e)``. ``train``: shuffle, augment (small sets: zero-padded random crop, pad 2 for
    fashion-mnist and 4 otherwise, + horizontal flip except for SVHN; imagenet:
    RandomResizedCrop + flip; imagefolder: pad-crop + flip), drop the last partial batch;
    else fixed order, no augmentation, last partial batch kept. ``subset``: a class-balanced
    fixed subset of that many examples (0 = all). ``rank``/``world_size``: this rank's strided
    shard of every epoch. ``image_size``: the input side for imagefolder/imagenet (default: the
    data set's, 224 for imagenet). ``num_workers``: DataLoader workers (folder sets only).
    """
    _check_name(name)
    _check_split(split)
    if name in SMALL_DATASETS:
        native = _SMALL_INFO[name].image_size
        if image_size not in (None, native):
            raise ConfigError(f"image_size applies to imagefolder and imagenet only ({name} is {native}x{native}); got {image_size}")
        images, labels = load_arrays(name, split, data_dir)
        pad, flip = AUGMENTATION[name]
        return ArrayLoader(images, labels, batch_size, train=train, device=device, seed=seed, subset=subset,
                           rank=rank, world_size=world_size, pad=pad, flip=flip)
    if image_size is not None and image_size < 1:
        raise ConfigError(f"image_size must be >= 1; got {image_size}")
    size = image_size or dataset_info(name, data_dir).image_size
    folder = _image_folder(name, split, data_dir, _transform(name, train, size))
    return FolderLoader(folder, batch_size, train=train, device=device, seed=seed, subset=subset, rank=rank,
                        world_size=world_size, num_workers=num_workers)
