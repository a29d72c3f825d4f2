"""The data sets, one record each: everything the library knows about a data set by its name.

A :class:`DatasetSpec` states where a data set's files are (its folder, the files of each split, a
system folder, how to download it), what its images are (channels, side, class names), how training
augments them, how its files are read (a reader of :mod:`labelaug_core.data.formats`; none for a
folder set, read by torchvision's ImageFolder) and the training settings a run takes by default
(:data:`labelaug_core.config.DATASET_DEFAULTS` is a view of them). :data:`REGISTRY` holds the records
in the order the command line and the error messages list them; every other module looks a data set
up here, so adding one is one record (and, for a new file format, one reader in ``formats``).

This module imports no torch: the configuration (:mod:`labelaug_core.config`) reads its defaults here.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from labelaug_core.data import formats
from labelaug_core.errors import ConfigError

SPLITS = ("train", "test")

# The settings a data set may choose (labelaug_core.config.TrainConfig's fields of that name).
DEFAULT_KEYS = ("model", "eps", "epochs", "batch_size", "lr", "pretrained")

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist

Reader = Callable[[list[Path]], tuple]  # files -> (images, labels) numpy arrays


@dataclass(frozen=True)
class DatasetSpec:
    """One data set. Small sets (a ``reader``) are read whole into uint8 arrays and augmented on the
    device; folder sets (no reader) are ``<root>/train/<class>/*`` and ``<root>/val|test/<class>/*``
    folders read through torchvision's ImageFolder."""

    name: str
    folder: str                      # its folder under a data root and the cache; "" = the root itself
    channels: int
    image_size: int                  # side of the square image; 0 = the shorter side of the first training image
    class_names: tuple[str, ...]     # in label order; () = the sorted class folders of <root>/train
    defaults: Mapping[str, Any]      # TrainConfig settings this data set fills in (keys of DEFAULT_KEYS)
    pad: int | None = None           # zero padding of the training random crop, pixels; None = side // 8
    flip: bool = True                # horizontal flip when training (not for digits)
    resized_crop: bool = False       # ImageNet's ResNet-50 recipe instead of pad-crop: RandomResizedCrop
                                     # (training), Resize(256/224 * side) + CenterCrop (evaluation)
    files: Mapping[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
                                     # per split, the files it is read from, each as alternatives
    reader: Reader | None = None     # files -> (images uint8 (N, C, H, W), labels (N,)); None = a folder set
    download: Callable[[str, Path], None] | None = None  # (split, cache folder): fetch it there
    system_dir: Path | None = None   # a folder a system package installs it in, searched before the cache
    install: str = ""                # how to install that package, named when the data set is missing
    check_images: bool = True        # folder sets: open every image's header up front (not ImageNet's 1.3M)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.defaults) - set(DEFAULT_KEYS))
        if unknown:
            raise ValueError(f"{self.name}: unknown default {unknown[0]!r}; allowed: {', '.join(DEFAULT_KEYS)}")
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))

    @property
    def small(self) -> bool:
        """A small set: read whole by its reader (else a folder set)."""
        return self.reader is not None

    @property
    def num_classes(self) -> int:
        """K for a small set (a folder set's is its number of class folders)."""
        return len(self.class_names)


def _idx_files(split: str) -> tuple[tuple[str, ...], ...]:
    prefix = formats.FMNIST_PREFIX[split]
    return tuple((f"{prefix}-{kind}.gz", f"{prefix}-{kind}") for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"))


_CIFAR100_NAMES = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel "
    "can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur "
    "dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion "
    "lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree "
    "pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea "
    "seal shark shrew skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table "
    "tank telephone television tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split()

# Default settings. eps follows the paper (0.03 on ImageNet) and the usual values elsewhere (8/255 for
# 32x32 colour sets, 0.1 for Fashion-MNIST as in the MNIST-family literature scaled down from MNIST's
# 0.3). lr is the SGD learning rate at batch_size. pretrained (absent: false) applies to resnet50 only.
_COLOUR_32 = dict(model="preact-resnet18", eps=8 / 255, epochs=30, batch_size=128, lr=0.1)

REGISTRY: dict[str, DatasetSpec] = {spec.name: spec for spec in (
    DatasetSpec(
        "fashion-mnist", folder="fashion-mnist", channels=1, image_size=28,
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                     "Ankle boot"),
        defaults=dict(model="small-cnn", eps=0.1, epochs=10, batch_size=128, lr=0.05),
        pad=2, files={s: _idx_files(s) for s in SPLITS}, reader=formats.read_fashion_mnist,
        download=formats.download_fashion_mnist, system_dir=DEBIAN_FASHION_MNIST,
        install="`apt install dataset-fashion-mnist`"),
    DatasetSpec(
        "cifar10", folder="cifar-10-batches-py", channels=3, image_size=32,
        class_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        defaults=_COLOUR_32, pad=4,
        files={"train": tuple((f"data_batch_{i}",) for i in range(1, 6)), "test": (("test_batch",),)},
        reader=formats.read_cifar10, download=formats.download_cifar10),
    DatasetSpec(
        "cifar100", folder="cifar-100-python", channels=3, image_size=32, class_names=tuple(_CIFAR100_NAMES),
        defaults=_COLOUR_32, pad=4, files={s: ((s,),) for s in SPLITS},
        reader=formats.read_cifar100, download=formats.download_cifar100),
    DatasetSpec(
        "svhn", folder="svhn", channels=3, image_size=32, class_names=tuple(str(d) for d in range(10)),
        defaults={**_COLOUR_32, "epochs": 15, "lr": 0.01}, pad=4, flip=False,  # flipping digits is wrong
        files={s: ((f"{s}_32x32.mat",),) for s in SPLITS}, reader=formats.read_svhn,
        download=formats.download_svhn),
    DatasetSpec(
        "imagefolder", folder="", channels=3, image_size=0, class_names=(), defaults=_COLOUR_32),
    DatasetSpec(  # the paper: torchvision ResNet-50 (default weights), 10 epochs, batch 64, lr 0.01 cosine
        "imagenet", folder="imagenet", channels=3, image_size=224, class_names=(), resized_crop=True, check_images=False,
        defaults=dict(model="resnet50", eps=0.03, epochs=10, batch_size=64, lr=0.01, pretrained=True)),
)}


def check_name(name: str, *, small: bool = False) -> DatasetSpec:
    """The record of data set ``name`` (``small``: only a small set will do); else a ConfigError
    listing the allowed names."""
    allowed = [n for n, s in REGISTRY.items() if s.small or not small]
    if name not in allowed:
        raise ConfigError(f"dataset must be one of {', '.join(allowed)}; got {name!r}")
    return REGISTRY[name]


def check_split(split: str) -> None:
    """A ConfigError unless ``split`` is one of :data:`SPLITS`."""
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
