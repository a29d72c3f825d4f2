"""Auto-PGD and a worst-case ensemble of white-box attacks.

APGD is the step-size-free PGD of Croce & Hein 2020, "Reliable evaluation of adversarial
robustness with an ensemble of diverse parameter-free attacks" (ICML), the core of
AutoAttack: gradient steps with momentum 0.75, a per-example step size that starts at
2 * eps and is halved at checkpoints where the loss stopped rising (restarting from the
best point found), and per-example tracking of the best loss and of any point that fools
the model. APGD-CE maximises the cross-entropy; APGD-T maximises the targeted
difference-of-logits-ratio (DLR) loss towards each of the ``n_target_classes`` classes the
clean logits rank highest after the label.

Threat model as in :mod:`labelaug_core.attacks.threat`: images and ``eps`` on the [0, 1] pixel
scale, the loss on the first K logits (``logits="classes"``) or on all K + M
(``logits="all"``); an example is fooled when the argmax of its first K logits is not its
label. Attacks run the model in eval mode with frozen parameters and restore both.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from labelaug_core.attacks.threat import (
    attack_mode,
    attacked_logits,
    check_logits,
    check_norm,
    generator_for,
    l2_norm,
    per_example,
    project,
)
from labelaug_core.errors import ConfigError

LOSSES = ("ce", "dlr", "dlr-targeted")


def dlr_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Difference-of-logits-ratio loss (Croce & Hein 2020, Eq. 5), per example.

    ``-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3)`` with ``z_pi`` the logits sorted in
    decreasing order. Invariant to shifting and positive scaling of the logits, so it
    does not saturate like the cross-entropy. z: (B, L) logits, L >= 3; y: (B,) in [0, L).
    Returns (B,) (at least float32), in [-1, 0] for a correctly classified example.
    """
    z = z.to(torch.promote_types(z.dtype, torch.float32))
    top = z.sort(dim=1, descending=True).values
    z_y = z.gather(1, y[:, None]).squeeze(1)
    best_other = torch.where(z.argmax(1) == y, top[:, 1], top[:, 0])
    return -(z_y - best_other) / (top[:, 0] - top[:, 2] + 1e-12)


