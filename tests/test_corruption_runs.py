"""Tests for labelaug_core.corruption_runs: a run's corruption table, computed once, and Table 1's mCE."""
from __future__ import annotations

import shutil

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import labelaug_core.evaluation.corrupted_sets as C
from labelaug_core.config import TrainConfig
from labelaug_core.errors import ConfigError
from labelaug_core.report.corruptions import corruption_ce_bars, corruption_grid, corruption_heatmaps
from labelaug_core.report.corruptions import (
    class_mce,
    mce_headline,
    method_tables,
    table1_with_mce,
)
from labelaug_core.report.paper import PAPER_TABLE1
from labelaug_core.runs.corruptions import (
    clean_images,
    corruption_eval,
    corruption_examples,
    corruption_source,
)
from labelaug_core.runs.store import Run, load_model, load_run
from labelaug_core.runs.training import ensure_run

N_IMAGES = 20  # two per class


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, data_root) -> Path:
    """A std run of the small CNN on 500 real Fashion-MNIST images (one epoch)."""
    config = TrainConfig(dataset="fashion-mnist", method="std", epochs=1, train_subset=500, test_subset=100,
                         eval_subset=10, eval_steps=1, batch_size=100, precision="fp32")
    return ensure_run(config, tmp_path_factory.mktemp("runs"), data_dir=data_root, device="cpu", progress=False)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("corruption-cache")


@pytest.fixture(scope="module")
def table(run_dir, cache, data_root) -> pd.DataFrame:
    return corruption_eval(run_dir, n_images=N_IMAGES, data_dir=data_root, cache_dir=cache, device="cpu", workers=1,
                           progress=False)


def test_the_table_has_every_corruption_and_severity_per_class(table, run_dir):
    assert list(table.columns) == ["corruption", "severity", "n", "err", *[f"class_{k}_err" for k in range(10)]]
    assert list(table["corruption"]) == [c for c in C.CORRUPTIONS for _ in C.SEVERITIES]
    assert list(table["severity"]) == list(C.SEVERITIES) * 15
    assert (table["n"] == N_IMAGES).all()
    classes = table[[f"class_{k}_err" for k in range(10)]].to_numpy()
    assert np.isin(classes, [0.0, 50.0, 100.0]).all()  # two images per class
    assert np.allclose(table["err"], classes.mean(axis=1))  # balanced: overall = mean over classes
    (sidecar,) = run_dir.glob(f"corruption-n{N_IMAGES}-s0-*.key.json")
    meta = json.loads(sidecar.read_text())
    assert meta["settings"]["n_images"] == N_IMAGES and meta["settings"]["seed"] == 0 and meta["n_scored"] == N_IMAGES
    assert "labelaug_core.evaluation.corruptions" in meta["code"]  # the generator's code is part of the key
    assert corruption_source(run_dir, n_images=N_IMAGES) == "generated, CIFAR-10-C constants, 28 px"
    assert not list(run_dir.glob("*.tmp"))


def test_a_row_is_the_models_error_on_that_corrupted_set(table, run_dir, cache, data_root):
    config = load_run(run_dir).config
    images, labels, paths = clean_images(config, N_IMAGES, data_dir=data_root)
    assert paths is None and np.bincount(labels).tolist() == [2] * 10
    x, y = C.corrupted_set(f"{config.dataset}-28px", images, labels, "fog", 3, cache_dir=cache, progress=False)
    model = load_model(run_dir, "cpu")
    with torch.no_grad():
        pred = model(torch.from_numpy(x).float() / 255)[:, :10].argmax(1).numpy()
    row = table.set_index(["corruption", "severity"]).loc[("fog", 3)]
    assert row["err"] == pytest.approx(100 * np.mean(pred != y))


def test_a_finished_table_is_read_not_recomputed(table, run_dir, cache, data_root, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("recomputed")

    monkeypatch.setattr(C, "corruption_errors", fail)
    monkeypatch.setattr("labelaug_core.runs.store.load_model", fail)
    again = corruption_eval(run_dir, n_images=N_IMAGES, data_dir=data_root, cache_dir=cache, progress=False)
    pd.testing.assert_frame_equal(again, table)
    assert corruption_source(run_dir, n_images=40) == ""  # other settings: another table, not this one


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_images=-1), "n_images must be an integer >= 0"),
    (dict(n_images=10001), "n_images must be at most 10000"),
    (dict(seed=-2), "seed must be an integer >= 0"),
    (dict(imagenet_c_dir="/nowhere"), "imagenet_c_dir applies to dataset imagenet only"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, run_dir, data_root, kwargs, match):
    fresh = tmp_path / run_dir.name  # a finished run without a corruption table
    shutil.copytree(run_dir, fresh, ignore=shutil.ignore_patterns("corruption*"))
    with pytest.raises(ConfigError, match=match) as info:
        corruption_eval(fresh, data_dir=data_root, device="cpu", workers=1, progress=False, **kwargs)
    assert "\n" not in str(info.value) and not list(fresh.glob("corruption*"))


