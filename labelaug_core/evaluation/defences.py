"""Weakest-class defences as model-level functions: per-class robustness, a logit bias for the
weakest class (Tian et al. 2021) and the choice of its size on held-out images."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from labelaug_core.attacks.pgd import seeded_pgd
from labelaug_core.attacks.threat import predict
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.metrics import per_class_error


def class_robustness(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, steps: int = 40,
                     seed: int = 0, batch_size: int = 500) -> pd.DataFrame:
    """Per-class clean and PGD-``steps`` accuracy (%) of ``model`` on (x, y).

    x: (N, C, H, W) in [0, 1]; y: (N,) int64. PGD: L-inf ``eps``, ``alpha = default_alpha(eps, steps)``, one
    random start drawn from ``seed``, loss on the first K logits. One row per class: ``class``,
    ``n``, ``clean_acc``, ``robust_acc`` (NaN for a class absent from y).
    """
    k = model.num_classes
    clean, robust = [], []
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        x_adv = seeded_pgd(model, xb, yb, eps, steps, seed=seed)
        with torch.no_grad():
            clean.append(predict(model, xb).cpu())
            robust.append(predict(model, x_adv).cpu())
    y_np = y.cpu().numpy()
    return pd.DataFrame({
        "class": range(k), "n": np.bincount(y_np, minlength=k),
        "clean_acc": 100.0 - per_class_error(y_np, torch.cat(clean).numpy(), k),
        "robust_acc": 100.0 - per_class_error(y_np, torch.cat(robust).numpy(), k),
    })


def rank_weakest(robust_err, n: int = 1) -> list[int]:
    """Indices of the ``n`` classes with the highest robust error (%), highest first; ties go to
    the lower index; absent classes (NaN) are never chosen."""
    errs = np.asarray(robust_err, dtype=float)
    if not 1 <= n <= int((~np.isnan(errs)).sum()):
        raise ConfigError(f"n must be between 1 and the number of classes with examples ({int((~np.isnan(errs)).sum())}); got {n}")
    return [int(i) for i in np.argsort(-np.nan_to_num(errs, nan=-np.inf), kind="stable")[:n]]


class LogitAdjusted(nn.Module):
    """``model`` with a constant bias added to its first K logits (a per-class logit adjustment).

    bias: (K,) float. Input and output as ``model``: (B, C, H, W) in [0, 1] -> (B, K + M);
    ``num_classes`` and ``num_ops`` are the wrapped model's, and the M operation logits are
    unchanged. Raising class c's logit by b moves every decision boundary of c outwards, so
    more images (clean and adversarial) are predicted as c.
    """

    def __init__(self, model: nn.Module, bias: torch.Tensor):
        super().__init__()
        bias = torch.as_tensor(bias, dtype=torch.float32)
        if bias.shape != (model.num_classes,):
            raise ConfigError(f"bias must have shape ({model.num_classes},) (one per class); got {tuple(bias.shape)}")
        self.model = model
        self.num_classes, self.num_ops = model.num_classes, model.num_ops
        self.register_buffer("bias", bias.to(next(model.parameters()).device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        k = self.num_classes
        return torch.cat([out[:, :k] + self.bias.to(out.dtype), out[:, k:]], dim=1)


def class_bias(num_classes: int, classes, value: float) -> torch.Tensor:
    """(K,) bias: ``value`` at each index of ``classes``, 0 elsewhere."""
    bias = torch.zeros(num_classes)
    for c in classes:
        if not 0 <= int(c) < num_classes:
            raise ConfigError(f"classes must be class indices in [0, {num_classes}); got {c}")
        bias[int(c)] = value
    return bias


def choose_bias(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, weak_class: int, biases, *,
                steps: int = 10, seed: int = 0, batch_size: int = 500) -> tuple[float, pd.DataFrame]:
    """The bias of ``weak_class``'s logit, among ``biases``, that maximises the worst-class robust accuracy.

    Each bias is evaluated white-box: PGD-``steps`` against the adjusted model on (x, y) (the
    held-out split). Ties go to the higher class-mean robust accuracy, then to the smaller |bias|.
    Returns the chosen bias and one row per bias: ``bias``, ``clean_avg_acc``, ``robust_avg_acc``,
    ``robust_worst_acc``, ``worst_class``, ``weak_class_robust_acc`` (percent; averages over classes).
    """
    biases = [float(b) for b in biases]
    if not biases:
        raise ConfigError("biases must list at least one value")
    rows = []
    for b in biases:
        adjusted = LogitAdjusted(model, class_bias(model.num_classes, [weak_class], b))
        table = class_robustness(adjusted, x, y, eps, steps=steps, seed=seed, batch_size=batch_size)
        rows.append({"bias": b, "clean_avg_acc": float(table["clean_acc"].mean()),
                     "robust_avg_acc": float(table["robust_acc"].mean()),
                     "robust_worst_acc": float(table["robust_acc"].min()),
                     "worst_class": int(table["robust_acc"].idxmin()),
                     "weak_class_robust_acc": float(table.loc[weak_class, "robust_acc"])})
    frame = pd.DataFrame(rows)
    return _best_bias(frame), frame


def _best_bias(frame: pd.DataFrame) -> float:
    ranked = frame.assign(abs_bias=frame["bias"].abs()).sort_values(
        ["robust_worst_acc", "robust_avg_acc", "abs_bias"], ascending=[False, False, True], kind="stable")
    return float(ranked.iloc[0]["bias"])
