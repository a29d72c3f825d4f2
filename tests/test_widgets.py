"""slider_of_figures: one precomputed image per value, switched in JavaScript by a jslink."""
from __future__ import annotations

import io

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from ipywidgets.widgets.widget_link import Link  # noqa: E402

from labelaug_core.errors import ConfigError  # noqa: E402
from labelaug_core.report.widgets import (  # noqa: E402
    FigureSlider,
    png_bytes,
    selector_of_sliders,
    slider_of_figures,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def line_figure(height: float) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [0, height])
    ax.set_ylim(0, 1)
    return fig


@pytest.fixture
def figures():
    """Keys deliberately not sorted: the slider must keep the mapping's order."""
    figs = {0.3: line_figure(0.3), 0.0: line_figure(0.0), 0.01: line_figure(0.01)}
    yield figs
    for fig in figs.values():
        plt.close(fig)


def test_structure_is_a_slider_above_a_stack_of_images(figures):
    box = slider_of_figures(figures, description="δ")
    assert isinstance(box, FigureSlider) and isinstance(box, widgets.VBox)
    assert box.children == (box.slider, box.stack)
    assert isinstance(box.slider, widgets.SelectionSlider)
    assert isinstance(box.stack, widgets.Stack)
    assert box.slider.description == "δ"
    assert len(box.stack.children) == len(figures)
    assert all(isinstance(img, widgets.Image) and img.format == "png" for img in box.stack.children)


def test_the_switch_is_a_jslink_from_slider_index_to_stack_selection(figures):
    box = slider_of_figures(figures)
    assert isinstance(box.link, Link)
    assert box.link.source == (box.slider, "index")
    assert box.link.target == (box.stack, "selected_index")
    # A jslink is a widget model of its own: its state is saved with the notebook.
    assert box.link.get_state()["_model_name"] == "LinkModel"


def test_one_image_per_value_in_the_mappings_order(figures):
    box = slider_of_figures(figures)
    assert box.slider.options == (("0.3", 0.3), ("0", 0.0), ("0.01", 0.01))
    assert box.slider.value == 0.3 and box.slider.index == 0 and box.stack.selected_index == 0
    for img, fig in zip(box.stack.children, figures.values()):
        assert bytes(img.value).startswith(PNG_SIGNATURE)
        assert bytes(img.value) == png_bytes(fig)
    assert len({bytes(img.value) for img in box.stack.children}) == len(figures)  # three different pictures


def test_slider_position_i_is_the_ith_value(figures):
    box = slider_of_figures(figures)
    for i, key in enumerate(figures):
        box.slider.value = key
        assert box.slider.index == i
        assert bytes(box.stack.children[i].value) == png_bytes(figures[key])


def test_start_value_selects_slider_and_stack(figures):
    box = slider_of_figures(figures, start=0.01)
    assert box.slider.index == 2 and box.slider.value == 0.01
    assert box.stack.selected_index == 2


def test_png_bytes_are_taken_as_they_are():
    buffer = io.BytesIO()
    fig = line_figure(0.5)
    fig.savefig(buffer, format="png")
    plt.close(fig)
    png = buffer.getvalue()
    box = slider_of_figures({"a": png, "b": png}, description="x", label=str.upper)
    assert [bytes(img.value) for img in box.stack.children] == [png, png]
    assert box.slider.options == (("A", "a"), ("B", "b"))


def test_closed_figures_still_render():
    fig = line_figure(0.2)
    plt.close(fig)  # notebooks close them so that they are not shown twice
    assert png_bytes(fig).startswith(PNG_SIGNATURE)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({}, "at least one"),
        ({0.1: b"GIF89a..."}, "PNG"),
        ({0.1: "not a figure"}, "matplotlib Figures or PNG bytes"),
    ],
)
def test_bad_figures_are_rejected(bad, message):
    with pytest.raises(ConfigError, match=message):
        slider_of_figures(bad)


def test_labels_must_be_distinct(figures):
    with pytest.raises(ConfigError, match="distinct"):
        slider_of_figures(figures, label=lambda key: "same")


def test_start_must_be_a_key(figures):
    with pytest.raises(ConfigError, match="start"):
        slider_of_figures(figures, start=0.5)


