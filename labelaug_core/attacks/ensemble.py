"""A worst-case ensemble of white-box attacks (PGD, PGD with restarts, APGD-CE, APGD-T).

The default ensemble (:data:`DEFAULT_ENSEMBLE`) is PGD-40, PGD-40 with random restarts, APGD-CE
and APGD-T (targeted DLR loss, 9 target classes): white-box members only. It is **not
AutoAttack**: it borrows AutoAttack's two APGD members and its cascade, but has no FAB-T and no
Square in the worst case (Square runs separately, as a black-box gradient-masking check:
:mod:`labelaug_core.evaluation.checks`). tests/test_autoattack.py checks on an adversarially
trained small CNN that its error is at least torchattacks' standard AutoAttack's minus 1 point
on the same images.

Members are named ``pgd-<k>``, ``pgd-<k>-restarts``, ``apgd-ce``, ``apgd-dlr``, ``apgd-t``;
:func:`ensemble_attack` runs them in order and keeps, per example, the first adversarial
image that fools the model (a cascade, as AutoAttack runs its members). Every random start is
drawn from a generator seeded by ``seed``, never from the global RNG.
"""
from __future__ import annotations

import re

import torch
from torch import nn

from labelaug_core.attacks.apgd import apgd
from labelaug_core.attacks.pgd import seeded_pgd
from labelaug_core.attacks.threat import attack_mode, per_example, predict
from labelaug_core.errors import ConfigError

DEFAULT_ENSEMBLE = ("pgd-40", "pgd-40-restarts", "apgd-ce", "apgd-t")


_MEMBER = re.compile(r"^(pgd-(?P<steps>[1-9][0-9]*)(?P<restarts>-restarts)?|apgd-ce|apgd-dlr|apgd-t)$")


def _parse_member(name: str) -> re.Match:
    match = _MEMBER.match(name)
    if match is None:
        raise ConfigError(
            f"attacks: unknown member {name!r}; allowed: pgd-<steps>, pgd-<steps>-restarts, apgd-ce, apgd-dlr, apgd-t"
        )
    return match


def _run_member(model, x, y, eps, name, norm, logits, apgd_steps, pgd_restarts, n_target_classes, seed):
    match = _parse_member(name)
    if match["steps"] is not None:
        restarts = pgd_restarts if match["restarts"] else 1
        return seeded_pgd(model, x, y, eps, int(match["steps"]), norm=norm, restarts=restarts, logits=logits, seed=seed)
    loss = {"apgd-ce": "ce", "apgd-dlr": "dlr", "apgd-t": "dlr-targeted"}[name]
    targets = min(n_target_classes, model.num_classes - 1)
    return apgd(model, x, y, eps, apgd_steps, loss=loss, norm=norm, n_target_classes=targets, logits=logits, seed=seed)


def ensemble_attack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    attacks: tuple[str, ...] = DEFAULT_ENSEMBLE,
    norm: str = "linf",
    logits: str = "classes",
    apgd_steps: int = 100,
    pgd_restarts: int = 5,
    n_target_classes: int = 9,
    cascade: bool = False,
    seed: int = 0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Per-example worst case over an ensemble of white-box attacks (by default APGD-CE + APGD-T
    with 9 targets + PGD-40 with restarts; no FAB-T, no Square: not AutoAttack).

    An example is an error if it is misclassified clean or if any member fools it.

    Args:
        model, x, y, eps, norm, logits: as :func:`apgd`.
        attacks: members, in order: ``"pgd-<steps>"`` (PGD with one random start and
            ``alpha = default_alpha(eps, steps)``), ``"pgd-<steps>-restarts"`` (same, ``pgd_restarts``
            starts), ``"apgd-ce"``, ``"apgd-dlr"``, ``"apgd-t"`` (``apgd_steps`` steps; APGD-T
            with ``min(n_target_classes, K - 1)`` targets).
        cascade: attack with each member only the examples no earlier member fooled
            (AutoAttack's standard mode: faster; a member's ``fooled_by`` entry then counts only
            the examples it newly fooled). False runs every member on every example.
        seed: seeds every member (APGD's private generator; PGD's forked global generator).

    Returns:
        x_worst: (B, C, H, W) in [0, 1] within ``eps`` of ``x``: the first member's output
        that fools the model, ``x`` for an example misclassified clean that no member's
        output fools, else the first member's output.
        fooled_by: ``"clean"`` and each member name -> (B,) bool, True where that example is
        an error (clean mistakes count for every member). The worst-case error is
        ``100 * torch.stack(list(fooled_by.values())).any(0).float().mean()``, and
        ``predict(model, x_worst) != y`` equals that ``any``.
    """
    if eps < 0:
        raise ConfigError(f"eps must be >= 0 (pixel units); got {eps}")
    if apgd_steps < 1:
        raise ConfigError(f"apgd_steps must be >= 1; got {apgd_steps}")
    if pgd_restarts < 1:
        raise ConfigError(f"pgd_restarts must be >= 1; got {pgd_restarts}")
    if not attacks:
        raise ConfigError("attacks must name at least one member")
    if len(set(attacks)) != len(attacks):
        raise ConfigError(f"attacks must not repeat a member; got {list(attacks)}")
    for name in attacks:
        _parse_member(name)
    x, y = x.detach(), y.detach()
    with attack_mode(model), torch.no_grad():
        clean_wrong = predict(model, x) != y
    fooled_by = {"clean": clean_wrong.clone()}
    x_worst, first = x.clone(), None
    done = clean_wrong.clone()
    for name in attacks:
        idx = (~done).nonzero().squeeze(1) if cascade else torch.arange(len(x), device=x.device)
        wrong = torch.zeros_like(done)
        if idx.numel() > 0:
            adv = _run_member(model, x[idx], y[idx], eps, name, norm, logits, apgd_steps, pgd_restarts, n_target_classes, seed)
            with attack_mode(model), torch.no_grad():
                wrong[idx] = predict(model, adv) != y[idx]
            if first is None:
                first = x.clone()
                first[idx] = adv
            x_worst[idx] = torch.where(per_example(wrong[idx] & ~done[idx], adv), adv, x_worst[idx])
        done |= wrong
        fooled_by[name] = wrong | clean_wrong
    if first is not None:
        x_worst[~done] = first[~done]
    return x_worst, fooled_by


def ensemble_errors(fooled_by: dict[str, torch.Tensor]) -> dict[str, float]:
    """Error (percent) per entry of :func:`ensemble_attack`'s ``fooled_by``, plus ``"worst"``
    (an example counts if any entry marks it)."""
    errors = {name: 100.0 * float(f.float().mean()) for name, f in fooled_by.items()}
    errors["worst"] = 100.0 * float(torch.stack(list(fooled_by.values())).any(0).float().mean())
    return errors
