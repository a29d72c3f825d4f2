"""Chapter 9, Temperature-PGD: attack success and robust error per T, the zero-gradient share per T,
T chosen on held-out images and then reported on the chapter's own images, the per-class change
against plain PGD (T = 1) as curves and as a slider, in tables and in words.

Every sweep is a :func:`labelaug_core.runs.strong.temperature_evaluation` table (or a mean of them over
seeds): one row per T with ``temperature``, ``success_%``, ``error_%``, ``zero_grad_%`` and
``zero_grad_ce_%`` (percent), T = 1 included. ``{method: sweep}`` dicts are keyed by run method
(``std``, ``adv``, ``advplus``). The placement of T (the logits divided by T inside the attack loss)
is this project's reading of Tian et al. 2021: where T enters their attack could not be recovered.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.classwise import choose_temperature
from labelaug_core.report.style import COLUMN_INCHES, PALETTE, SMALL_PT, closing, method_label, panel_grid
from labelaug_core.report.widgets import slider_of_figures
from labelaug_core.runs.collect import METHOD_NAMES

# The two loss forms of a sweep's zero-gradient columns, as the tables name them.
GRADIENT_COLUMNS = {"zero_grad_%": "attack loss (log-sum-exp)", "zero_grad_ce_%": "cross-entropy of z / T"}


def temperature_success_table(sweeps: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Overall attack success (%) of Temperature-PGD: one row per temperature (index ``T``), one column
    per model; each sweep is :func:`labelaug_core.runs.temperature_evaluation`'s table (or a mean of them)."""
    return pd.DataFrame({METHOD_NAMES.get(m, m): s.set_index("temperature")["success_%"]
                         for m, s in sweeps.items()}).rename_axis("T")


def _check(sweeps: dict[str, pd.DataFrame], columns, what: str) -> None:
    for method, sweep in sweeps.items():
        missing = set(columns) - set(sweep.columns)
        if missing or 1.0 not in set(sweep["temperature"] if "temperature" in sweep else ()):
            raise ConfigError(f"{what}[{method!r}] must be a temperature_evaluation table with T = 1 and columns "
                              f"{sorted(columns)}; missing {sorted(missing) or 'the row T = 1'}")


