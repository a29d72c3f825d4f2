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
