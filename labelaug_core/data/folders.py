"""Folder data sets (imagefolder, imagenet): torchvision's ImageFolder behind the loader interface."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from labelaug_core.data.registry import REGISTRY
from labelaug_core.data.sampling import BatchPlan
from labelaug_core.errors import ConfigError

FOLDER_LAYOUT = "<root>/train/<class>/*.jpg|png and <root>/val/<class>/... (or test/ for val)"


def folder_root(name: str, data_dir: str | None) -> Path:
    """The folder holding folder set ``name``'s ``train/``: data_dir, else $LABELAUG_DATA (each as-is
    and its record's folder); a ConfigError naming the places and the layout expected."""
    folder = REGISTRY[name].folder
    roots = [r for r in dict.fromkeys((data_dir, os.environ.get("LABELAUG_DATA"))) if r]
    candidates = [d for r in roots for d in dict.fromkeys((Path(r), Path(r) / folder))]
    for candidate in candidates:
        if (candidate / "train").is_dir():
            return candidate
    where = ", ".join(map(str, candidates)) or "nowhere (pass data_dir / --data-dir or set LABELAUG_DATA)"
    raise ConfigError(f"{name}: no train/ folder in {where}; expected {FOLDER_LAYOUT}")


def class_folders(name: str, directory: Path) -> list[str]:
    """The sorted class subfolders of ``directory``; a ConfigError if there are none."""
    classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
    if not classes:
        raise ConfigError(f"{name}: {directory} has no class subfolders; expected {FOLDER_LAYOUT}")
    return classes


def folder_transform(name: str, train: bool, size: int):
    """The image transform of folder set ``name`` at side ``size`` (its record's augmentation when
    ``train``): image file -> float32 [0, 1] (3, size, size)."""
    from torchvision.transforms import v2

    spec = REGISTRY[name]
    flip = [v2.RandomHorizontalFlip()] if spec.flip else []
    if spec.resized_crop:  # the ResNet-50 recipe, scaled by size / 224
        geometry = ([v2.RandomResizedCrop(size, antialias=True), *flip] if train
                    else [v2.Resize(round(size * 256 / 224), antialias=True), v2.CenterCrop(size)])
    else:  # CIFAR-style: fix the size, then pad-crop and flip as for the small sets
        pad = size // 8 if spec.pad is None else spec.pad
        geometry = [v2.Resize(size, antialias=True), v2.CenterCrop(size)]
        geometry += [v2.RandomCrop(size, padding=pad), *flip] if train else []
    return v2.Compose([*geometry, v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])


def image_folder(name: str, split: str, data_dir: str | None, transform):
    """torchvision's ImageFolder on the split's folder, with train/'s class indices."""
    from torchvision.datasets import ImageFolder

    root = folder_root(name, data_dir)
    classes = class_folders(name, root / "train")
    directory = root / "train" if split == "train" else next(
        (root / d for d in ("val", "test") if (root / d).is_dir()), None)
    if directory is None:
        raise ConfigError(f"{name}: {root} has no val/ or test/ folder; expected {FOLDER_LAYOUT}")
    unknown = sorted(set(class_folders(name, directory)) - set(classes))
    if unknown:
        raise ConfigError(f"{name}: {directory} has class folders that train/ lacks: {', '.join(unknown[:5])}")
    try:
        folder = ImageFolder(str(directory), transform=transform, allow_empty=split == "test")
    except FileNotFoundError as exc:
        raise ConfigError(f"{name}: {exc} (in {directory}); expected {FOLDER_LAYOUT}") from None
    # A val/ missing some classes would get shifted indices from ImageFolder: use train/'s.
    index = {c: i for i, c in enumerate(classes)}
    folder.samples = folder.imgs = [(path, index[folder.classes[t]]) for path, t in folder.samples]
    folder.targets = [t for _, t in folder.samples]
    folder.classes, folder.class_to_idx = classes, index
    if REGISTRY[name].check_images:
        _check_images(folder.samples)
    return folder


_VERIFIED: set[tuple[str, int, int]] = set()  # (path, size, mtime_ns) of files whose header PIL read


def _check_images(samples: list[tuple[str, int]]) -> None:
    """Every file of a folder set must be an image PIL can identify (its header only, no decoding): a
    stray file named ``.png`` is refused with a one-line ConfigError before anything trains or is
    written, not found by a DataLoader worker in the middle of training. Memoised per file state."""
    from PIL import Image

    for path, _ in samples:
        try:
            st = os.stat(path)
            key = (path, st.st_size, st.st_mtime_ns)
            if key in _VERIFIED:
                continue
            with Image.open(path) as image:
                image.size  # noqa: B018  (the header is read on open)
        except OSError as exc:  # PIL's UnidentifiedImageError is an OSError
            reason = "not an image PIL can read" if isinstance(exc, Image.UnidentifiedImageError) else (
                exc.strerror or str(exc))
            raise ConfigError(f"{path}: {reason}; remove it from the data folder or replace it") from None
        _VERIFIED.add(key)


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

    def __init__(self, plan: BatchPlan):
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


class FolderLoader(BatchPlan):
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
        # Workers live for one pass only (not persistent): a persistent iterator outlives the pass
        # inside this loader's reference cycle (loader -> DataLoader -> _Batches -> loader), and a
        # process forked later (a DataLoader worker, a pool) that garbage-collects that cycle runs
        # its __del__ and prints "AssertionError: can only test a child process".
        self._loader = torch.utils.data.DataLoader(
            _Examples(folder), batch_sampler=_Batches(self), num_workers=num_workers,
            pin_memory=self.device.type == "cuda", persistent_workers=False,
        )

    def paths(self) -> list[str]:
        """File paths of this rank's examples, in the order this epoch yields them."""
        return [self.samples[i][0] for i in self.epoch_indices().tolist()]

    def __iter__(self):
        batches = iter(self._loader)
        try:
            for x, y in batches:
                yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        finally:  # a pass left early (break, an exception) stops its workers now, in this process
            shutdown = getattr(batches, "_shutdown_workers", None)
            if shutdown is not None:
                shutdown()
