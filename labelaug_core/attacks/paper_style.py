"""Paper-style PGD-40: the attack of the authors' public label-augmentation code, as a named variant.

This is **not** the project's threat model (:mod:`labelaug_core.attacks.threat`). The authors'
public LA notebook (the 2025 paper does not describe its attack) ran cleverhans'
``projected_gradient_descent`` on inputs that were already normalised, with:

- eps and step size in **normalised units** (eps 0.03, step 0.01, 40 steps, L-inf), so the ball
  in pixel units is ``eps * std`` per channel, not ``eps``;
- **no clipping** to the image range (cleverhans' ``clip_min = clip_max = None``);
- **no label** given, so cleverhans takes ``y = argmax`` over **all K + M outputs** of the clean
  input (an operation output when that is the largest) and ascends the cross-entropy over all
  K + M outputs;
- cleverhans' default random start (``rand_init=True``): uniform noise in ``[-eps, eps]``.

:func:`paper_style_pgd` reproduces that in the normalised space of the model's own
:class:`~labelaug_core.models.Normalize` layer (``model.normalize``, then ``model.backbone``).
The error it reports is the project's: the argmax of the first K logits of the attacked input
against the true label. Differences from cleverhans, none of which changes a sign step: the
loss is summed over the batch (cleverhans: mean), and the random start comes from a seeded
generator (cleverhans: the global RNG).

Scaling of the defaults (:func:`paper_style_budget`): the paper used the number 0.03 (a common
pixel-scale eps) as a radius in normalised units; this project's analogue takes the profile's own
eps number (pixel units in its threat model) as the radius in normalised units, and the step as
``eps / 3`` (the paper's 0.01 per step at eps 0.03).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from labelaug_core.attacks.threat import attack_mode, generator_for
from labelaug_core.errors import ConfigError

PAPER_EPS_NORMALISED = 0.03  # the authors' eps, normalised units
PAPER_STEP_NORMALISED = 0.01  # the authors' step per iteration, normalised units
PAPER_STEPS = 40


def paper_style_budget(eps: float) -> dict[str, float | int]:
    """The paper-style attack's budget for a profile whose threat-model radius is ``eps`` (pixels):
    ``eps_normalised = eps`` (the same number, read in normalised units, as the paper used its 0.03),
    ``step_normalised = eps * 0.01 / 0.03`` and ``steps = 40``."""
    if eps <= 0:
        raise ConfigError(f"eps must be > 0; got {eps}")
    return {"eps_normalised": float(eps), "step_normalised": float(eps) * PAPER_STEP_NORMALISED / PAPER_EPS_NORMALISED,
            "steps": PAPER_STEPS}


def pixel_radius(model: nn.Module, eps_normalised: float) -> float:
    """The L-inf radius in pixel units of a ball of radius ``eps_normalised`` in the normalised space of
    ``model.normalize``: ``eps_normalised * std``, the largest over channels."""
    return float(eps_normalised * model.normalize.std.max())


def paper_style_pgd(
    model: nn.Module, x: torch.Tensor, *, eps_normalised: float, step_normalised: float, steps: int = PAPER_STEPS,
    random_start: bool = True, seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """cleverhans-style untargeted L-inf PGD in the model's normalised input space, no clipping.

    Args:
        model: a :class:`~labelaug_core.models.Classifier` (``normalize``, ``backbone``,
            ``num_classes`` K); its backbone returns (B, K + M) logits.
        x: (B, C, H, W) images in [0, 1] (pixel units); they are normalised by ``model.normalize``.
        eps_normalised, step_normalised: radius and step size in normalised units (> 0; step <= eps,
            as cleverhans asserts).  steps: iterations (>= 1).
        random_start: uniform start in ``[-eps, eps]`` per input value (cleverhans' default).
        seed: seeds the random start (the global RNG is neither used nor changed).

    Returns:
        z_adv: (B, C, H, W) attacked inputs in normalised units, ``|z_adv - normalize(x)| <= eps``
        per value and not clipped to the image range; feed them to ``model.backbone``.
        y_attacked: (B,) int64 in [0, K + M): the label the attack moved away from, the argmax
        over all K + M outputs of the clean input.
    """
    if eps_normalised <= 0:
        raise ConfigError(f"eps_normalised must be > 0 (normalised units); got {eps_normalised}")
    if not 0 < step_normalised <= eps_normalised:
        raise ConfigError(f"step_normalised must be in (0, eps_normalised]; got {step_normalised}")
    if steps < 1:
        raise ConfigError(f"steps must be >= 1; got {steps}")
    if not (hasattr(model, "normalize") and hasattr(model, "backbone")):
        raise ConfigError("model must have a normalize layer and a backbone (labelaug_core.models.Classifier)")
    with attack_mode(model):
        with torch.no_grad():
            z = model.normalize(x.detach())
            y_attacked = model.backbone(z).argmax(1)
        delta = torch.zeros_like(z)
        if random_start:
            delta.uniform_(-eps_normalised, eps_normalised, generator=generator_for(z, seed))
        z_adv = z + delta
        for _ in range(steps):
            z_adv.requires_grad_(True)
            with torch.enable_grad():
                loss = F.cross_entropy(model.backbone(z_adv).float(), y_attacked, reduction="sum")
            (grad,) = torch.autograd.grad(loss, z_adv)
            with torch.no_grad():
                z_adv = z + (z_adv + step_normalised * grad.sign() - z).clamp(-eps_normalised, eps_normalised)
    return z_adv.detach(), y_attacked


def paper_style_wrong(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps_normalised: float, step_normalised: float,
    steps: int = PAPER_STEPS, seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Per-example outcome of :func:`paper_style_pgd` on (x (B, C, H, W) in [0, 1], y (B,) true labels).

    Returns (B,) bool tensors: ``wrong`` (the argmax of the first K logits of the attacked input
    differs from ``y``; clean mistakes included), ``label_not_true`` (the attack's own label, the
    argmax over all K + M clean outputs, is not ``y``) and ``label_is_operation`` (that argmax is
    one of the M operation outputs).
    """
    z_adv, y_attacked = paper_style_pgd(model, x, eps_normalised=eps_normalised, step_normalised=step_normalised,
                                        steps=steps, seed=seed)
    with attack_mode(model), torch.no_grad():
        pred = model.backbone(z_adv)[:, : model.num_classes].argmax(1)
    return {"wrong": pred != y, "label_not_true": y_attacked != y, "label_is_operation": y_attacked >= model.num_classes}
