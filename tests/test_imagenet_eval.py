"""Tests for labelaug_core.imagenet_eval: ReaL error, ImageNet-X factors, and the ImageNet path end to end.

No ImageNet here: a tiny ImageFolder whose class folders are real WordNet ids and whose validation
files carry real ImageNet validation names, so the annotations that the imagenet-x package ships
(ReaL labels, validation labels, ImageNet-X factors) apply to them. Its pixels are noise; a
randomly initialised ResNet-50 at 32 px classifies them.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from datagen import write_image_folder

import labelaug_core.evaluation.imagenet as IE
import labelaug_core.report.imagenet as IR
import labelaug_core.runs.imagenet as IRun
from labelaug_core.config import TrainConfig
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.corrupted_sets import imagenet_c_loader
from labelaug_core.evaluation.corruptions import CORRUPTIONS
from labelaug_core.models import build_model
from labelaug_core.report.imagenet import factor_bars, per_class_sorted
from labelaug_core.report.paper import PAPER_TABLE2
from labelaug_core.runs.corruptions import (
    clean_images,
    corruption_eval,
    corruption_source,
)
from labelaug_core.runs.store import Run, load_model, load_run
from labelaug_core.runs.training import ensure_run

# Real validation files (number in ILSVRC2012_val_<number>.JPEG) per class, with their ReaL sets
# as ReaL has them: empty sets (excluded), sets without the original label, multi-label sets, a
# prototypical image (ImageNet-X leaves it out) and one that ImageNet-X does not annotate.
VAL_FILES = {
    "n01443537": {"00000236": [], "00000262": [1], "00000307": [1], "00000994": [1]},  # goldfish, index 1
    "n02099601": {"00001112": [207], "00001123": [207], "00011373": [865, 207], "00030637": [208, 179]},  # 207
    "n13040303": {"00000058": [994], "00000967": [997], "00029290": [], "00048153": [994]},  # stinkhorn, 994
}
IMAGENET_INDEX = {"n01443537": 1, "n02099601": 207, "n13040303": 994}
EXTRA_CLASS = ("n01440764", ("00000293", "00002138"))  # tench, index 0: only in ImageNet-C, sorts first


def val_name(number: str) -> str:
    return f"ILSVRC2012_val_{number}.JPEG"


def write_tiny_imagenet(root: Path, size: int = 40) -> Path:
    """``root/imagenet/{train,val}/<wnid>/`` noise JPEGs: 4 training and 4 validation images per class."""
    folder = root / "imagenet"
    numbers = {c: list(files) for c, files in VAL_FILES.items()}
    write_image_folder(folder, {"train": dict.fromkeys(VAL_FILES, 4)}, (size, size), ext=".JPEG",
                       names=lambda split, c, i: f"{c}_{i}")
    write_image_folder(folder, {"val": dict.fromkeys(VAL_FILES, 4)}, (size, size), ext=".JPEG", seed=1,
                       names=lambda split, c, i: val_name(numbers[c][i])[:-5])
    return folder


def val_frame(predicted) -> pd.DataFrame:
    """predictions_frame of the 12 validation files (sorted as the loader lists them), folder-class outputs."""
    classes = sorted(VAL_FILES)
    paths = [f"val/{c}/{val_name(n)}" for c in classes for n in sorted(VAL_FILES[c])]
    y = np.repeat(np.arange(3), 4)
    return IE.predictions_frame(paths, y, np.asarray(predicted), classes, num_classes=3)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("imagenet-data")
    write_tiny_imagenet(root)
    return str(root)


@pytest.fixture(scope="module")
def run_dir(data_dir, tmp_path_factory) -> Path:
    """A std run of ResNet-50 on the tiny folder: 3 class outputs (one per train/ folder), 32 px."""
    config = TrainConfig(dataset="imagenet", method="std", epochs=1, batch_size=4, image_size=32, eval_steps=1,
                         pretrained=False, precision="fp32")
    return ensure_run(config, tmp_path_factory.mktemp("runs"), data_dir=data_dir, device="cpu", progress=False)


# --- ReaL -------------------------------------------------------------------------------------

def test_real_labels_shipped_by_the_package_are_the_ones_indexed_here():
    path = IE._annotations() / "imagenet_real_labels.jsonl"
    raw = json.loads(path.read_text())
    assert len(raw) == IE.N_VAL and sum(not s for s in raw) == 3163  # ReaL: 46,837 images keep a label
    for files in VAL_FILES.values():
        for number, real in files.items():
            assert raw[int(number) - 1] == real
            assert IE._real_sets()[IE._val_index(val_name(number))] == frozenset(real)
    assert list(IE.imagenet_classes()["wnid"].iloc[[0, 1, 207, 994]]) == [EXTRA_CLASS[0], *sorted(VAL_FILES)]


def test_real_error_counts_a_prediction_in_the_real_set_and_skips_empty_sets():
    frame = val_frame(np.repeat(np.arange(3), 4))  # every image predicted as its original label
    metrics, per_class = IE.real_error(frame)
    # 2 empty sets excluded; of the other 10, two sets lack the original label (208/179, 997)
    assert metrics["n_real"] == 10 and metrics["n_excluded"] == 2 and metrics["n_classes"] == 3
    assert metrics["real_err"] == pytest.approx(20.0)
    assert list(per_class["label"]) == [1, 207, 994] and list(per_class["n"]) == [3, 4, 3]
    assert per_class["real_err"].tolist() == pytest.approx([0.0, 25.0, 100 / 3])
    errs = np.array([0.0, 25.0, 100 / 3])
    assert metrics["real_class_mean"] == pytest.approx(errs.mean())
    assert metrics["real_class_sd"] == pytest.approx(errs.std())  # ddof=0, as Table 2
    assert metrics["real_class_worst"] == pytest.approx(100 / 3)
    # Predicting goldfish for everything: right only on the goldfish images with a non-empty set.
    metrics, per_class = IE.real_error(val_frame(np.zeros(12, dtype=int)))
    assert metrics["real_err"] == pytest.approx(70.0)
    assert per_class["real_err"].tolist() == pytest.approx([0.0, 100.0, 100.0])


def test_outputs_map_to_imagenet_indices_by_wordnet_id():
    classes = sorted(VAL_FILES)
    paths = [f"x/{c}/{val_name(n)}" for c in classes for n in sorted(VAL_FILES[c])]
    y = np.repeat(np.arange(3), 4)
    pred = np.array([2, 1, 0] * 4)
    subset = IE.predictions_frame(paths, y, pred, classes, num_classes=3)
    assert subset["label"].tolist() == [IMAGENET_INDEX[c] for c in classes for _ in range(4)]
    assert subset["predicted_class"].tolist() == [[1, 207, 994][k] for k in pred]
    assert subset["file_name"].tolist() == [Path(p).name for p in paths]
    full = IE.predictions_frame(paths, y, pred + 500, classes, num_classes=1000)  # ImageNet outputs: as they are
    assert full["predicted_class"].tolist() == (pred + 500).tolist()
    with pytest.raises(ConfigError, match="num_classes must be 1000 .* or 3"):
        IE.predictions_frame(paths, y, pred, classes, num_classes=5)


@pytest.mark.parametrize("name, classes, match", [
    ("img0.JPEG", None, "expected ImageNet's validation names ILSVRC2012_val_00000001.JPEG"),
    ("ILSVRC2012_val_00050001.JPEG", None, "ILSVRC2012_val_00050000.JPEG"),
    ("ILSVRC2012_val_00001112.JPEG", None, "filed under n01443537 but its ImageNet label is n02099601"),
    ("ILSVRC2012_val_00000262.JPEG", ["cats", "dogs"], "class folder 'cats' is not an ImageNet class"),
])
def test_files_that_match_no_annotation_are_rejected_in_one_line(name, classes, match):
    with pytest.raises(ConfigError, match=match) as info:
        IE.predictions_frame([f"val/x/{name}"], [0], [0], classes or sorted(VAL_FILES), num_classes=1000)
    assert "\n" not in str(info.value)


def test_only_imagenet_has_these_annotations():
    with pytest.raises(ConfigError, match="dataset must be imagenet .* got 'fashion-mnist'"):
        IE.require_imagenet("fashion-mnist")


# --- the ImageNet path end to end ----------------------------------------------------------------

def test_a_1000_class_resnet50_is_read_on_the_folder(data_dir, tmp_path):
    from labelaug_core.data.loaders import make_loader

    torch.manual_seed(0)
    model = build_model("resnet50", 1000, channels=3, image_size=32).eval()
    loader = make_loader("imagenet", "test", 5, train=False, data_dir=data_dir, image_size=32, num_workers=0)
    frame = IE.model_predictions(model, loader, sorted(VAL_FILES))
    x = torch.cat([x for x, _ in loader])
    with torch.no_grad():
        expected = model(x).argmax(1).numpy()
    assert frame["predicted_class"].tolist() == expected.tolist()  # 1000 outputs: ImageNet indices as they are
    # evaluation order interleaves the classes: the first file of each class, then the second, ...
    interleaved = [val_name(sorted(VAL_FILES[c])[i]) for i in range(4) for c in sorted(VAL_FILES)]
    assert frame["file_name"].tolist() == interleaved
    assert frame["label"].tolist() == [IMAGENET_INDEX[c] for _ in range(4) for c in sorted(VAL_FILES)]
    # a validation file that is not an ImageNet validation image: one line naming the expected names
    root = tmp_path / "bad"
    shutil.copytree(Path(data_dir) / "imagenet", root / "imagenet")
    first = root / "imagenet" / "val" / "n01443537" / val_name("00000236")
    first.rename(first.with_name("holiday.JPEG"))
    loader = make_loader("imagenet", "test", 5, train=False, data_dir=str(root), image_size=32, num_workers=0)
    with pytest.raises(ConfigError, match="'holiday.JPEG' matches no ReaL/ImageNet-X annotation; expected"):
        IE.model_predictions(model, loader, sorted(VAL_FILES))


def test_the_imagenet_profile_attacks_every_class_when_eval_subset_is_below_the_validation_set(run_dir, data_dir):
    """The imagenet profile attacks 10,000 of the 50,000 validation images, whose files come sorted by
    class folder. Here, at the same ratio on the tiny folder (3 of 12 images per class in file order
    would be class 0 only), the attacked images must hold every class, as equal in number as can be."""
    import dataclasses

    from labelaug_core.book.plan import load_plan
    from labelaug_core.evaluation.metrics import summarize
    from labelaug_core.runs.protocol import protocol_predictions, test_loader

    profile = load_plan("imagenet-gpu", Path(__file__).resolve().parents[1]).runs[0]
    assert profile.dataset == "imagenet" and profile.test_subset == 0 and 0 < profile.eval_subset < IE.N_VAL
    config = dataclasses.replace(load_run(run_dir).config, test_subset=0, eval_subset=5)
    loader = test_loader(config, data_dir=data_dir)
    assert [t for _, t in loader.samples][:5] == [0, 0, 0, 0, 1]  # the files, sorted by class
    model = load_model(run_dir, "cpu", data_dir=data_dir)
    pred = protocol_predictions(model, config, data_dir=data_dir)
    assert pred.attacked.sum() == 5
    assert np.bincount(pred.y[pred.attacked], minlength=3).tolist() == [2, 2, 1]
    metrics, per_class = summarize(pred, 3)
    assert not np.isnan(per_class["pgd"]).any() and metrics["n_attacked"] == 5
    with pytest.raises(ConfigError, match=r"2 of 3 classes have no evaluated example \(1, 2\)"):
        summarize(protocol_predictions(model, dataclasses.replace(config, eval_subset=1), data_dir=data_dir), 3)


def test_run_predictions_are_the_runs_clean_predictions_in_imagenet_indices(run_dir, data_dir):
    run = load_run(run_dir)
    assert run.config.model == "resnet50" and len(run.per_class) == 3
    frame = IRun.run_predictions(run_dir, data_dir=data_dir)
    labels = pd.read_csv(IE._annotations() / "filename_label.csv").set_index("file_name")["label"]
    assert frame["label"].tolist() == labels[frame["file_name"]].tolist()
    assert frame["predicted_class"].tolist() == [[1, 207, 994][k] for k in run.predictions().clean]
    clean_err = 100 * (frame["predicted_class"] != frame["label"]).mean()
    assert clean_err == pytest.approx(run.metrics["clean_err"])
    metrics, real_table = IE.real_error(frame)
    assert metrics["n_real"] == 10 and 0 <= metrics["real_err"] <= 100
    panels = IR.figure1_panels([run], {run.run_id: real_table})
    assert list(panels) == ["Clean", "ReaL", "PGD-1"]
    assert panels["Clean"]["std"].tolist() == run.per_class["clean_err"].tolist()
    assert panels["ReaL"]["std"].tolist() == real_table["real_err"].tolist()  # wnids in the runs' class order
    fig = per_class_sorted(panels)
    line = fig.axes[1].get_lines()[0]
    assert line.get_ydata().tolist() == sorted(real_table["real_err"]) and line.get_label().startswith("Std (SD")


def test_imagenet_c_files_of_the_evaluated_images_give_their_clean_error(run_dir, data_dir, tmp_path):
    """ImageNet-C folders holding the very crops the run was evaluated on (uncorrupted) must score,
    for every corruption and severity, exactly the run's clean error: this checks the file
    selection, the class mapping (an extra class sorts first) and the label alignment."""
    from PIL import Image

    config = load_run(run_dir).config
    images, labels, paths = clean_images(config, 0, data_dir=data_dir, workers=0)
    root = tmp_path / "imagenet-c"
    extra = [(EXTRA_CLASS[0], val_name(n), images[0]) for n in EXTRA_CLASS[1]]
    files = [(sorted(VAL_FILES)[y], Path(p).name, img) for p, y, img in zip(paths, labels, images)] + extra
    for corruption in CORRUPTIONS:
        for severity in range(1, 6):
            for wnid, name, img in files:
                (root / corruption / str(severity) / wnid).mkdir(parents=True, exist_ok=True)
                Image.fromarray(img.transpose(1, 2, 0)).save(root / corruption / str(severity) / wnid / name, "PNG")
    table = corruption_eval(run_dir, n_images=0, data_dir=data_dir, imagenet_c_dir=root, device="cpu", workers=1,
                            progress=False)
    run = load_run(run_dir)
    assert len(table) == 75 and (table["n"] == 12).all()
    assert np.allclose(table["err"], run.metrics["clean_err"])
    assert np.allclose(table[["class_0_err", "class_1_err", "class_2_err"]], run.per_class["clean_err"].to_numpy())
    assert "ImageNet-C files" in corruption_source(run_dir, n_images=0, data_dir=data_dir, imagenet_c_dir=root)
    # an evaluated image missing from ImageNet-C: one line naming the layout
    (root / "fog" / "2" / "n02099601" / val_name("00001112")).unlink()
    with pytest.raises(ConfigError, match=r"lacks 1 of 12 \(e.g. ILSVRC2012_val_00001112.JPEG\)"):
        imagenet_c_loader(root, "fog", 2, 8, 32, workers=0, classes=sorted(VAL_FILES),
                          file_names=[Path(p).name for p in paths])


# --- ImageNet-X ----------------------------------------------------------------------------------

def _direct_factor_accuracy(frame: pd.DataFrame) -> pd.Series:
    """Accuracy per factor counted straight from the package's raw files (top factor, no prototypes)."""
    from imagenet_x import FACTORS

    wanted = set(frame["file_name"])
    with open(IE._annotations() / "imagenet_x_val_top_factor.jsonl") as f:
        rows = [json.loads(line) for line in f if line[14:42] in wanted]  # '{"file_name":"<28 chars>"'
    prototypes = set(pd.read_csv(IE._annotations() / "prototypical_paths.csv")["file_name"])
    annotated = pd.DataFrame(rows).query("file_name not in @prototypes").merge(frame, on="file_name")
    correct = annotated["predicted_class"] == annotated["class"]
    out = {f: correct[annotated[f] == 1].mean() if (annotated[f] == 1).any() else np.nan for f in FACTORS}
    return pd.Series(out | {"average": correct.mean()})


