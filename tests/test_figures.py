"""The book's figures draw what they say: one bar group per class, bars of the right heights,
labelled axes with units, the project's palette. Runs are made by hand (no training)."""
from __future__ import annotations

import dataclasses
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
from labelaug_core.evaluation.examples import fgsm_pgd_examples
from labelaug_core.report.attacks import adversarial_examples
from labelaug_core.report.defences import defence_robust_lines
from labelaug_core.report.delta import delta_explorer_figure, delta_explorer_figures
from labelaug_core.report.targets import target_vector_figures
from labelaug_core.report.attacks import error_curve_plot
from labelaug_core.report.classwise_error import per_class_bars
from labelaug_core.report.style import ERROR_PALETTE, PALETTE
from labelaug_core.report.targets import target_vector, training_curves
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.examples import AttackedBatch, attack_examples
from labelaug_core.report.attacks import eps_example_views, steps_curve_views
from labelaug_core.report.classwise_error import class_views
from labelaug_core.report.corruptions import corruption_views
from labelaug_core.report.delta import delta_confusion_views
from labelaug_core.report.temperature import temperature_views
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
    fig.canvas.draw()
    # stacked panels on a shared class axis, labelled under the last one
    assert [t.get_text() for t in fig.axes[-1].get_xticklabels()] == NAMES
    assert not any(t.get_visible() and t.get_text() for t in fig.axes[0].get_xticklabels())
    # one legend for both panels, above them (outside the data)
    assert [ax.get_legend() for ax in fig.axes] == [None, None]
    assert {t.get_text() for t in fig.legends[0].get_texts()} == {"Std", "Adv", "Adv+"}
    for ax, metric in zip(fig.axes, ("clean_err", "pgd_err")):
        assert ax.get_ylabel() == "error (%)"
        assert ax.get_ylim() == (0, 100)
        heights = bar_heights(ax)
        assert len(heights) == len(NAMES) * 3  # one bar per (class, method)
        # the bars are the means over the two seeds, method by method
        expected = [np.mean([r.per_class[metric][k] for r in runs_by_method[m]])
                    for m in ("std", "adv", "advplus") for k in range(3)]
        assert sorted(heights) == pytest.approx(sorted(expected))
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
    fig = adversarial_examples(x, y, fgsm_pgd_examples(model, x, y, 0.1, steps=3), NAMES)
    assert len(fig.axes) == 2 * 5  # rows: images; columns: clean, then perturbation and image of FGSM, PGD-3
    titles = [ax.get_title() for ax in fig.axes]
    predicted = model(x)[:, :3].argmax(1).tolist()
    assert titles[0] == f"clean: {NAMES[predicted[0]]}\n(true tee)"
    assert titles[5].endswith("(true coat)")
    assert titles[1] == "FGSM perturbation" and titles[3] == "PGD-3 perturbation" and titles[4].startswith("PGD-3: ")


# --- slider views (labelaug_core.report.slider_views) ------------------------------------------------

def test_attack_examples_eps0_is_clean_and_confidence_is_the_softmax_of_the_first_k_logits():
    torch.manual_seed(0)
    x, y = torch.rand(4, 1, 2, 2), torch.tensor([0, 1, 2, 0])
    models = {"std": Linear().eval()}
    out = attack_examples(models, x, y, [0.0, 0.2], steps=3)
    assert list(out) == [0.0, 0.2]
    clean = out[0.0]["std"]
    np.testing.assert_array_equal(clean.x_adv, x.numpy())
    prob = torch.softmax(models["std"](x)[:, :3], dim=1)  # K = 3 of the 4 logits
    np.testing.assert_allclose(clean.confidence, 100 * prob.max(1).values.detach().numpy(), rtol=1e-5)
    np.testing.assert_array_equal(clean.pred, prob.argmax(1).numpy())
    attacked = out[0.2]["std"]
    assert np.abs(attacked.x_adv - x.numpy()).max() <= 0.2 + 1e-6
    assert attacked.x_adv.min() >= 0 and attacked.x_adv.max() <= 1
    with pytest.raises(ConfigError, match="steps"):
        attack_examples(models, x, y, [0.1], steps=0)


