import pytest

from labelaug_core.config import DATASET_DEFAULTS, TrainConfig
from labelaug_core.errors import ConfigError


def test_resolved_fills_dataset_defaults_and_madry_step():
    c = TrainConfig(dataset="fashion-mnist", method="adv").resolved()
    assert c.eps == 0.1 and c.model == "small-cnn" and c.epochs == DATASET_DEFAULTS["fashion-mnist"]["epochs"]
    assert c.alpha == pytest.approx(2.5 * 0.1 / 10)
    imagenet = TrainConfig(dataset="imagenet", method="advplus").resolved()
    assert (imagenet.eps, imagenet.batch_size, imagenet.lr, imagenet.epochs, imagenet.model) == (0.03, 64, 0.01, 10, "resnet50")


def test_delta_only_applies_to_advplus():
    assert TrainConfig(method="adv", delta=0.3).run_id == TrainConfig(method="adv", delta=0.0).run_id
    assert TrainConfig(method="advplus", delta=0.3).run_id != TrainConfig(method="advplus", delta=0.03).run_id


def test_run_id_is_readable_and_stable():
    a = TrainConfig(method="advplus", delta=0.03, seed=1)
    assert a.run_id == TrainConfig.from_dict(a.resolved().to_dict()).run_id
    assert a.run_id.startswith("fashion-mnist-advplus-d0.03-s1-")
    assert a.run_id != TrainConfig(method="advplus", delta=0.03, seed=2).run_id


@pytest.mark.parametrize("values,match", [
    (dict(dataset="mnist"), "dataset must be one of"),
    (dict(method="trades"), "method must be one of std, adv, advplus"),
    (dict(model="vit"), "model must be one of"),
    (dict(eps=-0.1), r"eps must be in \[0, 1\]"),
    (dict(delta=1.0), r"delta must be in \[0, 1\)"),
    (dict(delta=-0.01), r"delta must be in \[0, 1\)"),
    (dict(steps=0), "steps must be >= 1"),
    (dict(batch_size=0), "batch_size must be >= 1"),
    (dict(epochs=0), "epochs must be >= 1"),
    (dict(colour="red"), "unknown config field 'colour'"),
])
def test_bad_values_give_one_line_messages(values, match):
    with pytest.raises(ConfigError, match=match) as info:
        TrainConfig.from_dict(values)
    assert "\n" not in str(info.value)


def test_weak_class_weights():
    import torch

    c = TrainConfig(method="adv", weak_classes="6,2", weak_class_weight=2.0)
    torch.testing.assert_close(c.class_weight(10), torch.tensor([1, 1, 2, 1, 1, 1, 2, 1, 1, 1.0]))
    assert TrainConfig(method="adv").class_weight(10) is None
    assert TrainConfig(method="adv", weak_class_weight=3.0).run_id == TrainConfig(method="adv").run_id
    with pytest.raises(ConfigError, match="weak_classes must be comma-separated"):
        TrainConfig(weak_classes="shirt")
    with pytest.raises(ConfigError, match=r"weak_classes must be class indices in \[0, 10\)"):
        TrainConfig(weak_classes="12", weak_class_weight=2.0).class_weight(10)


def test_integer_and_float_values_give_the_same_run():
    assert TrainConfig(method="advplus", delta=0).run_id == TrainConfig(method="advplus", delta=0.0).run_id
    assert TrainConfig(eps=0).run_id == TrainConfig(eps=0.0).run_id


def test_pretrained_default_follows_the_dataset():
    assert TrainConfig(dataset="imagenet").resolved().pretrained is True
    assert TrainConfig(dataset="imagenet", pretrained=False).resolved().pretrained is False
    assert TrainConfig(dataset="cifar10").resolved().pretrained is False
