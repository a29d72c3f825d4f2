"""Chapter 3, average error: the paper's Table 1 beside this profile's runs, the runs' setting, and
Adv+ against Adv under the runs' own PGD-40 evaluation, paired by image and over seeds, in words.
Errors in percent, differences pp.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from labelaug_core.report.comparisons import difference_words
from labelaug_core.report.paper import HEADLINE_COMPARISONS, PAPER_TABLE1, PAPER_TABLE2, relative_change
from labelaug_core.runs.collect import METHOD_NAMES, compare_runs, method_means
from labelaug_core.runs.store import Run

if TYPE_CHECKING:
    from labelaug_core.config import TrainConfig


def table1(runs: list[Run]) -> pd.DataFrame:
    """Table 1: clean and PGD error per method, ours beside the paper's."""
    ours = method_means(runs, ("clean_err", "pgd_err"))
    paper = PAPER_TABLE1.loc[ours.index, ["clean_err", "pgd_err"]]
    return pd.concat({"ours": ours, "paper": paper}, axis=1).rename(index=METHOD_NAMES)


def headline_changes(means: pd.DataFrame, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's headline relative changes, recomputed from per-method means.

    ``means`` is indexed by method (std, adv, advplus) with columns among clean_err,
    pgd_err, clean_class_sd, pgd_class_sd. Returns one row per comparison with ``ours``
    and, where the paper reports it, ``paper``.
    """
    paper = pd.concat([PAPER_TABLE1, PAPER_TABLE2], axis=1) if paper is None else paper
    rows = []
    for label, before, after, col in HEADLINE_COMPARISONS:
        if before in means.index and after in means.index and col in means.columns:
            rows.append({
                "comparison": label,
                "ours_%": relative_change(means.loc[before, col], means.loc[after, col]),
                "paper_%": relative_change(paper.loc[before, col], paper.loc[after, col]),
            })
    return pd.DataFrame(rows, columns=["comparison", "ours_%", "paper_%"]).set_index("comparison")


def average_error_setting(cfg: TrainConfig, n_attacked: int, seeds: Sequence[int]) -> str:
    """Chapter 3: one sentence with the runs' setting: data set and model (bold), the training
    images (all, or the class-balanced subset's size) and epochs, ε (``:g``, pixel units), the PGD
    steps of training, the share of each batch perturbed, the PGD steps of the evaluation on
    ``n_attacked`` test images, δ (``:g``) and the seeds. ``cfg``: a resolved
    :class:`~labelaug_core.config.TrainConfig`."""
    images = "all training images" if cfg.train_subset == 0 else f"{cfg.train_subset:,} training images"
    share = ("every training image perturbed" if cfg.adv_fraction == 1 else
             f"{cfg.adv_fraction:.0%} of each batch perturbed, the rest clean")
    return (
        f"Data set **{cfg.dataset}**, model **{cfg.model}**, {images} for {cfg.epochs} epochs, "
        f"ε = {cfg.eps:g} (pixel units), PGD-{cfg.steps} training with {share}, PGD-{cfg.eval_steps} "
        f"evaluation on {n_attacked} test images, δ = {cfg.delta:g}, seeds {list(seeds)}."
    )


def profile_gain_paragraph(runs_by_method: dict[str, list[Run]]) -> str:
    """Chapter 3's claim: Adv+ against Adv under the runs' own PGD-40 evaluation, paired by image and
    over seeds, beside the paper's relative drop."""
    c = compare_runs(runs_by_method["adv"], runs_by_method["advplus"], "pgd")
    rel = relative_change(c["err_a"]["mean"], c["err_b"]["mean"])
    paper = relative_change(float(PAPER_TABLE1.loc["adv", "pgd_err"]), float(PAPER_TABLE1.loc["advplus", "pgd_err"]))
    return (f"On this profile, label augmentation changes PGD-40 error relative to Adv by **{rel:.2f} %** "
            f"(the paper reports {paper:.2f} % on ImageNet). " + difference_words(c, "Adv", "Adv+", "PGD-40 error")
            + " {numref}`Chapter %s <ch-trustworthy-evaluation>` repeats the comparison under a much stronger "
            "attack, on other images.")
