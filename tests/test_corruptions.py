"""Tests for labelaug_core.corruptions: small-image corruptions, cached sets, mCE, ImageNet-C reading."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

import labelaug_core  # noqa: F401  (torchvision shim first)
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation import corrupted_sets as CE
from labelaug_core.evaluation import corruptions as C


@pytest.fixture(scope="module")
def grey(data_root) -> np.ndarray:
    """The first 6 Fashion-MNIST test images, uint8 (6, 1, 28, 28)."""
    with gzip.open(Path(data_root) / "fashion-mnist" / "t10k-images-idx3-ubyte.gz") as f:
        raw = f.read(16 + 6 * 28 * 28)
    return np.frombuffer(raw, np.uint8, offset=16).reshape(6, 1, 28, 28).copy()


@pytest.fixture(scope="module")
def colour(grey) -> np.ndarray:
    """The same garments tinted on coloured backgrounds, uint8 (6, 3, 32, 32)."""
    x = np.pad(grey.astype(float), ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect").repeat(3, axis=1)
    background = np.random.default_rng(0).integers(20, 90, size=(6, 3, 1, 1))
    return np.clip(x * np.array([1.0, 0.7, 0.4])[None, :, None, None] + background, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def corrupted(grey, colour) -> dict:
    """Every (kind, corruption, severity) -> corrupted images (seed 0, in this process)."""
    return {(kind, c, s): C.corrupt(images, c, s, seed=0, workers=1)
            for kind, images in (("grey", grey), ("colour", colour))
            for c in C.CORRUPTIONS for s in C.SEVERITIES}


def _mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


@pytest.mark.parametrize("kind", ["grey", "colour"])
def test_every_corruption_keeps_shape_dtype_and_channels(kind, corrupted, grey, colour):
    clean = grey if kind == "grey" else colour
    for c in C.CORRUPTIONS:
        for s in C.SEVERITIES:
            out = corrupted[kind, c, s]
            assert out.shape == clean.shape and out.dtype == np.uint8, (c, s)


@pytest.mark.parametrize("kind", ["grey", "colour"])
def test_severity_orders_the_damage_and_severity_one_stays_recognisable(kind, corrupted, grey, colour):
    clean = grey if kind == "grey" else colour
    increases = 0
    for c in C.CORRUPTIONS:
        diffs = [_mean_abs_diff(corrupted[kind, c, s], clean) for s in C.SEVERITIES]
        assert diffs[0] > 0.5, c  # severity 1 changes the image
        if c != "elastic_transform":  # CIFAR-10-C shrinks its affine part as the elastic part grows
            assert diffs[0] < diffs[-1], (c, diffs)
        increases += sum(b > a for a, b in zip(diffs, diffs[1:]))
        one = corrupted[kind, c, 1].reshape(len(clean), -1).astype(float)
        corr = [np.corrcoef(u, v)[0, 1] for u, v in zip(one, clean.reshape(len(clean), -1).astype(float))]
        assert np.mean(corr) > 0.5, (c, corr)  # still looks like the garment
    assert increases / (4 * len(C.CORRUPTIONS)) >= 0.8


def test_small_images_get_cifar_constants_and_large_ones_imagenet_constants(monkeypatch):
    def noise_std(size: int, severity: int) -> float:
        x = np.full((4, 3, size, size), 128, np.uint8)
        return float((C.corrupt(x, "gaussian_noise", severity, workers=1).astype(float) - 128).std())

    assert noise_std(32, 1) == pytest.approx(0.04 * 255, rel=0.05)  # CIFAR-10-C
    assert noise_std(32, 5) == pytest.approx(0.10 * 255, rel=0.05)
    assert noise_std(48, 1) < 0.07 * 255  # ImageNet-C's final JPEG save smooths part of the noise away
    monkeypatch.setattr(C, "jpeg_round_trip", lambda rgb: rgb)  # the pixels before that save
    assert noise_std(48, 1) == pytest.approx(0.08 * 255, rel=0.05)  # ImageNet-C, via the package


def test_large_images_are_saved_as_imagenet_c_files_are_jpeg_quality_85_and_small_ones_are_not(colour):
    """make_imagenet_c.py saves every corrupted image with PIL as a JPEG at quality 85; make_cifar_c.py
    keeps uint8 arrays. A larger image's result must be PIL's own q85 round trip of the package's
    corruption; a small one's is no JPEG (test_only_larger_images_go_through_the_jpeg_save)."""
    import io

    import imagecorruptions

    big = np.repeat(np.repeat(colour[:2], 2, axis=2), 2, axis=3)  # (2, 3, 64, 64)
    for name, severity in (("contrast", 2), ("brightness", 3), ("pixelate", 1)):
        out = C.corrupt(big, name, severity, workers=1)
        for image, got in zip(big, out):
            raw = np.uint8(np.asarray(imagecorruptions.corrupt(np.ascontiguousarray(image.transpose(1, 2, 0)),
                                                               severity=severity, corruption_name=name)))
            buffer = io.BytesIO()
            Image.fromarray(raw).save(buffer, "JPEG", quality=85, optimize=True)
            expected = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")).transpose(2, 0, 1)
            assert np.array_equal(got, expected), name
            assert not np.array_equal(got, raw.transpose(2, 0, 1)), name  # the save changed the pixels