def zero_gradient_table(sweeps: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Share (%) of the images whose input gradient at the clean image is all zero: one row per model
    and loss form (index ``model``, ``loss``: the labels of :data:`GRADIENT_COLUMNS`), one column per T."""
    _check(sweeps, ["temperature", *GRADIENT_COLUMNS], "sweeps")
    rows = {(method_label(m), label): s.set_index("temperature")[column]
            for m, s in sweeps.items() for column, label in GRADIENT_COLUMNS.items()}
    table = pd.DataFrame(rows).T
    table.index.names = ["model", "loss"]
    table.columns.name = "T"
    return table


def temperature_error_table(sweeps: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Robust error (%) under Temperature-PGD: rows T (index ``T``), one column per model."""
    _check(sweeps, ["temperature", "error_%"], "sweeps")
    table = pd.DataFrame({method_label(m): s.set_index("temperature")["error_%"] for m, s in sweeps.items()})
    table.index.name = "T"
    return table


def temperature_choice_table(heldout: dict[str, pd.DataFrame], reported: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per model (rows): the T chosen on the held-out images (:func:`choose_temperature`: highest
    error, ties to T = 1), the held-out errors (%) at T = 1 and at that T, the reported images' errors
    (%) at T = 1 and at the chosen T and their difference (pp), and, for contrast, the T that would
    be chosen on the reported images themselves (a choice that flatters Temperature-PGD)."""
    _check(heldout, ["temperature", "error_%"], "heldout")
    _check(reported, ["temperature", "error_%"], "reported")
    if set(heldout) != set(reported):
        raise ConfigError(f"heldout and reported must hold the same models; got {sorted(heldout)} and "
                          f"{sorted(reported)}")
    rows = []
    for method, sweep in reported.items():
        chosen = choose_temperature(heldout[method])
        held, rep = heldout[method].set_index("temperature")["error_%"], sweep.set_index("temperature")["error_%"]
        if chosen not in rep.index:
            raise ConfigError(f"reported[{method!r}] must sweep the held-out temperatures; T = {chosen:g} is missing")
        rows.append({"model": method_label(method), "T chosen (held-out)": chosen, "held-out err T=1 (%)": held[1.0],
                     "held-out err chosen T (%)": held[chosen], "err T=1 (%)": rep[1.0],
                     "err chosen T (%)": rep[chosen], "change (pp)": rep[chosen] - rep[1.0],
                     "T best on reported images": choose_temperature(sweep)})
    return pd.DataFrame(rows).set_index("model")


def zero_gradient_sentence(sweeps: dict[str, pd.DataFrame]) -> str:
    """Chapter 9: the largest zero-gradient share (%) of the attack's loss at any T against T = 1's,
    and the largest share the cross-entropy of z / T (the underflowing form) would have had, with
    its model and T."""
    table = zero_gradient_table(sweeps)
    attack = table.xs(GRADIENT_COLUMNS["zero_grad_%"], level="loss")
    ce = table.xs(GRADIENT_COLUMNS["zero_grad_ce_%"], level="loss")
    if attack.to_numpy().max() == 0:
        text = "With the attack's loss no image has an all-zero input gradient at any temperature. "
    else:
        text = (f"With the attack's loss at most {attack.to_numpy().max():.1f}% of the images have an all-zero input "
                f"gradient at any temperature (at T = 1: at most {attack[1.0].max():.1f}%). ")
    worst_model, worst_t = ce.stack().idxmax()
    if ce.to_numpy().max() > attack.to_numpy().max():
        return text + (f"The cross-entropy of z / T would have left {ce.loc[worst_model, worst_t]:.1f}% of the "
                       f"{worst_model} images without a gradient at T = {worst_t:g}: PGD would not have moved them "
                       f"from their random start.")
    return text + "The cross-entropy of z / T would not have had more zero gradients on these models."


def temperature_choice_sentences(heldout: dict[str, pd.DataFrame], reported: dict[str, pd.DataFrame],
                                 n_reported: int, n_heldout: int) -> str:
    """Chapter 9: per model, the T chosen on ``n_heldout`` held-out images and what it does on the
    ``n_reported`` reported images against plain PGD (pp), one Markdown bullet each."""
    if n_reported < 1 or n_heldout < 1:
        raise ConfigError(f"n_reported and n_heldout must be >= 1; got {n_reported} and {n_heldout}")
    table = temperature_choice_table(heldout, reported)
    lines = []
    for name, row in table.iterrows():
        chosen = row["T chosen (held-out)"]
        if chosen == 1.0:
            lines.append(f"- **{name}**: no temperature beats plain PGD on the {n_heldout} held-out images, so T = 1 "
                         f"is kept ({row['err T=1 (%)']:.1f}% error on the {n_reported} reported images).")
        else:
            lines.append(f"- **{name}**: T = {chosen:g} is chosen on the {n_heldout} held-out images "
                         f"({row['held-out err chosen T (%)']:.1f}% error against "
                         f"{row['held-out err T=1 (%)']:.1f}% at T = 1); on the {n_reported} reported images it gives {row['err chosen T (%)']:.1f}% against "
                         f"{row['err T=1 (%)']:.1f}% for plain PGD ({row['change (pp)']:+.1f} pp).")
    return "\n".join(lines)


# A class-level change of Temperature-PGD's success is called an effect only when it rests on at least
# this many correctly classified images of the class (over seeds): below it, one image moves the
# class's rate by more than 5 pp.
MIN_CLASS_IMAGES = 20


def temperature_sentences(sweeps: dict[str, pd.DataFrame], n_images: int, class_counts: dict | None = None,
                          class_names=None) -> str:
    """Chapter 9: for each model, whether any temperature of Temperature-PGD beats plain PGD (T = 1)
    in overall success (%), by how much (pp), and for how many classes it raises or lowers success;
    then the resolution that ``n_images`` images per seed give (pp per image). Each sweep:
    :func:`labelaug_core.runs.temperature_evaluation`'s table (columns ``temperature``,
    ``success_%``, ``class_<k>_success_%``), including T = 1.

    With ``class_counts`` (``{method: (K,) counts}``, the correctly classified clean images per class
    that each class's success rate rests on, over seeds:
    :func:`labelaug_core.runs.strong.temperature_class_counts`) and ``class_names``, every class-level
    claim states its n: only classes with at least :data:`MIN_CLASS_IMAGES` images are counted as
    raised or lowered, the largest change among them is named with its n, and the others are said to
    rest on too few images to call."""
    lines = []
    for method, sweep in sweeps.items():
        name = method_label(method)
        s = sweep.set_index("temperature")
        plain, others = s.loc[1.0, "success_%"], s.drop(index=1.0)
        best_t = others["success_%"].idxmax()
        best = others.loc[best_t, "success_%"]
        per_class = [c for c in s.columns if c.startswith("class_")]
        change = s.loc[best_t, per_class] - s.loc[1.0, per_class]
        if best <= plain:
            lines.append(f"- **{name}**: no temperature beats plain PGD ({plain:.1f}% success at T = 1; the best "
                         f"other, T = {best_t:g}, reaches {best:.1f}%).")
            continue
        head = (f"- **{name}**: T = {best_t:g} reaches {best:.1f}% success against {plain:.1f}% for plain "
                f"PGD (+{best - plain:.1f} pp); ")
        if class_counts is None or method not in class_counts:
            up, down = int((change > 0).sum()), int((change < 0).sum())
            lines.append(head + f"it raises the success rate of {up} of the {len(per_class)} classes and lowers it "
                         f"for {down}.")
            continue
        counts = pd.Series([int(class_counts[method][int(c.split("_")[1])]) for c in per_class], index=per_class)
        label = (lambda c: str(class_names[int(c.split("_")[1])])) if class_names is not None else (
            lambda c: f"class {c.split('_')[1]}")
        enough = counts >= MIN_CLASS_IMAGES
        few = int((~enough).sum())
        if not enough.any():
            lines.append(head + f"no class has {MIN_CLASS_IMAGES} or more correctly classified images "
                         f"(at most {counts.max()}), so no class-level change is called an effect.")
            continue
        ch = change[enough]
        up, down = int((ch > 0).sum()), int((ch < 0).sum())
        text = (head + f"of the {int(enough.sum())} classes with at least {MIN_CLASS_IMAGES} correctly classified "
                f"images, it raises the success rate of {up} and lowers it for {down}")
        if (ch != 0).any():
            top = ch.abs().idxmax()
            text += f"; the largest change is {label(top)} {ch[top]:+.1f} pp on {counts[top]} images"
        if few:
            shown = [f"{label(c)} " + ("no image" if counts[c] == 0 or pd.isna(change[c]) else
                                       f"{change[c]:+.1f} pp on {counts[c]} image{'s' if counts[c] != 1 else ''}")
                     for c in counts.index[~enough]]
            text += (f". {few} class{'es rest' if few > 1 else ' rests'} on fewer than {MIN_CLASS_IMAGES} images "
                     f"({', '.join(shown)}): {'their changes are' if few > 1 else 'its change is'} not called an effect")
        lines.append(text + ".")
    return ("\n".join(lines) + f"\n\nWith {n_images} images per seed (fewer once the misclassified clean images are "
            f"left out), one image moves a success rate by at least {100 / n_images:.1f} pp"
            + (f"; a class-level change counts as an effect here only when it rests on at least {MIN_CLASS_IMAGES} "
               f"correctly classified images of the class (over seeds)." if class_counts is not None else "."))


def temperature_curves(sweeps: dict[str, pd.DataFrame], class_names) -> plt.Figure:
    """Temperature-PGD: overall attack success (%) against T for each model (left), and per model
    the per-class change of success (pp) relative to T = 1, plain PGD (heatmaps). Each sweep is
    :func:`labelaug_core.classwise.temperature_sweep`'s table and must include T = 1."""
    n = len(sweeps)
    # Two panels a row (1 + n side by side would be squeezed below legibility by the text column).
    fig, axes, _ = panel_grid(n + 1, panel=(3.25, 3.4))
    ax = axes[0]
    for method, sweep in sweeps.items():
        name = method_label(method)
        ax.plot(sweep["temperature"], sweep["success_%"], marker="o", color=PALETTE.get(name), label=name)
    ax.axvline(1.0, color="black", lw=0.8, ls="--")
    ax.set(xscale="log", xlabel="temperature T", ylabel="attack success (%)", ylim=(0, 101))
    ax.set_title("all classes", fontsize=10)
    ax.tick_params(labelsize=SMALL_PT)
    ax.legend(fontsize=SMALL_PT)
    columns = [f"class_{k}_success_%" for k in range(len(class_names))]
    deltas = {m: s.set_index("temperature")[columns].sub(s.set_index("temperature").loc[1.0, columns], axis=1)
              for m, s in sweeps.items()}
    bound = max(1.0, max(float(np.nanmax(np.abs(d.to_numpy()))) for d in deltas.values()))
    for i, (ax, (method, delta)) in enumerate(zip(axes[1:], deltas.items())):
        grid = delta.T.set_axis(list(class_names), axis=0).set_axis([f"{t:g}" for t in delta.index], axis=1)
        sns.heatmap(grid, ax=ax, cmap="vlag", vmin=-bound, vmax=bound, annot=len(class_names) <= 12, fmt=".0f",
                    annot_kws={"fontsize": SMALL_PT}, cbar=False)
        ax.set(xlabel="T", ylabel="")
        ax.set_title(f"{method_label(method)}: change from T = 1", fontsize=10)
        ax.tick_params(labelsize=SMALL_PT)
        ax.tick_params(axis="y", rotation=0)
    if n:
        bar = fig.colorbar(axes[1].collections[0], ax=axes[1:], shrink=0.6)
        bar.set_label("success - success at T = 1 (pp)", fontsize=SMALL_PT + 1)
        bar.ax.tick_params(labelsize=SMALL_PT)
    return fig


def temperature_figure(temperature: float, sweeps: dict[str, pd.DataFrame], class_names) -> plt.Figure:
    """One T of the Temperature-PGD slider: each model's per-class attack success (%) at
    ``temperature`` (bars), plain PGD's (T = 1) as a black tick on each bar. ``sweeps``:
    ``{method: table}`` with ``temperature``, ``success_%`` and ``class_<k>_success_%``."""
    names = list(class_names)
    columns = [f"class_{k}_success_%" for k in range(len(names))]
    fig, ax = plt.subplots(figsize=(COLUMN_INCHES, 3.6), layout="constrained")
    xs = np.arange(len(names))
    width = 0.8 / len(sweeps)
    for j, (method, sweep) in enumerate(sweeps.items()):
        by_t = sweep.set_index("temperature")
        if temperature not in by_t.index or 1.0 not in by_t.index:
            raise ConfigError(f"sweeps: {method} lacks T = {temperature:g} or T = 1; has {list(by_t.index)}")
        name = method_label(method)
        offset = xs + (j - (len(sweeps) - 1) / 2) * width
        ax.bar(offset, by_t.loc[temperature, columns].to_numpy(dtype=float), width=width, color=PALETTE.get(name),
               label=f"{name}: {by_t.loc[temperature, 'success_%']:.0f}% overall")
        ax.scatter(offset, by_t.loc[1.0, columns].to_numpy(dtype=float), marker="_", s=120, color="black",
                   label="T = 1 (plain PGD)" if j == 0 else None)
    ax.set_xticks(xs, names, rotation=30, ha="right", fontsize=SMALL_PT)
    ax.tick_params(axis="y", labelsize=SMALL_PT)
    ax.set(ylabel="attack success (%)", ylim=(0, 101))
    ax.set_title(f"Temperature-PGD at T = {temperature:g}", fontsize=10)
    fig.legend(fontsize=SMALL_PT, ncol=2, loc="outside lower center", frameon=False)
    return fig


def temperature_views(sweeps: dict[str, pd.DataFrame], class_names) -> dict[float, plt.Figure]:
    """``{T: temperature_figure}`` for every temperature of the sweeps (sorted)."""
    temperatures = sorted({float(t) for sweep in sweeps.values() for t in sweep["temperature"]})
    return {t: closing(temperature_figure(t, sweeps, class_names)) for t in temperatures}


def temperature_slider(sweeps: dict[str, pd.DataFrame], class_names, **kwargs):
    """:func:`~labelaug_core.report.widgets.slider_of_figures` of :func:`temperature_views` (``kwargs``:
    its description, dpi ...)."""
    return slider_of_figures(temperature_views(sweeps, class_names), **kwargs)
