"""Chapter 9, class-wise robustness (after Tian et al. 2021): per-class accuracy clean and under
PGD, where each class's adversarial images go (flows and confusion), the classifier's weight-row
norms against robust accuracy, and the attack ladder per class: whether stronger attacks gain
mainly on the vulnerable classes. The flows are pooled in :func:`labelaug_core.runs.collect.adversarial_flow_tables`,
the norms read in :func:`labelaug_core.runs.classwise.weight_norm_tables`, the ladder statistics
computed in :mod:`labelaug_core.evaluation.ladder`. Errors and accuracies in percent, gains pp.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from labelaug_core.evaluation.ladder import LADDER, StrongEval, gain_vulnerability, ladder_table
from labelaug_core.report.style import PALETTE, SMALL_PT, method_label, panel_grid
from labelaug_core.runs.collect import METHOD_NAMES
from labelaug_core.runs.store import Run

if TYPE_CHECKING:
    from labelaug_core.config import TrainConfig


def classwise_setting(cfg: TrainConfig, n_attacked: int, seeds: Sequence[int]) -> str:
    """Chapter 9: one sentence with the evaluation's setting: data set and model (bold), ε
    (``:g``), PGD-k of the evaluation on the first ``n_attacked`` test images, and the seeds."""
    return (
        f"Data set **{cfg.dataset}**, model **{cfg.model}**, ε = {cfg.eps:g}, "
        f"PGD-{cfg.eval_steps} on the first {n_attacked} test images, seeds {list(seeds)}."
    )


def class_accuracy_table(runs_by_method: dict[str, list[Run]], class_names) -> pd.DataFrame:
    """Per-class accuracy (%) of each method, clean and under its PGD evaluation, mean over seeds:
    one row per class (``class_names``), columns ``(model, "clean" | "PGD-<k>")``."""
    import numpy as np

    frames = {}
    for method, runs in runs_by_method.items():
        attack = f"PGD-{runs[0].config.eval_steps}"
        frames[METHOD_NAMES.get(method, method)] = pd.DataFrame({
            "clean": 100 - np.mean([r.per_class["clean_err"] for r in runs], axis=0),
            attack: 100 - np.mean([r.per_class["pgd_err"] for r in runs], axis=0)}, index=list(class_names))
    return pd.concat(frames, axis=1)


def flow_table(flows: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The flows of :func:`adversarial_flow_tables` in one table, index (model, rank)."""
    return pd.concat({METHOD_NAMES.get(m, m): f for m, f in flows.items()}, names=["model", "rank"])


def class_spread_sentence(acc: pd.DataFrame) -> str:
    """Chapter 9: for each model, the spread (pp) between its most and least robust class, with the
    two classes. ``acc``: :func:`~labelaug_core.report.classwise_robustness.class_accuracy_table` (columns
    (model, "clean" | "PGD-<k>"), accuracy %)."""
    parts = []
    for model in acc.columns.get_level_values(0).unique():
        attack = next(c for c in acc[model].columns if c != "clean")
        robust = acc[(model, attack)]
        parts.append(f"{model} **{robust.max() - robust.min():.1f} pp** (best {robust.idxmax()} {robust.max():.1f}%, "
                     f"worst {robust.idxmin()} {robust.min():.1f}%)")
    return f"Spread between the most and the least robust class under {attack}: " + "; ".join(parts) + "."


def top_flow_sentence(flows: dict[str, pd.DataFrame]) -> str:
    """Chapter 9: each model's most frequent adversarial flow (true class -> class it is sent to,
    share % of that class's attacked images); ``flows`` as from
    :func:`~labelaug_core.runs.collect.adversarial_flow_tables`."""
    parts = []
    for method, f in flows.items():
        name = METHOD_NAMES.get(method, method)
        if len(f):
            top = f.iloc[0]
            parts.append(f"{name}: **{top['true']} → {top['sent to']}** ({top['share_%']:.0f}% of the "
                         f"{top['true']} images attacked)")
        else:
            parts.append(f"{name}: no adversarial errors")
    return "The most frequent flow of each model: " + "; ".join(parts) + "."


