"""Class-wise robustness diagnosis (Tian et al. 2021, "Analysis and Applications of
Class-wise Robustness in Adversarial Training", KDD).

- the adversarial confusion matrix: where the adversarial images of each class are sent;
- the correlation between a class's robustness and the norm of its classifier weight row;
- how much each stronger attack gains per class;
- Temperature-PGD (PGD whose loss is computed on softmax(z / T)) against plain PGD.

Errors, accuracies and success rates are percentages.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from labelaug_core.attacks.pgd import pgd
from labelaug_core.attacks.threat import default_alpha, generator_for, predict
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


def temperature_sweep(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int, temperatures, seed: int = 0,
    batch_size: int = 500,
) -> pd.DataFrame:
    """Temperature-PGD success rate (%), overall and per class, for each T (T = 1 is plain PGD).

    Every T uses the same eps, steps, step size (``default_alpha(eps, steps)``) and random starts:
    drawn from a generator seeded with ``seed``, afresh for each T (the global RNG is not used).
    Returns one row per T: ``temperature``, ``success_%`` and ``class_<k>_success_%``.
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
        row = {"temperature": float(t), "success_%": success_rate(y, clean, adv_pred)}
        for c in range(k):
            mask = y == c
            row[f"class_{c}_success_%"] = success_rate(y[mask], clean[mask], adv_pred[mask])
        rows.append(row)
    return pd.DataFrame(rows)
