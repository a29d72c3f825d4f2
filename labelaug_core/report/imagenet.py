"""Chapter 8, ImageNet-ReaL and ImageNet-X: the paper's Table 2 with ReaL error, its headline, the
per-class panels of its Figure 1, the error per ImageNet-X factor (Figures 3 and 4), and the
chapter's introductions and results in words. The scoring itself is in
:mod:`labelaug_core.evaluation.imagenet`. Errors in percent.
"""
from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from labelaug_core.errors import ConfigError
from labelaug_core.report.paper import PAPER_TABLE2, relative_change
from labelaug_core.report.style import COLUMN_INCHES, PALETTE, SMALL_PT, legend_above_and_slanted_ticks, method_label, panel_grid
from labelaug_core.runs.collect import METHOD_NAMES, method_means
from labelaug_core.runs.store import Run


def table2_with_real(runs, real_metrics: dict[str, dict]) -> pd.DataFrame:
    """The paper's Table 2 complete: per-class mean and SD of clean, ReaL and PGD error per method.

    runs: finished :class:`~labelaug_core.runs.Run` s; real_metrics: run_id -> :func:`real_error`
    metrics. Means over seeds, ours beside the paper's (percent).
    """
    cols = ("clean_class_mean", "clean_class_sd", "real_class_mean", "real_class_sd", "pgd_class_mean", "pgd_class_sd")
    ours = method_means(_with_metrics(runs, real_metrics), cols)
    paper = PAPER_TABLE2.loc[ours.index, list(cols)]
    return pd.concat({"ours": ours, "paper": paper}, axis=1).rename(index=METHOD_NAMES)


def real_headline(runs, real_metrics: dict[str, dict]) -> pd.DataFrame:
    """The paper's ReaL headline numbers, relative drops ``(before - after) / before`` in percent."""
    cols = ("real_class_mean", "real_class_sd")
    ours = method_means(_with_metrics(runs, real_metrics), cols)
    rows = []
    comparisons = (("Adv+ vs Adv, ReaL per-class SD (drop)", "adv", "advplus", "real_class_sd"),
                   ("Adv+ vs Adv, ReaL per-class mean (drop)", "adv", "advplus", "real_class_mean"),
                   ("Adv vs Std, ReaL per-class mean (drop; negative = worse)", "std", "adv", "real_class_mean"))
    for label, before, after, col in comparisons:
        if before in ours.index and after in ours.index:
            rows.append({"comparison": label, "ours_%": relative_change(ours.loc[before, col], ours.loc[after, col]),
                         "paper_%": relative_change(PAPER_TABLE2.loc[before, col], PAPER_TABLE2.loc[after, col])})
    return pd.DataFrame(rows, columns=["comparison", "ours_%", "paper_%"]).set_index("comparison")


def figure1_panels(runs, real_per_class: dict[str, pd.DataFrame]) -> dict[str, dict[str, np.ndarray]]:
    """Per-class clean, ReaL and PGD error (percent) per method, mean over seeds: the paper's Fig. 1.

    runs: finished runs; real_per_class: run_id -> the per-class table of :func:`real_error`.
    Returns {"Clean" | "ReaL" | "PGD-40": {method: (K,) errors}}, classes in the runs' order
    (NaN for a class with no image scored), ready for :func:`labelaug_core.figures.per_class_sorted`.
    """
    panels: dict[str, dict[str, list[pd.Series]]] = {"Clean": {}, "ReaL": {}, f"PGD-{runs[0].config.eval_steps}": {}}
    for run in runs:
        names = run.per_class["name"]
        real = real_per_class[run.run_id].set_index("wnid")["real_err"].reindex(names)
        for (title, by_method), series in zip(panels.items(), (
                run.per_class.set_index("name")["clean_err"], real, run.per_class.set_index("name")["pgd_err"])):
            by_method.setdefault(run.config.method, []).append(series.reset_index(drop=True))
    return {title: {m: pd.concat(s, axis=1).mean(axis=1).to_numpy() for m, s in by_method.items()}
            for title, by_method in panels.items()}


def _with_metrics(runs, extra: dict[str, dict]):
    missing = [r.run_id for r in runs if r.run_id not in extra]
    if missing:
        raise ConfigError(f"real_metrics has no entry for run {missing[0]}")
    return [dataclasses.replace(r, metrics=r.metrics | extra[r.run_id]) for r in runs]


def real_error_table(runs: list[Run], real_metrics: dict[str, dict]) -> pd.DataFrame:
    """Clean and ReaL error (%) of each run: index (method, seed), columns ``clean_err``, ``real_err``."""
    return pd.DataFrame([{"method": r.config.method, "seed": r.config.seed, "clean_err": r.metrics["clean_err"],
                          "real_err": real_metrics[r.run_id]["real_err"]} for r in runs]).set_index(["method", "seed"])


