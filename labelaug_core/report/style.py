"""Presentation primitives shared by every study of the book: the methods' colours and names, the
legend and tick style of bar charts, closing precomputed figures, and number formatting."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd

from labelaug_core.runs.collect import METHOD_NAMES

# Figures are drawn for the book's text column: about 676 CSS px at a laptop's width (1280 px),
# so a figure at most COLUMN_INCHES wide, drawn at 100 dpi, is shown at its own size, and a text
# of SMALL_PT points is SMALL_PT * 100 / 72 px high there (8 pt: 11 px; the floor is 9 px).
COLUMN_INCHES = 6.5
SMALL_PT = 8

PALETTE = {"Std": "#8c8c8c", "Adv": "#4c72b0", "Adv+": "#dd8452"}

# Colours of the clean and the attacked error of one model (bars side by side), apart from PALETTE's.
ERROR_PALETTE = {"clean": "#55a868", "PGD": "#c44e52"}


def method_label(method: str) -> str:
    """The display name of a run method (``advplus`` -> ``Adv+``); other labels unchanged."""
    return METHOD_NAMES.get(method, method)


def legend_above_and_slanted_ticks(ax, ncol: int) -> None:
    """A one-row legend above the axes and x tick labels slanted by 45 degrees, right-aligned."""
    ax.legend(title="", ncol=ncol, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.tick_params(axis="x", rotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")


def panel_grid(n: int, *, ncols: int = 2, panel: tuple[float, float] = (3.25, 2.8), **kwargs):
    """A figure of ``n`` panels in rows of ``ncols`` (not one row of ``n``, which the text column would
    shrink until nothing can be read), in constrained layout. Returns ``(fig, axes, spare)``: the
    ``n`` axes in reading order and the unused slots of the last row, turned off (a legend can go there)."""
    nrows = -(-n // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows), squeeze=False,
                             layout="constrained", **kwargs)
    flat = list(grid.ravel())
    for ax in flat[n:]:
        ax.axis("off")
    return fig, flat[:n], flat[n:]


def closing(figure):
    """``figure``, closed: drawn once into a PNG later, never shown inline by the notebook, and never
    one of more than 20 figures open at once (matplotlib's warning) while a slider's views are made."""
    plt.close(figure)
    return figure


def closed(figures: dict) -> dict:
    """``figures`` (``{value: Figure}``), each closed so that a notebook does not show it by itself
    (the views of a slider: :mod:`labelaug_core.report.widgets`)."""
    for fig in figures.values():
        plt.close(fig)
    return figures


def gray_image(ax, img, title: str, **kwargs):
    """Draw one (C, H, W) image in [0, 1] on ``ax`` (grey for one channel), titled, without ticks;
    ``kwargs`` override the colour map and its range. Returns the image artist (for a colour bar)."""
    img = img.transpose(1, 2, 0)
    shown = ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, interpolation="nearest",
                      **({"cmap": "gray", "vmin": 0, "vmax": 1} | kwargs))
    ax.set_title(title, fontsize=SMALL_PT)
    ax.set_xticks([])
    ax.set_yticks([])
    return shown


def listing(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def nan_to_dash(value: float) -> str:
    """Format helper for tables: ``"–"`` for NaN (e.g. an SD over one seed), else 2 decimals."""
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def mean_sd_frame(table: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """``table`` (e.g. :func:`~labelaug_core.report.comparisons.seed_table`) with each column and its
    ``_sd`` merged into "mean ± SD" text."""
    out = pd.DataFrame(index=table.index)
    for c in columns:
        out[c] = [f"{m:.2f} ± {nan_to_dash(s)}" for m, s in zip(table[c], table[f"{c}_sd"])]
    out["seeds"] = table["seeds"].astype(int)
    return out
