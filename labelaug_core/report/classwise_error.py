"""Chapter 4, class-wise error: the paper's Table 2 and Figure 1 beside this profile's runs, each
model's weakest and strongest class in words, the class selector (one class's error and its row of
the adversarial confusion), and whether any class has collapsed. Errors in percent, gaps pp.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from labelaug_core.report.paper import PAPER_TABLE2
from labelaug_core.report.style import COLUMN_INCHES, ERROR_PALETTE, PALETTE, SMALL_PT, closing, listing, method_label
from labelaug_core.runs.collect import METHOD_NAMES, adversarial_flow_tables, mean_per_class, method_means
from labelaug_core.runs.store import Run


def table2(runs: list[Run]) -> pd.DataFrame:
    """Table 2: mean and SD of per-class error (clean, PGD), ours beside the paper's."""
    cols = ("clean_class_mean", "clean_class_sd", "pgd_class_mean", "pgd_class_sd")
    ours = method_means(runs, cols)
    paper = PAPER_TABLE2.loc[ours.index, list(cols)]
    return pd.concat({"ours": ours, "paper": paper}, axis=1).rename(index=METHOD_NAMES)


def per_class_frame(runs_by_method: dict, metrics=("clean_err", "pgd_err")) -> pd.DataFrame:
    """Long table: method, class name, metric, error % (mean over the seeds of each method)."""
    rows = []
    for method, runs in runs_by_method.items():
        for run in runs:
            for metric in metrics:
                for name, err in zip(run.per_class["name"], run.per_class[metric]):
                    rows.append({"method": METHOD_NAMES.get(method, method), "class": name, "metric": metric,
                                 "err": err, "seed": run.config.seed})
    return pd.DataFrame(rows)


def per_class_bars(runs_by_method: dict, metrics=("clean_err", "pgd_err"), titles=None) -> plt.Figure:
    """The paper's Figure 1: per-class error, one panel per metric, one bar colour per method."""
    frame = per_class_frame(runs_by_method, metrics)
    titles = titles or {"clean_err": "Clean", "pgd_err": "PGD-40", "fgsm_err": "FGSM"}
    # One panel per metric, stacked (one row of panels would be squeezed by the text column), the
    # classes on a shared axis labelled under the last panel, one legend above the panels.
    fig, axes = plt.subplots(len(metrics), 1, figsize=(COLUMN_INCHES, 0.4 + 2.3 * len(metrics)), squeeze=False,
                             sharex=True, layout="constrained")
    for ax, metric in zip(axes[:, 0], metrics):
        sns.barplot(data=frame[frame["metric"] == metric], x="class", y="err", hue="method", ax=ax,
                    palette=PALETTE, errorbar=None, legend=ax is axes[0, 0])
        ax.set(xlabel="", ylabel="error (%)", ylim=(0, 100))
        ax.set_title(titles.get(metric, metric), fontsize=10)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    axes[0, 0].get_legend().remove()
    fig.legend(handles, labels, loc="outside upper center", ncol=len(labels), frameon=False)
    axes[-1, 0].tick_params(axis="x", rotation=35)
    for label in axes[-1, 0].get_xticklabels():
        label.set_horizontalalignment("right")
    return fig


def _classes(names: list[str], err: float, bold: bool = True) -> str:
    """``class **a** (12.0%)`` for one name, ``3 classes tied at 12.0% (a, b and c)`` for several
    (at most 4 named)."""
    if len(names) == 1:
        return (f"class **{names[0]}**" if bold else f"class {names[0]}") + f" ({err:.1f}%)"
    shown = listing(names) if len(names) <= 4 else ", ".join(names[:4]) + ", ..."
    return f"{len(names)} classes tied at {err:.1f}% ({shown})"


SD_LABELS = {"clean_class_sd": "clean", "pgd_class_sd": "PGD-40"}


