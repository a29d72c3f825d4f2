"""How the book shows figures: a figure as a static PNG (:func:`show`), and widgets that keep
working in the static HTML, with no kernel behind them.

A widget whose callback runs in Python (``ipywidgets.interact``) is dead in a built book:
there is no kernel to run the callback. The widgets here precompute every view in Python
and switch between them in the browser: the views are images in a ``Stack``, and the
control's position (a slider's, or a dropdown's) is tied to the stack's selected child by
``jslink``, a link that the widget JavaScript (in Jupyter and in the book's HTML alike) keeps
without a kernel. Two knobs are a dropdown over a stack of sliders (:func:`selector_of_sliders`).
Only core ipywidgets models are used, so the book's own copy of the widget JavaScript
can draw them and nothing is fetched from a CDN.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import ipywidgets as widgets

from labelaug_core.errors import ConfigError


MIN_DPI = 100  # every figure of the book is drawn at this resolution or more
# The PNG text chunk that records the smallest text of a figure, in pixels of the PNG itself
# (tests/test_book_browser.py reads it to check what a reader sees at a laptop's width).
MIN_TEXT_KEY = "labelaug:min_text_px"


def drawn_text_sizes(figure: Any) -> list[float]:
    """Font sizes (points) of every visible, non-empty text that drawing ``figure`` puts on it.

    Recorded while the figure draws (``Text.draw``), so that tick labels outside the view,
    hidden legends or texts of invisible axes do not count.
    """
    from matplotlib.text import Text

    sizes: list[float] = []
    original = Text.draw

    def recording_draw(self, renderer, *args, **kwargs):
        if self.get_visible() and self.get_text().strip() and (self.get_alpha() is None or self.get_alpha() > 0):
            sizes.append(float(self.get_fontsize()))
        return original(self, renderer, *args, **kwargs)

    Text.draw = recording_draw
    try:
        figure.draw_without_rendering()
    finally:
        Text.draw = original
    return sizes


def min_text_px(figure: Any, dpi: float) -> float | None:
    """The smallest drawn text of ``figure`` in pixels of a PNG drawn at ``dpi`` (points × dpi / 72);
    None for a figure without text."""
    sizes = drawn_text_sizes(figure)
    return min(sizes) * dpi / 72 if sizes else None


def png_bytes(figure: Any, *, dpi: int = MIN_DPI) -> bytes:
    """PNG bytes of a matplotlib Figure (drawn tight to its content), or ``figure`` itself if already bytes.

    The PNG records its resolution (pHYs) and, in a text chunk ``labelaug:min_text_px``, the
    size in pixels of the figure's smallest visible text at the PNG's own resolution: shown at
    width ``w`` on a page, that text is ``min_text_px × w / PNG width`` pixels high. Every figure
    the book shows goes through here (:func:`show` and the sliders), at ``dpi >= 100``.
    """
    if isinstance(figure, (bytes, bytearray)):
        data = bytes(figure)
        if not data.startswith(b"\x89PNG\r\n\x1a\n"):
            raise ConfigError("figures: byte values must be PNG images (they lack the PNG signature)")
        return data
    if not hasattr(figure, "savefig"):
        raise ConfigError(f"figures: values must be matplotlib Figures or PNG bytes; got {type(figure).__name__}")
    if dpi < MIN_DPI:
        raise ConfigError(f"dpi: figures are drawn at {MIN_DPI} dpi or more (smaller text cannot be read); got {dpi}")
    smallest = min_text_px(figure, dpi)
    metadata = {MIN_TEXT_KEY: f"{smallest:.2f}"} if smallest is not None else {}
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata=metadata)
    return buffer.getvalue()


def _rendered(fig: Any, dpi: int) -> bytes:
    """``png_bytes(fig)``, the figure closed afterwards (a notebook then does not show it a second time)."""
    data = png_bytes(fig, dpi=dpi)
    if not isinstance(fig, (bytes, bytearray)):
        import matplotlib.pyplot as plt

        plt.close(fig)
    return data


def _image_layout(width: str | None) -> widgets.Layout:
    """An image's layout: ``width`` if given, else the PNG's own size, shrunk to fit the column."""
    return widgets.Layout(width=width) if width else widgets.Layout(max_width="100%", height="auto")


def _default_label(value: Hashable) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class FigureSlider(widgets.VBox):
    """A control above a stack of views, linked in the browser (see :func:`slider_of_figures`).

    Attributes:
        slider: the control, a ``SelectionSlider`` or a ``Dropdown``; ``slider.value`` is the
            selected key, ``slider.index`` its position.
        stack: the ``Stack`` of views (``Image`` widgets, or widgets of their own), one per key.
        link: the ``jslink`` from ``slider.index`` to ``stack.selected_index``.
    """

    def __init__(self, slider: widgets.SelectionSlider | widgets.Dropdown, stack: widgets.Stack,
                 **kwargs: Any) -> None:
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
    dpi: int = MIN_DPI,
    width: str | None = None,
    control: str = "slider",
) -> FigureSlider:
    """A slider over precomputed figures that works in a live notebook and in the static HTML.

    Args:
        figures: key -> matplotlib Figure or PNG bytes, e.g. ``{0.0: fig, 0.03: fig, ...}`` for a
            sweep over δ. The slider's positions follow the mapping's order (not sorted).
            Figures are rendered once here (:func:`png_bytes`) and closed, so that the notebook
            does not also show them inline.
        description: the slider's label.
        label: key -> text shown at each slider position (default: ``f"{key:g}"`` for floats).
        start: the key selected first (default: the first key).
        dpi: resolution of the rendered Figures (at least 100).
        width: CSS width of each image; None (default) shows each PNG at its own size, shrunk
            to the column's width where it is wider (a small figure is not blown up).
        control: ``"slider"`` (a ``SelectionSlider``, for ordered knobs such as δ or ε) or
            ``"dropdown"`` (a ``Dropdown``, for unordered choices such as a class).

    Returns:
        A :class:`FigureSlider` (a ``VBox`` of the slider and a ``Stack`` of ``Image`` widgets;
        ``stack.selected_index`` follows ``slider.index`` through a ``jslink``, so moving the
        slider switches images in JavaScript, without a kernel).
    """
    if not figures:
        raise ConfigError("figures: need at least one figure to show")
    images = {k: widgets.Image(value=_rendered(fig, dpi), format="png", layout=_image_layout(width))
              for k, fig in figures.items()}
    return _linked(images, description=description, label=label, start=start, control=control)


def selector_of_sliders(
    figures: Mapping[tuple[Hashable, Hashable], Any],
    *,
    descriptions: tuple[str, str] = ("corruption", "severity"),
    label: Callable[[Hashable], str] = _default_label,
    dpi: int = MIN_DPI,
    width: str | None = None,
) -> FigureSlider:
    """Two knobs over precomputed figures: a dropdown for the first key, and under it, per choice,
    a slider over the second key (each a :func:`slider_of_figures`).

    Args:
        figures: ``(first, second) -> figure`` (as for :func:`slider_of_figures`), e.g.
            ``{("fog", 1): fig, ("fog", 2): fig, ...}``; the dropdown lists the first keys in order of
            appearance, each slider the second keys that go with it.
        descriptions: the dropdown's and the sliders' labels.
        label: second key -> the text at each slider position.

    Returns:
        A :class:`FigureSlider` whose control is the ``Dropdown`` and whose stack holds one
        :class:`FigureSlider` per first key; every switch is a ``jslink``, so all works without a kernel.
    """
    if not figures:
        raise ConfigError("figures: need at least one figure to show")
    groups: dict[Hashable, dict[Hashable, Any]] = {}
    for key, fig in figures.items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise ConfigError(f"figures: keys must be (first, second) pairs; got {key!r}")
        groups.setdefault(key[0], {})[key[1]] = fig
    sliders = {first: slider_of_figures(group, description=descriptions[1], label=label, dpi=dpi, width=width)
               for first, group in groups.items()}
    return _linked(sliders, description=descriptions[0], label=str, start=None, control="dropdown")


def _linked(views: dict[Hashable, widgets.Widget], *, description: str, label: Callable[[Hashable], str],
            start: Hashable | None, control: str) -> FigureSlider:
    """A ``control`` over ``views`` (key -> widget, in order) in a ``Stack``, its index jslinked to the stack's."""
    keys = list(views)
    labels = [label(k) for k in keys]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"label: slider labels must be distinct; got {labels}")
    if start is not None and start not in views:
        raise ConfigError(f"start: must be one of the figures' keys {keys}; got {start!r}")
    index = 0 if start is None else keys.index(start)
    options = list(zip(labels, keys))
    if control == "slider":
        chooser = widgets.SelectionSlider(
            options=options, index=index, description=description,
            continuous_update=True, readout=True, layout=widgets.Layout(width="min(100%, 32rem)"),
        )
    elif control == "dropdown":
        chooser = widgets.Dropdown(options=options, index=index, description=description,
                                   layout=widgets.Layout(width="min(100%, 24rem)"))
    else:
        raise ConfigError(f"control: must be 'slider' or 'dropdown'; got {control!r}")
    stack = widgets.Stack(children=list(views.values()), selected_index=index)
    return FigureSlider(chooser, stack)


def show(fig: Any, *, dpi: int = MIN_DPI) -> None:
    """Display ``fig`` in a notebook as a PNG and close it.

    Works whatever matplotlib backend is active (a script's Agg shows nothing by itself);
    closing the figure keeps an inline backend from showing it a second time.
    """
    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    display(Image(png_bytes(fig, dpi=dpi)))
    plt.close(fig)
