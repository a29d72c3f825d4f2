"""The book's figures draw what they say: one bar group per class, bars of the right heights,
labelled axes with units, the project's palette. Runs are made by hand (no training)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.colors import to_hex
from torch import nn

from labelaug_core.config import TrainConfig
from labelaug_core.report.chapter_figures import (
    adversarial_examples,
    defence_robust_lines,
    delta_explorer_figure,
    delta_explorer_figures,
    target_vector_figures,
)
from labelaug_core.report.figures import (
    ERROR_PALETTE,
    PALETTE,
    error_curve_plot,
    per_class_bars,
    target_vector,
    training_curves,
)
from labelaug_core.runs.store import Run

NAMES = ["tee", "trouser", "coat"]


def fake_run(method: str, seed: int = 0, delta: float = 0.03, *, clean, pgd, history=None) -> Run:
    """A finished run made by hand: per-class clean and PGD error (%) of the 3 classes of NAMES."""
    config = TrainConfig(dataset="fashion-mnist", method=method, seed=seed, delta=delta, epochs=1)
    per_class = pd.DataFrame({"class": range(3), "name": NAMES, "clean_err": clean, "fgsm_err": pgd, "pgd_err": pgd})
    metrics = {"clean_err": float(np.mean(clean)), "pgd_err": float(np.mean(pgd)), "n_attacked": 100}
    history = history if history is not None else pd.DataFrame(
        {"epoch": [1, 2], "train_loss": [2.0, 1.0], "train_err": [80.0, 60.0]})
    return Run(Path(f"/no/runs/{method}-{delta}-{seed}"), config, metrics, per_class, history, {})


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def runs_by_method():
    return {
        "std": [fake_run("std", 0, clean=[10.0, 20.0, 30.0], pgd=[90.0, 95.0, 100.0]),
                fake_run("std", 1, clean=[12.0, 22.0, 32.0], pgd=[92.0, 97.0, 100.0])],
        "adv": [fake_run("adv", 0, clean=[15.0, 25.0, 35.0], pgd=[40.0, 50.0, 60.0]),
                fake_run("adv", 1, clean=[17.0, 27.0, 37.0], pgd=[42.0, 52.0, 62.0])],
        "advplus": [fake_run("advplus", 0, clean=[14.0, 24.0, 34.0], pgd=[30.0, 40.0, 50.0]),
                    fake_run("advplus", 1, clean=[16.0, 26.0, 36.0], pgd=[32.0, 42.0, 52.0])],
    }


def bar_heights(ax) -> list[float]:
    return [p.get_height() for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle) and p.get_width() > 0]


def test_per_class_bars_has_one_bar_group_per_class_and_labelled_axes(runs_by_method):
    fig = per_class_bars(runs_by_method)
    assert len(fig.axes) == 2  # clean and PGD panels
    for ax, metric in zip(fig.axes, ("clean_err", "pgd_err")):
        assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
        assert ax.get_ylabel() == "error (%)"
        assert ax.get_ylim() == (0, 100)
        heights = bar_heights(ax)
        assert len(heights) == len(NAMES) * 3  # one bar per (class, method)
        # the bars are the means over the two seeds, method by method
        expected = [np.mean([r.per_class[metric][k] for r in runs_by_method[m]])
                    for m in ("std", "adv", "advplus") for k in range(3)]
        assert sorted(heights) == pytest.approx(sorted(expected))
        legend = {t.get_text() for t in ax.get_legend().get_texts()}
        assert legend == {"Std", "Adv", "Adv+"}
    assert [ax.get_title() for ax in fig.axes] == ["Clean", "PGD-40"]


@pytest.mark.parametrize("delta", [0.0, 0.03, 0.3])
def test_target_vector_bars_sum_to_one(delta):
    fig = target_vector(delta, 10, 2, label=3, op=1)
    ax = fig.axes[0]
    heights = bar_heights(ax)
    assert len(heights) == 12  # K + M bars
    assert sum(heights) == pytest.approx(1.0)
    assert heights[3] == pytest.approx(1 - delta) and heights[10 + 1] == pytest.approx(delta)
    assert ax.get_ylabel() == "target"
    assert [t.get_text() for t in ax.get_xticklabels()][-2:] == ["op0", "op1"]


def test_target_vector_figures_one_closed_figure_per_delta():
    deltas = [0.0, 0.1, 0.3]
    figures = target_vector_figures(deltas, 4, 1, label=2)
    assert list(figures) == deltas
    for d, fig in figures.items():
        heights = bar_heights(fig.axes[0])
        assert sum(heights) == pytest.approx(1.0) and heights[2] == pytest.approx(1 - d)
        assert not plt.fignum_exists(fig.number)  # closed: a slider shows them, the notebook does not


def test_delta_explorer_figure_draws_the_sweep_with_the_palette(runs_by_method):
    sweep = {0.0: [fake_run("advplus", 0, 0.0, clean=[10.0, 10.0, 10.0], pgd=[50.0, 60.0, 70.0]),
                   fake_run("advplus", 1, 0.0, clean=[20.0, 20.0, 20.0], pgd=[70.0, 80.0, 90.0])],
             0.3: [fake_run("advplus", 0, 0.3, clean=[30.0, 30.0, 30.0], pgd=[20.0, 30.0, 40.0])]}
    base = {"std": runs_by_method["std"], "adv": runs_by_method["adv"]}
    fig = delta_explorer_figure(0.0, sweep, base)
    target_ax, scatter_ax, bars_ax = fig.axes
    assert sum(bar_heights(target_ax)) == pytest.approx(1.0)  # the K + M target at δ = 0: one-hot
    # clean against PGD error: Std, Adv and the δ star at the means over seeds, coloured by PALETTE
    points = {c.get_label(): (c.get_offsets()[0], to_hex(c.get_facecolor()[0])) for c in scatter_ax.collections}
    assert points["Std"][1] == PALETTE["Std"] and points["Adv"][1] == PALETTE["Adv"]
    star, colour = points["Adv+ δ=0"]
    assert colour == PALETTE["Adv+"] and list(star) == pytest.approx([15.0, 70.0])
    line = scatter_ax.get_lines()[0]  # the sweep, in δ order
    assert list(line.get_xdata()) == pytest.approx([15.0, 30.0]) and list(line.get_ydata()) == pytest.approx([70.0, 30.0])
    assert scatter_ax.get_xlabel() == "clean error (%)" and scatter_ax.get_ylabel() == "PGD-40 error (%)"
    # per-class bars of Adv+ at δ = 0, mean over its two seeds: clean then PGD
    heights = bar_heights(bars_ax)
    assert heights == pytest.approx([15.0, 15.0, 15.0, 60.0, 70.0, 80.0])
    colours = {to_hex(p.get_facecolor()) for p in bars_ax.patches}
    assert colours == {ERROR_PALETTE["clean"], ERROR_PALETTE["PGD"]}
    assert bars_ax.get_ylabel() == "error (%)" and [t.get_text() for t in bars_ax.get_xticklabels()] == NAMES

    figures = delta_explorer_figures(sweep, base)
    assert list(figures) == [0.0, 0.3] and not plt.fignum_exists(figures[0.3].number)


def test_defence_robust_lines_are_mean_robust_accuracy():
    a = pd.DataFrame({"pgd_err": [40.0, 60.0, 80.0]})
    b = pd.DataFrame({"pgd_err": [60.0, 80.0, 100.0]})
    fig = defence_robust_lines({"Adv": [a, b], "Adv, logit bias": [a]}, NAMES, weak_classes=[2])
    ax = fig.axes[0]
    lines = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
    assert lines["Adv"] == pytest.approx([50.0, 30.0, 10.0]) and lines["Adv, logit bias"] == pytest.approx([60.0, 40.0, 20.0])
    assert ax.get_ylabel() == "robust accuracy (%)"
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
    assert len(ax.patches) == 1  # the weak class is marked


def test_error_curve_plot_labels_units_and_plots_both_attacks():
    rows = [{"eps": 0.0, "fgsm_err": 10.0, "pgd_err": 10.0}, {"eps": 0.1, "fgsm_err": 50.0, "pgd_err": 80.0}]
    ax = error_curve_plot(rows, "eps").axes[0]
    assert ax.get_xlabel() == "eps (pixel units)" and ax.get_ylabel() == "error (%)"
    assert {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()} == {"PGD": [10.0, 80.0],
                                                                                 "FGSM": [10.0, 50.0]}
    ax = error_curve_plot([{"steps": 1, "pgd_err": 30.0}, {"steps": 10, "pgd_err": 60.0}], "steps").axes[0]
    assert ax.get_xlabel() == "PGD steps" and len(ax.get_lines()) == 1


def test_training_curves_one_line_per_run_in_the_method_colour(runs_by_method):
    loss_ax, err_ax = training_curves(runs_by_method).axes
    assert len(loss_ax.get_lines()) == 6
    assert {to_hex(line.get_color()) for line in err_ax.get_lines()} == set(PALETTE.values())
    assert loss_ax.get_xlabel() == "epoch" and err_ax.get_ylabel().startswith("training error (%)")


class Linear(nn.Module):
    """A fixed linear classifier of 2x2 images into 3 classes (K = 3, M = 1)."""

    num_classes, num_ops = 3, 1

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        torch.manual_seed(0)
        nn.init.normal_(self.fc.weight)

    def forward(self, x):
        return self.fc(x.flatten(1))


def test_adversarial_examples_grid_shows_clean_and_both_attacks():
    torch.manual_seed(0)
    x, y = torch.rand(2, 1, 2, 2), torch.tensor([0, 2])
    model = Linear().eval()
    fig = adversarial_examples(model, x, y, 0.1, NAMES, steps=3)
    assert len(fig.axes) == 2 * 5  # rows: images; columns: clean, then perturbation and image of FGSM, PGD-3
    titles = [ax.get_title() for ax in fig.axes]
    predicted = model(x)[:, :3].argmax(1).tolist()
    assert titles[0] == f"clean: {NAMES[predicted[0]]}\n(true tee)"
    assert titles[5].endswith("(true coat)")
    assert titles[1] == "FGSM perturbation" and titles[3] == "PGD-3 perturbation" and titles[4].startswith("PGD-3: ")
