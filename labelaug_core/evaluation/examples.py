"""Adversarial examples of a few images for the book's first chapter: FGSM and PGD images of a
batch, every model's PGD images at each ε, and error curves over ε for several step counts.

Pure functions of models and tensors: images (N, C, H, W) in [0, 1], labels (N,), ε in pixel units.
PGD takes the threat model's step (:func:`labelaug_core.attacks.threat.default_alpha`) and draws its
random start from a generator seeded with ``seed`` (:func:`labelaug_core.attacks.pgd.seeded_pgd`),
never from the global RNG.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from labelaug_core.errors import ConfigError


@dataclass(frozen=True)
class AttackedBatch:
    """One model's PGD images of a batch at one ε: ``x_adv`` (N, C, H, W) in [0, 1], ``pred`` (N,) the
    predicted class (argmax of the first K logits) and ``confidence`` (N,) its softmax probability over
    the K classes, in percent."""

    x_adv: np.ndarray
    pred: np.ndarray
    confidence: np.ndarray


def fgsm_pgd_examples(model, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 10,
                      seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, list[int]]]:
    """FGSM and PGD-``steps`` images of ``x`` at L-inf radius ``eps`` (PGD: step ``default_alpha(eps,
    steps)``, random start from a generator seeded with ``seed``): ``({"FGSM" | "PGD-<steps>": (N, C, H,
    W) array}, {"clean" | "FGSM" | "PGD-<steps>": [class the model predicts, argmax of its first K
    logits]})``."""
    from labelaug_core.attacks.pgd import fgsm, seeded_pgd

    attacked = {"FGSM": fgsm(model, x, y, eps), f"PGD-{steps}": seeded_pgd(model, x, y, eps, steps, seed=seed)}
    with torch.no_grad():
        preds = {k: model(v)[:, :model.num_classes].argmax(1).tolist() for k, v in {"clean": x, **attacked}.items()}
    return {k: v.detach().cpu().numpy() for k, v in attacked.items()}, preds


def attack_examples(models: dict, x: torch.Tensor, y: torch.Tensor, eps_values, *, steps: int,
                    seed: int = 0) -> dict[float, dict[str, AttackedBatch]]:
    """PGD-``steps`` images (step ``default_alpha(eps, steps)``, random start from a generator seeded
    with ``seed``) of ``x`` ((N, C, H, W) in [0, 1], labels ``y`` (N,)) for every model and ε:
    ``{eps: {method: AttackedBatch}}``. ε = 0 leaves the images clean."""
    from labelaug_core.attacks.pgd import pgd
    from labelaug_core.attacks.threat import default_alpha, generator_for

    if steps < 1:
        raise ConfigError(f"steps: must be >= 1; got {steps}")
    out: dict[float, dict[str, AttackedBatch]] = {}
    for eps in eps_values:
        out[float(eps)] = {}
        for method, model in models.items():
            xa = x if eps == 0 else pgd(model, x, y, float(eps), default_alpha(float(eps), steps), steps,
                                       generator=generator_for(x, seed))
            with torch.no_grad():
                prob = torch.softmax(model(xa)[:, :model.num_classes].float(), dim=1)
            confidence, pred = prob.max(dim=1)
            out[float(eps)][method] = AttackedBatch(xa.detach().cpu().numpy(), pred.cpu().numpy(),
                                                    100.0 * confidence.cpu().numpy())
    return out


def steps_error_curves(models: dict, x: torch.Tensor, y: torch.Tensor, eps_values, steps_values) -> pd.DataFrame:
    """PGD and FGSM error (%) of every model against ε, once per number of PGD steps
    (:func:`labelaug_core.evaluation.metrics.error_curve`): columns ``method``, ``eps``, ``steps``,
    ``pgd_err``, ``fgsm_err``."""
    from labelaug_core.evaluation.metrics import error_curve

    rows = [{"method": method, **row} for s in steps_values for method, model in models.items()
            for row in error_curve(model, x, y, eps_values=eps_values, steps=int(s))]
    return pd.DataFrame(rows)
