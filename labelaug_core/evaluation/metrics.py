"""Evaluation: clean, FGSM and PGD-k error, per class, as the paper reports them.

All errors are percentages (0-100). Per-class statistics follow the paper's Table 2:
the mean and the standard deviation across the K per-class errors (population SD,
``ddof=0``: the classes are the whole population, not a sample), plus the worst class.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from labelaug_core.attacks.pgd import fgsm, pgd
from labelaug_core.attacks.threat import default_alpha, generator_for, predict
from labelaug_core.errors import ConfigError


@dataclass
class Predictions:
    """Per-example labels and predictions on one test set, all (N,) int64 numpy arrays.

    ``attacked`` marks the examples that were attacked (the eval subset); FGSM/PGD
    predictions of the others are -1. For a model with M > 0 operation outputs (label
    augmentation), ``op_clean`` and ``op_pgd`` are (N,) float32 operation probabilities in [0, 1]:
    the softmax mass of the M operation outputs (of all K + M) on the clean and on the PGD image
    (NaN where not attacked); None for a K-output model.
    """

    y: np.ndarray
    clean: np.ndarray
    fgsm: np.ndarray
    pgd: np.ndarray
    attacked: np.ndarray
    op_clean: np.ndarray | None = None
    op_pgd: np.ndarray | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        """The fields as a dict of arrays (those that are not None), as ``predictions.npz`` stores them."""
        return {k: v for k, v in vars(self).items() if v is not None}


def _predict_with_op(model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(B,) class predictions (argmax of the first K logits) and, for M > 0, (B,) operation
    probabilities: softmax over all K + M outputs, summed over the M operation outputs."""
    with torch.no_grad():
        out = model(x).float()
    k = model.num_classes
    op = out.softmax(dim=1)[:, k:].sum(dim=1) if out.shape[1] > k else None
    return out[:, :k].argmax(dim=1), op


def predict_all(
    model,
    loader,
    *,
    eps: float,
    eval_steps: int = 40,
    alpha: float | None = None,
    attack_limit: int = 0,
    attack_logits: str = "classes",
    seed: int = 0,
    progress: bool = True,
) -> Predictions:
    """Clean, FGSM and PGD-``eval_steps`` predictions of ``model`` on every batch of ``loader``.

    PGD uses ``alpha = default_alpha(eps, eval_steps)`` (2.5 * eps / eval_steps) unless given, one random
    start, L-inf, fp32.
    ``attack_limit`` > 0 attacks only the first that many examples (clean error uses all).
    PGD's random starts are drawn from a generator seeded with ``seed`` (never the global RNG).
    """
    alpha = alpha if alpha is not None else default_alpha(eps, eval_steps)
    generator = None
    ys, clean, fgsm_pred, pgd_pred, attacked, op_clean, op_pgd = [], [], [], [], [], [], []
    seen = 0
    model.eval()
    for x, y in tqdm(loader, desc=f"evaluate (PGD-{eval_steps})", disable=not progress, leave=False):
        pred, op = _predict_with_op(model, x)
        clean.append(pred.cpu())
        op_after = torch.full((len(y),), float("nan"))
        generator = generator if generator is not None else generator_for(x, seed)
        take = len(y) if attack_limit == 0 else max(0, min(len(y), attack_limit - seen))
        f = torch.full_like(y, -1).cpu()
        p = torch.full_like(y, -1).cpu()
        if take > 0 and eps > 0:
            xa, ya = x[:take], y[:take]
            with torch.no_grad():
                f[:take] = predict(model, fgsm(model, xa, ya, eps, logits=attack_logits)).cpu()
            x_pgd = pgd(model, xa, ya, eps, alpha, eval_steps, logits=attack_logits, generator=generator)
            p_pgd, op_attacked = _predict_with_op(model, x_pgd)
            p[:take] = p_pgd.cpu()
        elif take > 0:
            f[:take] = clean[-1][:take]
            p[:take] = clean[-1][:take]
            op_attacked = op[:take] if op is not None else None
        if op is not None:
            op_clean.append(op.cpu())
            if take > 0:
                op_after[:take] = op_attacked.cpu()
            op_pgd.append(op_after)
        mask = torch.zeros(len(y), dtype=torch.bool)
        mask[:take] = True
        ys.append(y.cpu()); fgsm_pred.append(f); pgd_pred.append(p); attacked.append(mask)
        seen += len(y)
    cat = lambda parts: torch.cat(parts).numpy() if parts else None  # noqa: E731
    return Predictions(cat(ys), cat(clean), cat(fgsm_pred), cat(pgd_pred), cat(attacked), cat(op_clean), cat(op_pgd))


