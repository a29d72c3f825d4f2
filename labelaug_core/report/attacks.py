"""Chapter 1, adversarial examples: FGSM and PGD images of a few test images, the ε slider of every
model's PGD images, and error against ε and the number of PGD steps, in figures and in words.

The attacks themselves run in :mod:`labelaug_core.evaluation.examples` (and
:func:`labelaug_core.evaluation.metrics.error_curve`); this module draws and words their output.
Errors are percentages; ε is on the [0, 1] pixel scale.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from labelaug_core.evaluation.examples import AttackedBatch
from labelaug_core.report.style import COLUMN_INCHES, PALETTE, SMALL_PT, closing, gray_image, listing, method_label


def adversarial_grid(x: np.ndarray, x_adv_by_name: dict[str, np.ndarray], labels: list[str], preds: dict[str, list[str]]) -> plt.Figure:
    """Rows: examples; columns: clean, then for each attack the perturbation and the adversarial image.

    x and every x_adv: (N, C, H, W) in [0, 1]. Perturbations are shown rescaled to [0, 1].
    """
    n = x.shape[0]
    cols = 1 + 2 * len(x_adv_by_name)
    width = min(COLUMN_INCHES, 1.3 * cols)
    fig, axes = plt.subplots(n, cols, figsize=(width, width / cols * 1.25 * n), squeeze=False, layout="constrained")

    def show(ax, img, title):
        img = img.transpose(1, 2, 0)
        ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=SMALL_PT)
        ax.axis("off")

    for i in range(n):
        show(axes[i, 0], x[i], f"clean: {preds['clean'][i]}\n(true {labels[i]})")
        for j, (name, xa) in enumerate(x_adv_by_name.items()):
            pert = xa[i] - x[i]
            scale = max(float(np.abs(pert).max()), 1e-12)
            show(axes[i, 1 + 2 * j], pert / (2 * scale) + 0.5, f"{name} perturbation")
            show(axes[i, 2 + 2 * j], xa[i], f"{name}: {preds[name][i]}")
    return fig


def adversarial_examples(x, y, examples: tuple[dict[str, np.ndarray], dict[str, list[int]]], class_names) -> plt.Figure:
    """The FGSM and PGD images of ``x`` ((N, C, H, W) in [0, 1], labels ``y`` (N,)) drawn by
    :func:`adversarial_grid`, with the true class and the class the model predicts for the clean and
    each attacked image. ``examples``: :func:`labelaug_core.evaluation.examples.fgsm_pgd_examples`
    of the same images (attacked images, predicted class indices)."""
    attacked, preds = examples
    names = list(class_names)
    return adversarial_grid(x.detach().cpu().numpy(), attacked, [names[i] for i in y.tolist()],
                            {k: [names[i] for i in v] for k, v in preds.items()})


def eps_example_figure(x: np.ndarray, y: np.ndarray, attacked: dict[str, AttackedBatch], eps: float, eps_max: float,
                       class_names, steps: int) -> plt.Figure:
    """One ε of the adversarial-example slider. Rows: the images of ``x`` ((N, C, H, W) in [0, 1], true
    classes ``y``); columns: the clean image, then per model its perturbation ``x_adv - x`` (first
    channel, on one colour scale ±``eps_max`` for every ε, so the slider shows it grow) and its PGD
    image titled with the prediction and its confidence (%)."""
    names = list(class_names)
    n, cols = len(x), 1 + 2 * len(attacked)
    # Model names head the columns once (first row); each image is titled with what the model
    # predicts for it and how sure it is, on two short lines that fit a column of the text width.
    fig, axes = plt.subplots(n, cols, figsize=(COLUMN_INCHES, 1.35 * n + 0.7), squeeze=False,
                             layout="constrained")
    scale = max(float(eps_max), 1e-12)
    for i in range(n):
        gray_image(axes[i, 0], x[i], ("clean\n" if i == 0 else "") + f"true:\n{names[int(y[i])]}")
        for j, (method, batch) in enumerate(attacked.items()):
            name = method_label(method)
            pert = gray_image(axes[i, 1 + 2 * j], (batch.x_adv[i] - x[i])[:1], f"{name}\nδx" if i == 0 else "",
                              cmap="RdBu_r", vmin=-scale, vmax=scale)
            mark = "" if batch.pred[i] == y[i] else " ✗"
            gray_image(axes[i, 2 + 2 * j], batch.x_adv[i], (f"{name}\n" if i == 0 else "")
                       + f"{names[int(batch.pred[i])]}{mark}\n{batch.confidence[i]:.0f}% sure")
    bar = fig.colorbar(pert, ax=axes.ravel().tolist(), shrink=0.8)
    bar.set_label("δx (pixel units)", fontsize=SMALL_PT)
    bar.ax.tick_params(labelsize=SMALL_PT)
    fig.suptitle(f"PGD-{steps} at ε = {eps:g} (pixel units)", fontsize=10)
    return fig


def eps_example_views(x, y, examples: dict[float, dict[str, AttackedBatch]], class_names,
                      *, steps: int) -> dict[float, plt.Figure]:
    """``{eps: eps_example_figure}`` of :func:`attack_examples`' output, one colour scale for all ε."""
    xs, ys = x.detach().cpu().numpy(), y.detach().cpu().numpy()
    eps_max = max(examples)
    return {eps: closing(eps_example_figure(xs, ys, attacked, eps, eps_max, class_names, steps))
            for eps, attacked in examples.items()}


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