def test_only_larger_images_go_through_the_jpeg_save(colour, grey, monkeypatch):
    def no_jpeg(rgb):
        raise AssertionError(f"JPEG save of a {rgb.shape} image")

    monkeypatch.setattr(C, "jpeg_round_trip", no_jpeg)
    C.corrupt(colour[:1], "brightness", 3, workers=1)  # 32 px: CIFAR-10-C, no JPEG
    C.corrupt(grey[:1], "brightness", 3, workers=1)  # 28 px Fashion-MNIST: no JPEG
    with pytest.raises(AssertionError, match=r"JPEG save of a \(33, 33, 3\) image"):
        C.corrupt(np.pad(colour[:1], ((0, 0), (0, 0), (0, 1), (0, 1))), "brightness", 3, workers=1)


def test_contrast_matches_its_formula(colour):
    x = colour.astype(float) / 255
    mean = x.mean(axis=(2, 3), keepdims=True)
    expected = np.clip((x - mean) * 0.15 + mean, 0, 1) * 255
    out = C.corrupt(colour, "contrast", 5, workers=1).astype(float)
    assert np.abs(out - expected).max() <= 1.0


def test_seed_determines_the_result_whatever_the_worker_count(grey):
    state = np.random.get_state()[1].copy()
    a = C.corrupt(grey, "glass_blur", 4, seed=3, workers=1)
    assert np.array_equal(np.random.get_state()[1], state)  # caller's RNG untouched
    assert np.array_equal(a, C.corrupt(grey, "glass_blur", 4, seed=3, workers=1))
    assert not np.array_equal(a, C.corrupt(grey, "glass_blur", 4, seed=4, workers=1))
    for c in ("glass_blur", "fog"):
        assert np.array_equal(C.corrupt(grey, c, 4, seed=3, workers=1), C.corrupt(grey, c, 4, seed=3, workers=2)), c
    # an image's corruption does not depend on the others in its batch
    assert np.array_equal(C.corrupt(grey[:2], "fog", 2, workers=1), C.corrupt(grey, "fog", 2, workers=1)[:2])


def test_cached_set_is_reused_and_a_damaged_file_is_regenerated(grey, tmp_path, monkeypatch):
    calls = []
    real = C.corrupt
    monkeypatch.setattr(CE, "corrupt", lambda *a, **k: calls.append(a[1:3]) or real(*a, **k))
    labels = np.arange(len(grey)) % 3

    first, y = CE.corrupted_set("fmnist", grey, labels, "shot_noise", 2, cache_dir=tmp_path, workers=1)
    again, _ = CE.corrupted_set("fmnist", grey, labels, "shot_noise", 2, cache_dir=tmp_path, workers=1)
    assert len(calls) == 1 and np.array_equal(first, again) and np.array_equal(y, labels)
    (path,) = (tmp_path / "fmnist").glob("*.npz")  # one file and its key sidecar, no temporary left behind
    assert sorted(p.name for p in (tmp_path / "fmnist").iterdir()) == sorted([path.name, path.stem + ".key.json"])

    path.write_bytes(path.read_bytes()[:200])  # truncated
    regenerated, _ = CE.corrupted_set("fmnist", grey, labels, "shot_noise", 2, cache_dir=tmp_path, workers=1)
    assert len(calls) == 2 and np.array_equal(regenerated, first)

    with np.load(path) as f:  # valid zip, altered images, stale hash
        np.savez(path, images=255 - f["images"], labels=f["labels"], sha256=f["sha256"])
    regenerated, _ = CE.corrupted_set("fmnist", grey, labels, "shot_noise", 2, cache_dir=tmp_path, workers=1)
    assert len(calls) == 3 and np.array_equal(regenerated, first)

    CE.corrupted_set("fmnist", grey[:3], labels[:3], "shot_noise", 2, cache_dir=tmp_path, workers=1)
    assert len(calls) == 4  # another subset is another file


def test_mce_is_the_mean_of_per_corruption_means():
    table = pd.DataFrame({
        "corruption": ["fog"] * 5 + ["snow"] * 2,
        "severity": [1, 2, 3, 4, 5, 1, 2],
        "err": [10.0, 20.0, 30.0, 40.0, 50.0, 70.0, 90.0],
    })
    ce, m = CE.mce(table)
    assert ce.to_dict() == {"fog": 30.0, "snow": 80.0}
    assert m == 55.0  # not the mean of all rows (44.28...)
    with pytest.raises(ConfigError, match="err"):
        CE.mce(table.drop(columns="err"))


class BrightnessModel(nn.Module):
    """Class 1 when the mean pixel exceeds 0.45, else class 0; an operation logit that always wins."""

    num_classes, num_ops = 3, 1

    def forward(self, x):
        bright = (x.mean(dim=(1, 2, 3)) > 0.45).float()
        return torch.stack([1 - bright, bright, torch.full_like(bright, -1), torch.full_like(bright, 9)], dim=1)