def dlr_targeted_loss(z: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Targeted DLR loss (Croce & Hein 2020, Eq. 6), per example.

    ``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)``. z: (B, L) logits, L >= 4;
    y, target: (B,) in [0, L). Returns (B,) (at least float32); positive once z_t exceeds z_y.
    """
    z = z.to(torch.promote_types(z.dtype, torch.float32))
    top = z.sort(dim=1, descending=True).values
    z_y = z.gather(1, y[:, None]).squeeze(1)
    z_t = z.gather(1, target[:, None]).squeeze(1)
    return -(z_y - z_t) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


def checkpoints(steps: int) -> list[int]:
    """Iterations after which APGD may halve the step size (Croce & Hein 2020, Sec. 3.2).

    ``w_j = ceil(p_j * steps)`` with ``p_0 = 0``, ``p_1 = 0.22`` and
    ``p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)``: intervals of 22% of the budget,
    shrinking by 3% per checkpoint down to 6%. Computed in integer steps as the authors'
    code does, which gives ``[22, 41, 57, 70, 80, 87, 93, 99]`` for 100 steps.
    """
    interval, shortest, shrink = max(int(0.22 * steps), 1), max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)
    points, at = [], interval
    while at <= steps:
        points.append(at)
        interval = max(interval - shrink, shortest)
        at += interval
    return points


def _losses(model, x_adv, y, loss, target, logits):
    """Per-example loss (B,), its input gradient and which examples are fooled."""
    x_adv = x_adv.detach().requires_grad_(True)
    with torch.enable_grad():
        out = model(x_adv)
        z = attacked_logits(out, model.num_classes, logits)
        if loss == "ce":
            values = F.cross_entropy(z.to(torch.promote_types(z.dtype, torch.float32)), y, reduction="none")
        elif loss == "dlr":
            values = dlr_loss(z, y)
        else:
            values = dlr_targeted_loss(z, y, target)
    # Summed so that each example's gradient is its own loss's gradient.
    (grad,) = torch.autograd.grad(values.sum(), x_adv)
    fooled = out[:, : model.num_classes].argmax(1) != y
    return values.detach(), grad.detach(), fooled.detach()


def _apgd_run(model, x, y, eps, steps, loss, target, norm, logits, rho, generator):
    """One APGD run from a random start. Returns (x_fooling, fooled, x_best, loss_best)."""
    if norm == "linf":
        t = 2 * torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) - 1
        t = t / per_example(t.flatten(1).abs().amax(1), t)
    else:
        t = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        t = t / (l2_norm(t) + 1e-12)
    x_adv = (x + eps * t).clamp(0, 1)

    current, grad, fooled = _losses(model, x_adv, y, loss, target, logits)
    x_fooling = x_adv.clone()
    x_best, loss_best, grad_best = x_adv.clone(), current.clone(), grad.clone()
    history = [current]  # loss at x^(0), x^(1), ...: the oscillation test counts its rises
    step = per_example(torch.full((len(x),), 2.0 * eps, device=x.device, dtype=x.dtype), x)
    x_old = x_adv.clone()
    checks, last_check = set(checkpoints(steps)), 0
    best_at_last_check = loss_best.clone()
    halved_last_check = torch.ones_like(fooled)

    for i in range(steps):
        momentum = 0.75 if i > 0 else 1.0
        direction = grad.sign() if norm == "linf" else grad / (l2_norm(grad) + 1e-12)
        z = project(x_adv + step * direction, x, eps, norm)
        x_new = project(x_adv + momentum * (z - x_adv) + (1 - momentum) * (x_adv - x_old), x, eps, norm)
        x_old, x_adv = x_adv, x_new

        current, grad, now_fooled = _losses(model, x_adv, y, loss, target, logits)
        x_fooling[now_fooled] = x_adv[now_fooled]
        fooled |= now_fooled
        improved = current > loss_best
        x_best[improved], grad_best[improved], loss_best[improved] = x_adv[improved], grad[improved], current[improved]
        history.append(current)

        if i + 1 in checks:
            window = torch.stack(history[last_check : i + 2])
            rises = (window[1:] > window[:-1]).sum(0)
            # Condition 1: the loss rose in at most a fraction rho of the steps since the last
            # checkpoint; condition 2: the step was not halved last time and the best loss
            # has not improved since. "<=" as in the authors' code.
            halve = (rises <= rho * (i + 1 - last_check)) | (~halved_last_check & (best_at_last_check >= loss_best))
            halved_last_check, best_at_last_check, last_check = halve, loss_best.clone(), i + 1
            step[halve] /= 2.0
            x_adv[halve], grad[halve] = x_best[halve], grad_best[halve]

    return x_fooling, fooled, x_best, loss_best


def _validate_apgd(model, eps, steps, loss, norm, restarts, n_target_classes, logits, rho) -> None:
    if eps < 0:
        raise ConfigError(f"eps must be >= 0 (pixel units); got {eps}")
    if steps < 1:
        raise ConfigError(f"steps must be >= 1; got {steps}")
    if loss not in LOSSES:
        raise ConfigError(f"loss must be one of {', '.join(LOSSES)}; got {loss!r}")
    check_norm(norm)
    if restarts < 1:
        raise ConfigError(f"restarts must be >= 1; got {restarts}")
    check_logits(logits)
    if not 0 < rho < 1:
        raise ConfigError(f"rho must be in (0, 1); got {rho}")
    k = model.num_classes
    if loss == "dlr-targeted" and not 1 <= n_target_classes <= k - 1:
        raise ConfigError(f"n_target_classes must be in [1, {k - 1}] (K - 1) for this model; got {n_target_classes}")
    width = k if logits == "classes" else k + model.num_ops
    need = 4 if loss == "dlr-targeted" else 3 if loss == "dlr" else 2
    if width < need:
        raise ConfigError(f"loss {loss!r} needs at least {need} logits; the model has {width} ({logits})")


def apgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int = 100,
    *,
    loss: str = "ce",
    norm: str = "linf",
    restarts: int = 1,
    n_target_classes: int = 9,
    logits: str = "classes",
    rho: float = 0.75,
    seed: int = 0,
) -> torch.Tensor:
    """Auto-PGD (Croce & Hein 2020): APGD-CE, APGD-DLR or APGD-T.

    Args:
        model: returns (B, K + M) logits and has ``num_classes`` (K) and ``num_ops`` (M).
        x: (B, C, H, W) images in [0, 1].  y: (B,) int64 labels in [0, K).
        eps: radius of the ``norm`` ball, pixel units.
        steps: gradient steps per run (the paper uses 100).
        loss: ``"ce"`` (APGD-CE), ``"dlr"`` (untargeted DLR) or ``"dlr-targeted"`` (APGD-T:
            one run of ``steps`` per target class and restart).
        norm: ``"linf"`` (sign steps) or ``"l2"`` (normalised-gradient steps).
        restarts: runs from fresh random starts; each attacks only the examples that
            survived the previous ones.
        n_target_classes: APGD-T targets, the classes ranked 2nd, 3rd, ... by the clean
            logits among the first K (1 to K - 1; AutoAttack uses 9).
        logits: ``"classes"`` computes the loss on the first K logits, ``"all"`` on all
            K + M (the label and APGD-T's targets stay in the first K).
        rho: the oscillation threshold of the step-size rule (0.75 in the paper).
        seed: seeds a private ``torch.Generator`` for the random starts, so the result is
            reproducible and the global random state is left untouched.

    Returns:
        x_adv: (B, C, H, W) in [0, 1] within ``eps`` of ``x``: for each example a point
        that fools the model if one was found, else ``x`` itself if the clean image is
        already misclassified, else the point of highest loss.
    """
    _validate_apgd(model, eps, steps, loss, norm, restarts, n_target_classes, logits, rho)
    x, y = x.detach(), y.detach()
    if eps == 0:
        return x.clone()
    generator = generator_for(x, seed)
    with attack_mode(model):
        with torch.no_grad():
            clean = model(x)[:, : model.num_classes].float()
        robust = clean.argmax(1) == y
        # Ranked over the first K only, so a target is a class the prediction can become.
        ranked = clean.argsort(dim=1, descending=True)
        x_out = x.clone()
        loss_out = torch.full((len(x),), -math.inf, device=x.device)
        ranks = range(1, n_target_classes + 1) if loss == "dlr-targeted" else [None]
        for rank in ranks:
            for _ in range(restarts):
                idx = robust.nonzero().squeeze(1)
                if idx.numel() == 0:
                    return x_out
                target = None if rank is None else ranked[idx, rank]
                x_fooling, fooled, x_best, loss_best = _apgd_run(
                    model, x[idx], y[idx], eps, steps, loss, target, norm, logits, rho, generator
                )
                higher = ~fooled & (loss_best > loss_out[idx])
                x_out[idx[higher]], loss_out[idx[higher]] = x_best[higher], loss_best[higher]
                x_out[idx[fooled]] = x_fooling[fooled]
                robust[idx[fooled]] = False
    return x_out
