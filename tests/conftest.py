"""Shared fixtures: real Fashion-MNIST and one small model trained on it (once per session)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import labelaug_core  # noqa: F401  (torchvision shim before any torchvision import)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(scope="session", autouse=True)
def data_root() -> str:
    """Where the tests read Fashion-MNIST: $LABELAUG_DATA, else ../shared/datasets."""
    root = os.environ.get("LABELAUG_DATA") or str(SHARED_DATA)
    os.environ["LABELAUG_DATA"] = root
    return root


@pytest.fixture(scope="session")
def fmnist_test(data_root):
    """The first 1000 Fashion-MNIST test images, float (1000, 1, 28, 28) in [0, 1], and labels."""
    from labelaug_core.data.readers import load_arrays

    images, labels = load_arrays("fashion-mnist", "test", data_root)
    return images[:1000].float() / 255, labels[:1000]


@pytest.fixture(scope="session")
def trained_cnn(tmp_path_factory, data_root):
    """A small CNN trained (std, 2 epochs on 6000 images) by the library's own loop."""
    from labelaug_core.config import TrainConfig
    from labelaug_core.train import train

    config = TrainConfig(dataset="fashion-mnist", method="std", epochs=2, train_subset=6000, precision="fp32")
    model, _ = train(config, tmp_path_factory.mktemp("trained"), data_dir=data_root, device="cpu", progress=False)
    return model.eval()


@pytest.fixture
def tiny_model():
    """An untrained small CNN with K = 10 class and M = 1 operation outputs."""
    from labelaug_core.models import build_model

    torch.manual_seed(0)
    return build_model("small-cnn", 10, 1, channels=1, image_size=28)


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a whole module (``pytest.mark.usefixtures("one_thread")``): on a busy
    2-core machine two threads contend, and small convolutions or ResNet-50 run several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
