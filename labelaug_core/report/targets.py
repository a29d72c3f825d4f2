"""Chapter 2, label-augmentation targets and training: the K + M target of an adversarial image for
each δ (figures; the numbers in :mod:`labelaug_core.evaluation.targets`), the training curves, and
the training's last epoch against the entropy floor of the soft target, in words. Losses in nats,
errors in percent.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from labelaug_core.evaluation.targets import target_vector_values
from labelaug_core.report.style import COLUMN_INCHES, PALETTE, SMALL_PT, closing, method_label


def target_vector(delta: float, num_classes: int, num_ops: int, label: int = 0, op: int = 0, ax=None) -> plt.Figure:
    """Bar plot of the K + M label-augmentation target of one adversarial image."""
    t = target_vector_values(delta, num_classes, num_ops, label, op)
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 2.6))
    colours = ["#4c72b0"] * num_classes + ["#dd8452"] * num_ops
    ax.bar(np.arange(len(t)), t, color=colours)
    ax.set_xticks(np.arange(len(t)), [f"y{k}" for k in range(num_classes)] + [f"op{j}" for j in range(num_ops)],
                  fontsize=SMALL_PT)
    ax.set(ylim=(0, 1.05), ylabel="target", title=f"target of an adversarial image of class {label}, δ = {delta:g}")
    for i, v in enumerate(t):
        if v > 0:
            ax.text(i, v + 0.02, f"{v:.2f}", ha="center", fontsize=SMALL_PT)
    if fig is not None:
        fig.tight_layout()
    return fig if fig is not None else ax.figure


def target_vector_figures(deltas, num_classes: int, num_ops: int, label: int = 0) -> dict[float, plt.Figure]:
    """``{δ: :func:`target_vector` figure}`` for each δ of ``deltas`` (closed, ready for
    :func:`labelaug_core.report.widgets.slider_of_figures`)."""
    return {d: closing(target_vector(d, num_classes, num_ops, label=label)) for d in deltas}


def training_curves(runs_by_method: dict) -> plt.Figure:
    """Training loss and training error (on the images trained on) per epoch, per method."""
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(COLUMN_INCHES, 3.0), layout="constrained")
    for method, runs in runs_by_method.items():
        name = method_label(method)
        for i, run in enumerate(runs):
            h = run.history
            kw = dict(color=PALETTE.get(name), label=name if i == 0 else None, marker="o")
            ax_loss.plot(h["epoch"], h["train_loss"], **kw)
            ax_err.plot(h["epoch"], h["train_err"], **kw)
    ax_loss.set(xlabel="epoch", ylabel="training loss")
    ax_err.set(xlabel="epoch", ylabel="training error (%)")
    ax_err.set_title("on the images trained on", fontsize=SMALL_PT + 1)
    ax_loss.legend(fontsize=SMALL_PT + 1)
    return fig


def entropy_floor(delta: float) -> float:
    """``H(t) = -(1 - δ) log(1 - δ) - δ log δ`` (nats): the smallest value the label-augmentation
    loss of an adversarial image can reach (its target has mass 1 - δ and δ); 0 for δ = 0."""
    if not 0 <= delta < 1:
        raise ValueError(f"delta must be in [0, 1); got {delta}")
    return float(-sum(p * math.log(p) for p in (1 - delta, delta) if p > 0))


def training_paragraph(runs_by_method: dict) -> str:
    """Chapter 2: each regime's training loss and training error at its last epoch (mean over seeds),
    and for Adv+ the part of its loss that is the floor :func:`entropy_floor` of its δ.

    runs_by_method: ``{method: [run per seed]}``; each run has ``history`` (a table with columns
    ``train_loss``, nats, and ``train_err``, %, one row per epoch) and ``config.delta``.
    """
    final = {}
    for method, runs in runs_by_method.items():
        last = pd.DataFrame([r.history.iloc[-1][["train_loss", "train_err"]] for r in runs]).mean()
        final[method] = (float(last["train_loss"]), float(last["train_err"]), float(runs[0].config.delta))
    epochs = int(len(next(iter(runs_by_method.values()))[0].history))
    text = [f"After {epochs} epoch{'s' if epochs != 1 else ''}: " + "; ".join(
        f"{method_label(m)} loss {loss:.3f} nats, training error {err:.1f}%" for m, (loss, err, _) in final.items()) + "."]
    if "advplus" in final:
        loss, _, delta = final["advplus"]
        floor = entropy_floor(delta)
        text.append(f"Adv+ (δ = {delta:g}) cannot go below H(t) = {floor:.3f} nats; above that floor its loss is "
                    f"{loss - floor:.3f} nats" + (f", against Adv's {final['adv'][0]:.3f} nats." if "adv" in final
                                                   else "."))
    return " ".join(text)


# --- Chapter 4: the weakest classes ---
