"""Figures of the book, drawn from run files (never from hard-coded numbers).

Each function returns a matplotlib Figure; notebooks show it (or hand a dict of them to
:func:`labelaug_core.widgets.slider_of_figures`).
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: notebooks render inline, scripts write files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from labelaug_core.losses import augmented_targets  # noqa: E402
from labelaug_core.reporting import METHOD_NAMES  # noqa: E402

PALETTE = {"Std": "#8c8c8c", "Adv": "#4c72b0", "Adv+": "#dd8452"}


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
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.5 * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        sns.barplot(data=frame[frame["metric"] == metric], x="class", y="err", hue="method", ax=ax,
                    palette=PALETTE, errorbar=None)
        ax.set(title=titles.get(metric, metric), xlabel="", ylabel="error (%)", ylim=(0, 100))
        ax.tick_params(axis="x", rotation=45)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    fig.tight_layout()
    return fig


def training_curves(runs_by_method: dict) -> plt.Figure:
    """Training loss and training error (on the images trained on) per epoch, per method."""
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(11, 3.8))
    for method, runs in runs_by_method.items():
        name = METHOD_NAMES.get(method, method)
        for i, run in enumerate(runs):
            h = run.history
            kw = dict(color=PALETTE.get(name), label=name if i == 0 else None, marker="o")
            ax_loss.plot(h["epoch"], h["train_loss"], **kw)
            ax_err.plot(h["epoch"], h["train_err"], **kw)
    ax_loss.set(xlabel="epoch", ylabel="training loss")
    ax_err.set(xlabel="epoch", ylabel="training error (%)\n(adversarial images for Adv, Adv+)")
    ax_loss.legend()
    fig.tight_layout()
    return fig


def target_vector(delta: float, num_classes: int, num_ops: int, label: int = 0, op: int = 0, ax=None) -> plt.Figure:
    """Bar plot of the K + M label-augmentation target of one adversarial image."""
    import torch

    t = augmented_targets(torch.tensor([label]), torch.tensor([op]), num_classes, num_ops, delta)[0].numpy()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 2.6))
    colours = ["#4c72b0"] * num_classes + ["#dd8452"] * num_ops
    ax.bar(np.arange(len(t)), t, color=colours)
    ax.set_xticks(np.arange(len(t)), [f"y{k}" for k in range(num_classes)] + [f"op{j}" for j in range(num_ops)], fontsize=8)
    ax.set(ylim=(0, 1.05), ylabel="target", title=f"target of an adversarial image of class {label}, δ = {delta:g}")
    for i, v in enumerate(t):
        if v > 0:
            ax.text(i, v + 0.02, f"{v:.2f}", ha="center", fontsize=8)
    if fig is not None:
        fig.tight_layout()
    return fig if fig is not None else ax.figure


def error_curve_plot(rows: list[dict], x: str) -> plt.Figure:
    """FGSM/PGD error against ``x`` ("eps" or "steps") from :func:`labelaug_core.evaluate.error_curve` rows."""
    frame = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(frame[x], frame["pgd_err"], marker="o", label="PGD")
    if x == "eps":
        ax.plot(frame[x], frame["fgsm_err"], marker="s", label="FGSM")
    ax.set(xlabel="eps (pixel units)" if x == "eps" else "PGD steps", ylabel="error (%)", ylim=(0, 101))
    ax.legend()
    fig.tight_layout()
    return fig


def adversarial_grid(x: np.ndarray, x_adv_by_name: dict[str, np.ndarray], labels: list[str], preds: dict[str, list[str]]) -> plt.Figure:
    """Rows: examples; columns: clean, then for each attack the perturbation and the adversarial image.

    x and every x_adv: (N, C, H, W) in [0, 1]. Perturbations are shown rescaled to [0, 1].
    """
    n = x.shape[0]
    cols = 1 + 2 * len(x_adv_by_name)
    fig, axes = plt.subplots(n, cols, figsize=(1.9 * cols, 1.9 * n), squeeze=False)

    def show(ax, img, title):
        img = img.transpose(1, 2, 0)
        ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
        ax.axis("off")

    for i in range(n):
        show(axes[i, 0], x[i], f"clean: {preds['clean'][i]}\n(true {labels[i]})")
        for j, (name, xa) in enumerate(x_adv_by_name.items()):
            pert = xa[i] - x[i]
            scale = max(float(np.abs(pert).max()), 1e-12)
            show(axes[i, 1 + 2 * j], pert / (2 * scale) + 0.5, f"{name} perturbation")
            show(axes[i, 2 + 2 * j], xa[i], f"{name}: {preds[name][i]}")
    fig.tight_layout()
    return fig


# --- Corruptions (the paper's Fig. 2) and ImageNet (Figs. 1, 3, 4) -------------------------------

def _method_label(method: str) -> str:
    return METHOD_NAMES.get(method, method)


def corruption_heatmaps(errors_by_method: dict[str, pd.DataFrame]) -> plt.Figure:
    """The paper's Figure 2: ``E_{c,s}`` (percent) as corruption x severity heatmaps, one per method.

    errors_by_method: method -> table of :func:`labelaug_core.corruptions.corruption_errors`.
    One colour scale for all panels, so colours compare across methods.
    """
    grids = {m: df.pivot_table(index="corruption", columns="severity", values="err", sort=False)
             for m, df in errors_by_method.items()}
    vmin = min(g.min().min() for g in grids.values())
    vmax = max(g.max().max() for g in grids.values())
    fig, axes = plt.subplots(1, len(grids), figsize=(3.6 * len(grids) + 0.8, 6.2), squeeze=False, sharey=True)
    for i, (ax, (method, grid)) in enumerate(zip(axes[0], grids.items())):
        sns.heatmap(grid, ax=ax, vmin=vmin, vmax=vmax, cmap="rocket_r", annot=True, fmt=".0f",
                    annot_kws={"fontsize": 7}, cbar=i == len(grids) - 1, cbar_kws={"label": "error (%)"})
        ax.set(title=_method_label(method), xlabel="severity", ylabel="" if i else "corruption")
    fig.tight_layout()
    return fig


def corruption_ce_bars(errors_by_method: dict[str, pd.DataFrame]) -> plt.Figure:
    """``CE_c`` (mean error over severities, percent) per corruption, one bar per method; mCE in the legend."""
    from labelaug_core.corruptions import mce

    rows = []
    for method, df in errors_by_method.items():
        ce, m = mce(df)
        label = f"{_method_label(method)} (mCE {m:.1f})"
        rows += [{"corruption": c, "CE": v, "method": label, "colour": PALETTE.get(_method_label(method))}
                 for c, v in ce.items()]
    frame = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(11, 3.8))
    palette = dict(zip(frame["method"], frame["colour"])) if frame["colour"].notna().all() else None
    sns.barplot(data=frame, x="corruption", y="CE", hue="method", ax=ax, palette=palette)
    ax.set(xlabel="", ylabel="CE (%): mean over severities", ylim=(0, 100))
    ax.tick_params(axis="x", rotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    fig.tight_layout()
    return fig


def corruption_grid(image: np.ndarray, corrupted: dict[tuple[str, int], np.ndarray]) -> plt.Figure:
    """One test image, clean and under every corruption (rows) and severity 1-5 (columns).

    image and every value of ``corrupted`` ((corruption, severity) -> image): uint8 (C, H, W).
    """
    corruptions = list(dict.fromkeys(c for c, _ in corrupted))
    severities = sorted({s for _, s in corrupted})
    fig, axes = plt.subplots(len(corruptions), 1 + len(severities), figsize=(1.25 * (1 + len(severities)) + 1.4,
                                                                              1.25 * len(corruptions)), squeeze=False)

    def show(ax, img):
        img = np.asarray(img).transpose(1, 2, 0)
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=255)
        ax.set_xticks([])
        ax.set_yticks([])

    for i, c in enumerate(corruptions):
        show(axes[i, 0], image)
        axes[i, 0].set_ylabel(c.replace("_", " "), rotation=0, ha="right", va="center", fontsize=9)
        for j, s in enumerate(severities):
            show(axes[i, 1 + j], corrupted[(c, s)])
    axes[0, 0].set_title("clean", fontsize=9)
    for j, s in enumerate(severities):
        axes[0, 1 + j].set_title(f"severity {s}", fontsize=9)
    fig.tight_layout()
    return fig


def per_class_sorted(panels: dict[str, dict[str, np.ndarray]], ylim=(0, 100)) -> plt.Figure:
    """Per-class error sorted from best to worst class, one line per method, one panel per metric.

    panels: title -> {method -> (K,) per-class errors in percent}. For many classes (ImageNet's
    1000) this shows the spread that Table 2's SD summarises: the paper's Figure 1 (clean, ReaL,
    PGD-40).
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False, sharey=True)
    for ax, (title, by_method) in zip(axes[0], panels.items()):
        for method, errs in by_method.items():
            errs = np.sort(np.asarray(errs, dtype=float)[~np.isnan(np.asarray(errs, dtype=float))])
            name = _method_label(method)
            ax.plot(np.arange(1, len(errs) + 1), errs, color=PALETTE.get(name), label=f"{name} (SD {np.std(errs):.1f})",
                    marker="o" if len(errs) <= 20 else None)
        ax.set(title=title, xlabel="class rank (best to worst)", ylim=ylim)
        ax.legend(fontsize=8)
    axes[0, 0].set_ylabel("per-class error (%)")
    fig.tight_layout()
    return fig


def factor_bars(table: pd.DataFrame, ylabel: str, *, reference: float | None = None) -> plt.Figure:
    """One bar per (ImageNet-X factor, method): the paper's Figures 3 (error) and 4 (error ratio).

    table: one row per method (index), one column per factor. ``reference`` draws a horizontal
    line (1 for error ratios: above it, the factor is harder than the average image).
    """
    frame = table.rename(index=_method_label).rename_axis("method").reset_index().melt(
        id_vars="method", var_name="factor", value_name="value")
    fig, ax = plt.subplots(figsize=(12, 3.8))
    palette = {m: PALETTE[m] for m in frame["method"].unique() if m in PALETTE}
    sns.barplot(data=frame, x="factor", y="value", hue="method", ax=ax,
                palette=palette if len(palette) == frame["method"].nunique() else None)
    if reference is not None:
        ax.axhline(reference, color="black", lw=0.8, ls="--")
    ax.set(xlabel="", ylabel=ylabel)
    ax.tick_params(axis="x", rotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    fig.tight_layout()
    return fig
