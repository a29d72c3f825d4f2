"""Chapter 7, corruptions: the paper's Table 1 with mCE, its headline, each method's ``E_{c,s}``
table (corruption x severity) as heatmaps and CE bars, per-class mCE, the corruption and severity
selector, what the corrupted images are, and the corruption results in words. Errors in percent.
"""
from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from labelaug_core.errors import ConfigError
from labelaug_core.report.paper import PAPER_TABLE1, relative_change
from labelaug_core.report.style import (
    COLUMN_INCHES,
    PALETTE,
    SMALL_PT,
    closing,
    gray_image,
    legend_above_and_slanted_ticks,
    method_label,
)
from labelaug_core.runs.collect import METHOD_NAMES, method_means


def table1_with_mce(runs, errors: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The paper's Table 1 complete: clean error, mCE and PGD error per method (percent).

    runs: finished :class:`~labelaug_core.runs.Run` s; errors: run_id -> its ``E_{c,s}`` table.
    Means over seeds, ours beside the paper's (whose mCE is on ImageNet-C, 224 px).
    """
    from labelaug_core.evaluation.corrupted_sets import mce

    missing = [r.run_id for r in runs if r.run_id not in errors]
    if missing:
        raise ConfigError(f"errors has no corruption table for run {missing[0]}")
    runs = [dataclasses.replace(r, metrics=r.metrics | {"mce": mce(errors[r.run_id])[1]}) for r in runs]
    cols = ["clean_err", "mce", "pgd_err"]
    ours = method_means(runs, tuple(cols))
    return pd.concat({"ours": ours, "paper": PAPER_TABLE1.loc[ours.index, cols]}, axis=1).rename(index=METHOD_NAMES)


def mce_headline(runs, errors: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Relative changes of mCE, ``(before - after) / before`` in percent, ours beside the paper's."""

    means = table1_with_mce(runs, errors)
    rows = []
    for label, before, after in (("Adv vs Std, mCE (drop; negative = worse)", "Std", "Adv"),
                                 ("Adv+ vs Adv, mCE (drop)", "Adv", "Adv+")):
        if before in means.index and after in means.index:
            rows.append({"comparison": label,
                         **{f"{who}_%": relative_change(means.loc[before, (who, "mce")], means.loc[after, (who, "mce")])
                            for who in ("ours", "paper")}})
    return pd.DataFrame(rows, columns=["comparison", "ours_%", "paper_%"]).set_index("comparison")


def method_tables(runs, errors: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Per method, its ``E_{c,s}`` table averaged over seeds (same rows and columns as one run's)."""
    by_method: dict[str, list[pd.DataFrame]] = {}
    for run in runs:
        by_method.setdefault(run.config.method, []).append(errors[run.run_id].set_index(["corruption", "severity"]))
    return {method: (sum(tables) / len(tables)).reset_index() for method, tables in by_method.items()}


def class_mce(table: pd.DataFrame, class_names=None) -> pd.Series:
    """Per-class mCE (percent): the mean over corruptions of each class's CE_c, indexed by class name."""
    from labelaug_core.evaluation.corrupted_sets import class_ce

    per_class = class_ce(table).mean()
    if class_names is not None:
        per_class.index = [class_names[k] for k in per_class.index]
    return per_class


def class_mce_table(tables: dict[str, pd.DataFrame], class_names) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-class mCE (%) of each method, one column per method (key of ``tables``, each
    :func:`labelaug_core.report.corruptions.method_tables`' table), one row per class; and its summary: rows
    ``mean``, ``SD`` (ddof 0), ``worst`` and ``worst class``, one column per method."""

    per_class = pd.DataFrame({method: class_mce(t, class_names) for method, t in tables.items()})
    summary = pd.DataFrame({"mean": per_class.mean(), "SD": per_class.std(ddof=0), "worst": per_class.max(),
                            "worst class": per_class.idxmax()}).T
    return per_class, summary


def corruption_heatmaps(errors_by_method: dict[str, pd.DataFrame]) -> plt.Figure:
    """The paper's Figure 2: ``E_{c,s}`` (percent) as corruption x severity heatmaps, one per method.

    errors_by_method: method -> table of :func:`labelaug_core.corruptions.corruption_errors`.
    One colour scale for all panels, so colours compare across methods.
    """
    grids = {m: df.pivot_table(index="corruption", columns="severity", values="err", sort=False)
             for m, df in errors_by_method.items()}
    vmin = min(g.min().min() for g in grids.values())
    vmax = max(g.max().max() for g in grids.values())
    # Narrow panels side by side (five severities each), the corruption names once on the left,
    # one colour bar for all; numbers in SMALL_PT so that they can be read at the column's width.
    n_rows = max(len(g) for g in grids.values())
    fig, axes = plt.subplots(1, len(grids), figsize=(COLUMN_INCHES, 0.3 * n_rows + 1.2), squeeze=False, sharey=True,
                             layout="constrained")
    for i, (ax, (method, grid)) in enumerate(zip(axes[0], grids.items())):
        sns.heatmap(grid.rename(index=lambda c: str(c).replace("_", " ")), ax=ax, vmin=vmin, vmax=vmax,
                    cmap="rocket_r", annot=True, fmt=".0f", annot_kws={"fontsize": SMALL_PT}, cbar=False)
        ax.set(xlabel="severity", ylabel="")
        ax.set_title(method_label(method), fontsize=10)
        ax.tick_params(labelsize=SMALL_PT + 1)
        ax.tick_params(axis="y", rotation=0)
    bar = fig.colorbar(axes[0, 0].collections[0], ax=axes[0].tolist(), shrink=0.6, pad=0.02)
    bar.set_label("error (%)", fontsize=SMALL_PT + 1)
    bar.ax.tick_params(labelsize=SMALL_PT)
    return fig


def corruption_ce_bars(errors_by_method: dict[str, pd.DataFrame]) -> plt.Figure:
    """``CE_c`` (mean error over severities, percent) per corruption, one bar per method; mCE in the legend."""
    from labelaug_core.evaluation.corrupted_sets import mce

    rows = []
    for method, df in errors_by_method.items():
        ce, m = mce(df)
        label = f"{method_label(method)} (mCE {m:.1f})"
        rows += [{"corruption": c, "CE": v, "method": label, "colour": PALETTE.get(method_label(method))}
                 for c, v in ce.items()]
    frame = pd.DataFrame(rows)
    frame["corruption"] = frame["corruption"].str.replace("_", " ")
    fig, ax = plt.subplots(figsize=(COLUMN_INCHES, 3.6), layout="constrained")
    palette = dict(zip(frame["method"], frame["colour"])) if frame["colour"].notna().all() else None
    sns.barplot(data=frame, x="corruption", y="CE", hue="method", ax=ax, palette=palette)
    ax.set(xlabel="", ylabel="CE (%), mean\nover severities", ylim=(0, 100))
    legend_above_and_slanted_ticks(ax, len(errors_by_method))
    ax.tick_params(axis="x", labelsize=SMALL_PT + 1)
    plt.setp(ax.get_legend().get_texts(), fontsize=SMALL_PT + 1)
    return fig


def corruption_grid(image: np.ndarray, corrupted: dict[tuple[str, int], np.ndarray]) -> plt.Figure:
    """One test image, clean and under every corruption (rows) and severity 1-5 (columns).

    image and every value of ``corrupted`` ((corruption, severity) -> image): uint8 (C, H, W).
    """
    corruptions = list(dict.fromkeys(c for c, _ in corrupted))
    severities = sorted({s for _, s in corrupted})
    cell = min(0.85, (COLUMN_INCHES - 1.4) / (1 + len(severities)))
    fig, axes = plt.subplots(len(corruptions), 1 + len(severities),
                             figsize=(cell * (1 + len(severities)) + 1.4, cell * len(corruptions)), squeeze=False)

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


def corruption_figure(corruption: str, severity: int, tables: dict[str, pd.DataFrame], image: np.ndarray,
                      class_names) -> plt.Figure:
    """One (corruption, severity): the example ``image`` (uint8 (C, H, W)) so corrupted, and each
    model's per-class error (%) on it (``tables``: ``{method: E_{c,s} table}`` with ``corruption``,
    ``severity``, ``err`` and ``class_<k>_err``), its overall error in the legend."""
    names = list(class_names)
    fig, (left, right) = plt.subplots(1, 2, figsize=(COLUMN_INCHES, 3.4), width_ratios=[1, 4], layout="constrained")
    gray_image(left, image.astype(float) / 255.0, f"{corruption}\nseverity {severity}")
    xs = np.arange(len(names))
    width = 0.8 / len(tables)
    for j, (method, table) in enumerate(tables.items()):
        row = table[(table["corruption"] == corruption) & (table["severity"] == severity)]
        if len(row) != 1:
            raise ConfigError(f"tables: {method} has {len(row)} rows for ({corruption}, {severity}); need one")
        name = method_label(method)
        right.bar(xs + (j - (len(tables) - 1) / 2) * width, [row[f"class_{k}_err"].iloc[0] for k in range(len(names))],
                  width=width, color=PALETTE.get(name), label=f"{name}: {row['err'].iloc[0]:.0f}%")
    right.set_xticks(xs, names, rotation=30, ha="right", fontsize=SMALL_PT)
    right.tick_params(axis="y", labelsize=SMALL_PT)
    right.set(ylim=(0, 101))
    right.set_ylabel("error (%)", fontsize=SMALL_PT + 1)
    right.legend(fontsize=SMALL_PT, ncol=len(tables), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False,
                 handlelength=1, columnspacing=1)
    return fig


def corruption_views(tables: dict[str, pd.DataFrame], examples: dict[tuple[str, int], np.ndarray],
                     class_names) -> dict[tuple[str, int], plt.Figure]:
    """``{(corruption, severity): corruption_figure}`` for every key of ``examples``
    (:func:`labelaug_core.runs.corruptions.corruption_examples` of one image), in its order."""
    return {(c, s): closing(corruption_figure(c, s, tables, image, class_names)) for (c, s), image in examples.items()}


# --- chapter 9: temperature -----------------------------------------------------------------------


def corruption_paragraph(tables: dict[str, pd.DataFrame]) -> str:
    """Chapter 7: the models in order of mCE (against the paper's order Std < Adv+ < Adv), each
    model's hardest corruption (highest CE_c), and how the error grows from the mildest to the
    harshest severity (mean over corruptions).

    tables: ``{method: E_{c,s} table}`` (:func:`labelaug_core.report.corruptions.method_tables`;
    columns ``corruption``, ``severity``, ``err`` %).
    """
    from labelaug_core.evaluation.corrupted_sets import mce

    ce = {m: mce(t) for m, t in tables.items()}
    order = sorted(ce, key=lambda m: ce[m][1])
    text = ["By mCE: " + " < ".join(f"{method_label(m)} ({ce[m][1]:.2f}%)" for m in order) + "."]
    paper = [m for m in ("std", "advplus", "adv") if m in ce]
    if len(paper) > 1:
        text.append("This is the paper's order." if order == paper else
                    "The paper's order is " + " < ".join(method_label(m) for m in paper) + ": this profile differs.")
    lines = []
    for m, (by_c, _) in ce.items():
        by_s = tables[m].groupby("severity")["err"].mean()
        first, last = by_s.iloc[0], by_s.iloc[-1]
        moves = "rises" if last > first else "falls" if last < first else "stays"
        lines.append(f"- **{method_label(m)}**: hardest corruption **{by_c.idxmax()}** (CE {by_c.max():.1f}%), mildest "
                     f"{by_c.idxmin()} ({by_c.min():.1f}%); from severity {by_s.index[0]} to {by_s.index[-1]} the "
                     f"error {moves} from {first:.1f}% to {last:.1f}%.")
    return " ".join(text) + "\n\n" + "\n".join(lines)


# --- Chapter 8: ImageNet-ReaL and ImageNet-X ---


def corruption_source_note(source: str, dataset: str, n_scored: int) -> str:
    """Chapter 7: what the corrupted images are (``source``: :func:`labelaug_core.runs.corruption_source`),
    and whether that is the paper's ImageNet-C benchmark, on ``n_scored`` images of ``dataset``.
    An empty ``source`` (no corruption table made with the arguments asked about) is a ValueError:
    the note would otherwise guess."""
    if not source:
        raise ValueError("corruption_source_note: empty source; ask corruption_source with the arguments of "
                         "corruption_eval (n_images, seed, data_dir, imagenet_c_dir)")
    constants = "CIFAR-10-C" if "CIFAR-10-C" in source else "ImageNet-C"
    side = source.split(", ")[-1]
    if source.startswith("ImageNet-C files"):
        how = (f"the released ImageNet-C images of the same {n_scored} validation images that were scored clean "
               f"({source}): the paper's benchmark, on a subset when fewer than 50,000 images are scored.")
    elif dataset == "imagenet" and constants == "ImageNet-C":
        how = (f"the ImageNet-C recipe (the `imagecorruptions` package with ImageNet-C's severity constants) applied to "
               f"the {n_scored} {side} centre crops that the models see. Close to the paper's benchmark, not identical: "
               f"the released ImageNet-C files were made once, with their own random draws, and saved as JPEG.")
    else:
        how = (f"{n_scored} test images of **{dataset}** ({side}), corrupted with the **{constants}** severity "
               f"constants. **This is not the paper's benchmark**: the paper's mCE is on ImageNet-C, that is 224 px "
               f"ImageNet validation images with ImageNet-C's constants, and a ResNet-50"
               + ("; ImageNet-C's constants would wipe out so small an image, so CIFAR-10-C's are used"
                  if constants == "CIFAR-10-C" else "")
               + ". Compare the *order* of the three methods and the *direction* of the changes, not the numbers.")
    return "**Corrupted images:** " + how
