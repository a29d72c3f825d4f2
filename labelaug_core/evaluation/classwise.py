"""Class-wise robustness diagnosis (Tian et al. 2021, "Analysis and Applications of
Class-wise Robustness in Adversarial Training", KDD).

- the adversarial confusion matrix: where the adversarial images of each class are sent;
- the correlation between a class's robustness and the norm of its classifier weight row;
- how much each stronger attack gains per class;
- Temperature-PGD (PGD whose loss is computed on softmax(z / T)) against plain PGD, the share of
  examples whose input gradient is exactly zero at each T, and the choice of T on held-out images.

Where T enters Tian et al.'s attack could not be recovered from their paper; this project's reading
divides the logits by T inside the attack loss (:func:`labelaug_core.attacks.pgd.attack_loss`).

Errors, accuracies, success rates and shares are percentages.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn

from labelaug_core.attacks.pgd import attack_loss, pgd
from labelaug_core.attacks.threat import attack_mode, default_alpha, generator_for, predict
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.metrics import confusion_matrix, per_class_error


def adversarial_flows(y: np.ndarray, adv_pred: np.ndarray, class_names, top: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Adversarial confusion: (K, K) share (%) of each true class's adversarial images sent to each class,
    and the ``top`` most frequent off-diagonal flows (true -> predicted, count, share % of the true class).

    y, adv_pred: (N,) int arrays.
    """
    k = len(class_names)
    counts = confusion_matrix(y, adv_pred, k)
    share = 100.0 * counts / np.maximum(counts.sum(1, keepdims=True), 1)
    matrix = pd.DataFrame(share, index=pd.Index(class_names, name="true"), columns=pd.Index(class_names, name="sent to"))
    off = [(counts[i, j], i, j) for i in range(k) for j in range(k) if i != j and counts[i, j] > 0]
    flows = pd.DataFrame(
        [{"true": class_names[i], "sent to": class_names[j], "count": int(c), "share_%": share[i, j]}
         for c, i, j in sorted(off, reverse=True)[:top]]
    )
    return matrix, flows