def sd_direction_lines(table2: pd.DataFrame) -> list[str]:
    """How the SD of the per-class errors moves from Adv to Adv+ here and in the paper, for each of
    clean and PGD-40 error that ``table2`` has (columns ``(ours | paper, <kind>_class_sd)``, index
    display names); then one line on whether the two agree, so that a direction is never judged
    from one of them alone. Empty without Adv and Adv+."""
    if not {"Adv", "Adv+"} <= set(table2.index):
        return []
    found = []
    for sd, label in SD_LABELS.items():
        if ("ours", sd) in table2.columns and ("paper", sd) in table2.columns:
            ours = float(table2.loc["Adv+", ("ours", sd)] - table2.loc["Adv", ("ours", sd)])
            paper = float(table2.loc["Adv+", ("paper", sd)] - table2.loc["Adv", ("paper", sd)])
            same = bool(np.sign(ours) == np.sign(paper))
            found.append((label, ours, paper, same))
    lines = [f"From Adv to Adv+ the SD of the per-class {label} errors changes by {ours:+.2f} pp here, "
             f"{'the same direction as' if same else 'the opposite direction to'} the paper's {paper:+.2f} pp."
             for label, ours, paper, same in found]
    if len(found) > 1:
        agree = [label for label, *_, same in found if same]
        lines.append("Both SDs move as in the paper." if len(agree) == len(found) else
                     "Neither SD moves as in the paper." if not agree else
                     f"Only the {agree[0]} SD moves as in the paper, so the two do not agree on whether "
                     "label augmentation makes the errors more even here.")
    return lines


def classwise_paragraph(frame: pd.DataFrame, table2: pd.DataFrame, metric: str = "pgd_err") -> str:
    """Chapter 4: each model's weakest and strongest class under ``metric`` (mean over seeds) and
    the gap between them, whether the models share their weakest class, and how the SD of the
    per-class errors moves from Adv to Adv+ here and in the paper.

    frame: :func:`labelaug_core.report.classwise_error.per_class_frame` (columns ``method`` (display name),
    ``class``, ``metric``, ``err`` %, ``seed``). table2: :func:`labelaug_core.report.classwise_error.table2`
    (index display names, columns ``(ours | paper, <metric-prefix>_class_sd)``).
    """
    per_class = frame[frame["metric"] == metric].groupby(["method", "class"], sort=False)["err"].mean()
    lines, weakest = [], {}
    for model in per_class.index.get_level_values("method").unique():
        errs = per_class.loc[model]
        if errs.max() == errs.min():
            lines.append(f"- **{model}**: every class at {errs.max():.1f}%, so no class is weaker than another.")
            continue
        worst = [str(k) for k in errs.index[errs == errs.max()]]
        best = [str(k) for k in errs.index[errs == errs.min()]]
        weakest[model] = tuple(worst)
        lines.append(f"- **{model}**: weakest {_classes(worst, errs.max())}, strongest "
                     f"{_classes(best, errs.min(), bold=False)}, a gap of {errs.max() - errs.min():.1f} pp.")
    if any(len(w) > 1 for w in weakest.values()):
        lines.append("Some models tie between several weakest classes, so no single weakest class can be named for them.")
    elif len(weakest) > 1:
        if len({w[0] for w in weakest.values()}) == 1:
            lines.append("All these models have the same weakest class.")
        else:
            lines.append(f"The models' weakest classes differ ({listing(sorted({w[0] for w in weakest.values()}))}).")
    lines += sd_direction_lines(table2)
    return "\n".join(lines)


# --- Chapter 5: the δ trade-off ---


