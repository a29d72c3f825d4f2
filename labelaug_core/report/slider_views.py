"""The views behind the book's sliders: one small figure per value of a knob, precomputed at build time.

Each ``*_views`` function returns ``{value: closed matplotlib Figure}`` in the knob's order, ready for
:func:`labelaug_core.report.widgets.slider_of_figures` (or :func:`~labelaug_core.report.widgets.
selector_of_sliders` for two knobs), which renders them to PNG and switches between them in the
browser, with no kernel. Figures are small (a few inches wide) so that a page of many views stays light.
Errors, confidences and success rates are percentages; ε is on the [0, 1] pixel scale.
"""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from labelaug_core.errors import ConfigError
from labelaug_core.report.figures import ERROR_PALETTE, PALETTE, _method_label


def _closed(figures: dict) -> dict:
    for fig in figures.values():
        plt.close(fig)
    return figures


def _mean_per_class(runs, column: str) -> np.ndarray:
    """(K,) mean over seeds of a per-class column (%) of the runs."""
    return np.mean([r.per_class[column].to_numpy(dtype=float) for r in runs], axis=0)


# --- chapter 1: ε and PGD steps -------------------------------------------------------------------

@dataclass(frozen=True)
class AttackedBatch:
    """One model's PGD images of a batch at one ε: ``x_adv`` (N, C, H, W) in [0, 1], ``pred`` (N,) the
    predicted class (argmax of the first K logits) and ``confidence`` (N,) its softmax probability over
    the K classes, in percent."""

    x_adv: np.ndarray
    pred: np.ndarray
    confidence: np.ndarray


def first_models(runs_by_method: dict, *, data_dir: str | None = None, device: str | None = None) -> dict:
    """``{method: trained model of its first seed}`` (eval mode)."""
    from labelaug_core.runs.store import load_model

    return {method: load_model(runs[0].run_dir, device, data_dir=data_dir) for method, runs in runs_by_method.items()}


def attack_examples(models: dict, x: torch.Tensor, y: torch.Tensor, eps_values, *, steps: int,
                    seed: int = 0) -> dict[float, dict[str, AttackedBatch]]:
    """PGD-``steps`` images (step ``default_alpha(eps, steps)``, random start from a generator seeded
    with ``seed``) of ``x`` ((N, C, H, W) in [0, 1], labels ``y`` (N,)) for every model and ε:
    ``{eps: {method: AttackedBatch}}``. ε = 0 leaves the images clean."""
    from labelaug_core.attacks.pgd import pgd
    from labelaug_core.attacks.threat import default_alpha, generator_for

    if steps < 1:
        raise ConfigError(f"steps: must be >= 1; got {steps}")
    out: dict[float, dict[str, AttackedBatch]] = {}
    for eps in eps_values:
        out[float(eps)] = {}
        for method, model in models.items():
            xa = x if eps == 0 else pgd(model, x, y, float(eps), default_alpha(float(eps), steps), steps,
                                       generator=generator_for(x, seed))
            with torch.no_grad():
                prob = torch.softmax(model(xa)[:, :model.num_classes].float(), dim=1)
            confidence, pred = prob.max(dim=1)
            out[float(eps)][method] = AttackedBatch(xa.detach().cpu().numpy(), pred.cpu().numpy(),
                                                    100.0 * confidence.cpu().numpy())
    return out


