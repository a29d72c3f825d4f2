"""Deterministic sampling: class-balanced subsets, per-(seed, epoch) orders and augmentation draws."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from labelaug_core.errors import ConfigError


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


def interleave_classes(labels: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """``indices`` (int64, positions in ``labels``) reordered round-robin over the classes: the first
    example of each class (in class order), then the second of each, and so on; within a class the
    order of ``indices`` is kept. Every prefix of the result is as class-balanced as the classes
    allow, so an evaluation that attacks only the first N images (``eval_subset``, ``attack_limit``)
    attacks every class, also on folder data sets whose files come sorted by class."""
    ks = labels.cpu().numpy()[indices.cpu().numpy()]
    by_class = np.argsort(ks, kind="stable")
    counts = np.bincount(ks) if len(ks) else np.zeros(0, dtype=np.int64)
    rank_in_class = np.empty(len(ks), dtype=np.int64)
    rank_in_class[by_class] = np.arange(len(ks)) - (np.cumsum(counts) - counts)[ks[by_class]]
    order = np.lexsort((ks, rank_in_class))  # by rank within class, then by class
    return indices[torch.from_numpy(order)]


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


class BatchPlan:
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
        if not train:  # evaluation order: classes interleaved, so every prefix is class-balanced
            self.indices = interleave_classes(labels, self.indices)
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