def classifier_weight_norms(model: nn.Module) -> np.ndarray:
    """(K,) L2 norms of the class rows of the model's last linear layer (first K rows)."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    return last.weight[: model.num_classes].detach().float().norm(dim=1).cpu().numpy()


def weight_norm_correlation(robust_acc: np.ndarray, norms: np.ndarray) -> dict[str, float]:
    """Pearson and Spearman correlation between per-class robust accuracy and weight-row norm."""
    pearson = stats.pearsonr(robust_acc, norms)
    spearman = stats.spearmanr(robust_acc, norms)
    return {"pearson_r": float(pearson.statistic), "pearson_p": float(pearson.pvalue),
            "spearman_rho": float(spearman.statistic), "spearman_p": float(spearman.pvalue)}


def attack_ladder(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, attacks: dict[str, Callable], class_names, batch_size: int = 500,
) -> pd.DataFrame:
    """Per-class error (%) under each attack of an ordered ladder, and each rung's gain over the previous.

    ``attacks`` maps a name to ``fn(model, x, y) -> x_adv``; an example counts as an error of a rung if
    that rung's attack fools it (each rung is evaluated on its own). Returns one row per class with
    ``<name>_err`` and ``<name>_gain`` columns (gain of the first rung is over clean error).
    """
    k = len(class_names)
    if k != model.num_classes:
        raise ConfigError(f"class_names must name the model's {model.num_classes} classes; got {k}")
    with torch.no_grad():
        clean = torch.cat([predict(model, x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    y_np = y.cpu().numpy()
    table = pd.DataFrame({"class": class_names, "clean_err": per_class_error(y_np, clean.cpu().numpy(), k)})
    previous = "clean_err"
    for name, attack in attacks.items():
        preds = []
        for i in range(0, len(x), batch_size):
            xa = attack(model, x[i:i + batch_size], y[i:i + batch_size])
            with torch.no_grad():
                preds.append(predict(model, xa))
        table[f"{name}_err"] = per_class_error(y_np, torch.cat(preds).cpu().numpy(), k)
        table[f"{name}_gain"] = table[f"{name}_err"] - table[previous]
        previous = f"{name}_err"
    return table


def success_rate(y: torch.Tensor, clean_pred: torch.Tensor, adv_pred: torch.Tensor) -> float:
    """Attack success rate (%): share of correctly classified clean images whose adversarial image is misclassified."""
    correct = clean_pred == y
    return float(100.0 * ((adv_pred != y) & correct).sum() / correct.sum().clamp(min=1))


# The two forms of the Temperature-PGD loss whose zero gradients are counted: the attack's own
# (log-sum-exp, cannot underflow) and the cross-entropy of z / T (the form used before, which can).
GRADIENT_FORMS = ("attack", "cross_entropy")


def zero_gradient_mask(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, temperature: float, form: str = "attack",
    batch_size: int = 500,
) -> torch.Tensor:
    """(N,) bool: True where the input gradient of the Temperature-PGD loss at the clean image is
    exactly zero in every pixel (then a sign step does not move the image).

    x: (N, C, H, W) in [0, 1]; y: (N,) in [0, K). ``form``: ``"attack"``, the loss PGD ascends
    (:func:`labelaug_core.attacks.pgd.attack_loss`, ``logsumexp_{j != y}(z_j / T) - z_y / T``), or
    ``"cross_entropy"``, the cross-entropy of the first K logits over T, whose float32 gradient
    ``softmax(z / T) - onehot(y)`` underflows to exactly zero once the margin / T exceeds about 87
    (a confident model at T = 0.1). fp32, the model in eval mode with frozen parameters.
    """
    if form not in GRADIENT_FORMS:
        raise ConfigError(f"form must be one of {', '.join(GRADIENT_FORMS)}; got {form!r}")
    if temperature <= 0:
        raise ConfigError(f"temperature must be > 0; got {temperature}")
    masks = []
    with attack_mode(model):
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size].clone().requires_grad_(True), y[i:i + batch_size]
            with torch.enable_grad():
                logits = model(xb)
                if form == "attack":
                    loss = attack_loss(logits, yb, model.num_classes, temperature=temperature)
                else:
                    loss = F.cross_entropy(logits[:, :model.num_classes].float() / temperature, yb, reduction="sum")
            (grad,) = torch.autograd.grad(loss, xb)
            masks.append((grad.flatten(1) == 0).all(dim=1))
    return torch.cat(masks)


def temperature_sweep(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int, temperatures, seed: int = 0,
    batch_size: int = 500,
) -> pd.DataFrame:
    """Temperature-PGD success rate (%), overall and per class, for each T (T = 1 is plain PGD).

    Every T uses the same eps, steps, step size (``default_alpha(eps, steps)``) and random starts:
    drawn from a generator seeded with ``seed``, afresh for each T (the global RNG is not used).
    Returns one row per T: ``temperature``, ``success_%``, ``error_%`` (robust error on all N
    images), ``zero_grad_%`` and ``zero_grad_ce_%`` (share of the N images whose input gradient at
    the clean image is all zero, :func:`zero_gradient_mask`, for the attack's loss and for the
    cross-entropy of z / T) and ``class_<k>_success_%``.
    """
    k = model.num_classes
    with torch.no_grad():
        clean = torch.cat([predict(model, x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    rows = []
    for t in temperatures:
        generator = generator_for(x, seed)
        adv = []
        for i in range(0, len(x), batch_size):
            xa = pgd(model, x[i:i + batch_size], y[i:i + batch_size], eps, default_alpha(eps, steps), steps,
                     temperature=float(t), generator=generator)
            with torch.no_grad():
                adv.append(predict(model, xa))
        adv_pred = torch.cat(adv)
        zero = {column: float(100.0 * zero_gradient_mask(model, x, y, temperature=float(t), form=form,
                                                         batch_size=batch_size).float().mean())
                for column, form in (("zero_grad_%", "attack"), ("zero_grad_ce_%", "cross_entropy"))}
        row = {"temperature": float(t), "success_%": success_rate(y, clean, adv_pred),
               "error_%": float(100.0 * (adv_pred != y).float().mean()), **zero}
        for c in range(k):
            mask = y == c
            row[f"class_{c}_success_%"] = success_rate(y[mask], clean[mask], adv_pred[mask])
        rows.append(row)
    return pd.DataFrame(rows)


def choose_temperature(sweep: pd.DataFrame) -> float:
    """The T of a :func:`temperature_sweep` table with the highest robust error (``error_%``); ties go
    to the T nearest to 1 on a log scale (plain PGD wins a tie), then to the smaller T. Meant for a
    sweep on held-out images, so that the error reported at the chosen T is not selected on the
    images it is reported on."""
    missing = {"temperature", "error_%"} - set(sweep.columns)
    if missing or sweep.empty:
        raise ConfigError(f"sweep must be a non-empty temperature_sweep table; missing columns {sorted(missing)}")
    ranked = sweep.assign(distance=np.abs(np.log(sweep["temperature"].to_numpy(float))))
    ranked = ranked.sort_values(["error_%", "distance", "temperature"], ascending=[False, True, True])
    return float(ranked["temperature"].iloc[0])
