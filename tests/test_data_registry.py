"""labelaug_core.data.registry: one record per data set, and the only table of data sets.

Every lookup by a data set's name (its files, reader, classes, augmentation, default settings) goes
through its record: a record added here (a fake one, monkeypatched in) is found, read, loaded, trained
and resolved by the config end to end, with nothing else to change.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from datagen import write_cifar10, write_cifar100, write_fashion_mnist, write_svhn

from labelaug_core.config import DATASET_DEFAULTS, TrainConfig, field_default, field_help
from labelaug_core.data import registry
from labelaug_core.data.identity import data_identity
from labelaug_core.data.loaders import make_loader, split_labels
from labelaug_core.data.readers import load_arrays
from labelaug_core.data.registry import REGISTRY, SPLITS, DatasetSpec
from labelaug_core.data.sources import DATASETS, SMALL_DATASETS, DatasetInfo, dataset_info
from labelaug_core.errors import ConfigError

# The settings of the data sets before the records held them (config.DATASET_DEFAULTS was this table).
_KNOWN_DEFAULTS = {
    "fashion-mnist": dict(model="small-cnn", eps=0.1, epochs=10, batch_size=128, lr=0.05),
    "cifar10": dict(model="preact-resnet18", eps=8 / 255, epochs=30, batch_size=128, lr=0.1),
    "cifar100": dict(model="preact-resnet18", eps=8 / 255, epochs=30, batch_size=128, lr=0.1),
    "svhn": dict(model="preact-resnet18", eps=8 / 255, epochs=15, batch_size=128, lr=0.01),
    "imagefolder": dict(model="preact-resnet18", eps=8 / 255, epochs=30, batch_size=128, lr=0.1),
    "imagenet": dict(model="resnet50", eps=0.03, epochs=10, batch_size=64, lr=0.01, pretrained=True),
}


def test_config_defaults_are_the_records_defaults():
    assert {name: dict(d) for name, d in DATASET_DEFAULTS.items()} == {n: dict(s.defaults) for n, s in REGISTRY.items()}
    assert {name: dict(d) for name, d in DATASET_DEFAULTS.items()} == _KNOWN_DEFAULTS
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert all(set(spec.defaults) <= fields for spec in REGISTRY.values())


def test_the_names_lists_are_views_of_the_registry():
    assert DATASETS == tuple(REGISTRY) == ("fashion-mnist", "cifar10", "cifar100", "svhn", "imagefolder", "imagenet")
    assert SMALL_DATASETS == ("fashion-mnist", "cifar10", "cifar100", "svhn")  # by the records, not by position
    assert field_help()["dataset"] == " | ".join(REGISTRY)  # the --help text of --dataset names every record


def test_small_records_say_where_their_files_are_and_folder_records_do_not():
    for spec in REGISTRY.values():
        if spec.small:
            assert set(spec.files) == set(SPLITS) and spec.download is not None and spec.folder
            assert spec.num_classes == len(set(spec.class_names)) >= 2 and spec.image_size > 0
        else:
            assert not spec.files and spec.download is None and spec.class_names == ()


@pytest.mark.parametrize("name, writer", [("fashion-mnist", write_fashion_mnist), ("cifar10", write_cifar10),
                                          ("cifar100", write_cifar100), ("svhn", write_svhn)])
def test_every_small_record_reads_through_its_reader(tmp_path, monkeypatch, name, writer):
    spec = REGISTRY[name]
    written = writer(tmp_path / spec.folder if name in ("fashion-mnist", "svhn") else tmp_path)
    calls = []

    def reader(files):
        calls.append([f.name for f in files])
        return spec.reader(files)

    monkeypatch.setitem(REGISTRY, name, dataclasses.replace(spec, reader=reader))
    images, labels = load_arrays(name, "test", str(tmp_path))
    assert calls and calls[0][0] in {a for alternatives in spec.files["test"] for a in alternatives}
    assert np.array_equal(images.numpy(), written["test"][0]) and np.array_equal(labels.numpy(), written["test"][1])


# --- a new data set: one record ------------------------------------------------------------------

def _read_npz(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    with np.load(files[0]) as data:
        return data["images"], data["labels"]


TOY = DatasetSpec(
    "toy", folder="toy", channels=1, image_size=8, class_names=("a", "b", "c"),
    defaults=dict(model="small-cnn", eps=0.2, epochs=1, batch_size=6, lr=0.3),
    pad=1, flip=False, files={s: ((f"{s}.npz",),) for s in SPLITS}, reader=_read_npz,
)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The TOY record added to the registry, and its files (24 train, 9 test images) under tmp_path/toy."""
    monkeypatch.setitem(REGISTRY, "toy", TOY)
    rng = np.random.default_rng(0)
    written = {}
    for split, n in (("train", 24), ("test", 9)):
        images, labels = rng.integers(0, 256, (n, 1, 8, 8), dtype=np.uint8), np.arange(n) % 3
        (tmp_path / "toy").mkdir(exist_ok=True)
        np.savez(tmp_path / "toy" / f"{split}.npz", images=images, labels=labels)
        written[split] = images, labels
    return str(tmp_path), written