def _run(method: str, seed: int, clean: float, pgd: float) -> Run:
    config = TrainConfig(method=method, seed=seed)
    return Run(Path(config.run_id), config, {"clean_err": clean, "pgd_err": pgd}, pd.DataFrame(), pd.DataFrame(), {})


def test_table1_gains_mce_as_the_mean_over_corruptions_and_seeds():
    runs = [_run(m, s, 10.0 + s, 50.0) for m in ("std", "adv", "advplus") for s in (0, 1)]
    errors = {}
    for r in runs:  # CE_c = c-th corruption's index + seed offset, so mCE = 7 + seed (+ 10 for adv)
        base = 10.0 * (r.config.method == "adv") + r.config.seed
        errors[r.run_id] = pd.DataFrame({"corruption": np.repeat(C.CORRUPTIONS, 5), "severity": list(C.SEVERITIES) * 15,
                                         "err": np.repeat(np.arange(15.0), 5) + base})
    table = table1_with_mce(runs, errors)
    assert list(table.columns) == [("ours", "clean_err"), ("ours", "mce"), ("ours", "pgd_err"),
                                   ("paper", "clean_err"), ("paper", "mce"), ("paper", "pgd_err")]
    assert table[("ours", "mce")].tolist() == pytest.approx([7.5, 17.5, 7.5])
    assert table[("ours", "clean_err")].tolist() == pytest.approx([10.5] * 3)
    assert table[("paper", "mce")].tolist() == PAPER_TABLE1["mce"].tolist()
    with pytest.raises(ConfigError, match="no corruption table for run"):
        table1_with_mce(runs, {})
    headline = mce_headline(runs, errors)
    assert headline.loc["Adv+ vs Adv, mCE (drop)", "ours_%"] == pytest.approx(100 * (17.5 - 7.5) / 17.5)
    assert headline.loc["Adv+ vs Adv, mCE (drop)", "paper_%"] == pytest.approx(6.97, abs=0.01)
    tables = method_tables(runs, errors)
    assert list(tables) == ["std", "adv", "advplus"]
    assert tables["adv"]["err"].tolist() == pytest.approx((np.repeat(np.arange(15.0), 5) + 10.5).tolist())


def test_class_mce_is_the_mean_over_corruptions_of_each_class_ce():
    table = pd.DataFrame({"corruption": ["fog", "fog", "snow", "snow"], "severity": [1, 2, 1, 2], "err": [0.0] * 4,
                          "class_0_err": [10.0, 30.0, 50.0, 70.0], "class_1_err": [0.0, 0.0, 100.0, 100.0]})
    per_class = class_mce(table, ["cat", "dog"])
    assert per_class.to_dict() == {"cat": 40.0, "dog": 50.0}  # cat: CE fog 20, snow 60; dog: 0, 100


def test_one_image_under_every_corruption_and_the_grid_that_shows_it(fmnist_test):
    image = (fmnist_test[0][0] * 255).round().to(torch.uint8).numpy()  # (1, 28, 28)
    examples = corruption_examples(image)
    assert len(examples) == 75 and all(v.shape == (1, 28, 28) and v.dtype == np.uint8 for v in examples.values())
    brightness = [examples[("brightness", s)].mean() for s in C.SEVERITIES]
    contrast = [examples[("contrast", s)].std() for s in C.SEVERITIES]
    assert np.all(np.diff(brightness) > 0) and brightness[0] > image.mean()
    assert np.all(np.diff(contrast) < 0) and contrast[0] < image.std()
    fig = corruption_grid(image, examples)
    axes = np.array(fig.axes).reshape(15, 6)
    assert np.array_equal(axes[3, 0].images[0].get_array(), image[0])
    assert np.array_equal(axes[8, 5].images[0].get_array(), examples[(C.CORRUPTIONS[8], 5)][0])


def test_figure2_heatmaps_show_the_table(table):
    fig = corruption_heatmaps({"std": table, "adv": table.assign(err=table["err"] / 2)})
    heat = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in heat] == ["Std", "Adv"]
    shown = heat[1].collections[0].get_array().reshape(15, 5)
    assert np.allclose(shown, table["err"].to_numpy().reshape(15, 5) / 2)
    bars = corruption_ce_bars({"std": table})
    ce, m = C.mce(table)
    assert bars.axes[0].get_legend().get_texts()[0].get_text() == f"Std (mCE {m:.1f})"
    assert np.allclose(sorted(p.get_height() for p in bars.axes[0].patches if p.get_height() > 0),
                       sorted(ce[ce > 0]))
