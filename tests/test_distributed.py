"""labelaug_core.distributed and DDP training: two gloo ranks on the CPU against one process.

With the same global batch, two ranks that each take half of every batch compute the same
mean gradient as one process (DDP averages the ranks' gradients), so the weights after
training agree up to floating-point summation order. The small CNN has no BatchNorm, whose
per-rank batch statistics would otherwise differ. The tolerance below (1e-5 absolute on the
weights and relative on the per-epoch loss) is about 100 times what the summation order gives
here after 16 SGD steps, and far below what a missing gradient all-reduce gives (ranks that
train on their halves alone end about 1e-2 apart).
"""
from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from labelaug_core.config import TrainConfig
from labelaug_core.distributed import Rank, env_ranks, init, rank_device
from labelaug_core.errors import ConfigError
from labelaug_core.train import CHECKPOINT, train

STD = dict(dataset="fashion-mnist", method="std", epochs=2, train_subset=512, batch_size=64, precision="fp32")
ADV = STD | dict(method="adv", epochs=1, steps=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world_size: int, port: int, tmp: str) -> None:
    """One rank: std trained in two calls (stopped after epoch 1, then resumed), then adv."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world_size))
    torch.set_num_threads(1)  # two ranks on two cores
    me = init("cpu")
    try:
        std = TrainConfig(**STD)
        train(std, f"{tmp}/std", device="cpu", progress=False, rank=me.rank, world_size=me.world_size, stop_after_epochs=1)
        model, history = train(std, f"{tmp}/std", device="cpu", progress=False, rank=me.rank, world_size=me.world_size)
        adv_model, adv_history = train(TrainConfig(**ADV), f"{tmp}/adv", device="cpu", progress=False,
                                       rank=me.rank, world_size=me.world_size)
        torch.save({"std": model.state_dict(), "std_history": history, "adv": adv_model.state_dict(),
                    "adv_history": adv_history}, f"{tmp}/rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """The results of both ranks of a 2-process gloo run (spawned once for the module)."""
    tmp = tmp_path_factory.mktemp("ddp")
    mp.spawn(_rank_main, args=(2, _free_port(), str(tmp)), nprocs=2, join=True)
    ranks = [torch.load(tmp / f"rank{r}.pt", weights_only=True) for r in range(2)]
    return tmp, ranks


def test_two_ranks_match_one_process_with_the_same_global_batch(two_ranks, tmp_path):
    tmp, ranks = two_ranks
    single, history = train(TrainConfig(**STD), tmp_path, device="cpu", progress=False)
    for name, value in single.state_dict().items():
        torch.testing.assert_close(ranks[0]["std"][name], value, rtol=0, atol=1e-5)
    for ddp, one in zip(ranks[0]["std_history"], history, strict=True):
        assert ddp["epoch"] == one["epoch"]
        assert ddp["train_loss"] == pytest.approx(one["train_loss"], rel=1e-5)
        assert ddp["train_err"] == pytest.approx(one["train_err"], abs=100 / 512 + 1e-9)  # at most one flipped example
    # The run was stopped after epoch 1 and resumed: rank 0's checkpoint holds the whole run.
    state = torch.load(tmp / "std" / CHECKPOINT, weights_only=True)
    assert state["epoch"] == 2 and len(state["history"]) == 2


@pytest.mark.parametrize("method", ["std", "adv"])
def test_ranks_hold_identical_weights_and_gathered_metrics(two_ranks, method):
    # Identical weights after adversarial training show that the gradients are still all-reduced
    # after the attack has switched the parameters' requires_grad off and on again.
    _, ranks = two_ranks
    for name, value in ranks[0][method].items():
        torch.testing.assert_close(ranks[1][method][name], value, rtol=0, atol=0)
    assert ranks[0][f"{method}_history"][-1]["train_loss"] == ranks[1][f"{method}_history"][-1]["train_loss"]


def test_batch_size_must_divide_among_the_ranks(tmp_path):
    with pytest.raises(ConfigError, match=r"batch_size must be a multiple of the number of ranks \(3\)"):
        train(TrainConfig(**STD), tmp_path, device="cpu", progress=False, rank=0, world_size=3)


def test_env_ranks_reads_torchrun_variables_and_defaults_to_one_process():
    assert env_ranks({}) == (0, 0, 1)
    assert env_ranks({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"}) == (3, 1, 4)
    with pytest.raises(ConfigError, match="RANK must be in"):
        env_ranks({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(ConfigError, match="WORLD_SIZE must be an integer"):
        env_ranks({"WORLD_SIZE": "two"})


def test_one_process_needs_no_process_group():
    assert init("cpu", env={}) == Rank(0, 0, 1, torch.device("cpu"))
    assert not torch.distributed.is_initialized()


def test_an_indexed_device_is_refused_when_distributed():
    with pytest.raises(ConfigError, match="device must be cpu or cuda when distributed"):
        rank_device(1, "cuda:1")
    assert rank_device(1, "cpu") == torch.device("cpu")