def test_corruption_errors_per_class_on_a_trivial_model(tmp_path):
    images = np.full((6, 1, 28, 28), 100, np.uint8)  # mean 0.39: class 0 when clean
    labels = np.array([0, 0, 0, 0, 2, 2])
    model = BrightnessModel().train()
    df = CE.corruption_errors(model, images, labels, dataset_name="flat", corruptions=("brightness", "contrast"),
                             severities=(1, 5), batch_size=4, cache_dir=tmp_path, workers=1, progress=False)
    assert model.training  # mode restored
    assert list(df.columns) == ["corruption", "severity", "n", "err", "class_0_err", "class_1_err", "class_2_err"]
    rows = df.set_index(["corruption", "severity"])
    # brightness +0.05 keeps the mean below 0.45; +0.3 pushes every image to class 1
    cols = ["err", "class_0_err", "class_2_err"]
    assert rows.loc[("brightness", 1), cols].tolist() == pytest.approx([100 / 3, 0, 100])
    assert rows.loc[("brightness", 5), cols].tolist() == [100, 100, 100]
    assert rows["class_1_err"].isna().all()  # class 1 absent from the labels
    assert rows.loc[("contrast", 5), "err"] == pytest.approx(100 / 3)
    per_class = CE.class_ce(df)
    assert per_class.loc["brightness", 0] == pytest.approx(50.0) and per_class.loc["contrast", 2] == 100
    assert CE.mce(df)[1] == pytest.approx((100 / 3 + 100 + 2 * 100 / 3) / 4)


@pytest.fixture
def imagenet_c(tmp_path) -> Path:
    """A tiny ImageNet-C tree: gaussian_noise/1 with classes n01 (2 images) and n02 (1 image)."""
    for cls, shades in (("n01", (10, 50)), ("n02", (200,))):
        folder = tmp_path / "gaussian_noise" / "1" / cls
        folder.mkdir(parents=True)
        for i, shade in enumerate(shades):
            Image.new("RGB", (40, 30), (shade, shade, shade)).save(folder / f"img{i}.JPEG")
    return tmp_path


def test_imagenet_c_layout_is_read(imagenet_c):
    loader = CE.imagenet_c_loader(imagenet_c, "gaussian_noise", 1, batch_size=8, image_size=16, workers=0)
    x, y = next(iter(loader))
    assert x.shape == (3, 3, 16, 16) and x.dtype == torch.float32
    assert y.tolist() == [0, 0, 1]
    assert 0 <= x.min() and x.max() <= 1 and x[2].mean() == pytest.approx(200 / 255, abs=0.02)
    df = CE.imagenet_c_errors(BrightnessModel(), imagenet_c, corruptions=("gaussian_noise",), severities=(1,),
                             image_size=16, workers=0, progress=False)
    assert df.loc[0, "err"] == pytest.approx(0.0) and df.loc[0, "n"] == 3


def test_imagenet_c_wrong_layout_names_the_expected_one(imagenet_c):
    with pytest.raises(ConfigError, match="<root>/<corruption>/<severity>/<class>"):
        CE.imagenet_c_loader(imagenet_c, "gaussian_noise", 2, batch_size=8)
    (imagenet_c / "fog" / "1" / "n01").mkdir(parents=True)  # a class folder without images
    with pytest.raises(ConfigError, match="<root>/<corruption>/<severity>/<class>"):
        CE.imagenet_c_loader(imagenet_c, "fog", 1, batch_size=8)


@pytest.mark.parametrize("corruption, severity, allowed", [
    ("rain", 1, "gaussian_noise, shot_noise"), ("fog", 0, "1, 2, 3, 4, 5"),
    ("fog", 6, "1, 2, 3, 4, 5"), ("fog", True, "1, 2, 3, 4, 5"), ("fog", 1.0, "1, 2, 3, 4, 5"),
])
def test_unknown_corruption_or_severity_is_rejected(grey, corruption, severity, allowed, tmp_path):
    with pytest.raises(ConfigError, match=allowed):
        C.corrupt(grey, corruption, severity)
    with pytest.raises(ConfigError, match=allowed):
        CE.corrupted_set("fmnist", grey, np.zeros(len(grey)), corruption, severity, cache_dir=tmp_path)
    with pytest.raises(ConfigError, match=allowed):
        CE.imagenet_c_loader(tmp_path, corruption, severity, batch_size=8)


def test_bad_arrays_and_names_are_rejected(grey, tmp_path):
    with pytest.raises(ConfigError, match="images must have shape"):
        C.corrupt(grey[:, 0], "fog", 1)
    with pytest.raises(ConfigError, match="uint8 or floats in"):
        C.corrupt(grey.astype(np.int32), "fog", 1)
    with pytest.raises(ConfigError, match="dataset_name"):
        CE.corrupted_set("../x", grey, np.zeros(len(grey)), "fog", 1, cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="seed"):
        C.corrupt(grey, "fog", 1, seed=-1)
    as_float = C.corrupt(torch.from_numpy(grey).float() / 255, "fog", 1, workers=1)
    assert np.array_equal(as_float, C.corrupt(grey, "fog", 1, workers=1))