def test_dropdown_control_is_jslinked_to_the_stack(figures):
    box = slider_of_figures(figures, description="class", control="dropdown", start=0.0)
    assert isinstance(box.slider, widgets.Dropdown)
    assert box.slider.options == (("0.3", 0.3), ("0", 0.0), ("0.01", 0.01))
    assert box.slider.index == 1 and box.stack.selected_index == 1
    assert box.link.source == (box.slider, "index") and box.link.target == (box.stack, "selected_index")


def test_unknown_control_is_rejected(figures):
    with pytest.raises(ConfigError, match="control"):
        slider_of_figures(figures, control="knob")


def test_selector_of_sliders_is_a_dropdown_over_one_slider_per_first_key():
    figs = {(c, s): line_figure(h) for (c, s), h in
            {("fog", 1): 0.1, ("fog", 2): 0.2, ("noise", 1): 0.3, ("noise", 2): 0.4, ("noise", 3): 0.5}.items()}
    for fig in figs.values():
        plt.close(fig)
    box = selector_of_sliders(figs, descriptions=("corruption", "severity"))
    assert isinstance(box.slider, widgets.Dropdown) and box.slider.description == "corruption"
    assert box.slider.options == (("fog", "fog"), ("noise", "noise"))
    assert box.link.source == (box.slider, "index") and box.link.target == (box.stack, "selected_index")
    fog, noise = box.stack.children
    assert isinstance(fog, FigureSlider) and isinstance(fog.slider, widgets.SelectionSlider)
    assert fog.slider.description == "severity"
    assert fog.slider.options == (("1", 1), ("2", 2)) and noise.slider.options == (("1", 1), ("2", 2), ("3", 3))
    assert [bytes(img.value) for img in noise.stack.children] == [png_bytes(figs[("noise", s)]) for s in (1, 2, 3)]
    assert len({bytes(img.value) for child in (fog, noise) for img in child.stack.children}) == 5


def test_selector_of_sliders_needs_pairs():
    with pytest.raises(ConfigError, match="pairs"):
        selector_of_sliders({"fog": line_figure(0.1)})
    with pytest.raises(ConfigError, match="at least one"):
        selector_of_sliders({})


# --- every figure of the book carries its smallest text and its resolution (issue 22) -------------

def png_chunks(data: bytes) -> dict:
    """The tEXt chunks of a PNG (key -> text) and its pHYs resolution in dots per inch ("dpi")."""
    import struct

    out, at = {}, 8
    while at + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + n]
        if kind == b"tEXt":
            key, value = body.split(b"\0", 1)
            out[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"pHYs":
            out["dpi"] = struct.unpack(">I", body[:4])[0] * 0.0254
        elif kind == b"IEND":
            break
        at += 12 + n
    return out


def test_png_bytes_writes_the_smallest_text_in_pixels_and_the_dpi():
    fig = plt.figure(figsize=(2, 1))
    fig.text(0.1, 0.5, "twelve", fontsize=12)
    fig.text(0.1, 0.1, "", fontsize=4)  # empty: not text a reader sees
    hidden = fig.text(0.1, 0.8, "hidden", fontsize=5)
    hidden.set_visible(False)
    chunks = png_chunks(png_bytes(fig, dpi=100))
    assert chunks["labelaug:min_text_px"] == "16.67"  # 12 pt at 100 dpi: 12 * 100 / 72 px
    assert chunks["dpi"] == pytest.approx(100, abs=0.01)
    chunks = png_chunks(png_bytes(fig, dpi=150))
    assert chunks["labelaug:min_text_px"] == "25.00" and chunks["dpi"] == pytest.approx(150, abs=0.05)  # pHYs: dots per metre
    plt.close(fig)


def test_png_bytes_counts_tick_labels_and_refuses_low_resolutions():
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [0, 1])
    ax.tick_params(labelsize=7)
    ax.set_title("title", fontsize=14)
    assert png_chunks(png_bytes(fig))["labelaug:min_text_px"] == f"{7 * 100 / 72:.2f}"
    with pytest.raises(ConfigError, match="100 dpi"):
        png_bytes(fig, dpi=72)
    plt.close(fig)


def test_sliders_draw_every_image_through_png_bytes_and_close_the_figures(figures):
    box = slider_of_figures(figures)
    for img, fig in zip(box.stack.children, figures.values()):
        assert "labelaug:min_text_px" in png_chunks(bytes(img.value))
        assert not plt.fignum_exists(fig.number)  # closed once drawn
