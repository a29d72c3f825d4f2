"""Sanity checks that a robustness evaluation is not fooled by gradient masking.

A defence that hides its gradients makes gradient-based attacks fail without making the
model robust. These checks look for the symptoms listed by Athalye, Carlini & Wagner 2018
("Obfuscated gradients give a false sense of security"), Carlini et al. 2019 ("On
evaluating adversarial robustness") and AutoAttack's ``checks.py`` (Croce & Hein 2020):

- the outputs are logits, not probabilities, and two forward passes agree;
- the input gradient is non-zero;
- more attack steps never lower the error;
- the error reaches ~100% at eps = 1 (L-inf), where every image can become any image;
- a black-box attack (Square with AutoAttack's budget, or transfer from another model) does
  not beat the white-box ensemble.

Each check returns a :class:`CheckResult`; :func:`run_masking_checks` runs them all and
:func:`checks_frame` turns the list into a table. Errors are percentages (0-100) and
differences of errors percentage points; eps is on the [0, 1] pixel scale.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd
import torch
from torch import nn

from labelaug_core.attacks.ensemble import DEFAULT_ENSEMBLE, ensemble_attack
from labelaug_core.attacks.pgd import seeded_pgd
from labelaug_core.attacks.square import square_attack, square_budget
from labelaug_core.attacks.threat import attack_mode, predict
from labelaug_core.errors import ConfigError

PROBABILITY_TOL = 1e-5  # a row within this of the simplex looks like softmax output


DETERMINISM_TOL = 1e-4  # largest relative L2 difference between two passes (AutoAttack's value)


@dataclass(frozen=True)
class CheckResult:
    """One check: ``value`` is compared with ``threshold`` as ``message`` says."""

    name: str
    passed: bool
    value: float
    threshold: float
    message: str


def _err(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Error (percent) and the (B,) bool mask of misclassified examples."""
    with attack_mode(model), torch.no_grad():
        wrong = predict(model, x) != y
    return 100.0 * float(wrong.float().mean()), wrong


def check_logits(model: nn.Module, x: torch.Tensor) -> CheckResult:
    """Outputs must be logits: softmax outputs flatten the loss and shrink gradients.

    value: percent of examples whose first K outputs, or all K + M, lie in [0, 1] and sum
    to 1 (within ``PROBABILITY_TOL``). Passes at 0.
    """
    with attack_mode(model), torch.no_grad():
        out = model(x).float()

    def simplex(z):
        inside = (z >= -PROBABILITY_TOL).all(1) & (z <= 1 + PROBABILITY_TOL).all(1)
        return inside & ((z.sum(1) - 1).abs() <= PROBABILITY_TOL)

    value = 100.0 * float((simplex(out[:, : model.num_classes]) | simplex(out)).float().mean())
    return CheckResult(
        "logits_not_probabilities", value == 0.0, value, 0.0,
        f"{value:.1f}% of output rows look like probabilities (want 0%: attack the logits, not the softmax)",
    )


def check_deterministic(model: nn.Module, x: torch.Tensor, *, passes: int = 2) -> CheckResult:
    """Two forward passes (eval mode) must agree: a randomised model needs EOT attacks.

    value: the largest relative L2 difference ``||o_1 - o_i|| / ||o_1||`` over examples and
    passes; fails above ``DETERMINISM_TOL`` or if any prediction changes.
    """
    if passes < 2:
        raise ConfigError(f"passes must be >= 2; got {passes}")
    with attack_mode(model), torch.no_grad():
        outs = [model(x).float() for _ in range(passes)]
    diff, flips = 0.0, 0
    for o in outs[1:]:
        rel = (o - outs[0]).norm(dim=1) / (outs[0].norm(dim=1) + 1e-12)
        diff = max(diff, float(rel.max()))
        k = model.num_classes
        flips += int((o[:, :k].argmax(1) != outs[0][:, :k].argmax(1)).sum())
    return CheckResult(
        "deterministic", diff <= DETERMINISM_TOL and flips == 0, diff, DETERMINISM_TOL,
        f"{passes} passes differ by up to {diff:.2e} (relative L2; want <= {DETERMINISM_TOL:g}) "
        f"and change {flips} predictions (want 0)",
    )