def test_imagenet_x_accuracies_and_error_ratio_match_a_direct_count():
    from imagenet_x import FACTORS

    half = val_frame(np.repeat(np.arange(3), 4))
    half.loc[::2, "predicted_class"] = 999  # every other image wrong
    never = val_frame(np.zeros(12, dtype=int)).assign(predicted_class=999)  # never right
    acc = IE.imagenet_x_accuracies({"half": half, "never": never})
    assert list(acc.index) == ["half", "never"]
    direct = _direct_factor_accuracy(half)
    assert direct["average"] not in (0.0, 1.0) and direct[FACTORS].notna().sum() >= 2  # a meaningful case
    pd.testing.assert_series_equal(acc.loc["half", [*FACTORS, "average"]], direct, check_names=False)
    # the package gives NaN for a model that is never right; here it is 0 where a factor has images
    assert (acc.loc["never", FACTORS].fillna(-1) == direct[FACTORS].notna().map({True: 0.0, False: -1.0})).all()
    assert acc.loc["never", "average"] == 0.0
    ratio = IE.error_ratios(acc)
    expected = (1 - acc.loc["half", FACTORS]) / (1 - acc.loc["half", "average"])
    pd.testing.assert_series_equal(ratio.loc["half"], expected, check_names=False)
    errors = IE.factor_errors(acc)
    assert np.allclose(errors.loc["half", FACTORS], 100 * (1 - direct[FACTORS]), equal_nan=True)
    fig = factor_bars(ratio.rename(index={"half": "adv", "never": "advplus"}), "error ratio", reference=1.0)
    first = fig.axes[0].containers[0].datavalues  # the first method's bars in factor order (none where NaN)
    assert np.allclose(first, ratio.loc["half", FACTORS].dropna())
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["Adv", "Adv+"]
    # several seeds of one method: their accuracies are averaged
    both = IE.imagenet_x_accuracies({"m": [half, never]})
    pd.testing.assert_series_equal(both.loc["m", [*FACTORS, "average"]], acc[[*FACTORS, "average"]].mean(),
                                   check_names=False)
    assert both.loc["m", "worst_factor"] == both.loc["m", FACTORS].min()
    assert list(IE.imagenet_x_counts(half).index) == FACTORS
    # 12 images less one without annotation (48153) and one prototype (307); one top factor each
    assert IE.imagenet_x_counts(half).sum() == 10


