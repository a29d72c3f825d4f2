"""Chapter 5, the δ explorer: for each δ of the Adv+ sweep, its target, its clean against PGD error
beside Std and Adv, its per-class error and its adversarial confusion (sliders), and the δ
trade-off and the δ = 0 control in words. The sweep is ``{δ: [Adv+ run per seed]}``
(:func:`labelaug_core.runs.collect.delta_sweep_runs`). Errors in percent, differences pp.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from labelaug_core.evaluation.paired import spearman_rho
from labelaug_core.report.comparisons import difference_words
from labelaug_core.report.style import COLUMN_INCHES, ERROR_PALETTE, PALETTE, SMALL_PT, closing, listing, method_label
from labelaug_core.report.targets import target_vector
from labelaug_core.runs.collect import adversarial_flow_tables, compare_runs, mean_per_class


def _mean_metric(runs, key: str) -> float:
    return float(np.mean([r.metrics[key] for r in runs]))


def delta_explorer_figure(delta: float, sweep: dict, base: dict) -> plt.Figure:
    """One δ of the δ explorer (chapter 5), three panels:

    - top left, the K + M target of an adversarial image at ``delta`` (:func:`target_vector`);
    - top right, clean against PGD error (%) of Std and Adv (``base``: ``{"std": [...], "adv": [...]}``
      runs, mean over seeds) and of Adv+ at every δ of ``sweep`` (a line; ``delta`` a star);
    - bottom, the per-class clean and PGD error (%) of Adv+ at ``delta`` (mean over its seeds).

    ``sweep``: ``{δ: [Adv+ run per seed]}`` (:func:`~labelaug_core.runs.collect.delta_sweep_runs`).
    """
    runs = sweep[delta]
    first = runs[0]
    names = list(first.per_class["name"])
    k, m = len(names), first.config.num_ops
    attack = f"PGD-{first.config.eval_steps}"
    fig = plt.figure(figsize=(COLUMN_INCHES, 6.6), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 1.1])
    target = fig.add_subplot(grid[0, 0])
    target_vector(delta, k, m, ax=target)
    target.set_title(f"target of an adversarial image, δ = {delta:g}", fontsize=9)
    ax = fig.add_subplot(grid[0, 1])
    for method, group in base.items():
        name = method_label(method)
        ax.scatter(_mean_metric(group, "clean_err"), _mean_metric(group, "pgd_err"), color=PALETTE.get(name), s=60,
                   label=name)
    deltas = sorted(sweep)
    ax.plot([_mean_metric(sweep[d], "clean_err") for d in deltas], [_mean_metric(sweep[d], "pgd_err") for d in deltas],
            color=PALETTE["Adv+"], alpha=0.4, marker=".")
    ax.scatter(_mean_metric(runs, "clean_err"), _mean_metric(runs, "pgd_err"), color=PALETTE["Adv+"], s=140,
               marker="*", label=f"Adv+ δ={delta:g}")
    ax.set(xlabel="clean error (%)", ylabel=f"{attack} error (%)")
    ax.set_title("clean vs robust error", fontsize=9)
    ax.legend(fontsize=SMALL_PT)
    ax = fig.add_subplot(grid[1, :])
    per_class = sum(r.per_class[["clean_err", "pgd_err"]] for r in runs) / len(runs)
    xs = np.arange(k)
    ax.bar(xs - 0.2, per_class["clean_err"], width=0.4, label="clean", color=ERROR_PALETTE["clean"])
    ax.bar(xs + 0.2, per_class["pgd_err"], width=0.4, label=attack, color=ERROR_PALETTE["PGD"])
    ax.set_xticks(xs, names, rotation=30, ha="right")
    ax.set(ylabel="error (%)", ylim=(0, 100))
    ax.set_title(f"per-class error of Adv+ with δ = {delta:g}", fontsize=9)
    ax.legend(fontsize=SMALL_PT, loc="lower center", bbox_to_anchor=(0.5, 1.08), ncol=2, frameon=False)
    return fig


def delta_explorer_figures(sweep: dict, base: dict) -> dict[float, plt.Figure]:
    """``{δ: :func:`delta_explorer_figure`}`` for every δ of ``sweep`` (closed, ready for
    :func:`labelaug_core.report.widgets.slider_of_figures`)."""
    return {d: closing(delta_explorer_figure(d, sweep, base)) for d in sweep}


def delta_confusion_figure(delta: float, matrix: pd.DataFrame, pgd_err: np.ndarray, attack: str) -> plt.Figure:
    """One δ of chapter 5's second slider: Adv+'s adversarial confusion matrix (share %, rows: true
    class) beside its per-class ``attack`` error (%, ``pgd_err`` (K,))."""
    names = list(matrix.index)
    # The bars share the heatmap's rows (true classes), so the class names are written once.
    fig, (left, right) = plt.subplots(1, 2, figsize=(COLUMN_INCHES, 5.0), width_ratios=[3, 1], layout="constrained")
    sns.heatmap(matrix, ax=left, vmin=0, vmax=100, cmap="rocket_r", annot=len(names) <= 12, fmt=".0f",
                annot_kws={"fontsize": SMALL_PT}, cbar_kws={"label": "share of the true class (%)", "shrink": 0.8})
    left.set(xlabel="predicted class of the attacked image", ylabel="true class")
    left.set_title(f"Adv+ δ = {delta:g}: adversarial confusion", fontsize=10)
    left.tick_params(labelsize=SMALL_PT)
    left.tick_params(axis="y", rotation=0)
    for label in left.get_xticklabels():
        label.set_rotation(35)
        label.set_horizontalalignment("right")
    right.barh(np.arange(len(names)) + 0.5, pgd_err, height=0.7, color=ERROR_PALETTE["PGD"])
    right.set_ylim(len(names), 0)
    right.set_yticks([])
    right.set_xlabel(f"{attack} error (%)", fontsize=SMALL_PT + 1)
    right.set_xlim(0, 101)
    right.set_xticks([0, 50, 100])
    right.tick_params(labelsize=SMALL_PT)
    right.set_title("per-class error", fontsize=10)
    return fig


def delta_confusion_views(sweep: dict, class_names) -> dict[float, plt.Figure]:
    """``{δ: delta_confusion_figure}`` for every δ of ``sweep`` (``{δ: [Adv+ run per seed]}``), the
    confusion pooled over seeds, the per-class error their mean."""

    matrices, _ = adversarial_flow_tables(sweep, list(class_names))
    attack = f"PGD-{next(iter(sweep.values()))[0].config.eval_steps}"
    return {d: closing(delta_confusion_figure(d, matrices[d], mean_per_class(sweep[d], "pgd_err"), attack))
            for d in sweep}


# --- chapter 7: corruption and severity ------------------------------------------------------------


def delta_tradeoff_paragraph(summary: pd.DataFrame) -> str:
    """Chapter 5: which δ of the sweep gives the lowest PGD-40 and the lowest clean error, how both
    move from the smallest to the largest δ (with Spearman's ρ between δ and PGD error over the
    sweep), and where the paper's δ = 0.03 stands if it was trained.

    summary: :func:`labelaug_core.runs.collect.delta_summary` (index δ, columns
    ``clean_err`` and ``pgd_err`` %).
    """
    s = summary.sort_index()
    low, high = s.index[0], s.index[-1]
    def lowest(column: str) -> str:
        at = s.index[s[column] == s[column].min()]
        return f"δ = **{listing([f'{d:g}' for d in at])}** ({s[column].min():.2f}%)"

    text = [f"Lowest PGD-40 error at {lowest('pgd_err')}, lowest clean error at {lowest('clean_err')}."]
    if len(s) > 1:
        text.append(f"From δ = {low:g} to δ = {high:g}, PGD-40 error moves by "
                    f"{s.loc[high, 'pgd_err'] - s.loc[low, 'pgd_err']:+.2f} pp and clean error by "
                    f"{s.loc[high, 'clean_err'] - s.loc[low, 'clean_err']:+.2f} pp.")
    if len(s) > 2 and s["pgd_err"].nunique() > 1:
        rho = spearman_rho(s.index, s["pgd_err"])
        trend = ("falls as δ grows" if rho <= -0.8 else "rises as δ grows" if rho >= 0.8
                 else "shows no steady trend in δ")
        text.append(f"Across the sweep the PGD-40 error {trend} (Spearman ρ = {rho:.2f}).")
    if 0.03 in s.index:
        rank = int(s["pgd_err"].rank(method="min").loc[0.03])
        text.append(f"The paper's δ = 0.03 ranks {rank} of {len(s)} by PGD-40 error.")
    return " ".join(text)


# --- Chapter 7: corruptions ---


def delta_control_lines(sweep: dict, adv_runs: list) -> str:
    """Chapter 5's claims, one Markdown bullet each: Adv+ with δ = 0 (the control: the same K + M
    model and training, no label augmentation) against Adv, then each other δ against δ = 0: the
    PGD-40 error difference, paired by image and seed
    (:func:`~labelaug_core.runs.collect.compare_runs`, McNemar per seed, the t interval over
    seeds). ``sweep``: {δ: [run per seed]} (:func:`~labelaug_core.runs.collect.delta_sweep_runs`);
    ``adv_runs``: Adv's runs, one per seed. Without a δ = 0 run, one sentence saying there is no control."""

    if 0.0 not in sweep:
        return "The sweep has no δ = 0 run, so there is no control to compare with."
    lines = [f"- Adv+ δ = 0 vs Adv: {difference_words(compare_runs(adv_runs, sweep[0.0]), 'Adv', 'δ = 0', 'PGD-40 error')}"]
    lines += [f"- Adv+ δ = {d:g} vs δ = 0: "
              f"{difference_words(compare_runs(sweep[0.0], runs), 'δ = 0', f'δ = {d:g}', 'PGD-40 error')}"
              for d, runs in sorted(sweep.items()) if d != 0.0]
    return "\n".join(lines)