def _gray(ax, img: np.ndarray, title: str, **kwargs):
    img = img.transpose(1, 2, 0)
    shown = ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, interpolation="nearest",
                      **({"cmap": "gray", "vmin": 0, "vmax": 1} | kwargs))
    ax.set_title(title, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    return shown


def eps_example_figure(x: np.ndarray, y: np.ndarray, attacked: dict[str, AttackedBatch], eps: float, eps_max: float,
                       class_names, steps: int) -> plt.Figure:
    """One ε of the adversarial-example slider. Rows: the images of ``x`` ((N, C, H, W) in [0, 1], true
    classes ``y``); columns: the clean image, then per model its perturbation ``x_adv - x`` (first
    channel, on one colour scale ±``eps_max`` for every ε, so the slider shows it grow) and its PGD
    image titled with the prediction and its confidence (%)."""
    names = list(class_names)
    n, cols = len(x), 1 + 2 * len(attacked)
    fig, axes = plt.subplots(n, cols, figsize=(1.15 * cols + 0.8, 1.3 * n + 0.4), squeeze=False,
                             layout="constrained")
    scale = max(float(eps_max), 1e-12)
    for i in range(n):
        _gray(axes[i, 0], x[i], f"clean\n(true {names[int(y[i])]})")
        for j, (method, batch) in enumerate(attacked.items()):
            pert = _gray(axes[i, 1 + 2 * j], (batch.x_adv[i] - x[i])[:1], f"{_method_label(method)} δx",
                         cmap="RdBu_r", vmin=-scale, vmax=scale)
            mark = "" if batch.pred[i] == y[i] else " ✗"
            _gray(axes[i, 2 + 2 * j], batch.x_adv[i],
                  f"{_method_label(method)}: {names[int(batch.pred[i])]}{mark}\n{batch.confidence[i]:.0f}% sure")
    fig.colorbar(pert, ax=axes.ravel().tolist(), shrink=0.8, label="perturbation (pixel units)")
    fig.suptitle(f"PGD-{steps} at ε = {eps:g} (pixel units)", fontsize=9)
    return fig


def eps_example_views(x: torch.Tensor, y: torch.Tensor, examples: dict[float, dict[str, AttackedBatch]], class_names,
                      *, steps: int) -> dict[float, plt.Figure]:
    """``{eps: eps_example_figure}`` of :func:`attack_examples`' output, one colour scale for all ε."""
    xs, ys = x.detach().cpu().numpy(), y.detach().cpu().numpy()
    eps_max = max(examples)
    return _closed({eps: eps_example_figure(xs, ys, attacked, eps, eps_max, class_names, steps)
                    for eps, attacked in examples.items()})


def steps_error_curves(models: dict, x: torch.Tensor, y: torch.Tensor, eps_values, steps_values) -> pd.DataFrame:
    """PGD and FGSM error (%) of every model against ε, once per number of PGD steps
    (:func:`labelaug_core.evaluation.metrics.error_curve`): columns ``method``, ``eps``, ``steps``,
    ``pgd_err``, ``fgsm_err``."""
    from labelaug_core.evaluation.metrics import error_curve

    rows = [{"method": method, **row} for s in steps_values for method, model in models.items()
            for row in error_curve(model, x, y, eps_values=eps_values, steps=int(s))]
    return pd.DataFrame(rows)


def steps_curve_figure(curves: pd.DataFrame, steps: int) -> plt.Figure:
    """PGD-``steps`` error (%) against ε of each model (bold, the model's colour) over the curves of
    the other step counts (faint), from :func:`steps_error_curves`."""
    fig, ax = plt.subplots(figsize=(5.2, 3.3))
    for (method, s), group in curves.groupby(["method", "steps"], sort=False):
        name = _method_label(method)
        bold = s == steps
        ax.plot(group["eps"], group["pgd_err"], marker="o" if bold else None, lw=2 if bold else 0.8,
                alpha=1.0 if bold else 0.25, color=PALETTE.get(name), label=f"{name}, PGD-{s}" if bold else None)
    ax.set(xlabel="ε (pixel units)", ylabel="error (%)", ylim=(0, 101), title=f"error against ε with PGD-{steps}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def steps_curve_views(curves: pd.DataFrame) -> dict[int, plt.Figure]:
    """``{steps: steps_curve_figure}`` for every step count of ``curves``, in their order."""
    return _closed({int(s): steps_curve_figure(curves, int(s)) for s in curves["steps"].unique()})


# --- chapters 4 and 5: one class, one δ --------------------------------------------------------------

def class_figure(k: int, errors: dict[str, tuple[np.ndarray, np.ndarray]], matrices: dict[str, pd.DataFrame],
                 attack: str) -> plt.Figure:
    """One class ``k`` of the class selector. Left: its clean and ``attack`` error (%) per model
    (``errors``: ``{method: ((K,) clean, (K,) attacked)}``); right: its row of each model's
    adversarial confusion matrix (``matrices``: ``{method: (K, K) share %}``): where its attacked
    images are sent."""
    names = list(next(iter(matrices.values())).index)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.0), width_ratios=[1, 2.4])
    xs = np.arange(len(errors))
    left.bar(xs - 0.2, [e[0][k] for e in errors.values()], width=0.4, color=ERROR_PALETTE["clean"], label="clean")
    left.bar(xs + 0.2, [e[1][k] for e in errors.values()], width=0.4, color=ERROR_PALETTE["PGD"], label=attack)
    left.set_xticks(xs, [_method_label(m) for m in errors])
    left.set(ylabel="error of the class (%)", ylim=(0, 101), title=f"class {names[k]}")
    left.legend(fontsize=7)
    row = pd.DataFrame({_method_label(m): matrix.iloc[k] for m, matrix in matrices.items()}).T
    sns.heatmap(row, ax=right, vmin=0, vmax=100, cmap="rocket_r", annot=len(names) <= 12, fmt=".0f",
                annot_kws={"fontsize": 7}, cbar_kws={"label": "share of the class (%)"})
    right.set(xlabel=f"class its {attack} images are predicted as", ylabel="", title="adversarial confusion row")
    right.tick_params(axis="x", rotation=35, labelsize=7)
    fig.tight_layout()
    return fig


