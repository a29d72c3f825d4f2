"""The prose the chapters build from their numbers: the setting a chapter's runs were trained and
evaluated in (chapters 3, 9 and 10), the ImageNet-ReaL and ImageNet-X introductions (chapter 8),
the runs' own PGD-40 error beside the strong evaluation (chapter 10) and what the performance page
says without a GPU result (chapter 12).

Each function returns Markdown as a ``str``; a notebook shows it with
``display(Markdown(fn(...)))``. Numbers are formatted here, so the notebooks hold no f-strings of
prose: ε and δ with ``:g``, percentages and percentage points with two decimals, counts as plain
integers and ``seeds`` as a list (``[0, 1, 2]``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from labelaug_core.report.sentences import factor_counts_text

if TYPE_CHECKING:
    from labelaug_core.config import TrainConfig

# The rows of chapter 10's verdict table that :func:`own_error_reference` compares.
FIRST_K, ALL_LOGITS, WORST_OF_BOTH = "Adv+", "Adv+ (all K+M logits)", "Adv+ (worst of both)"


def average_error_setting(cfg: TrainConfig, n_attacked: int, seeds: Sequence[int]) -> str:
    """Chapter 3: one sentence with the runs' setting: data set and model (bold), epochs, ε
    (``:g``), the PGD steps of training and of the evaluation on ``n_attacked`` test images, δ
    (``:g``) and the seeds. ``cfg``: a resolved :class:`~labelaug_core.config.TrainConfig`."""
    return (
        f"Data set **{cfg.dataset}**, model **{cfg.model}**, {cfg.epochs} epochs, "
        f"ε = {cfg.eps:g}, PGD-{cfg.steps} training, PGD-{cfg.eval_steps} evaluation on "
        f"{n_attacked} test images, δ = {cfg.delta:g}, seeds {list(seeds)}."
    )


def classwise_setting(cfg: TrainConfig, n_attacked: int, seeds: Sequence[int]) -> str:
    """Chapter 9: one sentence with the evaluation's setting: data set and model (bold), ε
    (``:g``), PGD-k of the evaluation on the first ``n_attacked`` test images, and the seeds."""
    return (
        f"Data set **{cfg.dataset}**, model **{cfg.model}**, ε = {cfg.eps:g}, "
        f"PGD-{cfg.eval_steps} on the first {n_attacked} test images, seeds {list(seeds)}."
    )


def strong_eval_setting(
    cfg: TrainConfig,
    n_images: int,
    seeds: Sequence[int],
    apgd_steps: int,
    n_target_classes: int,
    pgd_restarts: int,
    square_queries: int,
) -> str:
    """Chapter 10: one sentence with the strong evaluation's setting: data set and model (bold),
    ε (``:g``), ``n_images`` test images per seed, the seeds, the APGD steps, the APGD-T target
    classes, the PGD-40 restarts and the Square check's queries (beside AutoAttack's 5000)."""
    return (
        f"Data set **{cfg.dataset}**, model **{cfg.model}**, ε = {cfg.eps:g}, {n_images} test "
        f"images per seed, seeds {list(seeds)}; APGD {apgd_steps} steps, APGD-T "
        f"{n_target_classes} targets, PGD-40 with {pgd_restarts} restarts; Square check "
        f"{square_queries} queries (AutoAttack: 5000)."
    )


def own_error_reference(
    own: Mapping[str, float], n_attacked: int, ensemble_err: Mapping[str, float]
) -> str:
    """Chapter 10: the runs' own PGD-40 error (``own``: {"std" | "adv" | "advplus": error %},
    two decimals) on ``n_attacked`` images, then how Adv+'s ensemble error (``ensemble_err``: the
    verdict table's ``ensemble_err`` column, by row label) changes when all K + M logits are
    attacked instead of the first K (signed, pp) and what the worst of both adds (pp)."""
    first_k = ensemble_err[FIRST_K]
    all_logits = ensemble_err[ALL_LOGITS] - first_k
    worst = ensemble_err[WORST_OF_BOTH] - first_k
    return (
        f"For reference, the runs' own PGD-40 evaluation ({n_attacked} images, another random "
        f"start): Std {own['std']:.2f}%, Adv {own['adv']:.2f}%, Adv+ {own['advplus']:.2f}%. "
        f"Attacking all K + M logits instead of the first K changes Adv+'s ensemble error by "
        f"{all_logits:+.2f} pp; taking the worst of both adds {worst:.2f} pp to the first-K "
        f"ensemble error."
    )


def imagenet_missing_text(dataset: str) -> str:
    """Chapter 8 on a data set other than ImageNet: why the chapter shows nothing (the
    annotations exist only for ImageNet's validation images) and how to fill it in."""
    return (
        f"**This profile's data set is {dataset}, so this chapter has nothing to show.** ReaL "
        f"labels and ImageNet-X annotations exist only for ImageNet's validation images; no "
        f"{dataset} counterpart exists, and none is made up here. The chapter fills in when the "
        f"book is built with the ImageNet profile (`labelaug book --profile imagenet-gpu`, see the "
        f"README). The paper's ReaL numbers are in its Table 2, quoted in the class-wise chapter."
    )


def real_error_intro(n_real: int, n_excluded: int) -> str:
    """Chapter 8: the "ReaL error" heading and a paragraph: how many validation images were
    evaluated (``n_real + n_excluded``), how many have a ReaL set (``n_real``) and how many
    have none and are left out (``n_excluded``)."""
    return (
        f"## ReaL error\n\nEach model's clean predictions on the {n_real + n_excluded} "
        f"validation images it was evaluated on, scored against ReaL: {n_real} images have a "
        f"ReaL set, {n_excluded} have none and are left out. Overall error (%), per run:"
    )


def factor_error_intro(counts: pd.Series, which_factor: str) -> str:
    """Chapter 8: the "error per factor" heading (Figure 3) and a paragraph: which factor of an
    image counts (``which_factor`` ``"top"``: its main factor; otherwise every marked factor)
    and how many evaluated images carry each factor (``counts``: {factor: n}, as
    :func:`~labelaug_core.report.sentences.factor_counts_text` words it)."""
    factor = "main" if which_factor == "top" else "marked"
    return (
        f"## ImageNet-X: error per factor (Figure 3)\n\nError (%) on the validation images whose "
        f"{factor} factor is each of the 16, and on all annotated images (`average`). How many "
        f"evaluated images carry each factor, so how much each bar can be trusted: "
        f"{factor_counts_text(counts)}. The paper gives these figures as plots without a table, "
        f"so no paper numbers stand beside them."
    )


def no_gpu_result_text() -> str:
    """Chapter 12 without a CUDA benchmark result: the "GPUs" heading and a paragraph saying that
    none is made up and which command and file would provide one."""
    return (
        "## GPUs\n\nNo GPU result yet: the machine this book was built on has none, and none is "
        "made up. The CUDA path of the same command (CUDA events, full batches, the whole "
        "Fashion-MNIST epoch, the model's FLOP/s as a share of a measured bf16 matmul peak) "
        "writes `benchmarks/results/cuda-<gpu>-<date>.json`, and this page shows it beside the "
        "CPU results."
    )