def test_eps_example_views_one_per_eps_titled_with_prediction_and_confidence():
    x = np.full((2, 1, 2, 2), 0.5, dtype=np.float32)
    y = np.array([0, 2])
    batch = {e: {"std": AttackedBatch(x + e, np.array([0, 1]), np.array([91.2, 40.0])),
                 "adv": AttackedBatch(x - e, np.array([0, 2]), np.array([60.0, 75.4]))} for e in (0.0, 0.1, 0.25)}
    views = eps_example_views(torch.tensor(x), torch.tensor(y), batch, NAMES, steps=10)
    assert list(views) == [0.0, 0.1, 0.25]
    fig = views[0.1]
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 2 * 5  # rows: images; columns: clean, then perturbation and image of each model
    titles = [ax.get_title() for ax in images]
    # the first row heads the columns (clean, each model's δx and image); every image names its class
    assert titles[0] == "clean\ntrue:\ntee" and titles[1] == "Std\nδx" and titles[6] == ""
    assert titles[2] == "Std\ntee\n91% sure" and titles[7] == "trouser ✗\n40% sure"
    assert titles[5] == "true:\ncoat" and titles[9] == "coat\n75% sure"
    assert fig._suptitle.get_text() == "PGD-10 at ε = 0.1 (pixel units)"
    colorbar = [ax for ax in fig.axes if ax.get_ylabel() == "δx (pixel units)"]
    assert len(colorbar) == 1
    assert images[1].images[0].get_clim() == (-0.25, 0.25)  # one scale for every ε: the largest


def test_steps_curve_views_draw_the_selected_steps_in_bold():
    curves = pd.DataFrame([{"method": m, "eps": e, "steps": s, "pgd_err": 10 * s + 100 * e + (5 if m == "adv" else 0),
                            "fgsm_err": 0.0} for s in (1, 5) for m in ("std", "adv") for e in (0.0, 0.1, 0.3)])
    views = steps_curve_views(curves)
    assert list(views) == [1, 5]
    ax = views[5].axes[0]
    bold = [line for line in ax.get_lines() if line.get_linewidth() == 2]
    assert [list(line.get_ydata()) for line in bold] == [[50.0, 60.0, 80.0], [55.0, 65.0, 85.0]]
    assert [to_hex(line.get_color()) for line in bold] == [PALETTE["Std"], PALETTE["Adv"]]
    assert ax.get_xlabel() == "ε (pixel units)" and ax.get_ylabel() == "error (%)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Std, PGD-5", "Adv, PGD-5"]


def write_predictions(run: Run, y, pgd) -> Run:
    run.run_dir.mkdir(parents=True)
    np.savez(run.run_dir / "predictions.npz", y=np.array(y), clean=np.array(y), fgsm=np.array(pgd), pgd=np.array(pgd),
             attacked=np.ones(len(y), dtype=bool))
    return run


def test_class_views_show_the_class_errors_and_its_adversarial_confusion_row(tmp_path, runs_by_method):
    runs = {m: [dataclasses.replace(r, run_dir=tmp_path / f"{m}-{r.config.seed}") for r in group]
            for m, group in runs_by_method.items()}
    for group in runs.values():
        for run in group:
            write_predictions(run, y=[0, 0, 0, 0, 1, 2], pgd=[1, 1, 2, 0, 0, 2])
    views = class_views(runs, NAMES)
    assert list(views) == NAMES
    left, right = views["trouser"].axes[:2]
    # clean then PGD error of class 1 per model, mean over the two seeds
    assert bar_heights(left) == [21.0, 26.0, 25.0, 96.0, 51.0, 41.0]
    assert left.get_ylabel() == "error of the class (%)" and views["trouser"]._suptitle.get_text() == "class trouser"
    tee_row = views["tee"].axes[1].collections[0].get_array().reshape(3, 3)
    np.testing.assert_allclose(tee_row, [[25.0, 50.0, 25.0]] * 3)  # 1 of 4 kept, 2 sent to trouser, 1 to coat
    assert right.get_xlabel() == "predicted class of its PGD-40 images"


