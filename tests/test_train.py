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


def test_mixed_batches_perturb_the_first_rows_and_train_clean_rows_one_hot():
    """adv_fraction: round(f * B) rows perturbed (at least 1); Adv+'s targets are soft on those rows
    (1 - delta on the class, delta on operation 0) and the plain one-hot on the clean rows (op = -1)."""
    from labelaug_core.losses import augmented_targets
    from labelaug_core.train import adversarial_count, operation_labels

    assert [adversarial_count(128, f) for f in (1.0, 0.5, 0.3, 1e-6)] == [128, 64, 38, 1]
    y = torch.tensor([3, 1, 4, 1, 5, 9])
    n_adv = adversarial_count(len(y), 0.5)
    op = operation_labels(y, n_adv)
    assert op.tolist() == [0, 0, 0, -1, -1, -1]
    t = augmented_targets(y, op, 10, 1, 0.3)
    torch.testing.assert_close(t.sum(1), torch.ones(6))
    for i in range(6):
        expected = torch.zeros(11)
        expected[y[i]] = 0.7 if i < n_adv else 1.0
        expected[10] = 0.3 if i < n_adv else 0.0
        torch.testing.assert_close(t[i], expected)


def test_an_advplus_run_and_its_matched_adv_see_the_same_images_and_perturb_the_same_rows(tmp_path, data_root,
                                                                                         monkeypatch):
    """The matched control (TrainConfig.matched_control) differs only in its labels: the same images in
    the same order, the same perturbed rows (clean rows untouched, perturbed rows inside the eps-ball),
    one-hot targets for Adv, LA targets on the perturbed rows only for Adv+."""
    import labelaug_core.train as train_module

    seen = {}
    real_step_loss = train_module._step_loss

    def recording(trained, model, config, x, y, precision, class_weight=None, n_adv=None):
        seen.setdefault(config.method, []).append((x.detach().clone(), y.clone(), n_adv))
        return real_step_loss(trained, model, config, x, y, precision, class_weight, n_adv)

    monkeypatch.setattr(train_module, "_step_loss", recording)
    plus = TrainConfig(method="advplus", delta=0.3, adv_fraction=0.25, **(TINY | dict(epochs=1, train_subset=256)))
    control = plus.matched_control()
    assert control.method == "adv" and control.adv_fraction == 0.25 and control.resolved().delta == 0
    originals = {}

    def clean_batches(config):
        from labelaug_core.data.loaders import make_loader

        loader = make_loader("fashion-mnist", "train", 64, train=True, data_dir=data_root, seed=config.seed, subset=256)
        loader.set_epoch(0)
        return list(loader)

    for config in (plus, control):
        train(config, tmp_path / config.method, data_dir=data_root, device="cpu", progress=False)
        originals[config.method] = clean_batches(config)
    assert len(seen["adv"]) == len(seen["advplus"]) == 4
    eps = plus.resolved().eps
    for (xa, ya, na), (xp, yp, np_), (x0, y0) in zip(seen["adv"], seen["advplus"], originals["adv"]):
        assert na == np_ == 16 and torch.equal(ya, yp) and torch.equal(ya, y0)
        for x in (xa, xp):
            assert torch.equal(x[16:], x0[16:])                       # clean rows untouched
            assert (x[:16] - x0[:16]).abs().max() <= eps + 1e-6        # perturbed rows inside the ball
            assert not torch.equal(x[:16], x0[:16])