def steps_curve_figure(curves: pd.DataFrame, steps: int) -> plt.Figure:
    """PGD-``steps`` error (%) against ε of each model (bold, the model's colour) over the curves of
    the other step counts (faint), from :func:`steps_error_curves`."""
    fig, ax = plt.subplots(figsize=(5.2, 3.3))
    for (method, s), group in curves.groupby(["method", "steps"], sort=False):
        name = method_label(method)
        bold = s == steps
        ax.plot(group["eps"], group["pgd_err"], marker="o" if bold else None, lw=2 if bold else 0.8,
                alpha=1.0 if bold else 0.25, color=PALETTE.get(name), label=f"{name}, PGD-{s}" if bold else None)
    ax.set(xlabel="ε (pixel units)", ylabel="error (%)", ylim=(0, 101), title=f"error against ε with PGD-{steps}")
    ax.legend(fontsize=SMALL_PT)
    fig.tight_layout()
    return fig


def steps_curve_views(curves: pd.DataFrame) -> dict[int, plt.Figure]:
    """``{steps: steps_curve_figure}`` for every step count of ``curves``, in their order."""
    return {int(s): closing(steps_curve_figure(curves, int(s))) for s in curves["steps"].unique()}


# --- chapters 4 and 5: one class, one δ --------------------------------------------------------------


def largest_radius_sentence(pgd_err: float) -> str:
    """Chapter 1: the PGD error (%) at the largest radius, in words that say the number shown: all
    images (100%), near all (>= 95%), or short of it, which a working attack should not be."""
    if pgd_err >= 99.95:
        return ("At the largest radius PGD misclassifies every image (100%), as a working attack must once "
                "the ball is large enough.")
    if pgd_err >= 95:
        return (f"At the largest radius PGD misclassifies {pgd_err:.1f}% of the images, close to the 100% a "
                "working attack reaches once the ball is large enough.")
    return (f"At the largest radius PGD misclassifies only {pgd_err:.1f}% of the images: an attack that works "
            "drives any model towards 100% as ε grows; the checks of {numref}`ch-trustworthy-evaluation` "
            "look into it.")


def error_curve_paragraph(eps_rows: list[dict], step_rows: list[dict], model: str = "Std") -> str:
    """Chapter 1: how the error of ``model`` grows with ε and with the number of PGD steps.

    eps_rows / step_rows: rows of :func:`labelaug_core.evaluation.metrics.error_curve` (keys ``eps``,
    ``steps``, ``pgd_err``, ``fgsm_err``; errors %) over ε at fixed steps, and over steps at fixed ε.
    States the error at the smallest and largest ε, every radius where PGD error falls as ε grows
    or where PGD is below FGSM (neither should happen for a sound attack), the error at the largest
    radius (:func:`largest_radius_sentence`), and the change from fewest to most steps.
    """
    parts = []
    e = pd.DataFrame(eps_rows)
    if len(e):
        e = e.sort_values("eps").reset_index(drop=True)
        first, last = e.iloc[0], e.iloc[-1]
        start = ("Without an attack (ε = 0)" if first["eps"] == 0 else f"At ε = {first['eps']:g}")
        parts.append(f"{start} the {model} model errs on **{first['pgd_err']:.1f}%** of the images; at "
                     f"ε = {last['eps']:g}, PGD-{int(last['steps'])} raises this to **{last['pgd_err']:.1f}%** "
                     f"and FGSM to {last['fgsm_err']:.1f}%.")
        falls = [f"{a:g} → {b:g}" for a, b, d in zip(e["eps"], e["eps"][1:], e["pgd_err"].diff()[1:]) if d < 0]
        parts.append("PGD error rises (or stays) with every larger ε." if not falls else
                     f"PGD error *falls* as ε grows from {listing(falls)}: a sound attack cannot do worse with a "
                     "larger ball, so this is noise on few images or a sign of masked gradients.")
        weaker = e.loc[e["pgd_err"] < e["fgsm_err"], "eps"]
        parts.append("PGD is at least as strong as FGSM at every radius." if weaker.empty else
                     f"PGD is *below* FGSM at ε = {listing([f'{v:g}' for v in weaker])}: the one-step attack "
                     "finding more than the iterated one is a warning sign.")
        if len(e) > 1:
            parts.append(largest_radius_sentence(float(last["pgd_err"])))
    s = pd.DataFrame(step_rows)
    if len(s):
        s = s.sort_values("steps").reset_index(drop=True)
        few, many = s.iloc[0], s.iloc[-1]
        parts.append(f"At ε = {few['eps']:g}, PGD-{int(few['steps'])} errs on {few['pgd_err']:.1f}% and "
                     f"PGD-{int(many['steps'])} on {many['pgd_err']:.1f}% "
                     f"({many['pgd_err'] - few['pgd_err']:+.1f} pp).")
        steps, drops = s["steps"], s["pgd_err"].diff()[1:]
        worse = [f"{int(a)} → {int(b)}" for a, b, d in zip(steps, steps[1:], drops) if d < 0]
        if worse:
            parts.append(f"More steps found *fewer* adversarial images from {listing(worse)} steps; with one "
                         "random start per run, a drop of a few images is noise, a large one is suspicious.")
    return " ".join(parts)


# --- Chapter 2: training curves and the entropy floor of the soft target ---
