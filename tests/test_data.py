"""labelaug_core.data: finding and reading data sets, and deterministic, sharded, augmented batches."""
from __future__ import annotations

import dataclasses
import gc
import gzip
import multiprocessing
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from datagen import (
    idx_bytes,
    write_cifar10,
    write_cifar100,
    write_fashion_mnist,
    write_idx,
    write_image_folder,
    write_svhn,
)

from labelaug_core.data import registry, sources
from labelaug_core.data.formats import IDX_IMAGES_MAGIC, read_idx
from labelaug_core.data.loaders import ArrayLoader, make_loader
from labelaug_core.data.readers import load_arrays
from labelaug_core.data.sampling import balanced_subset, crop_flip, interleave_classes
from labelaug_core.data.sources import DATASETS, DatasetInfo, dataset_info
from labelaug_core.errors import ConfigError

# --- real Fashion-MNIST ---------------------------------------------------------------------------

def test_real_fashion_mnist(data_root):
    train_x, train_y = load_arrays("fashion-mnist", "train", data_root)
    test_x, test_y = load_arrays("fashion-mnist", "test", data_root)
    assert train_x.shape == (60000, 1, 28, 28) and test_x.shape == (10000, 1, 28, 28)
    assert train_x.dtype == test_x.dtype == torch.uint8
    assert train_y.dtype == test_y.dtype == torch.int64
    assert torch.equal(torch.bincount(train_y), torch.full((10,), 6000))
    assert torch.equal(torch.bincount(test_y), torch.full((10,), 1000))
    assert int(train_y[0]) == 9  # the first training image is the ankle boot of Zalando's README
    assert int(train_x.min()) == 0 and int(train_x.max()) == 255


def test_dataset_info_table_needs_no_disk():
    for name, k, c, side in (("fashion-mnist", 10, 1, 28), ("cifar10", 10, 3, 32), ("cifar100", 100, 3, 32),
                             ("svhn", 10, 3, 32)):
        info = dataset_info(name, data_dir="/nonexistent")
        assert (info.name, info.num_classes, info.channels, info.image_size) == (name, k, c, side)
        assert len(set(info.class_names)) == k
    cifar100 = dataset_info("cifar100").class_names
    assert list(cifar100) == sorted(cifar100) and cifar100[:2] == ("apple", "aquarium_fish")  # the meta file's order
    assert DATASETS == ("fashion-mnist", "cifar10", "cifar100", "svhn", "imagefolder", "imagenet")


@pytest.mark.parametrize("call, message", [
    (lambda: dataset_info("mnist"), "dataset must be one of fashion-mnist, cifar10, cifar100, svhn, imagefolder, imagenet; got 'mnist'"),
    (lambda: load_arrays("fashion-mnist", "val"), "split must be one of train, test; got 'val'"),
    (lambda: load_arrays("imagenet", "train"), "dataset must be one of fashion-mnist, cifar10, cifar100, svhn; got 'imagenet'"),
    (lambda: make_loader("fashion-mnist", "train", 0, train=True), "batch_size must be >= 1; got 0"),
    (lambda: make_loader("fashion-mnist", "train", 8, train=True, image_size=32), "image_size applies to imagefolder"),
    (lambda: make_loader("fashion-mnist", "train", 8, train=True, rank=2, world_size=2), "rank must be in [0, world_size)"),
    (lambda: make_loader("fashion-mnist", "test", 8, train=False, subset=10001), "subset must be between 0 (all) and 10000"),
])
def test_bad_arguments_name_the_allowed_values(call, message):
    with pytest.raises(ConfigError) as err:
        call()
    assert message in str(err.value)


# --- where the data is found ----------------------------------------------------------------------

def _system_dir(monkeypatch, path):
    """Fashion-MNIST's record with its system folder (Debian's) at ``path``."""
    spec = registry.REGISTRY["fashion-mnist"]
    monkeypatch.setitem(registry.REGISTRY, "fashion-mnist", dataclasses.replace(spec, system_dir=path))