def test_a_new_record_is_a_loadable_data_set(toy):
    data_dir, written = toy
    images, labels = load_arrays("toy", "train", data_dir)
    assert torch.equal(images, torch.from_numpy(written["train"][0])) and labels.tolist() == written["train"][1].tolist()
    assert dataset_info("toy", data_dir) == DatasetInfo("toy", 3, 1, 8, ("a", "b", "c"))
    assert split_labels("toy", "test", data_dir).tolist() == written["test"][1].tolist()
    loader = make_loader("toy", "train", 6, train=True, data_dir=data_dir)
    x, y = next(iter(loader))
    assert x.shape == (6, 1, 8, 8) and loader.pad == 1 and loader.flip is False and len(loader) == 4
    assert data_identity("toy", data_dir)["files"] == 2


def test_a_new_record_names_its_files_when_they_are_missing(toy, tmp_path, monkeypatch):
    monkeypatch.delenv("LABELAUG_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match=r"toy: no test files \(test.npz\) in .*empty.*cache/labelaug/toy\. Get it with --data-dir"):
        load_arrays("toy", "test", str(tmp_path / "empty"))


def test_a_new_record_s_labels_are_checked_against_its_classes(toy, tmp_path):
    np.savez(tmp_path / "toy" / "test.npz", images=np.zeros((2, 1, 8, 8), np.uint8), labels=np.array([0, 3]))
    with pytest.raises(ConfigError, match=r"test.npz: labels outside 0-2 \(found 0-3\)"):
        load_arrays("toy", "test", str(tmp_path))


def test_a_new_record_gives_the_config_its_defaults_and_trains(toy, tmp_path):
    from labelaug_core.train import train

    data_dir, _ = toy
    config = TrainConfig(dataset="toy", method="adv", steps=1).resolved("cpu")
    assert (config.model, config.eps, config.epochs, config.batch_size, config.lr) == ("small-cnn", 0.2, 1, 6, 0.3)
    assert dict(DATASET_DEFAULTS["toy"]) == dict(TOY.defaults) and "toy 0.2" in field_default("eps")
    model, history = train(config, tmp_path / "run", data_dir=data_dir, device="cpu", progress=False)
    assert model.num_classes == 3 and len(history) == 1 and np.isfinite(history[0]["train_loss"])


def test_names_outside_the_registry_are_refused_with_the_registry_s_names(toy):
    with pytest.raises(ConfigError, match="dataset must be one of fashion-mnist, .*, imagenet, toy; got 'mnist'"):
        TrainConfig(dataset="mnist")
    with pytest.raises(ConfigError, match="dataset must be one of fashion-mnist, cifar10, cifar100, svhn, toy; got 'imagenet'"):
        load_arrays("imagenet", "train")


def test_a_record_refuses_a_default_that_is_not_a_setting():
    with pytest.raises(ValueError, match="unknown default 'epoch'"):
        dataclasses.replace(TOY, defaults=dict(epoch=3))
    assert registry.REGISTRY["svhn"].flip is False and registry.REGISTRY["imagenet"].resized_crop