def class_views(runs_by_method: dict, class_names) -> dict[str, plt.Figure]:
    """``{class name: class_figure}`` of every class: per-class clean and PGD error (mean over seeds)
    and the adversarial confusion rows pooled over seeds (:func:`~labelaug_core.report.chapter_tables.
    adversarial_flow_tables`)."""
    from labelaug_core.report.chapter_tables import adversarial_flow_tables

    names = list(class_names)
    matrices, _ = adversarial_flow_tables(runs_by_method, names)
    errors = {m: (_mean_per_class(runs, "clean_err"), _mean_per_class(runs, "pgd_err")) for m, runs in runs_by_method.items()}
    attack = f"PGD-{next(iter(runs_by_method.values()))[0].config.eval_steps}"
    return _closed({name: class_figure(k, errors, matrices, attack) for k, name in enumerate(names)})


def delta_confusion_figure(delta: float, matrix: pd.DataFrame, pgd_err: np.ndarray, attack: str) -> plt.Figure:
    """One δ of chapter 5's second slider: Adv+'s adversarial confusion matrix (share %, rows: true
    class) beside its per-class ``attack`` error (%, ``pgd_err`` (K,))."""
    names = list(matrix.index)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.6, 3.9), width_ratios=[2, 1])
    sns.heatmap(matrix, ax=left, vmin=0, vmax=100, cmap="rocket_r", annot=len(names) <= 12, fmt=".0f",
                annot_kws={"fontsize": 6}, cbar_kws={"label": "share of the true class (%)"})
    left.set(xlabel="predicted class of the attacked image", ylabel="true class",
             title=f"Adv+ δ = {delta:g}: adversarial confusion")
    left.tick_params(labelsize=7)
    right.barh(np.arange(len(names)), pgd_err, color=ERROR_PALETTE["PGD"])
    right.set_yticks(np.arange(len(names)), names, fontsize=7)
    right.invert_yaxis()
    right.set(xlabel=f"{attack} error (%)", xlim=(0, 101), title="per-class error")
    fig.tight_layout()
    return fig


def delta_confusion_views(sweep: dict, class_names) -> dict[float, plt.Figure]:
    """``{δ: delta_confusion_figure}`` for every δ of ``sweep`` (``{δ: [Adv+ run per seed]}``), the
    confusion pooled over seeds, the per-class error their mean."""
    from labelaug_core.report.chapter_tables import adversarial_flow_tables

    matrices, _ = adversarial_flow_tables(sweep, list(class_names))
    attack = f"PGD-{next(iter(sweep.values()))[0].config.eval_steps}"
    return _closed({d: delta_confusion_figure(d, matrices[d], _mean_per_class(sweep[d], "pgd_err"), attack)
                    for d in sweep})


# --- chapter 7: corruption and severity ------------------------------------------------------------

