import pytest
import torch

from labelaug_core.errors import ConfigError

from labelaug_core.config import TrainConfig
from labelaug_core.train import CHECKPOINT, TrainingDiverged, train

TINY = dict(dataset="fashion-mnist", epochs=2, train_subset=512, batch_size=64, steps=2, precision="fp32")


@pytest.mark.parametrize("method", ["std", "adv", "advplus"])
def test_each_regime_trains_and_lowers_the_loss(tmp_path, data_root, method):
    config = TrainConfig(method=method, **(TINY | dict(lr=0.1)))
    model, history = train(config, tmp_path, data_dir=data_root, device="cpu", progress=False)
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert model.num_ops == (1 if method == "advplus" else 0)
    assert history[-1]["lr"] == pytest.approx(config.resolved().lr * 1e-4, rel=1e-3)  # cosine to lr * 1e-4


def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path, data_root):
    config = TrainConfig(method="advplus", **TINY)
    full, full_history = train(config, tmp_path / "full", data_dir=data_root, device="cpu", progress=False)
    (tmp_path / "cut").mkdir()
    train(config, tmp_path / "cut", data_dir=data_root, device="cpu", progress=False, stop_after_epochs=1)
    state = torch.load(tmp_path / "cut" / CHECKPOINT, weights_only=True)
    assert state["epoch"] == 1
    resumed, resumed_history = train(config, tmp_path / "cut", data_dir=data_root, device="cpu", progress=False)
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert [h["train_loss"] for h in full_history] == [h["train_loss"] for h in resumed_history]


def test_non_finite_loss_names_epoch_and_step_and_keeps_the_last_checkpoint(tmp_path, data_root, monkeypatch):
    import labelaug_core.train as train_module

    real_step_loss = train_module._step_loss
    calls = []
    steps_per_epoch = TINY["train_subset"] // TINY["batch_size"]

    def step_loss_going_nan(*args):
        calls.append(1)
        loss, pred = real_step_loss(*args)
        return (loss * float("nan") if len(calls) == steps_per_epoch + 3 else loss), pred

    monkeypatch.setattr(train_module, "_step_loss", step_loss_going_nan)
    config = TrainConfig(method="std", **TINY)
    with pytest.raises(TrainingDiverged, match=r"epoch 2, step 3\b"):
        train(config, tmp_path, data_dir=data_root, device="cpu", progress=False)
    state = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values())


@pytest.mark.parametrize("attack_bn", ["train", "eval"])
def test_training_attack_runs_in_the_configured_batchnorm_mode(tmp_path, data_root, monkeypatch, attack_bn):
    """PGD-AT's training attack runs with BatchNorm in train mode (batch statistics, running stats
    updated) by default, in eval mode with attack_bn="eval"; the update step is always in train mode."""
    import labelaug_core.train as train_module
    from torch import nn

    from labelaug_core.models import Classifier, Normalize

    def bn_model(config, data_dir=None, **_):
        torch.manual_seed(0)
        backbone = nn.Sequential(nn.Conv2d(1, 4, 3, 2, 1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 14 * 14, 10))
        return Classifier(backbone, Normalize((0.2860,), (0.3530,)), 10, 0)

    seen = {"attack": [], "update": []}

    def record(bn, inputs):  # forward pre-hook: the mode and running mean before this forward pass
        phase = "update" if bn.weight.requires_grad else "attack"  # attacks freeze the parameters
        seen[phase].append((bn.training, bn.running_mean.clone()))

    def record_after(bn, inputs, output):
        phase = "update" if bn.weight.requires_grad else "attack"
        training, before = seen[phase][-1]
        seen[phase][-1] = (training, not torch.equal(before, bn.running_mean))

    def built(config, data_dir=None, **kwargs):
        model = bn_model(config, data_dir, **kwargs)
        model.backbone[1].register_forward_pre_hook(record)
        model.backbone[1].register_forward_hook(record_after)
        return model

    monkeypatch.setattr(train_module, "build_for", built)
    config = TrainConfig(method="adv", attack_bn=attack_bn, **(TINY | dict(epochs=1, train_subset=128)))
    train(config, tmp_path, data_dir=data_root, device="cpu", progress=False)
    attack_modes = {training for training, _ in seen["attack"]}
    assert len(seen["attack"]) == 2 * TINY["steps"] and attack_modes == {attack_bn == "train"}
    assert all(changed == (attack_bn == "train") for _, changed in seen["attack"])  # running stats move only in train
    assert seen["update"] and all(training and changed for training, changed in seen["update"])  # mode restored


def test_fine_tune_starts_from_the_std_weights_and_keeps_fresh_operation_rows(tmp_path):
    """init_from: std copies every tensor of the Std checkpoint; the K class rows of the output layer
    come from it, the M operation rows (label augmentation) keep their own initialisation."""
    from labelaug_core.config import TrainConfig
    from labelaug_core.train import build_for, load_initial_weights

    std_cfg = TrainConfig(method="std", seed=0).resolved("cpu")
    std = build_for(std_cfg)
    torch.save({"model": std.state_dict()}, tmp_path / "checkpoint.pt")
    plus_cfg = TrainConfig(method="advplus", init_from="std", finetune_epochs=1, finetune_lr=0.01).resolved("cpu")
    assert plus_cfg.init_source().resolved("cpu") == std_cfg and plus_cfg.schedule == (1, 0.01)
    torch.manual_seed(123)
    plus = build_for(plus_cfg)
    fresh = {k: v.clone() for k, v in plus.state_dict().items()}
    load_initial_weights(plus, tmp_path / "checkpoint.pt")
    src, got = std.state_dict(), plus.state_dict()
    k = std.num_classes
    for name, tensor in src.items():
        if got[name].shape == tensor.shape:
            assert torch.equal(got[name], tensor), name
        else:  # the output layer: K rows copied, M rows untouched
            assert torch.equal(got[name][:k], tensor) and torch.equal(got[name][k:], fresh[name][k:]), name
    with pytest.raises(ConfigError, match="finetune_epochs and finetune_lr need init_from"):
        TrainConfig(finetune_epochs=2)
    with pytest.raises(ConfigError, match="needs method adv or advplus"):
        TrainConfig(method="std", init_from="std", finetune_epochs=1)