def adversarial_confusion_heatmaps(matrices: dict[str, pd.DataFrame]) -> plt.Figure:
    """Adversarial confusion: for each model (key: method), the share (%) of each true class's
    adversarial images sent to each class (rows: true class), as from
    :func:`labelaug_core.classwise.adversarial_flows`. One colour scale for all panels."""
    # Two panels a row (three side by side would be squeezed below legibility by the text column),
    # one colour bar for all in the free slot of the last row.
    fig, axes, spare = panel_grid(len(matrices), panel=(3.3, 3.3))
    for i, (ax, (method, matrix)) in enumerate(zip(axes, matrices.items())):
        sns.heatmap(matrix, ax=ax, vmin=0, vmax=100, cmap="rocket_r", annot=len(matrix) <= 12, fmt=".0f",
                    annot_kws={"fontsize": SMALL_PT - 0.5}, cbar=False)
        ax.set(xlabel="sent to", ylabel="true class" if i % 2 == 0 else "")
        ax.set_title(method_label(method), fontsize=10)
        ax.tick_params(labelsize=SMALL_PT)
        ax.tick_params(axis="y", rotation=0)
        for label in ax.get_xticklabels():
            label.set_rotation(40)
            label.set_horizontalalignment("right")
    bar = fig.colorbar(axes[0].collections[0], ax=spare or axes, location="left" if spare else "right",
                       shrink=0.7, fraction=0.1 if spare else 0.05)
    bar.set_label("share of the class (%)", fontsize=SMALL_PT + 1)
    bar.ax.tick_params(labelsize=SMALL_PT)
    return fig


def weight_norm_scatter(frames: dict[str, pd.DataFrame]) -> plt.Figure:
    """Per-class robust accuracy against the norm of the class's classifier weight row, one panel
    per model (key: method). Each frame: columns ``name``, ``norm``, ``robust_acc`` (%); the
    Pearson r is computed here and shown in the title."""
    fig, axes, _ = panel_grid(len(frames), panel=(3.25, 2.9))
    for ax, (method, frame) in zip(axes, frames.items()):
        name = method_label(method)
        ax.scatter(frame["norm"], frame["robust_acc"], color=PALETTE.get(name, "#4c72b0"))
        for _, row in frame.iterrows():
            ax.annotate(str(row["name"]), (row["norm"], row["robust_acc"]), fontsize=SMALL_PT, xytext=(3, 2),
                        textcoords="offset points")
        r = np.corrcoef(frame["norm"], frame["robust_acc"])[0, 1] if frame["robust_acc"].std() > 0 else float("nan")
        ax.set(xlabel="weight-row norm ||w_k||", ylabel="robust accuracy (%)")
        ax.set_title(f"{name}: Pearson r = {r:.2f}", fontsize=10)
        ax.tick_params(labelsize=SMALL_PT)
    return fig


def tian_comparison(r: float) -> str:
    """How a Pearson r between per-class robust accuracy and weight-row norm compares with Tian et al.
    (who report a positive correlation): ``|r| < 0.3`` is called weak; NaN undefined."""
    if np.isnan(r):
        return "undefined"
    if r >= 0.3:
        return "positive, as Tian et al. report"
    if r <= -0.3:
        return "negative, the opposite of Tian et al."
    return "weak (|r| < 0.3)"


def weight_norm_sentence(correlations: pd.DataFrame) -> str:
    """Chapter 9: each model's Pearson r (mean over seeds) between robust accuracy and weight-row norm,
    worded by :func:`tian_comparison`. ``correlations``: index (model, seed), column ``pearson_r``."""
    mean_r = correlations.groupby(level="model", sort=False)["pearson_r"].mean()

    def worded(r):
        if np.isnan(r):
            return "– (undefined: every class has the same robust accuracy, shown as – in the table)"
        return f"**{r:.2f}** ({tian_comparison(r)})"

    return ("Pearson r between robust accuracy and weight-row norm (mean over seeds): "
            + "; ".join(f"{m} {worded(r)}" for m, r in mean_r.items()) + ".")


