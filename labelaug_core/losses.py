"""Label augmentation (Amerehi & Healy, "Narrowing Class-Wise Robustness Gaps in
Adversarial Training", Eq. 3-4).

A network with K + M outputs is trained towards the soft target
``concat[(1 - delta) * onehot_K(y), delta * onehot_M(op)]`` for an image transformed by
operation ``op`` (here op 0 = the adversarial perturbation), and towards the plain
one-hot class for an untransformed image (``op = -1``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from labelaug_core.errors import ConfigError


def augmented_targets(
    y: torch.Tensor, op: torch.Tensor, num_classes: int, num_ops: int, delta: float
) -> torch.Tensor:
    """Soft targets of label augmentation.

    Args:
        y: (B,) int64 class labels in [0, K).
        op: (B,) int64 operation labels in [0, M), or -1 for an untransformed image.
        num_classes: K.  num_ops: M >= 0.  delta: weight of the operation label, [0, 1).

    Returns:
        (B, K + M) float32 targets; each row sums to 1.
    """
    if not 0 <= delta < 1:
        raise ConfigError(f"delta must be in [0, 1); got {delta}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ConfigError(f"y must be class labels in [0, {num_classes}); got range [{int(y.min())}, {int(y.max())}]")
    if op.numel() and (int(op.min()) < -1 or int(op.max()) >= num_ops):
        raise ConfigError(f"op must be -1 (clean) or in [0, {num_ops}); got range [{int(op.min())}, {int(op.max())}]")
    width = num_classes + num_ops
    transformed = (op >= 0).unsqueeze(1).float()
    class_part = F.one_hot(y, width).float() * (1 - delta * transformed)
    op_part = F.one_hot(op.clamp(min=0) + num_classes, width).float() * (delta * transformed)
    return class_part + op_part


def label_augmentation_loss(
    logits: torch.Tensor,
    y: torch.Tensor,
    op: torch.Tensor,
    num_classes: int,
    num_ops: int,
    delta: float,
    class_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean cross-entropy over all K + M logits against :func:`augmented_targets`.

    Args:
        logits: (B, K + M).  y, op, num_classes, num_ops, delta: as :func:`augmented_targets`.
        class_weight: optional (K,) loss weight of each true class (a weakest-class defence,
            Tian et al. 2021); the mean is then weighted, ``sum(w_y * l) / sum(w_y)``, as
            ``F.cross_entropy(..., weight=)`` does.

    With ``delta = 0`` (or only clean images) this is exactly ``F.cross_entropy(logits, y)``;
    with M = 0 it is plain cross-entropy on a K-output model.
    """
    if logits.shape[1] != num_classes + num_ops:
        raise ConfigError(f"logits must have K + M = {num_classes + num_ops} columns; got {logits.shape[1]}")
    weight = None
    if class_weight is not None:
        weight = torch.cat([class_weight.to(logits.dtype), logits.new_ones(num_ops)])
    if delta == 0 or num_ops == 0 or not bool((op >= 0).any()):
        # The targets are one-hot: the general formula below is then F.cross_entropy (same value,
        # one fused kernel). tests/test_losses.py checks the two agree.
        return F.cross_entropy(logits, y, weight=weight)
    return soft_cross_entropy(logits, augmented_targets(y, op, num_classes, num_ops, delta), y, class_weight)


def soft_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, y: torch.Tensor, class_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """The general formula of :func:`label_augmentation_loss`: ``-sum(targets * log_softmax(logits))``
    per example, averaged (weighted by ``class_weight[y]`` if given, as ``sum(w_y * l) / sum(w_y)``).

    logits, targets: (B, K + M); y: (B,) class labels in [0, K); class_weight: (K,) or None.
    """
    losses = -(targets.to(logits.dtype) * logits.log_softmax(dim=1)).sum(dim=1)
    if class_weight is None:
        return losses.mean()
    w = class_weight.to(logits.dtype)[y]
    return (w * losses).sum() / w.sum()
