"""Figures of the book, drawn from run files (never from hard-coded numbers).

Each function returns a matplotlib Figure; notebooks show it (or hand a dict of them to
:func:`labelaug_core.widgets.slider_of_figures`).
"""
from __future__ import annotations

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from labelaug_core.losses import augmented_targets  # noqa: E402
from labelaug_core.report.tables import METHOD_NAMES  # noqa: E402

PALETTE = {"Std": "#8c8c8c", "Adv": "#4c72b0", "Adv+": "#dd8452"}

# Colours of the clean and the attacked error of one model (bars side by side), apart from PALETTE's.
ERROR_PALETTE = {"clean": "#55a868", "PGD": "#c44e52"}


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


def _legend_above_and_slanted_ticks(ax, ncol: int) -> None:
    """A one-row legend above the axes and x tick labels slanted by 45 degrees, right-aligned."""
    ax.legend(title="", ncol=ncol, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.tick_params(axis="x", rotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")


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
    from labelaug_core.evaluation.corrupted_sets import mce

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
    _legend_above_and_slanted_ticks(ax, len(errors_by_method))
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
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
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
    _legend_above_and_slanted_ticks(ax, len(table))
    fig.tight_layout()
    return fig


def adversarial_confusion_heatmaps(matrices: dict[str, pd.DataFrame]) -> plt.Figure:
    """Adversarial confusion: for each model (key: method), the share (%) of each true class's
    adversarial images sent to each class (rows: true class), as from
    :func:`labelaug_core.classwise.adversarial_flows`. One colour scale for all panels."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(5.2 * len(matrices) + 0.8, 4.8), squeeze=False, sharey=True)
    for i, (ax, (method, matrix)) in enumerate(zip(axes[0], matrices.items())):
        sns.heatmap(matrix, ax=ax, vmin=0, vmax=100, cmap="rocket_r", annot=len(matrix) <= 12, fmt=".0f",
                    annot_kws={"fontsize": 7}, cbar=i == len(matrices) - 1, cbar_kws={"label": "share of the class (%)"})
        ax.set(title=_method_label(method), xlabel="sent to", ylabel="true class" if i == 0 else "")
    fig.tight_layout()
    return fig


def weight_norm_scatter(frames: dict[str, pd.DataFrame]) -> plt.Figure:
    """Per-class robust accuracy against the norm of the class's classifier weight row, one panel
    per model (key: method). Each frame: columns ``name``, ``norm``, ``robust_acc`` (%); the
    Pearson r is computed here and shown in the title."""
    fig, axes = plt.subplots(1, len(frames), figsize=(4.4 * len(frames), 3.8), squeeze=False)
    for ax, (method, frame) in zip(axes[0], frames.items()):
        name = _method_label(method)
        ax.scatter(frame["norm"], frame["robust_acc"], color=PALETTE.get(name, "#4c72b0"))
        for _, row in frame.iterrows():
            ax.annotate(str(row["name"]), (row["norm"], row["robust_acc"]), fontsize=7, xytext=(3, 2),
                        textcoords="offset points")
        r = np.corrcoef(frame["norm"], frame["robust_acc"])[0, 1] if frame["robust_acc"].std() > 0 else float("nan")
        ax.set(title=f"{name}: Pearson r = {r:.2f}", xlabel="weight-row norm ||w_k||", ylabel="robust accuracy (%)")
    fig.tight_layout()
    return fig


def attack_ladder_lines(ladders: dict[str, pd.DataFrame], rungs=("clean", "fgsm", "pgd-10", "pgd-40", "ensemble")) -> plt.Figure:
    """Per-class error (%) under each attack of a ladder, one line per attack, one panel per model
    (key: method); classes sorted by their error under the strongest attack. Each ladder is
    :func:`labelaug_core.verdict.ladder_table`."""
    fig, axes = plt.subplots(1, len(ladders), figsize=(5.2 * len(ladders), 3.9), squeeze=False, sharey=True)
    colours = sns.color_palette("viridis", len(rungs))
    for ax, (method, ladder) in zip(axes[0], ladders.items()):
        ordered = ladder.sort_values(f"{rungs[-1]}_err", kind="stable")
        for colour, rung in zip(colours, rungs):
            ax.plot(ordered["class"], ordered[f"{rung}_err"], marker="o", color=colour, label=rung)
        ax.set(title=_method_label(method), xlabel="", ylim=(0, 101))
        ax.tick_params(axis="x", rotation=45)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    axes[0, 0].set_ylabel("per-class error (%)")
    axes[0, -1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def temperature_curves(sweeps: dict[str, pd.DataFrame], class_names) -> plt.Figure:
    """Temperature-PGD: overall attack success (%) against T for each model (left), and per model
    the per-class change of success (pp) relative to T = 1, plain PGD (heatmaps). Each sweep is
    :func:`labelaug_core.classwise.temperature_sweep`'s table and must include T = 1."""
    n = len(sweeps)
    fig, axes = plt.subplots(1, n + 1, figsize=(4.3 * (n + 1), 4.2), squeeze=False)
    ax = axes[0, 0]
    for method, sweep in sweeps.items():
        name = _method_label(method)
        ax.plot(sweep["temperature"], sweep["success_%"], marker="o", color=PALETTE.get(name), label=name)
    ax.axvline(1.0, color="black", lw=0.8, ls="--")
    ax.set(xscale="log", xlabel="temperature T", ylabel="attack success (%)", ylim=(0, 101), title="all classes")
    ax.legend(fontsize=8)
    columns = [f"class_{k}_success_%" for k in range(len(class_names))]
    deltas = {m: s.set_index("temperature")[columns].sub(s.set_index("temperature").loc[1.0, columns], axis=1)
              for m, s in sweeps.items()}
    bound = max(1.0, max(float(np.nanmax(np.abs(d.to_numpy()))) for d in deltas.values()))
    for i, (ax, (method, delta)) in enumerate(zip(axes[0, 1:], deltas.items())):
        grid = delta.T.set_axis(list(class_names), axis=0).set_axis([f"{t:g}" for t in delta.index], axis=1)
        sns.heatmap(grid, ax=ax, cmap="vlag", vmin=-bound, vmax=bound, annot=len(class_names) <= 12, fmt=".0f",
                    annot_kws={"fontsize": 7}, cbar=i == n - 1, cbar_kws={"label": "success - success at T = 1 (pp)"})
        ax.set(title=_method_label(method), xlabel="T", ylabel="")
    fig.tight_layout()
    return fig


def defence_class_lines(robust_acc: dict[str, np.ndarray], class_names, weak_classes=()) -> plt.Figure:
    """Per-class robust accuracy (%) of each model or defence (one line per key), the weak classes
    marked: does a defence lift the weakest class, and what do the others pay?"""
    fig, ax = plt.subplots(figsize=(9, 3.8))
    x = np.arange(len(class_names))
    for label, acc in robust_acc.items():
        ax.plot(x, acc, marker="o", label=label)
    for k in weak_classes:
        ax.axvspan(k - 0.4, k + 0.4, color="#dd8452", alpha=0.15)
    ax.set_xticks(x, list(class_names), rotation=45, ha="right")
    ax.set(ylabel="robust accuracy (%)", ylim=(0, 101))
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def show(fig: plt.Figure, *, dpi: int = 100) -> None:
    """Display ``fig`` in a notebook as a PNG and close it.

    Works whatever matplotlib backend is active (a script's Agg shows nothing by itself);
    closing the figure keeps an inline backend from showing it a second time.
    """
    from IPython.display import Image, display

    from labelaug_core.report.widgets import png_bytes

    display(Image(png_bytes(fig, dpi=dpi)))
    plt.close(fig)