def per_class_sorted(panels: dict[str, dict[str, np.ndarray]], ylim=(0, 100)) -> plt.Figure:
    """Per-class error sorted from best to worst class, one line per method, one panel per metric.

    panels: title -> {method -> (K,) per-class errors in percent}. For many classes (ImageNet's
    1000) this shows the spread that Table 2's SD summarises: the paper's Figure 1 (clean, ReaL,
    PGD-40).
    """
    fig, axes, _ = panel_grid(len(panels), panel=(3.25, 2.9), sharey=True)
    for i, (ax, (title, by_method)) in enumerate(zip(axes, panels.items())):
        for method, errs in by_method.items():
            errs = np.sort(np.asarray(errs, dtype=float)[~np.isnan(np.asarray(errs, dtype=float))])
            name = method_label(method)
            ax.plot(np.arange(1, len(errs) + 1), errs, color=PALETTE.get(name), label=f"{name} (SD {np.std(errs):.1f})",
                    marker="o" if len(errs) <= 20 else None)
        ax.set(title=title, xlabel="class rank (best to worst)", ylim=ylim)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        ax.tick_params(labelsize=SMALL_PT)
        ax.legend(fontsize=SMALL_PT)
        if i % 2 == 0:
            ax.set_ylabel("per-class error (%)")
    return fig


def factor_bars(table: pd.DataFrame, ylabel: str, *, reference: float | None = None) -> plt.Figure:
    """One bar per (ImageNet-X factor, method): the paper's Figures 3 (error) and 4 (error ratio).

    table: one row per method (index), one column per factor. ``reference`` draws a horizontal
    line (1 for error ratios: above it, the factor is harder than the average image).
    """
    frame = table.rename(index=method_label).rename_axis("method").reset_index().melt(
        id_vars="method", var_name="factor", value_name="value")
    fig, ax = plt.subplots(figsize=(COLUMN_INCHES, 3.6), layout="constrained")
    palette = {m: PALETTE[m] for m in frame["method"].unique() if m in PALETTE}
    sns.barplot(data=frame, x="factor", y="value", hue="method", ax=ax,
                palette=palette if len(palette) == frame["method"].nunique() else None)
    if reference is not None:
        ax.axhline(reference, color="black", lw=0.8, ls="--")
    ax.set(xlabel="", ylabel=ylabel)
    legend_above_and_slanted_ticks(ax, len(table))
    ax.tick_params(axis="x", labelsize=SMALL_PT + 1)
    return fig


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
    :func:`~labelaug_core.report.imagenet.factor_counts_text` words it)."""
    factor = "main" if which_factor == "top" else "marked"
    return (
        f"## ImageNet-X: error per factor (Figure 3)\n\nError (%) on the validation images whose "
        f"{factor} factor is each of the 16, and on all annotated images (`average`). How many "
        f"evaluated images carry each factor, so how much each bar can be trusted: "
        f"{factor_counts_text(counts)}. The paper gives these figures as plots without a table, "
        f"so no paper numbers stand beside them."
    )


def factor_counts_text(counts: pd.Series) -> str:
    """``"factor n, factor n, ..."``: how many evaluated images carry each ImageNet-X factor."""
    return ", ".join(f"{factor} {int(n)}" for factor, n in counts.items())


def imagenet_paragraph(real_table: pd.DataFrame, ratios: pd.DataFrame) -> str:
    """Chapter 8: per model (mean over seeds), ReaL error against clean error, and the ImageNet-X
    factor with the highest error ratio and how many factors exceed 1.

    real_table: :func:`labelaug_core.report.imagenet.real_error_table` (index (method, seed),
    columns ``clean_err``, ``real_err`` %). ratios: error ratios, one row per model (method key),
    one column per factor (NaN where no image has the factor).
    """
    real = real_table.groupby(level="method", sort=False).mean()
    lines = []
    for m, row in real.iterrows():
        line = (f"- **{method_label(m)}**: ReaL error {row['real_err']:.2f}% against {row['clean_err']:.2f}% with the "
                f"original labels ({row['real_err'] - row['clean_err']:+.2f} pp)")
        if m in ratios.index:
            r = ratios.loc[m].dropna().astype(float)
            if len(r):
                line += (f"; hardest ImageNet-X factor **{r.idxmax()}** (error ratio {r.max():.2f}), "
                         f"{int((r > 1).sum())} of {len(r)} factors above 1")
        lines.append(line + ".")
    return "\n".join(lines)


# --- Chapter 11: the weakest-class defences in one sentence ---