@pytest.fixture
def places(tmp_path, monkeypatch):
    """No $LABELAUG_DATA, Debian's path and the cache in tmp dirs, and an offline download."""
    monkeypatch.delenv("LABELAUG_DATA", raising=False)
    _system_dir(monkeypatch, tmp_path / "debian" / "fashion-mnist")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    calls = []

    def offline(name, split, cache):
        calls.append((name, split, cache))
        raise OSError("network is unreachable")

    monkeypatch.setattr(sources, "_download", offline)
    return tmp_path, calls


def _train_size(data_dir=None):
    return len(load_arrays("fashion-mnist", "train", data_dir)[1])


def test_missing_data_error_lists_places_and_remedies(places):
    tmp, calls = places
    with pytest.raises(ConfigError) as err:
        load_arrays("fashion-mnist", "test", str(tmp / "mine"))
    message = str(err.value)
    assert "\n" not in message
    for place in (tmp / "mine", tmp / "mine" / "fashion-mnist", tmp / "debian" / "fashion-mnist",
                  tmp / "cache" / "labelaug" / "fashion-mnist"):
        assert str(place) in message
    for remedy in ("apt install dataset-fashion-mnist", "--data-dir", "LABELAUG_DATA", "internet",
                   "network is unreachable", "t10k-images-idx3-ubyte"):
        assert remedy in message
    assert calls == [("fashion-mnist", "test", tmp / "cache" / "labelaug")]


def test_search_order(places, monkeypatch):
    tmp, calls = places
    write_fashion_mnist(tmp / "env", n_train=5)
    write_fashion_mnist(tmp / "arg" / "fashion-mnist", n_train=7)  # <dir>/fashion-mnist/ is accepted too
    write_fashion_mnist(tmp / "debian" / "fashion-mnist", n_train=9, gz=False)
    write_fashion_mnist(tmp / "cache" / "labelaug" / "fashion-mnist", n_train=11)
    monkeypatch.setenv("LABELAUG_DATA", str(tmp / "env"))
    assert _train_size(str(tmp / "arg")) == 7  # the argument beats the environment
    assert _train_size() == 5
    assert _train_size(str(tmp / "empty")) == 5  # a folder without the files: go on searching
    monkeypatch.delenv("LABELAUG_DATA")
    assert _train_size() == 9  # then Debian's package
    _system_dir(monkeypatch, tmp / "nothing")
    assert _train_size() == 11  # then the cache
    assert calls == []


def test_download_goes_into_the_cache(places, monkeypatch):
    tmp, _ = places
    calls = []

    def fake_download(name, split, cache):
        calls.append((name, split, cache))
        write_fashion_mnist(cache / "fashion-mnist", n_test=13)

    monkeypatch.setattr(sources, "_download", fake_download)
    assert len(load_arrays("fashion-mnist", "test")[1]) == 13
    assert calls == [("fashion-mnist", "test", tmp / "cache" / "labelaug")]


def test_cache_dir_without_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert sources.cache_dir() == tmp_path / ".cache" / "labelaug"


# --- corrupt files --------------------------------------------------------------------------------

def _corrupt(directory: Path, how: str) -> tuple[Path, str]:
    """Tiny Fashion-MNIST in ``directory`` with one file damaged; returns it and the expected message."""
    write_fashion_mnist(directory, n_train=4, n_test=3, gz=False)
    images, labels = directory / "t10k-images-idx3-ubyte", directory / "t10k-labels-idx1-ubyte"
    if how == "magic":
        images.write_bytes(labels.read_bytes())
        return images, f"{images}: bad magic number 0x00000801 (expected 0x00000803 for idx3 uint8 images)"
    if how == "truncated":
        raw = images.read_bytes()
        images.write_bytes(raw[:-100])
        return images, f"{images}: truncated: expected {len(raw)} bytes, found {len(raw) - 100}"
    if how == "truncated-gz":
        gz = images.with_suffix(".gz").with_name(images.name + ".gz")
        gz.write_bytes(gzip.compress(images.read_bytes())[:-20])
        return gz, f"{gz}: truncated gzip stream"
    write_idx(labels, np.zeros(2, np.uint8))  # "count": 3 images, 2 labels
    return images, f"{images} holds 3 images but {labels} holds 2 labels"


@pytest.mark.parametrize("how", ["magic", "truncated", "truncated-gz", "count"])
def test_corrupt_files_are_reported_as_such(tmp_path, how):
    _, message = _corrupt(tmp_path, how)
    with pytest.raises(ConfigError) as err:
        load_arrays("fashion-mnist", "test", str(tmp_path))
    assert str(err.value).startswith(message)


