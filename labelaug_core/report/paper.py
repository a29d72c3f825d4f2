"""The paper's numbers, stated once: Amerehi & Healy, Tables 1 and 2 (ResNet-50 fine-tuned on
ImageNet, PGD-40, eps 0.03) and its setting (Section 4), and the relative change with which the
paper states its headline numbers. Every other number of the book is read from run directories.
"""
from __future__ import annotations

import math

import pandas as pd

# Table 1 of the paper: error %, ResNet-50 on ImageNet.
PAPER_TABLE1 = pd.DataFrame(
    {"clean_err": [20.87, 32.18, 26.70], "mce": [58.06, 71.41, 66.43], "pgd_err": [94.06, 70.32, 32.70]},
    index=pd.Index(["std", "adv", "advplus"], name="method"),
)


# Table 2 of the paper: per-class error, mean and SD across the 1000 classes.
PAPER_TABLE2 = pd.DataFrame(
    {
        "clean_class_mean": [20.87, 32.17, 26.69], "clean_class_sd": [15.65, 17.78, 16.76],
        "real_class_mean": [19.43, 29.00, 24.27], "real_class_sd": [12.78, 15.24, 14.04],
        "pgd_class_mean": [94.06, 70.32, 32.70], "pgd_class_sd": [4.71, 15.77, 15.33],
    },
    index=pd.Index(["std", "adv", "advplus"], name="method"),
)


# The paper's headline comparisons: (label, before, after, column); relative change = (before - after) / before,
# so positive = ``after`` lower. Adv+ vs Std gives the paper's 65.23% (PGD), 27.93% and 14.42% (clean, mCE).
HEADLINE_COMPARISONS = (
    ("Adv vs Std, PGD error", "std", "adv", "pgd_err"),
    ("Adv vs Std, clean error (negative = worse)", "std", "adv", "clean_err"),
    ("Adv+ vs Std, PGD error", "std", "advplus", "pgd_err"),
    ("Adv+ vs Std, clean error (negative = worse)", "std", "advplus", "clean_err"),
    ("Adv+ vs Std, mCE (negative = worse)", "std", "advplus", "mce"),
    ("Adv+ vs Adv, PGD error", "adv", "advplus", "pgd_err"),
    ("Adv+ vs Adv, clean error", "adv", "advplus", "clean_err"),
    ("Adv+ vs Adv, clean per-class SD", "adv", "advplus", "clean_class_sd"),
    ("Adv+ vs Adv, PGD per-class SD", "adv", "advplus", "pgd_class_sd"),
)


# The paper's setting (Amerehi & Healy, Section 4) by TrainConfig field, as strings; "–" where it does
# not apply or is not stated: it fine-tunes pretrained ImageNet weights, so it has no from-scratch
# epochs or lr. The one source of the paper's settings: PAPER_SETTING and report.verdict read it.
PAPER_FIELDS = {"dataset": "imagenet", "model": "resnet50 (pretrained)", "eps": "0.03", "steps": "10",
                "eval_steps": "40", "epochs": "–", "train_subset": "0", "test_subset": "–", "eval_subset": "–",
                "batch_size": "64", "lr": "–", "delta": "0.03", "finetune_epochs": "10", "finetune_lr": "0.01"}

# The same setting as the rows of setting_table, plus what is not a TrainConfig field.
PAPER_SETTING = {
    "data set": "ImageNet", "model": "ResNet-50 (pretrained)", "epochs": PAPER_FIELDS["finetune_epochs"],
    "training images": "all",
    "ε (train and eval)": f"{PAPER_FIELDS['eps']} (units not stated)", "training attack": f"PGD-{PAPER_FIELDS['steps']}",
    "share of each batch perturbed": "not stated (the authors' code: 0.7)",
    "evaluation attack": f"PGD-{PAPER_FIELDS['eval_steps']}", "δ": PAPER_FIELDS["delta"],
    "batch": PAPER_FIELDS["batch_size"], "lr": f"{PAPER_FIELDS['finetune_lr']} cosine",
    "seeds": "1 (not stated)", "device": "RTX-3080",
}


def setting_status(paper: str, ours: str) -> str:
    """How one setting of ours compares with the paper's: ``same``, ``DIFFERS``, or ``paper silent``
    where the paper does not state it (its value then holds "not stated"), so that a guess about the
    paper is never reported as a difference."""
    if "not stated" in paper:
        return "paper silent"
    return "same" if paper == ours else "DIFFERS"


def relative_change(before: float, after: float) -> float:
    """Relative drop in percent, ``(before - after) / before * 100`` (the paper's headline numbers).

    Positive = ``after`` is lower (better). e.g. ``relative_change(94.06, 70.32) == 25.24``.
    """
    if before == 0 or math.isnan(before) or math.isnan(after):
        return float("nan")
    return 100.0 * (before - after) / before


def paper_relative_drop(before: str = "adv", after: str = "advplus", column: str = "pgd_err") -> float:
    """The paper's relative drop (%) of ``column`` from method ``before`` to ``after``, derived from
    :data:`PAPER_TABLE1` (and :data:`PAPER_TABLE2` for its per-class columns) with
    :func:`relative_change`: 53.5 for the headline PGD-40 error of Adv -> Adv+."""
    paper = PAPER_TABLE1.join(PAPER_TABLE2)
    if column not in paper.columns or before not in paper.index or after not in paper.index:
        raise KeyError(f"the paper's tables have methods {list(paper.index)} and columns {list(paper.columns)}; "
                       f"got {before!r} -> {after!r}, {column!r}")
    return relative_change(float(paper.loc[before, column]), float(paper.loc[after, column]))