def dashes(table: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """``table`` for display: numbers with ``decimals`` decimals, a dash where a value is undefined
    (NaN: e.g. a correlation across classes that all have the same value)."""
    return table.apply(lambda col: col.map(lambda v: "–" if pd.isna(v) else
                                           f"{v:.{decimals}f}" if isinstance(v, (float, np.floating)) else v))


def ladder_tables(strong: dict[str, list[StrongEval]], class_names) -> dict[str, pd.DataFrame]:
    """:func:`ladder_table` of each method's evaluations (``{method: [StrongEval per seed]}``)."""
    return {m: ladder_table(evals, class_names) for m, evals in strong.items()}


def gain_table(ladders: dict[str, pd.DataFrame], reference: str = "fgsm") -> pd.DataFrame:
    """:func:`gain_vulnerability` of every model's ladder in one table, index (model, rung)."""
    return pd.concat({METHOD_NAMES.get(m, m): gain_vulnerability(l, reference).set_index("rung")
                      for m, l in ladders.items()}, names=["model", "rung"])


def attack_ladder_lines(ladders: dict[str, pd.DataFrame], rungs=("clean", "fgsm", "pgd-10", "pgd-40", "ensemble")) -> plt.Figure:
    """Per-class error (%) under each attack of a ladder, one line per attack, one panel per model
    (key: method); classes sorted by their error under the strongest attack. Each ladder is
    :func:`labelaug_core.evaluation.ladder.ladder_table`."""
    fig, axes, spare = panel_grid(len(ladders), panel=(3.25, 3.0), sharey=True)
    colours = sns.color_palette("viridis", len(rungs))
    for i, (ax, (method, ladder)) in enumerate(zip(axes, ladders.items())):
        ordered = ladder.sort_values(f"{rungs[-1]}_err", kind="stable")
        for colour, rung in zip(colours, rungs):
            ax.plot(ordered["class"], ordered[f"{rung}_err"], marker="o", color=colour, label=rung)
        ax.set(xlabel="", ylim=(0, 101))
        ax.set_title(method_label(method), fontsize=10)
        ax.tick_params(labelsize=SMALL_PT)
        ax.tick_params(axis="x", rotation=45)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
        if i % 2 == 0:
            ax.set_ylabel("per-class error (%)")
    # The legend outside the data: in the free slot of the last row, else under the panels.
    handles, labels = axes[0].get_legend_handles_labels()
    if spare:
        spare[0].legend(handles, labels, loc="center", title="attack", fontsize=SMALL_PT + 1, frameon=False)
    else:
        fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=SMALL_PT + 1, frameon=False)
    return fig


def climb_sentences(gains: pd.DataFrame, reference: str = "fgsm") -> str:
    """Chapter 9: for each model of ``gains`` (:func:`gain_table`), one bullet on the climb from
    ``reference`` to the ensemble: the mean rise of class error (pp) and whether it falls mainly on
    the more vulnerable half of the classes (share >= 60%), the more robust half (<= 40%) or evenly."""
    climb = f"{reference} -> {LADDER[-1]}"
    lines = []
    for model in gains.index.get_level_values("model").unique():
        row = gains.loc[(model, climb)]
        share = row["weak_half_share_%"]
        if np.isnan(share):
            lines.append(f"- **{model}**: the ensemble adds nothing over {reference.upper()} "
                         f"(mean gain {row['mean_gain_pp']:.1f} pp).")
            continue
        where = ("mainly on the more vulnerable classes" if share >= 60 else "mainly on the more robust classes"
                 if share <= 40 else "spread about evenly (between 40% and 60%)")
        lines.append(f"- **{model}**: from {reference.upper()} to the ensemble the class error rises by "
                     f"{row['mean_gain_pp']:.1f} pp on average; the more vulnerable half of the classes takes "
                     f"{share:.0f}% of the rise (Spearman ρ between rise and {reference.upper()} error "
                     f"{row['spearman_rho']:.2f}): {where}.")
    return "\n".join(lines)