def test_read_idx_round_trip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a").write_bytes(idx_bytes(array))
    assert np.array_equal(read_idx(tmp_path / "a", IDX_IMAGES_MAGIC), array)


# --- CIFAR and SVHN in their own formats ----------------------------------------------------------

@pytest.mark.parametrize("name, writer", [("cifar10", write_cifar10), ("cifar100", write_cifar100)])
def test_cifar_pickles(tmp_path, name, writer):
    written = writer(tmp_path)
    folder = "cifar-10-batches-py" if name == "cifar10" else "cifar-100-python"
    for data_dir in (tmp_path, tmp_path / folder):  # the parent or the folder itself
        for split in ("train", "test"):
            images, labels = load_arrays(name, split, str(data_dir))
            assert images.dtype == torch.uint8 and images.shape == (len(written[split][1]), 3, 32, 32)
            assert np.array_equal(images.numpy(), written[split][0])
            assert np.array_equal(labels.numpy(), written[split][1])


def test_cifar_pickle_may_not_run_code(tmp_path):
    write_cifar10(tmp_path)

    class Payload:
        def __reduce__(self):
            return (os.getcwd, ())

    target = tmp_path / "cifar-10-batches-py" / "test_batch"
    target.write_bytes(pickle.dumps({"data": Payload(), "labels": []}, protocol=2))
    with pytest.raises(ConfigError, match=r"test_batch: not a CIFAR python batch \(UnpicklingError: refusing to load posix.getcwd"):
        load_arrays("cifar10", "test", str(tmp_path))


def test_svhn_mat_files(tmp_path):
    written = write_svhn(tmp_path / "svhn")
    for split in ("train", "test"):
        images, labels = load_arrays("svhn", split, str(tmp_path))
        assert np.array_equal(images.numpy(), written[split][0])
        assert np.array_equal(labels.numpy(), written[split][1])  # 10 on disk is the digit 0
        assert int(labels.min()) == 0 and int(labels.max()) == 9


def test_small_set_loader_from_generated_files(tmp_path):
    write_cifar10(tmp_path, per_batch=20)
    loader = make_loader("cifar10", "test", 4, train=False, data_dir=str(tmp_path))
    x, y = next(iter(loader))
    images, labels = load_arrays("cifar10", "test", str(tmp_path))
    assert x.dtype == torch.float32 and torch.equal(x, images[:4].float() / 255) and torch.equal(y, labels[:4])
    assert len(make_loader("cifar10", "train", 16, train=True, data_dir=str(tmp_path))) == 100 // 16


# --- augmentation ---------------------------------------------------------------------------------

def test_augmentation_defaults():
    augmentation = {n: (s.pad, s.flip) for n, s in registry.REGISTRY.items() if s.small}
    assert augmentation == {"fashion-mnist": (2, True), "cifar10": (4, True), "cifar100": (4, True), "svhn": (4, False)}


def test_crop_shifts_content_and_flip_mirrors():
    x = torch.randint(0, 256, (2, 3, 6, 7), dtype=torch.uint8)
    none = torch.zeros(2, dtype=torch.bool)
    centre = torch.tensor([[2, 2], [2, 2]])
    assert torch.equal(crop_flip(x, centre, none, 2), x)
    assert torch.equal(crop_flip(x, centre, ~none, 2), x.flip(-1))
    out = crop_flip(x, torch.tensor([[0, 4], [3, 1]]), none, 2)
    # image 0: content moves down 2 and left 2 (zeros enter at the top and right)
    assert torch.equal(out[0, :, 2:, :5], x[0, :, :4, 2:])
    assert not out[0, :, :2].any() and not out[0, :, :, 5:].any()
    # image 1: content moves up 1 and right 1
    assert torch.equal(out[1, :, :5, 1:], x[1, :, 1:, :6])
    assert not out[1, :, 5:].any() and not out[1, :, :, :1].any()
    both = crop_flip(x, torch.tensor([[0, 4], [3, 1]]), ~none, 2)
    assert torch.equal(both, out.flip(-1))  # the crop, mirrored


