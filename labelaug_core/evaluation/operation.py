"""Does label augmentation's operation output act? Its separation of clean from attacked images.

An Adv+ model has K class outputs and M operation outputs; label augmentation trains perturbed
images towards ``delta`` on operation 0 and, when batches mix clean and perturbed images
(``adv_fraction`` < 1), clean images towards 0 there. If the mechanism acts, the operation
probability (the softmax mass of the M operation outputs, over all K + M) is higher on an attacked
image than on a clean one. If every training image was perturbed, the operation output only learns
a constant and separates nothing: AUROC about 0.5.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from labelaug_core.errors import ConfigError


def auroc(negatives, positives) -> float:
    """Area under the ROC curve of a score that should be higher on ``positives`` than on
    ``negatives`` (1-D arrays of scores): P(score of a random positive > that of a random negative),
    ties counted one half. Computed as the Mann-Whitney U statistic of the positives divided by
    ``n_pos * n_neg`` (``scipy.stats.mannwhitneyu``). 1: perfect separation; 0.5: none; 0: reversed."""
    neg, pos = np.asarray(negatives, dtype=float), np.asarray(positives, dtype=float)
    if neg.ndim != 1 or pos.ndim != 1 or not len(neg) or not len(pos):
        raise ConfigError(f"auroc needs two non-empty 1-D score arrays; got shapes {neg.shape} and {pos.shape}")
    if np.isnan(neg).any() or np.isnan(pos).any():
        raise ConfigError("auroc: scores must not be NaN (score only the images that were attacked)")
    u = stats.mannwhitneyu(pos, neg, alternative="two-sided").statistic
    return float(u / (len(pos) * len(neg)))


def operation_separation(op_clean, op_attacked) -> dict[str, float]:
    """How well the operation probability tells attacked from clean images.

    Args:
        op_clean: (N,) operation probabilities in [0, 1] of clean images.
        op_attacked: (N',) the same of attacked images (the same N images, attacked, in the protocol).

    Returns ``auroc`` (:func:`auroc`, attacked = positive), ``mean_clean`` and ``mean_attacked``
    (mean operation probability on each), ``n_clean`` and ``n_attacked``.
    """
    clean, attacked = np.asarray(op_clean, dtype=float), np.asarray(op_attacked, dtype=float)
    return {"auroc": auroc(clean, attacked), "mean_clean": float(clean.mean()),
            "mean_attacked": float(attacked.mean()), "n_clean": int(len(clean)), "n_attacked": int(len(attacked))}
