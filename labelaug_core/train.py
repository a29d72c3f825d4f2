"""The training loop of the three regimes: std, adv (Madry PGD-AT) and advplus (adv + LA).

- std: cross-entropy on clean images.
- adv: PGD-``steps`` on the first K logits, then cross-entropy on the adversarial images.
- advplus: the same adversarial images, trained towards the label-augmentation target
  ``concat[(1 - delta) * y, delta * onehot(op = 0)]`` over K + M outputs.

SGD with momentum and a per-step cosine schedule from ``lr`` to ``lr * 1e-4`` (the paper).
Checkpoints are written atomically after every epoch and hold everything needed to resume
bit-for-bit on the CPU: weights, optimiser and scheduler state, the torch RNG state and the
history so far (the data order depends only on (seed, epoch)).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from labelaug_core.attacks import pgd
from labelaug_core.config import TrainConfig
from labelaug_core.data import dataset_info, make_loader
from labelaug_core.losses import label_augmentation_loss
from labelaug_core.models import Classifier, build_model

CHECKPOINT = "checkpoint.pt"


class TrainingDiverged(RuntimeError):
    """A non-finite loss; the message names the epoch and step."""


def pick_device(device: str | None = None) -> torch.device:
    """The given device, else CUDA when available, else the CPU."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_precision(config: TrainConfig, device: torch.device) -> str:
    """Training precision: ``auto`` is bf16 on CUDA and on CPUs with bf16 matrix units.

    Measured on this project's 2-core AVX-512-BF16 CPU (``labelaug bench``): bf16 autocast
    is the faster path there; elsewhere on CPU fp32 is kept.
    """
    if config.precision != "auto":
        return config.precision
    if device.type == "cuda":
        return "bf16"
    return "bf16" if _cpu_has_bf16() else "fp32"


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def build_for(config: TrainConfig, data_dir: str | None = None, *, pretrained: bool | None = None) -> Classifier:
    """The model a (resolved) config trains, on the CPU, in fp32 (``pretrained`` overrides the config's)."""
    info = dataset_info(config.dataset, data_dir)
    image_size = config.image_size or info.image_size
    return build_model(
        config.model, info.num_classes, config.num_ops,
        channels=info.channels, image_size=image_size,
        pretrained=config.pretrained if pretrained is None else pretrained,
    )


def _save_atomic(state: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(
    config: TrainConfig,
    run_dir: Path,
    *,
    data_dir: str | None = None,
    device: str | None = None,
    progress: bool = True,
    rank: int = 0,
    world_size: int = 1,
    stop_after_epochs: int | None = None,
) -> tuple[Classifier, list[dict]]:
    """Train (or resume) ``config`` in ``run_dir``; return the model and the per-epoch history.

    ``stop_after_epochs`` ends early after that many epochs of this call (used to test resume).
    With ``world_size > 1`` (torchrun), the model is wrapped in DistributedDataParallel, each
    rank reads its shard of every batch, and only rank 0 writes checkpoints.
    """
    config = config.resolved()
    run_dir = Path(run_dir)
    dev = pick_device(device)
    precision = pick_precision(config, dev)
    torch.manual_seed(config.seed)
    model = build_for(config, data_dir).to(dev)
    if dev.type == "cuda" or precision == "bf16":
        model = model.to(memory_format=torch.channels_last)
    loader = make_loader(
        config.dataset, "train", config.batch_size // world_size, train=True, data_dir=data_dir,
        device=dev, seed=config.seed, subset=config.train_subset, rank=rank, world_size=world_size,
        image_size=config.image_size or None,
    )
    total_steps = config.epochs * len(loader)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=config.lr * 1e-4)
    history: list[dict] = []
    start_epoch = 0
    ckpt_path = run_dir / CHECKPOINT
    if ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=dev, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng_cpu"])
        if dev.type == "cuda" and "rng_cuda" in state:
            torch.cuda.set_rng_state(state["rng_cuda"])
        history, start_epoch = list(state["history"]), int(state["epoch"])
    trained = model
    if world_size > 1:
        trained = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)

    epochs_done = 0
    for epoch in range(start_epoch, config.epochs):
        if stop_after_epochs is not None and epochs_done >= stop_after_epochs:
            break
        model.train()
        loader.set_epoch(epoch)
        started = time.perf_counter()
        loss_sum = torch.zeros((), device=dev)
        wrong = torch.zeros((), device=dev, dtype=torch.long)
        seen = 0
        bar = tqdm(loader, desc=f"{config.method} epoch {epoch + 1}/{config.epochs}", disable=not progress or rank != 0, leave=False)
        for step, (x, y) in enumerate(bar):
            if dev.type == "cuda" or precision == "bf16":
                x = x.contiguous(memory_format=torch.channels_last)
            # The attack runs on the bare model (no DDP hooks); the update on the wrapped one.
            x_train = pgd(model, x, y, config.eps, config.alpha, config.steps, precision=precision) if config.method != "std" else x
            loss, pred = _step_loss(trained, model, config, x_train, y, precision)
            if not bool(torch.isfinite(loss)):
                raise TrainingDiverged(
                    f"non-finite training loss ({float(loss)}) at epoch {epoch + 1}, step {step + 1}; "
                    f"the last good checkpoint (epoch {start_epoch + epochs_done}) is kept"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.detach() * y.shape[0]
            wrong += (pred != y).sum()
            seen += y.shape[0]
        stats = torch.stack([loss_sum, wrong.float(), torch.tensor(float(seen), device=dev)])
        if world_size > 1:
            torch.distributed.all_reduce(stats)
        history.append({
            "epoch": epoch + 1,
            "lr": optimizer.param_groups[0]["lr"],
            "train_loss": float(stats[0] / stats[2]),
            "train_err": float(100 * stats[1] / stats[2]),
            "epoch_time_s": time.perf_counter() - started,
        })
        epochs_done += 1
        if rank == 0:
            state = {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "epoch": epoch + 1, "history": history,
                "rng_cpu": torch.get_rng_state(),
            }
            if dev.type == "cuda":
                state["rng_cuda"] = torch.cuda.get_rng_state()
            _save_atomic(state, ckpt_path)
    model.eval()
    return model, history


def _step_loss(trained, model: Classifier, config: TrainConfig, x: torch.Tensor, y: torch.Tensor, precision: str):
    """Loss on already-attacked images ``x`` through ``trained`` (the DDP wrapper when distributed)."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        logits = trained(x)
    logits = logits.float()
    if config.method == "advplus":
        op = torch.zeros_like(y)  # operation 0: the adversarial perturbation
        loss = label_augmentation_loss(logits, y, op, model.num_classes, model.num_ops, config.delta)
    else:
        loss = F.cross_entropy(logits, y)
    return loss, logits[:, : model.num_classes].argmax(1)


def load_checkpoint_model(config: TrainConfig, run_dir: Path, *, data_dir: str | None = None, device: str | None = None) -> Classifier:
    """The trained model of a run, in eval mode (weights_only loading)."""
    config = config.resolved()
    dev = pick_device(device)
    model = build_for(config, data_dir, pretrained=False)
    state = torch.load(Path(run_dir) / CHECKPOINT, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    return model.to(dev).eval()