def _matching_crops(out: torch.Tensor, source: torch.Tensor, pad: int) -> list[tuple[int, int, bool]]:
    """All (dy, dx, flip) whose crop_flip of ``source`` (C, H, W) equals ``out``."""
    grid = [(dy, dx, f) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1) for f in (False, True)]
    shifts = torch.tensor([(dy, dx) for dy, dx, _ in grid])
    crops = crop_flip(source.expand(len(grid), *source.shape), shifts, torch.tensor([f for *_, f in grid]), pad)
    return [g for g, crop in zip(grid, crops) if torch.equal(crop, out)]


@pytest.mark.parametrize("flip", [True, False])
def test_loader_augments_by_crop_and_flip_only(flip):
    images = torch.randint(1, 256, (64, 3, 8, 8), dtype=torch.uint8)
    labels = torch.arange(64) % 4
    loader = ArrayLoader(images, labels, 16, train=True, seed=3, pad=2, flip=flip)
    xs = torch.cat([x for x, _ in loader])
    assert xs.shape == (64, 3, 8, 8) and xs.dtype == torch.float32
    assert float(xs.min()) >= 0 and float(xs.max()) <= 1
    used = [_matching_crops((x * 255).round().to(torch.uint8), images[i], 2)
            for x, i in zip(xs, loader.epoch_indices())]
    assert all(len(m) == 1 for m in used)  # every output is exactly one crop (+ flip) of its source
    shifts = {m[0][:2] for m in used}
    flips = sum(m[0][2] for m in used)
    assert len(shifts) > 5  # content is shifted, to many places
    assert (20 <= flips <= 44) if flip else flips == 0


# --- determinism, sharding, subsets ---------------------------------------------------------------

def _epoch(loader, epoch):
    loader.set_epoch(epoch)
    return [(x.clone(), y.clone()) for x, y in loader]


def test_batches_depend_only_on_seed_and_epoch(data_root):
    def loader(seed=0):
        return make_loader("fashion-mnist", "train", 50, train=True, data_dir=data_root, seed=seed, subset=500)

    uninterrupted = loader()
    runs = [_epoch(uninterrupted, e) for e in range(3)]
    resumed = loader()
    torch.manual_seed(12345)  # the global RNG plays no part
    again = _epoch(resumed, 2)
    assert len(again) == len(runs[2]) == 10
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(again, runs[2]))
    assert not torch.equal(runs[0][0][1], runs[1][0][1])  # another epoch, another order
    assert not torch.equal(_epoch(loader(seed=1), 2)[0][0], runs[2][0][0])


def test_eval_loader_is_ordered_unaugmented_and_complete(data_root):
    loader = make_loader("fashion-mnist", "test", 300, train=False, data_dir=data_root, subset=1000)
    batches = _epoch(loader, 5)
    assert [len(y) for _, y in batches] == [300, 300, 300, 100] and len(loader) == 4
    images, labels = load_arrays("fashion-mnist", "test", data_root)
    index = loader.epoch_indices()
    assert torch.equal(index.sort().values, balanced_subset(labels, 1000))  # the subset, each image once
    # classes interleaved: every prefix is as balanced as possible (today's first-N attacks every class)
    for n in (10, 55, 300):
        counts = torch.bincount(labels[index[:n]], minlength=10)
        assert int(counts.max() - counts.min()) <= 1, (n, counts)
    assert torch.equal(torch.cat([x for x, _ in batches]), images[index].float() / 255)
    assert torch.equal(torch.cat([y for _, y in batches]), labels[index])


