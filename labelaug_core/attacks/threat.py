"""The threat model, stated once: what every attack and evaluation shares.

Images and ``eps``/``alpha`` are on the [0, 1] pixel scale, normalisation lives inside the
model, and the attack loss is the cross-entropy of the first K logits (``logits="classes"``)
unless ``logits="all"``. Attacks run the model in eval mode with frozen parameters
(:func:`attack_mode`) and restore both afterwards.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from labelaug_core.config import PRECISIONS  # noqa: F401  (fp32 | bf16: the attacks' arithmetic)
from labelaug_core.errors import ConfigError
from labelaug_core.models import predict  # noqa: F401  (the prediction: argmax of the first K logits)

NORMS = ("linf", "l2")
LOGITS = ("classes", "all")  # the attack loss on the first K logits, or on all K + M


def check_norm(norm: str) -> None:
    """Raise :class:`ConfigError` unless ``norm`` is one of :data:`NORMS`."""
    if norm not in NORMS:
        raise ConfigError(f"norm must be one of {', '.join(NORMS)}; got {norm!r}")


def check_logits(logits: str) -> None:
    """Raise :class:`ConfigError` unless ``logits`` is one of :data:`LOGITS`."""
    if logits not in LOGITS:
        raise ConfigError(f"logits must be one of {', '.join(LOGITS)}; got {logits!r}")


def attacked_logits(out: torch.Tensor, num_classes: int, logits: str) -> torch.Tensor:
    """The columns of the model's (B, K + M) output that the attack loss sees: the first K
    (``logits="classes"``) or all K + M (``logits="all"``)."""
    return out[:, :num_classes] if logits == "classes" else out


@contextlib.contextmanager
def attack_mode(model: nn.Module, mode: str = "eval") -> Iterator[None]:
    """Frozen parameters and ``mode`` ("eval", or "train" as PGD-AT's training attack runs: BatchNorm
    normalises with the batch's statistics and updates its running ones) for the duration of an
    attack; both restored after."""
    if mode not in ("eval", "train"):
        raise ConfigError(f"bn_mode must be one of eval, train; got {mode!r}")
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.train(mode == "train")
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
        model.train(was_training)


def _autocast(x: torch.Tensor, precision: str):
    if precision == "bf16":
        return torch.autocast(x.device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def per_example(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A (B,) per-example value viewed as (B, 1, ..., 1), to broadcast against ``like`` (B, C, H, W)."""
    return v.view(-1, *([1] * (like.dim() - 1)))


def l2_norm(v: torch.Tensor) -> torch.Tensor:
    """Per-example L2 norm, shaped (B, 1, 1, 1) for broadcasting."""
    return per_example(v.flatten(1).norm(dim=1), v)


def default_alpha(eps: float, steps: int) -> float:
    """Madry et al.'s PGD step size ``2.5 * eps / steps`` (pixel units): the whole ball is crossable."""
    return 2.5 * eps / steps


def project(x_new: torch.Tensor, x: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project ``x_new`` onto the ``norm`` ball of radius ``eps`` around ``x``, then onto [0, 1]."""
    if norm == "linf":
        return torch.minimum(torch.maximum(x_new, x - eps), x + eps).clamp(0, 1)
    delta = x_new - x
    delta = delta * torch.clamp(eps / (l2_norm(delta) + 1e-12), max=1.0)
    return (x + delta).clamp(0, 1)


def generator_for(x: torch.Tensor, seed: int) -> torch.Generator:
    """A generator on ``x``'s device seeded with ``seed``: attacks draw their random starts from it,
    never from the global RNG."""
    return torch.Generator(device=x.device).manual_seed(int(seed))
