"""White-box attacks: FGSM and PGD (L-inf, L2), with restarts and Temperature-PGD.

Threat model (stated once, used everywhere): images and ``eps``/``alpha`` are on the
[0, 1] pixel scale, normalisation lives inside the model, and the attack loss is the
cross-entropy of the first K logits (``logits="classes"``) unless ``logits="all"``.

All attacks are functional and batch-wise: they run the model in eval mode with its
parameters' ``requires_grad`` off (input gradients only, no weight gradients), and
restore both afterwards. They return ``x_adv`` with ``x_adv`` in [0, 1] and
``||x_adv - x|| <= eps`` in the chosen norm.

References: Goodfellow et al. 2015 (FGSM); Madry et al. 2018 (PGD);
Tian et al. 2021, "Analysis and Applications of Class-wise Robustness in Adversarial
Training" (Temperature-PGD: the loss is computed on softmax(z / T)).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from labelaug_core.attacks.threat import (
    PRECISIONS,
    _autocast,
    attack_mode,
    attacked_logits,
    check_logits,
    check_norm,
    default_alpha,
    generator_for,
    l2_norm,
    per_example,
    predict,
    project,
)
from labelaug_core.errors import ConfigError


def attack_loss(
    logits: torch.Tensor, y: torch.Tensor, num_classes: int, *, temperature: float = 1.0, logits_used: str = "classes"
) -> torch.Tensor:
    """The loss PGD ascends, summed over the batch (so each example's input gradient does not shrink
    with the batch size); ``logits`` (B, K + M), ``y`` (B,) in [0, K); first K columns unless ``"all"``.

    T = 1: the cross-entropy ``logsumexp_j(z_j) - z_y`` (torchattacks' and Madry's PGD loss).
    T != 1 (Temperature-PGD, Tian et al. 2021): ``logsumexp_{j != y}(z_j / T) - z_y / T``. Its
    gradient with respect to the logits is the cross-entropy's on ``z / T`` divided by
    ``1 - softmax(z / T)_y`` > 0, so sign steps are the same; but where the margin ``/ T`` exceeds
    about 87 the cross-entropy's gradient underflows to exactly zero in float32 (a confident model
    at T = 0.1) while this form's does not: its gradient with respect to z_y is always ``-1 / T``.
    """
    z = attacked_logits(logits, num_classes, logits_used).float()
    if temperature == 1.0:
        return F.cross_entropy(z, y, reduction="sum")
    z = z / temperature
    true = z.gather(1, y[:, None]).squeeze(1)
    others = z.scatter(1, y[:, None], float("-inf"))
    return (torch.logsumexp(others, dim=1) - true).sum()


def _validate(eps: float, alpha: float, steps: int, norm: str, restarts: int, temperature: float, logits: str, precision: str) -> None:
    if eps < 0:
        raise ConfigError(f"eps must be >= 0 (pixel units); got {eps}")
    if alpha <= 0 and eps > 0:
        raise ConfigError(f"alpha must be > 0 (pixel units) when eps > 0; got {alpha}")
    if steps < 1:
        raise ConfigError(f"steps must be >= 1; got {steps}")
    check_norm(norm)
    if restarts < 1:
        raise ConfigError(f"restarts must be >= 1; got {restarts}")
    if temperature <= 0:
        raise ConfigError(f"temperature must be > 0; got {temperature}")
    check_logits(logits)
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")


def _random_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator | None) -> torch.Tensor:
    if norm == "linf":
        noise = torch.empty_like(x).uniform_(-eps, eps, generator=generator)
    else:
        direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        radius = eps * per_example(torch.rand(len(x), generator=generator, device=x.device, dtype=x.dtype), x)
        noise = direction / (l2_norm(direction) + 1e-12) * radius
    return (x + noise).clamp(0, 1)


def _pgd_once(model, x, y, eps, alpha, steps, norm, random_start, temperature, logits, precision, generator):
    # Box and ball intersected once, so each L-inf step is one clamp with tensor bounds.
    lower, upper = (x - eps).clamp(min=0), (x + eps).clamp(max=1)
    x_adv = _random_start(x, eps, norm, generator) if random_start and eps > 0 else x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        with torch.enable_grad(), _autocast(x, precision):
            loss = attack_loss(model(x_adv), y, model.num_classes, temperature=temperature, logits_used=logits)
        (grad,) = torch.autograd.grad(loss, x_adv)
        with torch.no_grad():
            if norm == "linf":
                # add(alpha=) fuses the scaling into the add: one kernel fewer per step, same bits.
                x_adv = torch.clamp(torch.add(x_adv, grad.sign(), alpha=alpha), lower, upper)
            else:
                x_adv = project(x_adv + alpha * grad / (l2_norm(grad) + 1e-12), x, eps, norm)
    return x_adv.detach()


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    alpha: float,
    steps: int,
    *,
    norm: str = "linf",
    random_start: bool = True,
    restarts: int = 1,
    temperature: float = 1.0,
    logits: str = "classes",
    precision: str = "fp32",
    generator: torch.Generator | None = None,
    bn_mode: str = "eval",
) -> torch.Tensor:
    """Projected gradient descent on the cross-entropy (Madry et al. 2018).

    Args:
        model: returns (B, K + M) logits and has ``num_classes`` (K).
        x: (B, C, H, W) images in [0, 1].  y: (B,) int64 labels in [0, K).
        eps: radius of the ``norm`` ball, pixel units.  alpha: step size, pixel units.
        steps: gradient steps (>= 1).
        norm: ``"linf"`` (sign steps) or ``"l2"`` (normalised-gradient steps).
        random_start: start uniformly inside the ball (L2: random direction and radius).
        restarts: independent runs; each example keeps the first restart that fools the
            model (else the last).
        temperature: T > 0 divides the logits inside the loss (Temperature-PGD);
            T = 1 is plain PGD.
        logits: ``"classes"`` attacks the first K logits, ``"all"`` all K + M.
        precision: ``"fp32"`` (the evaluation default) or ``"bf16"`` autocast (training).
        generator: draws the random starts (on ``x``'s device); None = the global RNG.
        bn_mode: ``"eval"`` (evaluation) or ``"train"``: the mode of the model while attacking
            (PGD-AT's training attack runs in train mode; see :func:`attack_mode`).

    Returns:
        x_adv: (B, C, H, W) in [0, 1], within ``eps`` of ``x`` in ``norm``.
    """
    _validate(eps, alpha, steps, norm, restarts, temperature, logits, precision)
    with attack_mode(model, bn_mode):
        best = _pgd_once(model, x, y, eps, alpha, steps, norm, random_start, temperature, logits, precision, generator)
        if restarts == 1:
            return best
        with torch.no_grad():
            fooled = predict(model, best) != y
        for _ in range(restarts - 1):
            if bool(fooled.all()):
                break
            candidate = _pgd_once(model, x, y, eps, alpha, steps, norm, random_start, temperature, logits, precision, generator)
            with torch.no_grad():
                candidate_fools = predict(model, candidate) != y
            best = torch.where(per_example(fooled, x), best, candidate)
            fooled = fooled | candidate_fools
        return best


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, logits: str = "classes") -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): one L-inf step of size eps.

    Identical to ``pgd(model, x, y, eps, alpha=eps, steps=1, random_start=False)``.
    Shapes and ranges as :func:`pgd`.
    """
    if eps == 0:
        return x.clone()
    return pgd(model, x, y, eps, alpha=eps, steps=1, random_start=False, logits=logits)


def seeded_pgd(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int, *,
    norm: str = "linf", restarts: int = 1, logits: str = "classes", seed: int = 0,
) -> torch.Tensor:
    """:func:`pgd` with ``alpha = default_alpha(eps, steps)`` (``2.5 * eps / steps``) and its random
    starts drawn from a generator seeded with ``seed`` (the global RNG is neither used nor changed).
    Shapes and ranges as :func:`pgd`; eps = 0 returns ``x``."""
    if eps == 0:
        return x.detach().clone()
    return pgd(model, x, y, eps, default_alpha(eps, steps), steps, norm=norm, restarts=restarts, logits=logits,
               generator=generator_for(x, seed))