@pytest.mark.parametrize("train", [True, False])
def test_rank_shards_are_disjoint_and_cover_the_epoch(data_root, train):
    world, per_rank = 3, 40

    def loader(rank, world_size, batch):
        return make_loader("fashion-mnist", "test", batch, train=train, data_dir=data_root, subset=1000,
                           seed=7, rank=rank, world_size=world_size)

    ranks = [loader(r, world, per_rank) for r in range(world)]
    whole = loader(0, 1, per_rank * world)
    for ld in ranks + [whole]:
        ld.set_epoch(4)
    shards = [set(ld.epoch_indices().tolist()) for ld in ranks]
    assert sum(map(len, shards)) == len(set().union(*shards))  # disjoint
    if not train:
        assert set().union(*shards) == set(whole.epoch_indices().tolist()) and len(set().union(*shards)) == 1000
        return
    assert {len(ld) for ld in ranks} == {1000 // world // per_rank}  # equal batch counts
    # The ranks' k-th batches together are the single process's k-th batch, augmented alike.
    single = dict(zip(whole.epoch_indices().tolist(), torch.cat([x for x, _ in whole])))
    for ld in ranks:
        for i, x in zip(ld.epoch_indices().tolist(), torch.cat([x for x, _ in ld])):
            assert torch.equal(single[i], x)
    for k in range(len(whole)):
        together = set().union(*(ld.epoch_indices()[k * per_rank:(k + 1) * per_rank].tolist() for ld in ranks))
        assert together == set(whole.epoch_indices()[k * per_rank * world:(k + 1) * per_rank * world].tolist())


def test_balanced_subset():
    labels = torch.tensor([0] * 50 + [1] * 3 + [2] * 30 + [3] * 40)[torch.randperm(123, generator=torch.Generator().manual_seed(0))]
    chosen = balanced_subset(labels, 40)
    assert torch.equal(chosen, chosen.unique())  # sorted, no repeats
    assert torch.bincount(labels[chosen]).tolist() == [13, 3, 12, 12]  # class 1 gives up what it lacks
    torch.manual_seed(99)
    assert torch.equal(balanced_subset(labels, 40), chosen)  # fixed, whatever the global RNG
    assert torch.bincount(labels[balanced_subset(labels, 7)]).tolist() == [2, 2, 2, 1]
    assert torch.equal(balanced_subset(labels, 0), torch.arange(123))
    with pytest.raises(ConfigError, match="subset must be between 0 \\(all\\) and 123"):
        balanced_subset(labels, 124)


def test_loader_subset_is_class_balanced(data_root):
    loader = make_loader("fashion-mnist", "train", 100, train=True, data_dir=data_root, subset=1000)
    labels = torch.cat([y for _, y in loader])
    assert torch.equal(torch.bincount(labels), torch.full((10,), 100))


# --- folder data sets -----------------------------------------------------------------------------

def test_imagefolder(tmp_path):
    written = write_image_folder(tmp_path, {"train": {"cat": 3, "dog": 3, "emu": 3}, "test": {"dog": 2, "emu": 2}})
    info = dataset_info("imagefolder", str(tmp_path))
    assert info == DatasetInfo("imagefolder", 3, 3, 12, ("cat", "dog", "emu"))
    loader = make_loader("imagefolder", "test", 3, train=False, data_dir=str(tmp_path), num_workers=0)
    xs, ys = map(torch.cat, zip(*loader))
    assert len(loader) == 2 and xs.shape == (4, 3, 12, 12) and xs.dtype == torch.float32
    # val/ lacks "cat": its classes keep train/'s indices; classes interleaved; the pixels arrive exactly
    assert ys.tolist() == [1, 2, 1, 2]
    files = [written["test"][i] for i in (0, 2, 1, 3)]
    assert loader.paths() == [str(p) for p, _, _ in files]
    assert torch.equal((xs * 255).round().to(torch.uint8), torch.from_numpy(np.stack([px for _, _, px in files])))
    train = make_loader("imagefolder", "train", 4, train=True, data_dir=str(tmp_path), num_workers=0)
    x, y = next(iter(train))
    assert len(train) == 2 and x.shape == (4, 3, 12, 12) and 0 <= float(x.min()) and float(x.max()) <= 1


def test_imagenet_layout_sizes_and_paths(tmp_path):
    def names(split, cls, i):
        return f"ILSVRC2012_val_{i + 1 + 10 * (cls == 'n02'):08d}" if split == "val" else f"{cls}_{i}"

    write_image_folder(tmp_path / "imagenet", {"train": {"n01": 4, "n02": 4}, "val": {"n01": 3, "n02": 2}},
                       size=(48, 40), ext=".JPEG", names=names)
    info = dataset_info("imagenet", str(tmp_path))  # <dir>/imagenet/ is found
    assert (info.num_classes, info.image_size, info.class_names) == (2, 224, ("n01", "n02"))
    val = make_loader("imagenet", "test", 4, train=False, data_dir=str(tmp_path), image_size=32, num_workers=0)
    (x, y), (x2, y2) = list(val)
    assert x.shape == (4, 3, 32, 32) and x2.shape == (1, 3, 32, 32) and y.tolist() + y2.tolist() == [0, 1, 0, 1, 0]
    assert [Path(p).name for p in val.paths()] == [f"ILSVRC2012_val_{i:08d}.JPEG" for i in (1, 11, 2, 12, 3)]
    train = make_loader("imagenet", "train", 8, train=True, data_dir=str(tmp_path), image_size=32, num_workers=0)
    x, y = next(iter(train))
    assert x.shape == (8, 3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1 and x.std() > 0.05


def test_folder_batches_depend_only_on_seed_and_epoch(tmp_path):
    write_image_folder(tmp_path, {"train": {"a": 6, "b": 6}, "val": {"a": 1, "b": 1}}, size=(16, 16))

    def loader(workers):
        return make_loader("imagenet", "train", 4, train=True, data_dir=str(tmp_path), image_size=8, num_workers=workers)

    first = _epoch(loader(0), 1)
    torch.manual_seed(5)
    again = _epoch(loader(2), 1)  # worker processes draw the same augmentation
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    other = _epoch(loader(0), 2)
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(first, other))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_folder_loader_workers_stop_with_each_pass(tmp_path):
    # A run on an image folder once printed "AssertionError: can only test a child process" after
    # its result line: a persistent worker iterator survived inside the dropped loader's reference
    # cycle, and a process forked later (here: by hand) ran its __del__ when it collected the cycle.
    write_image_folder(tmp_path, {"train": {"a": 6, "b": 6}, "val": {"a": 1, "b": 1}}, size=(8, 8))
    before = set(multiprocessing.active_children())
    gc.disable()  # keep the dropped loader's cycle uncollected until the fork, as it may be in a run
    try:
        loader = make_loader("imagefolder", "train", 4, train=True, data_dir=str(tmp_path), num_workers=1)
        assert len([y for _, y in loader]) == 3
        assert set(multiprocessing.active_children()) == before  # a full pass: its worker has stopped
        next(iter(loader))
        assert set(multiprocessing.active_children()) == before  # a pass left after one batch: too
        del loader
        pid = os.fork()
        if pid == 0:  # the child: report whether collecting the garbage raised anything
            code = 1
            try:
                raised = []
                sys.unraisablehook = raised.append
                gc.collect()
                code = 2 if raised else 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        gc.enable()
    assert os.waitstatus_to_exitcode(status) == 0, "collecting the dropped loader in a forked process raised"


@pytest.mark.parametrize("layout, message", [
    ("flat", "train has no class subfolders; expected <root>/train/<class>/"),
    ("no-train", "no train/ folder in"),
    ("no-val", "has no val/ or test/ folder; expected <root>/train/<class>/"),
])
def test_wrong_folder_layout(tmp_path, layout, message):
    if layout == "flat":
        write_image_folder(tmp_path, {"train": {".": 2}, "val": {"a": 1}})  # images straight in train/
    else:
        write_image_folder(tmp_path, {"pictures" if layout == "no-train" else "train": {"a": 1}})
    with pytest.raises(ConfigError) as err:
        make_loader("imagefolder", "test", 2, train=False, data_dir=str(tmp_path), num_workers=0)
    assert message in str(err.value)


def test_folder_data_needs_a_directory(monkeypatch):
    monkeypatch.delenv("LABELAUG_DATA", raising=False)
    with pytest.raises(ConfigError, match="imagenet: no train/ folder in nowhere .*LABELAUG_DATA"):
        dataset_info("imagenet")


def test_interleave_classes_round_robin_keeps_order_within_class():
    labels = torch.tensor([2, 0, 0, 1, 2, 2, 0, 1])
    order = interleave_classes(labels, torch.arange(8))
    assert order.tolist() == [1, 3, 0, 2, 7, 4, 6, 5]  # class 0, 1, 2, then the second of each, ...
    sorted_by_class = torch.tensor([0] * 50 + [1] * 50 + [2] * 50)  # a folder data set's order
    first = interleave_classes(sorted_by_class, torch.arange(150))[:30]
    assert torch.bincount(sorted_by_class[first]).tolist() == [10, 10, 10]
