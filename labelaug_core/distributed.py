"""Several processes, one training run: torchrun's environment, the process group, devices.

    torchrun --nproc_per_node=N -m labelaug_core train [flags]

torchrun starts N copies of the command line and tells each who it is through environment
variables: ``RANK`` (0 .. WORLD_SIZE - 1, across machines), ``LOCAL_RANK`` (0 .. N - 1, on
this machine), ``WORLD_SIZE`` and ``MASTER_ADDR``/``MASTER_PORT`` (the rendezvous). Without
them (a plain ``labelaug train``) everything here is a no-op and the run is single-process.

Each rank takes one device: ``cuda:LOCAL_RANK`` with the NCCL backend on GPUs, the CPU with
gloo otherwise. :func:`labelaug_core.train.train` wraps the model in DistributedDataParallel,
each rank reads its shard of every global batch (``data.make_loader``'s ``rank``/``world_size``),
rank 0 alone writes checkpoints and run files and evaluates; the others wait at a barrier.
"""
from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass
from typing import Iterator, Mapping

import torch
import torch.distributed as dist

from labelaug_core.errors import ConfigError

# How long a rank waits in a collective (barrier, all-reduce) before the process group gives
# up. Long, because the other ranks wait at a barrier while rank 0 evaluates (PGD-40 on a
# large test set can take an hour); torchrun itself stops every rank as soon as one dies.
TIMEOUT = datetime.timedelta(hours=12)


@dataclass(frozen=True)
class Rank:
    """Who this process is: ``rank`` in [0, world_size), ``local_rank`` on its machine, its device."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes files, prints and evaluates."""
        return self.rank == 0


def env_ranks(env: Mapping[str, str] = os.environ) -> tuple[int, int, int]:
    """``(rank, local_rank, world_size)`` from torchrun's variables; ``(0, 0, 1)`` when unset."""
    values = {}
    for name, default in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1")):
        raw = env.get(name, default)
        try:
            values[name] = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be an integer (torchrun sets it); got {raw!r}") from None
    rank, local_rank, world_size = values["RANK"], values["LOCAL_RANK"], values["WORLD_SIZE"]
    if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
        raise ConfigError(f"RANK must be in [0, WORLD_SIZE) and LOCAL_RANK >= 0; got RANK={rank}, "
                          f"LOCAL_RANK={local_rank}, WORLD_SIZE={world_size}")
    return rank, local_rank, world_size


def rank_device(local_rank: int, device: str | None = None) -> torch.device:
    """This rank's device: ``cuda:local_rank`` if ``device`` is None or ``"cuda"`` and CUDA is
    available, else the CPU. An indexed device (``cuda:1``) would put every rank on one GPU,
    so it is refused."""
    if device not in (None, "cpu", "cuda"):
        raise ConfigError(f"device must be cpu or cuda when distributed (rank r takes cuda:LOCAL_RANK); got {device!r}")
    if device != "cpu" and torch.cuda.is_available():
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {local_rank} has no GPU (this machine has {torch.cuda.device_count()}); "
                              "use --nproc_per_node <= the number of GPUs")
        return torch.device("cuda", local_rank)
    if device == "cuda":
        raise ConfigError("device cuda: CUDA is not available; use --device cpu (gloo)")
    return torch.device("cpu")


def init(device: str | None = None, env: Mapping[str, str] = os.environ) -> Rank:
    """Join torchrun's process group (NCCL on CUDA, gloo on the CPU) and return this rank.

    With ``WORLD_SIZE`` 1 or unset no group is made and ``device`` is returned as given
    (None: CUDA when available, as :func:`labelaug_core.train.pick_device`).
    """
    rank, local_rank, world_size = env_ranks(env)
    if world_size == 1:
        if device:
            return Rank(0, 0, 1, torch.device(device))
        return Rank(0, 0, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    dev = rank_device(local_rank, device)
    if dist.is_initialized():  # already joined (e.g. by a launcher script): reuse the group
        return Rank(dist.get_rank(), local_rank, dist.get_world_size(), dev)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        dist.init_process_group("nccl", timeout=TIMEOUT, device_id=dev)
    else:
        dist.init_process_group("gloo", timeout=TIMEOUT)
    return Rank(rank, local_rank, world_size, dev)


def barrier() -> None:
    """Wait for every rank (no-op when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group (no-op when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def process_group(device: str | None = None) -> Iterator[Rank]:
    """``with process_group(args.device) as me:`` joins torchrun's group (if any) and leaves it after."""
    me = init(device)
    try:
        yield me
    finally:
        cleanup()