def check_nonzero_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, max_zero_pct: float = 0.0) -> CheckResult:
    """The input gradient of the margin ``z_y - max_{j != y} z_j`` (first K logits) must not vanish.

    The margin decides the prediction and, unlike the cross-entropy, does not saturate in
    float32 on confident examples, so an exactly zero gradient means a flat or
    non-differentiable input path (quantisation, a gradient-blocking op).
    value: percent of examples whose gradient is exactly zero. Passes at <= ``max_zero_pct``.
    """
    with attack_mode(model):
        x_in = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            z = model(x_in)[:, : model.num_classes].float()
            z_y = z.gather(1, y[:, None]).squeeze(1)
            others = z.scatter(1, y[:, None], -math.inf).amax(1)
            (grad,) = torch.autograd.grad((z_y - others).sum(), x_in)
    value = 100.0 * float((grad.flatten(1).abs().sum(1) == 0).float().mean())
    return CheckResult(
        "nonzero_gradients", value <= max_zero_pct, value, max_zero_pct,
        f"{value:.1f}% of examples have an all-zero input gradient (want <= {max_zero_pct:g}%)",
    )


def check_more_steps(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *,
    step_counts: tuple[int, ...] = (10, 40, 100), norm: str = "linf", logits: str = "classes",
    tolerance_examples: int = 2, seed: int = 0,
) -> CheckResult:
    """More PGD steps must never lower the error (same random start, ``alpha = default_alpha(eps, steps)``).

    value: the largest drop in error (percentage points) from one step count to the next
    larger one, 0 if the error never falls. Passes within ``tolerance_examples`` examples.
    """
    if len(step_counts) < 2 or list(step_counts) != sorted(set(step_counts)):
        raise ConfigError(f"step_counts must be at least two increasing step counts; got {list(step_counts)}")
    errs = [_err(model, seeded_pgd(model, x, y, eps, s, norm=norm, logits=logits, seed=seed), y)[0] for s in step_counts]
    drop = max(0.0, *(a - b for a, b in zip(errs, errs[1:])))
    tol = 100.0 * tolerance_examples / len(y)
    shown = ", ".join(f"PGD-{s} {e:.1f}%" for s, e in zip(step_counts, errs))
    return CheckResult(
        "more_steps_never_help", drop <= tol, drop, tol,
        f"error {shown}: largest drop {drop:.2f} pp (want <= {tol:.2f} pp, {tolerance_examples} examples)",
    )


def full_cube_eps(x: torch.Tensor, norm: str) -> float:
    """The smallest radius whose ball around any image contains the whole [0, 1] cube: 1 (L-inf) or
    ``sqrt(C * H * W)`` (L2, the cube's diagonal). x: (B, C, H, W)."""
    return 1.0 if norm == "linf" else math.sqrt(x[0].numel())


def check_large_eps(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, large_eps: float | None = None,
    norm: str = "linf", logits: str = "classes", steps: int = 20, min_err: float = 99.0, seed: int = 0,
) -> CheckResult:
    """At eps = 1 (L-inf) every image can become any image, so an attack that works reaches ~100% error.

    With ``large_eps`` = :func:`full_cube_eps` (the default: 1 for L-inf, ``sqrt(C * H * W)`` for L2)
    the ball around each image holds every image of [0, 1]^(C, H, W), so each example can be
    misclassified unless the model predicts its class on the whole cube. PGD-``steps`` falling
    short of ``min_err`` then means the attack, not the model, is failing. (At L-inf eps 0.5 the
    ball only holds the grey image and what lies within 0.5 of it: an error is guaranteed only
    where the class differs from f(grey), about 90% for 10 balanced classes.) A smaller
    ``large_eps`` makes the check a heuristic, and the message says so.
    value: the PGD error (percent) at ``large_eps``. Passes at >= ``min_err``.
    """
    full = full_cube_eps(x, norm)
    if large_eps is None:
        large_eps = full
    value = _err(model, seeded_pgd(model, x, y, large_eps, steps, norm=norm, logits=logits, seed=seed), y)[0]
    why = ("the ball holds every image, so ~100% is reachable" if large_eps >= full else
           f"a heuristic: below {norm} eps {full:g} the ball does not hold every image")
    return CheckResult(
        "large_eps_error", value >= min_err, value, min_err,
        f"PGD-{steps} at {norm} eps {large_eps:g} gives {value:.1f}% error (want >= {min_err:g}%; {why})",
    )


