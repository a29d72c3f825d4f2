"""Widgets of the book that keep working in the static HTML, with no kernel behind them.

A widget whose callback runs in Python (``ipywidgets.interact``) is dead in a built book:
there is no kernel to run the callback. The widgets here precompute every view in Python
and switch between them in the browser: the views are images in a ``Stack``, and the
slider's position is tied to the stack's selected child by ``jslink``, a link that the
widget JavaScript (in Jupyter and in the book's HTML alike) keeps without a kernel.
Only core ipywidgets models are used, so the book's own copy of the widget JavaScript
can draw them and nothing is fetched from a CDN.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import ipywidgets as widgets

from labelaug_core.errors import ConfigError


def png_bytes(figure: Any, *, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib Figure (drawn tight to its content), or ``figure`` itself if already bytes."""
    if isinstance(figure, (bytes, bytearray)):
        data = bytes(figure)
        if not data.startswith(b"\x89PNG\r\n\x1a\n"):
            raise ConfigError("figures: byte values must be PNG images (they lack the PNG signature)")
        return data
    if not hasattr(figure, "savefig"):
        raise ConfigError(f"figures: values must be matplotlib Figures or PNG bytes; got {type(figure).__name__}")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def _default_label(value: Hashable) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class FigureSlider(widgets.VBox):
    """A slider above a stack of images, linked in the browser (see :func:`slider_of_figures`).

    Attributes:
        slider: the ``SelectionSlider``; ``slider.value`` is the selected key, ``slider.index`` its position.
        stack: the ``Stack`` of ``Image`` widgets, one per key, in the keys' order.
        link: the ``jslink`` from ``slider.index`` to ``stack.selected_index``.
    """

    def __init__(self, slider: widgets.SelectionSlider, stack: widgets.Stack, **kwargs: Any) -> None:
        super().__init__(children=[slider, stack], **kwargs)
        self.slider = slider
        self.stack = stack
        self.link = widgets.jslink((slider, "index"), (stack, "selected_index"))


def slider_of_figures(
    figures: Mapping[Hashable, Any],
    *,
    description: str = "δ",
    label: Callable[[Hashable], str] = _default_label,
    start: Hashable | None = None,
    dpi: int = 100,
    width: str = "100%",
) -> FigureSlider:
    """A slider over precomputed figures that works in a live notebook and in the static HTML.

    Args:
        figures: key -> matplotlib Figure or PNG bytes, e.g. ``{0.0: fig, 0.03: fig, ...}`` for a
            sweep over δ. The slider's positions follow the mapping's order (not sorted).
            Figures are rendered once here; closing them afterwards (``plt.close``) keeps the
            notebook from also showing them inline.
        description: the slider's label.
        label: key -> text shown at each slider position (default: ``f"{key:g}"`` for floats).
        start: the key selected first (default: the first key).
        dpi: resolution of the rendered Figures.
        width: CSS width of each image.

    Returns:
        A :class:`FigureSlider` (a ``VBox`` of the slider and a ``Stack`` of ``Image`` widgets;
        ``stack.selected_index`` follows ``slider.index`` through a ``jslink``, so moving the
        slider switches images in JavaScript, without a kernel).
    """
    if not figures:
        raise ConfigError("figures: need at least one figure to show")
    keys = list(figures)
    labels = [label(k) for k in keys]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"label: slider labels must be distinct; got {labels}")
    if start is not None and start not in figures:
        raise ConfigError(f"start: must be one of the figures' keys {keys}; got {start!r}")
    images = [
        widgets.Image(value=png_bytes(figures[k], dpi=dpi), format="png", layout=widgets.Layout(width=width))
        for k in keys
    ]
    index = 0 if start is None else keys.index(start)
    slider = widgets.SelectionSlider(
        options=list(zip(labels, keys)), index=index, description=description,
        continuous_update=True, readout=True, layout=widgets.Layout(width="min(100%, 32rem)"),
    )
    stack = widgets.Stack(children=images, selected_index=index)
    return FigureSlider(slider, stack)
