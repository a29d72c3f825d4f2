"""Loaders: batches ``(x float32 [0, 1] (B, C, H, W), y int64 (B,))`` of any data set on a device."""
from __future__ import annotations

import torch

from labelaug_core.data.folders import FolderLoader, folder_transform, image_folder
from labelaug_core.data.readers import load_arrays
from labelaug_core.data.registry import check_name, check_split
from labelaug_core.data.sampling import BatchPlan, crop_flip
from labelaug_core.data.sources import dataset_info
from labelaug_core.errors import ConfigError


class ArrayLoader(BatchPlan):
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


def split_labels(name: str, split: str, data_dir: str | None = None) -> torch.Tensor:
    """(N,) int64 labels of a split, in the order its examples are indexed (folder sets: sorted paths,
    with train/'s class indices), without decoding any image of a folder set."""
    spec = check_name(name)
    check_split(split)
    if spec.small:
        return load_arrays(name, split, data_dir)[1]
    return torch.tensor(image_folder(name, split, data_dir, None).targets, dtype=torch.int64)


def load_examples(name: str, split: str, indices: torch.Tensor, *, data_dir: str | None = None,
                  image_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Examples ``indices`` of a split, unaugmented (as evaluation sees them), on the CPU.

    Returns x (n, C, H, W) float32 in [0, 1] and y (n,) int64. Folder sets are read at
    ``image_size`` (default: the data set's) with the evaluation transform of :func:`make_loader`.
    """
    spec = check_name(name)
    check_split(split)
    indices = torch.as_tensor(indices, dtype=torch.int64)
    if spec.small:
        images, labels = load_arrays(name, split, data_dir)
        return images[indices].to(torch.float32).div_(255), labels[indices]
    size = image_size or dataset_info(name, data_dir).image_size
    folder = image_folder(name, split, data_dir, folder_transform(name, False, size))
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
    ``(seed, e)``. ``train``: shuffle, augment as the data set's record says (small sets: zero-padded
    random crop, pad 2 for fashion-mnist and 4 otherwise, + horizontal flip except for SVHN; imagenet:
    RandomResizedCrop + flip; imagefolder: pad-crop + flip), drop the last partial batch;
    else fixed order, no augmentation, last partial batch kept. ``subset``: a class-balanced
    fixed subset of that many examples (0 = all). ``rank``/``world_size``: this rank's strided
    shard of every epoch. ``image_size``: the input side for imagefolder/imagenet (default: the
    data set's, 224 for imagenet). ``num_workers``: DataLoader workers (folder sets only).
    """
    spec = check_name(name)
    check_split(split)
    if spec.small:
        native = spec.image_size
        if image_size not in (None, native):
            raise ConfigError(f"image_size applies to imagefolder and imagenet only ({name} is {native}x{native}); got {image_size}")
        images, labels = load_arrays(name, split, data_dir)
        return ArrayLoader(images, labels, batch_size, train=train, device=device, seed=seed, subset=subset,
                           rank=rank, world_size=world_size, pad=spec.pad, flip=spec.flip)
    if image_size is not None and image_size < 1:
        raise ConfigError(f"image_size must be >= 1; got {image_size}")
    size = image_size or dataset_info(name, data_dir).image_size
    folder = image_folder(name, split, data_dir, folder_transform(name, train, size))
    return FolderLoader(folder, batch_size, train=train, device=device, seed=seed, subset=subset, rank=rank,
                        world_size=world_size, num_workers=num_workers)


def split_size(name: str, split: str, data_dir: str | None = None) -> int:
    """The number of examples of a split (the small sets' arrays are memoised; folder sets list files)."""
    return len(split_labels(name, split, data_dir))


def check_sizes(name: str, data_dir: str | None = None, *, train_subset: int = 0, test_subset: int = 0,
                eval_subset: int = 0, batch_size: int | None = None, world_size: int = 1,
                train: bool = True) -> None:
    """The sizes a run asks of its data, checked against the splits before anything is written; a
    one-line ConfigError names the setting: ``train_subset`` between 0 (all) and the training split's
    size and, when ``train``, at least ``batch_size`` per rank (one training batch); ``test_subset``
    between 0 (all) and the test split's size; ``eval_subset`` at most the test images evaluated
    (``test_subset``, or the whole split) instead of being cut to them silently."""
    if train:
        n_train = split_size(name, "train", data_dir)
        if not 0 <= train_subset <= n_train:
            raise ConfigError(f"train_subset must be between 0 (all) and {n_train} ({name}'s training images); "
                              f"got {train_subset}")
        examples = train_subset or n_train
        if batch_size is not None and examples // world_size < batch_size:
            if train_subset:
                raise ConfigError(f"train_subset ({train_subset}) must be at least batch_size ({batch_size}, one "
                                  f"training batch{' per rank' if world_size > 1 else ''}), or batch_size at most "
                                  f"{train_subset // world_size}; train_subset 0 takes all {n_train} images")
            raise ConfigError(f"batch_size must be at most {examples // world_size} ({name}'s training images "
                              f"per rank); got {batch_size}")
    n_test = split_size(name, "test", data_dir)
    if not 0 <= test_subset <= n_test:
        raise ConfigError(f"test_subset must be between 0 (all) and {n_test} ({name}'s test images); got {test_subset}")
    tested = test_subset or n_test
    if not 0 <= eval_subset <= tested:
        which = f"test_subset, {tested}" if test_subset else f"{name}'s test images, {tested}"
        raise ConfigError(f"eval_subset must be between 0 (= test_subset) and the images evaluated ({which}); "
                          f"got {eval_subset}")