def check_black_box(
    name: str, model: nn.Module, x_black: torch.Tensor, y: torch.Tensor, white_box_wrong: torch.Tensor, *,
    tolerance_examples: int = 2, budget: str = "",
) -> CheckResult:
    """A black-box attack must not beat the white-box one (gradient masking if it does).

    x_black: (B, C, H, W) the black-box attack's images; white_box_wrong: (B,) bool, the
    examples the white-box attack gets wrong; budget: the black-box attack's budget in words,
    shown in the message (e.g. :func:`labelaug_core.attacks.square.square_budget`). value:
    black-box error minus white-box error (percentage points). Passes within
    ``tolerance_examples`` examples.
    """
    black_err, black_wrong = _err(model, x_black, y)
    white_err = 100.0 * float(white_box_wrong.float().mean())
    tol = 100.0 * tolerance_examples / len(y)
    only_black = int((black_wrong & ~white_box_wrong).sum())
    return CheckResult(
        name, black_err - white_err <= tol, black_err - white_err, tol,
        f"{name.split('_')[0]}{f' ({budget})' if budget else ''} error {black_err:.1f}% vs white-box {white_err:.1f}% "
        f"({only_black} examples fooled only by it; want a difference <= {tol:.2f} pp)",
    )


def run_masking_checks(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    norm: str = "linf",
    logits: str = "classes",
    transfer_model: nn.Module | None = None,
    white_box: tuple[str, ...] = DEFAULT_ENSEMBLE,
    white_box_wrong: torch.Tensor | None = None,
    apgd_steps: int = 100,
    step_counts: tuple[int, ...] = (10, 40, 100),
    large_eps: float | None = None,
    min_large_eps_err: float = 99.0,
    square_queries: int = 5000,
    tolerance_examples: int = 2,
    seed: int = 0,
) -> list[CheckResult]:
    """All gradient-masking checks on one batch, in a fixed order.

    Args:
        model: returns (B, K + M) logits and has ``num_classes`` (K).
        x: (B, C, H, W) images in [0, 1].  y: (B,) int64 labels.  eps: the evaluation radius.
        norm, logits: the threat model, as :func:`labelaug_core.attacks.pgd`.
        transfer_model: another model (e.g. the std model); its PGD-``step_counts[-1]``
            images are a transfer (black-box) attack on ``model``.
        white_box: members of :func:`labelaug_core.apgd.ensemble_attack`, run with
            ``apgd_steps``; or pass ``white_box_wrong``, a (B,) bool mask of the examples an
            earlier white-box evaluation got wrong, to reuse it.
        step_counts, large_eps, min_large_eps_err: see :func:`check_more_steps` and
            :func:`check_large_eps`.
        square_queries: queries of the Square attack (p_init 0.8, no schedule rescaling: with the
            default 5000, AutoAttack's budget; the message states it); 0 skips it.
        tolerance_examples: how many examples a comparison may be off by.

    Returns:
        CheckResults: logits_not_probabilities, deterministic, nonzero_gradients,
        more_steps_never_help, large_eps_error, square_not_better (if ``square_queries``),
        transfer_not_better (if ``transfer_model``).
    """
    if eps <= 0:
        raise ConfigError(f"eps must be > 0 (pixel units); got {eps}")
    results = [
        check_logits(model, x),
        check_deterministic(model, x),
        check_nonzero_gradients(model, x, y),
        check_more_steps(model, x, y, eps, step_counts=step_counts, norm=norm, logits=logits,
                         tolerance_examples=tolerance_examples, seed=seed),
        check_large_eps(model, x, y, large_eps=large_eps, norm=norm, logits=logits, min_err=min_large_eps_err, seed=seed),
    ]
    if square_queries == 0 and transfer_model is None:
        return results
    if white_box_wrong is None:
        _, fooled_by = ensemble_attack(model, x, y, eps, attacks=white_box, norm=norm, logits=logits,
                                       apgd_steps=apgd_steps, seed=seed)
        white_box_wrong = torch.stack(list(fooled_by.values())).any(0)
    if square_queries > 0:
        x_square = square_attack(model, x, y, eps, norm=norm, n_queries=square_queries, seed=seed)
        results.append(check_black_box("square_not_better", model, x_square, y, white_box_wrong,
                                       tolerance_examples=tolerance_examples, budget=square_budget(square_queries)))
    if transfer_model is not None:
        x_transfer = seeded_pgd(transfer_model, x, y, eps, step_counts[-1], norm=norm, logits="classes", seed=seed)
        results.append(check_black_box("transfer_not_better", model, x_transfer, y, white_box_wrong,
                                       tolerance_examples=tolerance_examples,
                                       budget=f"PGD-{step_counts[-1]} made on another model"))
    return results


def checks_frame(results: list[CheckResult]) -> pd.DataFrame:
    """The checks as a table with columns name, passed, value, threshold, message."""
    return pd.DataFrame([asdict(r) for r in results], columns=["name", "passed", "value", "threshold", "message"])
