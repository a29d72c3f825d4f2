"""The imagenet profile's chapters, end to end, on a tiny generated ImageNet (4 classes).

No ImageNet here: the plan of ``experiments/imagenet-gpu.yaml`` is run with its runs shrunk
(1 epoch, 32 px, a randomly initialised ResNet-50, no downloaded weights) on the tiny ImageFolder
of tests/test_imagenet_eval.py, whose validation files carry real ImageNet validation names, so
the ReaL and ImageNet-X annotations of the imagenet-x package apply. Every chapter must execute
and the HTML must build with warnings as errors; the numbers mean nothing.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from datagen import write_image_folder
from test_book import REPO, copy_book_sources
from test_imagenet_eval import EXTRA_CLASS, val_name, write_tiny_imagenet

from labelaug_core.book.build import build_book
from labelaug_core.book.plan import load_plan

pytestmark = pytest.mark.slow

# What the tiny profile changes in imagenet-gpu.yaml: sizes only, never which chapters run.
TINY_SETTINGS = dict(epochs=1, train_subset=8, test_subset=0, eval_subset=0, batch_size=4, image_size=32,
                     pretrained=False)
TINY_NOTEBOOKS = {
    "01_adversarial_examples": dict(n_images=6, eps_values=[0.0, 0.03], steps_values=[1, 2]),
    "07_corruptions": dict(n_images=0),
    # 14 validation images: 8 reported, the 6 after them held out to choose T
    "09_classwise_robustness": dict(strong_subset=0, apgd_steps=5, pgd_restarts=1, n_target_classes=2, temperatures=[0.5, 1.0],
                                    temperature_steps=5, temperature_subset=8, temperature_heldout=6),
    "10_trustworthy_evaluation": dict(strong_subset=0, checks_subset=0, apgd_steps=5, pgd_restarts=1, n_target_classes=2, square_queries=20,
                                      step_counts=[2, 5]),
    "11_weakest_class_defences": dict(heldout_size=8, heldout_steps=5, biases=[0.0, 1.0], bias_steps=2),
}


def write_four_class_imagenet(root: Path) -> Path:
    """The tiny ImageNet of tests/test_imagenet_eval.py plus a fourth class (tench, 2 validation
    images), so that APGD-T has three other classes to target."""
    folder = write_tiny_imagenet(root)
    wnid, numbers = EXTRA_CLASS
    write_image_folder(folder, {"train": {wnid: 4}}, (40, 40), ext=".JPEG", seed=2, names=lambda s, c, i: f"{c}_{i}")
    write_image_folder(folder, {"val": {wnid: len(numbers)}}, (40, 40), ext=".JPEG", seed=3,
                       names=lambda s, c, i: val_name(numbers[i])[:-5])
    return folder


@pytest.fixture(scope="module")
def imagenet_book(tmp_path_factory, one_thread) -> Path:
    data_dir = tmp_path_factory.mktemp("imagenet-data")
    write_four_class_imagenet(data_dir)
    root = tmp_path_factory.mktemp("imagenet_book")
    copy_book_sources(root)
    plan = yaml.safe_load((REPO / "experiments" / "imagenet-gpu.yaml").read_text())
    plan["settings"].update(TINY_SETTINGS)
    for name, parameters in TINY_NOTEBOOKS.items():
        plan["notebooks"].setdefault(name, {}).update(parameters)
    (root / "experiments" / "imagenet-tiny.yaml").write_text(yaml.safe_dump(plan))
    build_book("imagenet-tiny", root=root, data_dir=str(data_dir), progress=False)
    return root


def outputs(root: Path, chapter: str) -> str:
    """Every text and error output of an executed chapter, joined."""
    nb = json.loads((root / "book" / f"{chapter}.ipynb").read_text())
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"{chapter}: {out.get('ename')}: {out.get('evalue')}"
            data = out.get("data", {})
            parts.append("".join(out.get("text", "")) + "".join(data.get("text/markdown", ""))
                         + "".join(data.get("text/plain", "")))
    return "\n".join(parts)


def test_every_chapter_of_the_imagenet_profile_builds(imagenet_book):
    for chapter in load_plan("imagenet-gpu", REPO).chapters:
        assert (imagenet_book / "_build" / "html" / "book" / f"{chapter}.html").is_file(), chapter
        outputs(imagenet_book, chapter)  # no cell failed


def test_the_imagenet_chapters_use_the_real_and_imagenet_x_annotations(imagenet_book):
    text = outputs(imagenet_book, "08_imagenet_x")
    assert "## ReaL error" in text and "ImageNet-X: error ratio" in text
    assert "has nothing to show" not in text  # the imagenet branch ran, not the other data sets' explanation
    html = (imagenet_book / "_build" / "html" / "book" / "08_imagenet_x.html").read_text()
    assert html.count("<img") >= 2  # Figures 3 and 4 were drawn


def test_chapter_9_chooses_t_on_held_out_images_and_counts_zero_gradients(imagenet_book):
    text = outputs(imagenet_book, "09_classwise_robustness")
    assert "is chosen on the 6 held-out images" in text or "on the 6 held-out images, so T = 1" in text
    assert "all-zero input gradient at any temperature" in text



def test_the_imagenet_profiles_attacked_images_cover_every_class(tmp_path):
    """The imagenet-gpu plan attacks the first eval_subset validation images in evaluation order; that
    order interleaves the classes, so any first K images hold every one of the K classes (before, the
    folder order was by class, and 10,000 of 50,000 images were classes 0-199 only)."""
    from labelaug_core.data.loaders import make_loader, split_labels

    write_four_class_imagenet(tmp_path)
    assert load_plan("imagenet-gpu", REPO).settings["eval_subset"] < 50_000  # a prefix, not the whole set
    labels = split_labels("imagenet", "test", str(tmp_path))  # the "test" split of a folder set is val/
    assert labels.tolist() == sorted(labels.tolist())  # on disk: by class
    order = make_loader("imagenet", "test", 4, train=False, data_dir=str(tmp_path), num_workers=0,
                        image_size=32).epoch_indices()
    classes = sorted(set(labels.tolist()))
    assert len(classes) == 4
    available = labels.bincount()[classes]  # the extra class has 2 validation images, the others 4
    for n in range(len(classes), len(order) + 1):
        counts = labels[order[:n]].bincount(minlength=max(classes) + 1)[classes]
        # every class is there, and a class lags the others by at most one unless it has run out
        assert counts.min() >= 1 and ((counts == available) | (counts >= counts.max() - 1)).all(), \
            f"first {n}: {counts.tolist()}"
