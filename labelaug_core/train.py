"""The training loop of the three regimes: std, adv (Madry PGD-AT) and advplus (adv + LA).

- std: cross-entropy on clean images.
- adv: PGD-``steps`` on the first K logits, then cross-entropy on the adversarial images.
- advplus: the same adversarial images, trained towards the label-augmentation target
  ``concat[(1 - delta) * y, delta * onehot(op = 0)]`` over K + M outputs.

Mixed batches (``adv_fraction`` < 1): the first ``adversarial_count(B, adv_fraction)`` images of
each (shuffled) batch are perturbed, the rest stay clean, and both go through one forward pass.
Adv trains all of them towards their one-hot class; Adv+ trains the perturbed ones towards the
label-augmentation target and the clean ones towards the plain one-hot (``op = -1``), as the
paper's LA does for untransformed images. An Adv+ run and its matched Adv run
(:meth:`~labelaug_core.config.TrainConfig.matched_control`) see the same images in the same order
and perturb the same rows: only the labels differ.

SGD with momentum and a per-step cosine schedule from ``lr`` to ``lr * 1e-4`` (the paper).
Checkpoints are written atomically after every epoch and hold everything needed to resume
bit-for-bit on the CPU: weights, optimiser and scheduler state, the torch RNG state and the
history so far (the data order depends only on (seed, epoch)).

Speed (measured with ``labelaug bench``; figures in benchmarks/README.md): the data stay on
the device as uint8; the attack computes input gradients only; attack and update run in bf16
autocast with channels_last where the hardware has bf16 units; the optimiser is fused; and
nothing in the step loop waits for the device (the non-finite-loss check reads a device-side
flag every ``NAN_CHECK_EVERY`` steps and at the end of each epoch).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from labelaug_core.attacks.pgd import pgd
from labelaug_core.config import TrainConfig
from labelaug_core.data.loaders import make_loader
from labelaug_core.data.sources import dataset_info
from labelaug_core.device import pick_device, pick_precision  # noqa: F401  (re-exported: train.pick_device)
from labelaug_core.errors import ConfigError
from labelaug_core.losses import label_augmentation_loss
from labelaug_core.models import Classifier, build_model

CHECKPOINT = "checkpoint.pt"
# Steps between host reads of the device-side non-finite-loss flag. Each read waits for the
# device; every 32 steps the wait is amortised, and a diverged run wastes at most 31 steps
# (the error still names the first bad step, found on the device).
NAN_CHECK_EVERY = 32


class TrainingDiverged(RuntimeError):
    """A non-finite loss; the message names the epoch and step."""


def uses_channels_last(device: torch.device) -> bool:
    """channels_last (NHWC) memory format for model and inputs: on CUDA and on the CPU.

    Measured on the project's CPU (``labelaug bench`` and its variants, one thread): PGD-10 ran
    1.45x (small CNN) and 1.05x (PreAct-ResNet-18) faster in NHWC than in NCHW in fp32, and
    2.2x faster (small CNN) in bf16, where oneDNN's bf16 convolutions want NHWC; the training
    step was as fast or faster. On CUDA, tensor-core convolutions want NHWC.
    """
    return device.type in ("cuda", "cpu")


def make_optimizer(model: torch.nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.SGD:
    """SGD with momentum and weight decay; the fused kernel (one launch for all parameters)
    on CUDA and CPU, the foreach one elsewhere."""
    fast = {"fused": True} if device.type in ("cuda", "cpu") else {"foreach": True}
    return torch.optim.SGD(model.parameters(), lr=config.schedule[1], momentum=config.momentum,
                           weight_decay=config.weight_decay, **fast)


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
    """``torch.save`` through ``<name>.tmp`` and a rename; the temporary file is removed on failure
    (a full disk, a read-only folder), so a failed write leaves the previous checkpoint alone."""
    tmp = path.with_suffix(".tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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
    init_checkpoint: Path | None = None,
) -> tuple[Classifier, list[dict]]:
    """Train (or resume) ``config`` in ``run_dir``; return the model and the per-epoch history.

    Trains ``config.schedule`` (epochs, peak lr): a fine-tune (``init_from``) starts from the weights
    of ``init_checkpoint`` (the Std run's, :func:`load_initial_weights`) and trains
    ``finetune_epochs`` at ``finetune_lr``.

    ``stop_after_epochs`` ends early after that many epochs of this call (used to test resume).
    With ``world_size > 1`` (torchrun), the model is wrapped in DistributedDataParallel, each
    rank reads its shard of every batch, and only rank 0 writes checkpoints.
    """
    config = config.resolved()
    if config.batch_size % world_size:
        raise ConfigError(f"batch_size must be a multiple of the number of ranks ({world_size}); got {config.batch_size}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    dev = pick_device(device)
    model = _initial_model(config, data_dir, dev, init_checkpoint)
    loader = make_loader(
        config.dataset, "train", config.batch_size // world_size, train=True, data_dir=data_dir,
        device=dev, seed=config.seed, subset=config.train_subset, rank=rank, world_size=world_size,
        image_size=config.image_size or None,
    )
    optimizer, scheduler = _optimiser(model, config, dev, steps=config.schedule[0] * len(loader))
    history, start_epoch = _resume(run_dir / CHECKPOINT, model, optimizer, scheduler, dev)
    if rank > 0:  # rank 0 keeps the single-process stream; other ranks draw their own PGD starts
        torch.manual_seed(int(np.random.SeedSequence([config.seed, rank, start_epoch]).generate_state(1)[0]))
    step = _Step(config, model, _distributed(model, dev, world_size), optimizer, scheduler, dev,
                 pick_precision(config, dev), config.class_weight(model.num_classes), world_size)
    epochs = config.schedule[0]
    end = epochs if stop_after_epochs is None else min(epochs, start_epoch + stop_after_epochs)
    for epoch in range(start_epoch, end):
        bar = f"{config.method} epoch {epoch + 1}/{epochs}" if progress and rank == 0 else None
        history.append(_train_epoch(step, loader, epoch, bar))
        if rank == 0:
            _save_checkpoint(run_dir / CHECKPOINT, step, epoch + 1, history)
    model.eval()
    return model, history


def _initial_model(config: TrainConfig, data_dir: str | None, dev: torch.device,
                   init_checkpoint: Path | None) -> Classifier:
    """The model before its first epoch, on ``dev`` (channels_last where :func:`uses_channels_last`):
    seeded by ``config.seed`` (the same initial weights on every rank), or a fine-tune's starting
    weights from ``init_checkpoint``."""
    torch.manual_seed(config.seed)
    model = build_for(config, data_dir)
    if config.init_from:
        if init_checkpoint is None:
            raise ConfigError(f"init_from: {config.init_from} needs the checkpoint of the run it starts from")
        load_initial_weights(model, init_checkpoint)
    model = model.to(dev)
    if uses_channels_last(dev):
        model = model.to(memory_format=torch.channels_last)
    # No torch.compile: on the project's 2-core CPU the compiled small CNN ran PGD-10 about 3x
    # slower than eager bf16 + channels_last (oneDNN's kernels beat Inductor's there) after
    # 5-25 s of compiling; the attack's requires_grad switches and train/eval modes would also
    # compile several graphs. On CUDA it is unmeasured here: `labelaug bench` reports a
    # "fast+compile" row on every device, to decide by.
    return model


def _optimiser(model: Classifier, config: TrainConfig, dev: torch.device, *, steps: int):
    """SGD (:func:`make_optimizer`) and its per-step cosine schedule over ``steps`` steps, from the peak
    lr of ``config.schedule`` to 1e-4 of it."""
    optimizer = make_optimizer(model, config, dev)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps, eta_min=config.schedule[1] * 1e-4)
    return optimizer, scheduler


def _resume(path: Path, model: Classifier, optimizer, scheduler, dev: torch.device) -> tuple[list[dict], int]:
    """(history so far, epochs done) of the checkpoint at ``path``, whose weights, optimiser and
    scheduler state and RNG state are loaded into the given ones; ``([], 0)`` when there is none."""
    if not path.exists():
        return [], 0
    state = torch.load(path, map_location=dev, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng_cpu"])
    if dev.type == "cuda" and "rng_cuda" in state:
        torch.cuda.set_rng_state(state["rng_cuda"])
    return list(state["history"]), int(state["epoch"])


def _distributed(model: Classifier, dev: torch.device, world_size: int) -> torch.nn.Module:
    """The module the update runs through: ``model`` itself, or its DistributedDataParallel wrapper
    (which averages the gradients over the ranks) when ``world_size > 1``."""
    if world_size == 1:
        return model
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)


@dataclass
class _Step:
    """What every training step works with. The attack runs on the bare ``model`` (no DDP hooks), the
    update through ``trained`` (the DDP wrapper when distributed); checkpoints hold ``model``."""

    config: TrainConfig
    model: Classifier
    trained: torch.nn.Module
    optimizer: torch.optim.SGD
    scheduler: torch.optim.lr_scheduler.LRScheduler
    device: torch.device
    precision: str                     # fp32 | bf16 (autocast of attack and update)
    class_weight: torch.Tensor | None  # (K,) loss weights; None: unweighted
    world_size: int

    def __post_init__(self) -> None:
        self.channels_last = uses_channels_last(self.device)
        if self.class_weight is not None:
            self.class_weight = self.class_weight.to(self.device)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step on the batch ``(x, y)``: perturb its first rows (the training attack), one SGD update
        and a scheduler step; returns (loss, predictions), on the device."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        config = self.config
        n_adv = adversarial_count(len(y), config.adv_fraction) if config.method != "std" else 0
        x_train = perturb_rows(self.model, config, x, y, n_adv, self.precision)
        loss, pred = _step_loss(self.trained, self.model, config, x_train, y, self.precision, self.class_weight, n_adv)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return loss, pred


class _Divergence:
    """The first non-finite loss of an epoch, kept on the device: recording it costs no host sync."""

    def __init__(self, device: torch.device):
        self.step = torch.zeros((), device=device, dtype=torch.long)  # first non-finite step (1-based); 0: none
        self.loss = torch.zeros((), device=device)

    def record(self, step: int, loss: torch.Tensor) -> None:
        """Note step ``step`` (0-based) if its loss is the epoch's first non-finite one."""
        first_bad = (self.step == 0) & ~torch.isfinite(loss)
        self.step = torch.where(first_bad, step + 1, self.step)
        self.loss = torch.where(first_bad, loss, self.loss)

    def check(self, epoch: int) -> None:
        """Raise TrainingDiverged if a step of epoch ``epoch`` (0-based) diverged (one host sync);
        the checkpoint of the epochs before it is kept."""
        _raise_if_diverged(self.step, self.loss, epoch, epoch)


def _train_epoch(step: _Step, loader, epoch: int, bar: str | None) -> dict:
    """Epoch ``epoch`` (0-based): every batch of the loader through ``step``; the divergence flag read
    every ``NAN_CHECK_EVERY`` steps and at the end; returns the epoch's history row (loss and error
    summed over the ranks). ``bar``: the progress bar's title; None: no bar."""
    step.model.train()
    loader.set_epoch(epoch)
    started = time.perf_counter()
    dev = step.device
    loss_sum = torch.zeros((), device=dev)
    wrong = torch.zeros((), device=dev, dtype=torch.long)
    seen = 0
    divergence = _Divergence(dev)
    for k, (x, y) in enumerate(tqdm(loader, desc=bar, disable=bar is None, leave=False)):
        loss, pred = step(x, y)
        divergence.record(k, loss.detach())
        loss_sum += loss.detach() * y.shape[0]
        wrong += (pred != y).sum()
        seen += y.shape[0]
        if (k + 1) % NAN_CHECK_EVERY == 0 or k + 1 == len(loader):
            divergence.check(epoch)
    stats = torch.stack([loss_sum, wrong.float(), torch.tensor(float(seen), device=dev)])
    if step.world_size > 1:
        torch.distributed.all_reduce(stats)
    return {
        "epoch": epoch + 1,
        "lr": step.optimizer.param_groups[0]["lr"],
        "train_loss": float(stats[0] / stats[2]),
        "train_err": float(100 * stats[1] / stats[2]),
        "epoch_time_s": time.perf_counter() - started,
    }


def _save_checkpoint(path: Path, step: _Step, epochs_done: int, history: list[dict]) -> None:
    """Everything :func:`_resume` needs to go on bit for bit after ``epochs_done`` epochs: weights,
    optimiser and scheduler state, the RNG state (CPU and CUDA) and the history; written atomically."""
    state = {
        "model": step.model.state_dict(), "optimizer": step.optimizer.state_dict(),
        "scheduler": step.scheduler.state_dict(), "epoch": epochs_done, "history": history,
        "rng_cpu": torch.get_rng_state(),
    }
    if step.device.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state()
    _save_atomic(state, path)


def load_initial_weights(model: Classifier, checkpoint: Path) -> None:
    """Start ``model`` from another run's weights (``checkpoint``: a run's checkpoint.pt), as the paper
    fine-tunes standard weights: every tensor is copied; the output layer's K class rows come from the
    checkpoint and its M operation rows (label augmentation) keep their fresh initialisation."""
    source = torch.load(checkpoint, map_location="cpu", weights_only=True)["model"]
    target = model.state_dict()
    if set(source) != set(target):
        raise ConfigError(f"init_from: {checkpoint} holds another architecture")
    with torch.no_grad():
        for name, tensor in source.items():
            own = target[name]
            if own.shape == tensor.shape:
                own.copy_(tensor)
            elif own.dim() >= 1 and own.shape[1:] == tensor.shape[1:] and own.shape[0] == tensor.shape[0] + model.num_ops:
                own[: tensor.shape[0]].copy_(tensor)
            else:
                raise ConfigError(f"init_from: {checkpoint}: {name} has shape {tuple(tensor.shape)}, "
                                  f"this model {tuple(own.shape)}")


def _raise_if_diverged(bad_step: torch.Tensor, bad_loss: torch.Tensor, epoch: int, last_good: int) -> None:
    """Raise TrainingDiverged if the device-side flag marks a non-finite loss (one host sync)."""
    step = int(bad_step)
    if step:
        kept = (f"the last good checkpoint (epoch {last_good}) is kept" if last_good else
                "no checkpoint was written (it diverged before the end of its first epoch); try a lower lr")
        raise TrainingDiverged(f"non-finite training loss ({float(bad_loss)}) at epoch {epoch + 1}, step {step}; {kept}")


def adversarial_count(batch: int, adv_fraction: float) -> int:
    """How many of a batch of ``batch`` images are perturbed: ``round(adv_fraction * batch)``, at least 1
    (``adv_fraction`` in (0, 1]; 1 = every image, Madry et al.)."""
    return max(1, min(batch, int(round(adv_fraction * batch))))


def perturb_rows(model: Classifier, config: TrainConfig, x: torch.Tensor, y: torch.Tensor, n_adv: int,
                 precision: str) -> torch.Tensor:
    """``x`` (B, C, H, W) in [0, 1] with its first ``n_adv`` rows replaced by their PGD-``steps``
    images (the training attack); the other rows unchanged. ``n_adv = 0``: ``x`` itself."""
    if n_adv == 0:
        return x
    x_adv = pgd(model, x[:n_adv], y[:n_adv], config.eps, config.alpha, config.steps, precision=precision,
                bn_mode=config.attack_bn)
    return x_adv if n_adv == len(y) else torch.cat([x_adv, x[n_adv:]])


def operation_labels(y: torch.Tensor, n_adv: int) -> torch.Tensor:
    """(B,) operation labels of a batch whose first ``n_adv`` rows are perturbed: 0 (operation 0, the
    adversarial perturbation) for those, -1 (untransformed: plain one-hot target) for the rest."""
    op = torch.full_like(y, -1)
    op[:n_adv] = 0
    return op


def _step_loss(trained, model: Classifier, config: TrainConfig, x: torch.Tensor, y: torch.Tensor, precision: str,
               class_weight: torch.Tensor | None = None, n_adv: int | None = None):
    """Loss on already-attacked images ``x`` (its first ``n_adv`` rows perturbed; None: all) through
    ``trained`` (the DDP wrapper when distributed)."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        logits = trained(x)
    logits = logits.float()
    if config.method == "advplus":
        op = operation_labels(y, len(y) if n_adv is None else n_adv)
        loss = label_augmentation_loss(logits, y, op, model.num_classes, model.num_ops, config.delta, class_weight)
    else:
        loss = F.cross_entropy(logits, y, weight=class_weight)
    return loss, logits[:, : model.num_classes].argmax(1)


def load_checkpoint_model(config: TrainConfig, run_dir: Path, *, data_dir: str | None = None, device: str | None = None) -> Classifier:
    """The trained model of a run, in eval mode (weights_only loading), channels_last where
    training uses it (fp32 PGD runs 1.45x faster so on the CPU for the small CNN)."""
    config = config.resolved()
    dev = pick_device(device)
    model = build_for(config, data_dir, pretrained=False)
    state = torch.load(Path(run_dir) / CHECKPOINT, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    model = model.to(dev)
    if uses_channels_last(dev):
        model = model.to(memory_format=torch.channels_last)
    return model.eval()