def test_delta_confusion_views_one_matrix_per_delta(tmp_path):
    sweep = {}
    for d, pgd in ((0.0, [1, 1, 2]), (0.1, [0, 1, 2])):
        run = fake_run("advplus", 0, d, clean=[0.0, 0.0, 0.0], pgd=[100.0 * (p != t) for t, p in zip([0, 1, 2], pgd)])
        sweep[d] = [write_predictions(dataclasses.replace(run, run_dir=tmp_path / f"d{d}"), y=[0, 1, 2], pgd=pgd)]
    views = delta_confusion_views(sweep, NAMES)
    assert list(views) == [0.0, 0.1]
    heat, bars = views[0.0].axes[:2]
    np.testing.assert_allclose(heat.collections[0].get_array().reshape(3, 3), [[0, 100, 0], [0, 100, 0], [0, 0, 100]])
    assert [p.get_width() for p in bars.patches] == [100.0, 0.0, 0.0]
    assert heat.get_title() == "Adv+ δ = 0: adversarial confusion" and bars.get_xlabel() == "PGD-40 error (%)"
    np.testing.assert_allclose(views[0.1].axes[0].collections[0].get_array().reshape(3, 3), 100 * np.eye(3))


def corruption_table(base: float) -> pd.DataFrame:
    rows = [{"corruption": c, "severity": s, "err": base + s, "n": 30,
             **{f"class_{k}_err": base + 10 * k + s for k in range(3)}} for c in ("fog", "noise") for s in (1, 2)]
    return pd.DataFrame(rows)


def test_corruption_views_one_per_corruption_and_severity_with_per_class_error():
    tables = {"std": corruption_table(20.0), "adv": corruption_table(40.0)}
    image = np.zeros((1, 2, 2), dtype=np.uint8)
    examples = {("fog", 1): image, ("fog", 2): image, ("noise", 1): image, ("noise", 2): image + 255}
    views = corruption_views(tables, examples, NAMES)
    assert list(views) == list(examples)
    picture, bars = views[("noise", 2)].axes[:2]
    assert picture.get_title() == "noise\nseverity 2" and picture.images[0].get_array().max() == 1.0
    assert bar_heights(bars) == [22.0, 32.0, 42.0, 42.0, 52.0, 62.0]
    assert bars.get_ylabel() == "error (%)"
    assert [t.get_text() for t in bars.get_legend().get_texts()] == ["Std: 22%", "Adv: 42%"]
    with pytest.raises(ConfigError, match="rows for"):
        corruption_views(tables, {("blur", 1): image}, NAMES)


def temperature_table(shift: float) -> pd.DataFrame:
    return pd.DataFrame([{"temperature": t, "success_%": shift + t, **{f"class_{k}_success_%": shift + 10 * k + t
                                                                       for k in range(3)}} for t in (0.1, 1.0, 10.0)])


def test_temperature_views_bars_at_t_and_plain_pgd_ticks():
    sweeps = {"adv": temperature_table(20.0), "advplus": temperature_table(30.0)}
    views = temperature_views(sweeps, NAMES)
    assert list(views) == [0.1, 1.0, 10.0]
    ax = views[10.0].axes[0]
    assert bar_heights(ax) == [30.0, 40.0, 50.0, 40.0, 50.0, 60.0]
    ticks = [list(c.get_offsets()[:, 1]) for c in ax.collections]
    assert ticks == [[21.0, 31.0, 41.0], [31.0, 41.0, 51.0]]  # T = 1
    assert ax.get_ylabel() == "attack success (%)" and ax.get_title() == "Temperature-PGD at T = 10"
    assert {t.get_text() for t in views[10.0].legends[0].get_texts()} == {"Adv: 30% overall", "Adv+: 40% overall",
                                                                              "T = 1 (plain PGD)"}
    with pytest.raises(ConfigError, match="T = 1"):
        temperature_views({"adv": temperature_table(0.0).iloc[[0, 2]]}, NAMES)