def class_figure(k: int, errors: dict[str, tuple[np.ndarray, np.ndarray]], matrices: dict[str, pd.DataFrame],
                 attack: str) -> plt.Figure:
    """One class ``k`` of the class selector. Left: its clean and ``attack`` error (%) per model
    (``errors``: ``{method: ((K,) clean, (K,) attacked)}``); right: its row of each model's
    adversarial confusion matrix (``matrices``: ``{method: (K, K) share %}``): where its attacked
    images are sent."""
    names = list(next(iter(matrices.values())).index)
    fig, (left, right) = plt.subplots(1, 2, figsize=(COLUMN_INCHES, 3.3), width_ratios=[1, 2.6], layout="constrained")
    xs = np.arange(len(errors))
    left.bar(xs - 0.2, [e[0][k] for e in errors.values()], width=0.4, color=ERROR_PALETTE["clean"], label="clean")
    left.bar(xs + 0.2, [e[1][k] for e in errors.values()], width=0.4, color=ERROR_PALETTE["PGD"], label=attack)
    left.set_xticks(xs, [method_label(m) for m in errors])
    left.set(ylabel="error of the class (%)", ylim=(0, 101))
    left.tick_params(labelsize=SMALL_PT)
    left.legend(fontsize=SMALL_PT, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False,
                handlelength=1, columnspacing=0.8)
    row = pd.DataFrame({method_label(m): matrix.iloc[k] for m, matrix in matrices.items()}).T
    sns.heatmap(row, ax=right, vmin=0, vmax=100, cmap="rocket_r", annot=len(names) <= 12, fmt=".0f",
                annot_kws={"fontsize": SMALL_PT}, cbar_kws={"label": "share of the class (%)"})
    right.set(xlabel=f"predicted class of its {attack} images", ylabel="", title="where its attacked images go")
    right.tick_params(axis="x", rotation=35, labelsize=SMALL_PT)
    for label in right.get_xticklabels():
        label.set_horizontalalignment("right")
    right.tick_params(axis="y", rotation=0)
    fig.suptitle(f"class {names[k]}", fontsize=11)
    return fig


def class_views(runs_by_method: dict, class_names) -> dict[str, plt.Figure]:
    """``{class name: class_figure}`` of every class: per-class clean and PGD error (mean over seeds)
    and the adversarial confusion rows pooled over seeds (:func:`~labelaug_core.runs.collect.adversarial_flow_tables`)."""

    names = list(class_names)
    matrices, _ = adversarial_flow_tables(runs_by_method, names)
    errors = {m: (mean_per_class(runs, "clean_err"), mean_per_class(runs, "pgd_err")) for m, runs in runs_by_method.items()}
    attack = f"PGD-{next(iter(runs_by_method.values()))[0].config.eval_steps}"
    return {name: closing(class_figure(k, errors, matrices, attack)) for k, name in enumerate(names)}


def class_collapse(runs: list[Run], limit_pct: float = 50.0) -> pd.DataFrame:
    """Classes whose clean error exceeds ``limit_pct`` in any of ``runs``: rows (run_id, method, seed,
    class name, clean_err %). Empty when no class collapses."""
    rows = [{"run_id": r.run_id, "method": METHOD_NAMES.get(r.config.method, r.config.method), "seed": r.config.seed,
             "class": row["name"], "clean_err": float(row["clean_err"])}
            for r in runs for _, row in r.per_class.iterrows() if float(row["clean_err"]) > limit_pct]
    return pd.DataFrame(rows, columns=["run_id", "method", "seed", "class", "clean_err"])


def collapse_sentence(runs: list[Run], limit_pct: float = 50.0) -> str:
    """Whether any class of ``runs`` (e.g. the Adv and Adv+ runs) has clean error above ``limit_pct``:
    a collapsed class would dominate every class-wise number."""
    table = class_collapse(runs, limit_pct)
    worst_run = max(runs, key=lambda r: float(r.per_class["clean_err"].max()))
    worst_row = worst_run.per_class.loc[worst_run.per_class["clean_err"].astype(float).idxmax()]
    worst = float(worst_row["clean_err"])
    if table.empty:
        return (f"No class of these {len(runs)} runs has a clean error above {limit_pct:g}% (the worst: "
                f"{worst_row['name']} at {worst:.1f}% under "
                f"{METHOD_NAMES.get(worst_run.config.method, worst_run.config.method)}), so no class has collapsed.")
    classes = sorted(set(table["class"]))
    names = ", ".join(classes) + (" exceeds" if len(classes) == 1 else " exceed")
    return (f"**Collapsed classes**: {names} {limit_pct:g}% clean error in {table['run_id'].nunique()} of "
            f"{len(runs)} runs (worst {worst:.1f}%); class-wise numbers are dominated by them.")