def corruption_figure(corruption: str, severity: int, tables: dict[str, pd.DataFrame], image: np.ndarray,
                      class_names) -> plt.Figure:
    """One (corruption, severity): the example ``image`` (uint8 (C, H, W)) so corrupted, and each
    model's per-class error (%) on it (``tables``: ``{method: E_{c,s} table}`` with ``corruption``,
    ``severity``, ``err`` and ``class_<k>_err``), its overall error in the legend."""
    names = list(class_names)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.2, 2.8), width_ratios=[1, 4])
    _gray(left, image.astype(float) / 255.0, f"{corruption}\nseverity {severity}")
    xs = np.arange(len(names))
    width = 0.8 / len(tables)
    for j, (method, table) in enumerate(tables.items()):
        row = table[(table["corruption"] == corruption) & (table["severity"] == severity)]
        if len(row) != 1:
            raise ConfigError(f"tables: {method} has {len(row)} rows for ({corruption}, {severity}); need one")
        name = _method_label(method)
        right.bar(xs + (j - (len(tables) - 1) / 2) * width, [row[f"class_{k}_err"].iloc[0] for k in range(len(names))],
                  width=width, color=PALETTE.get(name), label=f"{name}: {row['err'].iloc[0]:.0f}%")
    right.set_xticks(xs, names, rotation=30, ha="right", fontsize=7)
    right.set(ylabel="error (%)", ylim=(0, 101), title=f"per-class error under {corruption}, severity {severity}")
    right.legend(fontsize=7, ncol=len(tables), loc="upper left")
    fig.tight_layout()
    return fig


def corruption_views(tables: dict[str, pd.DataFrame], examples: dict[tuple[str, int], np.ndarray],
                     class_names) -> dict[tuple[str, int], plt.Figure]:
    """``{(corruption, severity): corruption_figure}`` for every key of ``examples``
    (:func:`labelaug_core.runs.corruptions.corruption_examples` of one image), in its order."""
    return _closed({(c, s): corruption_figure(c, s, tables, image, class_names) for (c, s), image in examples.items()})


# --- chapter 9: temperature -----------------------------------------------------------------------

def temperature_figure(temperature: float, sweeps: dict[str, pd.DataFrame], class_names) -> plt.Figure:
    """One T of the Temperature-PGD slider: each model's per-class attack success (%) at
    ``temperature`` (bars), plain PGD's (T = 1) as a black tick on each bar. ``sweeps``:
    ``{method: table}`` with ``temperature``, ``success_%`` and ``class_<k>_success_%``."""
    names = list(class_names)
    columns = [f"class_{k}_success_%" for k in range(len(names))]
    fig, ax = plt.subplots(figsize=(8.2, 3.0))
    xs = np.arange(len(names))
    width = 0.8 / len(sweeps)
    for j, (method, sweep) in enumerate(sweeps.items()):
        by_t = sweep.set_index("temperature")
        if temperature not in by_t.index or 1.0 not in by_t.index:
            raise ConfigError(f"sweeps: {method} lacks T = {temperature:g} or T = 1; has {list(by_t.index)}")
        name = _method_label(method)
        offset = xs + (j - (len(sweeps) - 1) / 2) * width
        ax.bar(offset, by_t.loc[temperature, columns].to_numpy(dtype=float), width=width, color=PALETTE.get(name),
               label=f"{name}: {by_t.loc[temperature, 'success_%']:.0f}% overall")
        ax.scatter(offset, by_t.loc[1.0, columns].to_numpy(dtype=float), marker="_", s=120, color="black",
                   label="T = 1 (plain PGD)" if j == 0 else None)
    ax.set_xticks(xs, names, rotation=30, ha="right", fontsize=7)
    ax.set(ylabel="attack success (%)", ylim=(0, 101), title=f"Temperature-PGD at T = {temperature:g}")
    ax.legend(fontsize=7, ncol=len(sweeps) + 1, loc="upper left")
    fig.tight_layout()
    return fig


def temperature_views(sweeps: dict[str, pd.DataFrame], class_names) -> dict[float, plt.Figure]:
    """``{T: temperature_figure}`` for every temperature of the sweeps (sorted)."""
    temperatures = sorted({float(t) for sweep in sweeps.values() for t in sweep["temperature"]})
    return _closed({t: temperature_figure(t, sweeps, class_names) for t in temperatures})