def test_imagenet_x_rejects_images_without_annotations():
    frame = pd.DataFrame({"file_name": [val_name("00048153")], "label": [994], "predicted_class": [994]})
    with pytest.raises(ConfigError, match="none of its 1 validation images has an ImageNet-X annotation"):
        IE.imagenet_x_accuracies({"std": frame})
    with pytest.raises(ConfigError, match="which_factor must be one of top, multi"):
        IE.imagenet_x_accuracies({"std": frame}, which_factor="all")


# --- Table 2 ---------------------------------------------------------------------------------------

def test_table2_gains_its_real_columns_from_the_real_metrics():
    def run(method: str, seed: int, clean_sd: float) -> Run:
        config = TrainConfig(dataset="imagenet", method=method, seed=seed)
        metrics = {"clean_class_mean": 30.0, "clean_class_sd": clean_sd, "pgd_class_mean": 60.0, "pgd_class_sd": 9.0}
        return Run(Path(config.run_id), config, metrics, pd.DataFrame(), pd.DataFrame(), {})

    runs = [run(m, s, 10.0 + s) for m in ("std", "adv", "advplus") for s in (0, 1)]
    real = {r.run_id: {"real_class_mean": 20.0 + r.config.seed + 2 * ("plus" in r.config.method),
                       "real_class_sd": 12.0 if r.config.method == "adv" else 9.0} for r in runs}
    table = IR.table2_with_real(runs, real)
    assert list(table.index) == ["Std", "Adv", "Adv+"]
    assert table.loc["Adv+", ("ours", "real_class_mean")] == pytest.approx(22.5)  # mean over seeds 0, 1
    assert table.loc["Adv", ("ours", "clean_class_sd")] == pytest.approx(10.5)
    assert table.loc["Std", ("paper", "real_class_sd")] == PAPER_TABLE2.loc["std", "real_class_sd"]
    headline = IR.real_headline(runs, real)
    assert headline.loc["Adv+ vs Adv, ReaL per-class SD (drop)", "ours_%"] == pytest.approx(25.0)
    assert headline.loc["Adv+ vs Adv, ReaL per-class SD (drop)", "paper_%"] == pytest.approx(7.87, abs=0.01)
    with pytest.raises(ConfigError, match="real_metrics has no entry for run"):
        IR.table2_with_real(runs, {})
