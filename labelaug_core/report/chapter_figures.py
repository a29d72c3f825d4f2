"""Per-chapter figures: the adversarial examples, the label-augmentation target slider, the δ
explorer and the weakest-class defence lines. Axes labelled with units."""
from __future__ import annotations

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from labelaug_core.report.figures import (
    ERROR_PALETTE,
    PALETTE,
    _method_label,
    adversarial_grid,
    defence_class_lines,
    target_vector,
)


def target_vector_figures(deltas, num_classes: int, num_ops: int, label: int = 0) -> dict[float, plt.Figure]:
    """``{δ: :func:`target_vector` figure}`` for each δ of ``deltas`` (closed, ready for
    :func:`labelaug_core.report.widgets.slider_of_figures`)."""
    figures = {}
    for d in deltas:
        figures[d] = target_vector(d, num_classes, num_ops, label=label)
        plt.close(figures[d])
    return figures


def adversarial_examples(model, x, y, eps: float, class_names, steps: int = 10) -> plt.Figure:
    """FGSM and PGD-``steps`` (step ``2.5 eps / steps``) images of ``x`` ((N, C, H, W) in [0, 1], labels
    ``y`` (N,)) at L-inf radius ``eps``, drawn by :func:`adversarial_grid` with the true class and the
    class the model predicts (argmax of its first K logits) for the clean and each attacked image."""
    import torch

    from labelaug_core.attacks.pgd import fgsm, pgd

    attacked = {"FGSM": fgsm(model, x, y, eps), f"PGD-{steps}": pgd(model, x, y, eps, 2.5 * eps / steps, steps)}
    names = list(class_names)
    with torch.no_grad():
        preds = {k: [names[i] for i in model(v)[:, :model.num_classes].argmax(1).tolist()]
                 for k, v in {"clean": x, **attacked}.items()}
    return adversarial_grid(x.detach().cpu().numpy(), {k: v.detach().cpu().numpy() for k, v in attacked.items()},
                            [names[i] for i in y.tolist()], preds)


def _mean_metric(runs, key: str) -> float:
    return float(np.mean([r.metrics[key] for r in runs]))


def delta_explorer_figure(delta: float, sweep: dict, base: dict) -> plt.Figure:
    """One δ of the δ explorer (chapter 5), three panels:

    - top left, the K + M target of an adversarial image at ``delta`` (:func:`target_vector`);
    - top right, clean against PGD error (%) of Std and Adv (``base``: ``{"std": [...], "adv": [...]}``
      runs, mean over seeds) and of Adv+ at every δ of ``sweep`` (a line; ``delta`` a star);
    - bottom, the per-class clean and PGD error (%) of Adv+ at ``delta`` (mean over its seeds).

    ``sweep``: ``{δ: [Adv+ run per seed]}`` (:func:`~labelaug_core.report.tables.delta_sweep_runs`).
    """
    runs = sweep[delta]
    first = runs[0]
    names = list(first.per_class["name"])
    k, m = len(names), first.config.num_ops
    attack = f"PGD-{first.config.eval_steps}"
    fig = plt.figure(figsize=(12, 6.5))
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 1.2])
    target_vector(delta, k, m, ax=fig.add_subplot(grid[0, 0]))
    ax = fig.add_subplot(grid[0, 1])
    for method, group in base.items():
        name = _method_label(method)
        ax.scatter(_mean_metric(group, "clean_err"), _mean_metric(group, "pgd_err"), color=PALETTE.get(name), s=60,
                   label=name)
    deltas = sorted(sweep)
    ax.plot([_mean_metric(sweep[d], "clean_err") for d in deltas], [_mean_metric(sweep[d], "pgd_err") for d in deltas],
            color=PALETTE["Adv+"], alpha=0.4, marker=".")
    ax.scatter(_mean_metric(runs, "clean_err"), _mean_metric(runs, "pgd_err"), color=PALETTE["Adv+"], s=140,
               marker="*", label=f"Adv+ δ={delta:g}")
    ax.set(xlabel="clean error (%)", ylabel=f"{attack} error (%)", title="clean vs robust error")
    ax.legend(fontsize=8)
    ax = fig.add_subplot(grid[1, :])
    per_class = sum(r.per_class[["clean_err", "pgd_err"]] for r in runs) / len(runs)
    xs = np.arange(k)
    ax.bar(xs - 0.2, per_class["clean_err"], width=0.4, label="clean", color=ERROR_PALETTE["clean"])
    ax.bar(xs + 0.2, per_class["pgd_err"], width=0.4, label=attack, color=ERROR_PALETTE["PGD"])
    ax.set_xticks(xs, names, rotation=30, ha="right")
    ax.set(ylabel="error (%)", ylim=(0, 100), title=f"per-class error of Adv+ with δ = {delta:g}")
    ax.legend()
    fig.tight_layout()
    return fig


def delta_explorer_figures(sweep: dict, base: dict) -> dict[float, plt.Figure]:
    """``{δ: :func:`delta_explorer_figure`}`` for every δ of ``sweep`` (closed, ready for
    :func:`labelaug_core.report.widgets.slider_of_figures`)."""
    figures = {}
    for d in sweep:
        figures[d] = delta_explorer_figure(d, sweep, base)
        plt.close(figures[d])
    return figures


def defence_robust_lines(rows: dict[str, list[pd.DataFrame]], class_names, weak_classes=()) -> plt.Figure:
    """:func:`defence_class_lines` of per-class error tables: each label's robust accuracy is
    100 - its ``pgd_err`` (%), mean over its tables (seeds); ``rows`` as for
    :func:`labelaug_core.report.defence_table`."""
    robust = {label: 100 - np.mean([t["pgd_err"].to_numpy(dtype=float) for t in tables], axis=0)
              for label, tables in rows.items()}
    return defence_class_lines(robust, class_names, weak_classes=weak_classes)

