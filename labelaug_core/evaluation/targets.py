"""The label-augmentation targets in numbers (chapter 2): the K + M target of one image for each δ,
and the loss at its optimum (:mod:`labelaug_core.losses`). Probabilities in [0, 1], losses in nats."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from labelaug_core.losses import augmented_targets, label_augmentation_loss


def target_vector_values(delta: float, num_classes: int, num_ops: int, label: int = 0, op: int = 0) -> np.ndarray:
    """The (K + M,) label-augmentation target of one image of class ``label`` attacked by operation
    ``op`` (``op = -1``: the clean image) at ``delta``."""
    return augmented_targets(torch.tensor([label]), torch.tensor([op]), num_classes, num_ops, delta)[0].numpy()


def augmented_target_table(deltas, num_classes: int, num_ops: int, label: int = 0) -> pd.DataFrame:
    """Label-augmentation targets of one image of class ``label``, clean and adversarial (op 0),
    for each δ of ``deltas``: rows ``(δ, image)`` with image ``clean`` or ``adversarial``, columns
    ``class <label>`` and ``op 0`` .. ``op M-1`` (probabilities; the other K - 1 classes get 0)."""
    y = torch.tensor([label, label])
    op = torch.tensor([-1, 0])  # the same image, clean and adversarial
    columns = [f"class {k}" for k in range(num_classes)] + [f"op {j}" for j in range(num_ops)]
    rows = {}
    for d in deltas:
        targets = augmented_targets(y, op, num_classes, num_ops, d).numpy()
        rows[(d, "clean")], rows[(d, "adversarial")] = targets[0], targets[1]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    table.index = pd.MultiIndex.from_tuples(table.index, names=["δ", "image"])
    return table[[f"class {label}"] + columns[num_classes:]]


def target_optimum_table(deltas, num_classes: int, num_ops: int, label: int = 0) -> pd.DataFrame:
    """For each δ, the label-augmentation loss (nats) of an adversarial image at the optimum
    (logits ``log t``, t its target), the entropy ``H(t)`` (nats; the two are equal: the loss
    cannot go below it) and the softmax that those logits put on the true class (``1 - δ``).
    One row per δ (index ``δ``)."""
    y, op = torch.tensor([label]), torch.zeros(1, dtype=torch.long)
    rows = []
    for d in deltas:
        t = augmented_targets(y, op, num_classes, num_ops, d)
        logits = torch.log(t.clamp_min(1e-30))
        loss = label_augmentation_loss(logits, y, op, num_classes, num_ops, d).item()
        positive = t[t > 0]
        rows.append({"δ": d, "loss at the optimum": loss, "H(t)": float(-(positive * positive.log()).sum()),
                     "softmax on the true class": float(logits.softmax(1)[0, label])})
    return pd.DataFrame(rows).set_index("δ")