def error_pct(y: np.ndarray, pred: np.ndarray) -> float:
    """Top-1 error in percent."""
    return float(100.0 * np.mean(pred != y)) if len(y) else float("nan")


def per_class_error(y: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(K,) per-class error in percent (NaN for a class absent from ``y``)."""
    errs = np.full(num_classes, np.nan)
    for k in range(num_classes):
        mask = y == k
        if mask.any():
            errs[k] = 100.0 * np.mean(pred[mask] != k)
    return errs


def confusion_matrix(y: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) counts: row = true class, column = predicted class."""
    return np.bincount(y * num_classes + pred, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def class_stats(errs: np.ndarray) -> dict[str, float]:
    """Mean, SD (ddof=0) and worst of (K,) per-class errors (percent) over all K classes.

    A class without an evaluated example (NaN, as :func:`per_class_error` gives it) raises a
    :class:`ConfigError` naming the missing classes: a class-wise statistic over the classes that
    happen to be there would let the others vanish without a word."""
    errs = np.asarray(errs, dtype=float)
    if errs.ndim != 1 or len(errs) == 0:
        raise ConfigError(f"errs must be a (K,) array of per-class errors; got shape {errs.shape}")
    missing = np.flatnonzero(np.isnan(errs))
    if len(missing):
        shown = ", ".join(str(k) for k in missing[:20]) + (", ..." if len(missing) > 20 else "")
        raise ConfigError(f"per-class errors must cover every class; {len(missing)} of {len(errs)} classes have "
                          f"no evaluated example ({shown}): evaluate (eval_subset, attack_limit) at least one "
                          f"image per class")
    return {"mean": float(errs.mean()), "sd": float(errs.std()), "worst": float(errs.max())}


def summarize(pred: Predictions, num_classes: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Metrics dict (percent) and per-class error arrays for clean / fgsm / pgd.

    Keys: ``clean_err``, ``fgsm_err``, ``pgd_err`` and, for each, ``*_class_mean``,
    ``*_class_sd``, ``*_class_worst``; also ``n_test`` and ``n_attacked``.
    """
    metrics: dict[str, float] = {"n_test": int(len(pred.y)), "n_attacked": int(pred.attacked.sum())}
    per_class: dict[str, np.ndarray] = {}
    a = pred.attacked
    for name, y, p in (("clean", pred.y, pred.clean), ("fgsm", pred.y[a], pred.fgsm[a]), ("pgd", pred.y[a], pred.pgd[a])):
        errs = per_class_error(y, p, num_classes)
        per_class[name] = errs
        metrics[f"{name}_err"] = error_pct(y, p)
        for stat, value in class_stats(errs).items():
            metrics[f"{name}_class_{stat}"] = value
    return metrics, per_class


def error_curve(
    model, x: torch.Tensor, y: torch.Tensor, *, eps_values=(), steps_values=(), eps: float | None = None, steps: int = 10,
) -> list[dict[str, float]]:
    """PGD error (percent) of ``model`` on (x, y) as eps varies (at ``steps``) or as steps vary (at ``eps``).

    x: (N, C, H, W) in [0, 1]; y: (N,). FGSM error is included for each point of the eps sweep.
    Returns rows ``{"eps", "steps", "pgd_err", "fgsm_err"}``; alpha = default_alpha(eps, steps).
    """
    rows = []
    points = [(e, steps) for e in eps_values] + [(eps, s) for s in steps_values]
    for e, s in points:
        with torch.no_grad():
            clean = predict(model, x)
        if e == 0:
            pgd_pred = fgsm_pred = clean
        else:
            x_pgd = pgd(model, x, y, e, default_alpha(e, s), s)
            x_fgsm = fgsm(model, x, y, e)
            with torch.no_grad():
                pgd_pred = predict(model, x_pgd)
                fgsm_pred = predict(model, x_fgsm)
        rows.append({
            "eps": float(e), "steps": int(s),
            "pgd_err": 100.0 * (pgd_pred != y).float().mean().item(),
            "fgsm_err": 100.0 * (fgsm_pred != y).float().mean().item(),
        })
    return rows
