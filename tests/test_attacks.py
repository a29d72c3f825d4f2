import pytest
import torch
from wrappers import Scaled

from labelaug_core.attacks.pgd import attack_loss, fgsm, pgd
from labelaug_core.errors import ConfigError
from labelaug_core.models import predict


def _batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("linf", 0.3), ("l2", 0.5), ("l2", 2.0)])
@pytest.mark.parametrize("logits", ["classes", "all"])
def test_pgd_stays_in_ball_and_box(tiny_model, norm, eps, logits):
    x, y = _batch()
    x_adv = pgd(tiny_model, x, y, eps, alpha=eps / 4, steps=5, norm=norm, logits=logits)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    diff = (x_adv - x).flatten(1)
    size = diff.abs().max(1).values if norm == "linf" else diff.norm(dim=1)
    assert (size <= eps + 1e-5).all()
    assert (x_adv != x).any()


def test_fgsm_equals_one_step_pgd_without_random_start(tiny_model):
    x, y = _batch()
    torch.testing.assert_close(fgsm(tiny_model, x, y, 0.1), pgd(tiny_model, x, y, 0.1, alpha=0.1, steps=1, random_start=False), rtol=0, atol=0)


def test_fgsm_moves_every_free_pixel_by_eps(tiny_model):
    x = torch.full((4, 1, 28, 28), 0.5)
    y = torch.arange(4)
    x_adv = fgsm(tiny_model, x, y, 0.1)
    moved = (x_adv - x).abs()
    assert torch.allclose(moved[moved > 0], torch.tensor(0.1), atol=1e-6)


@pytest.mark.parametrize("logits", ["classes", "all"])
def test_attack_loss_is_the_cross_entropy_of_the_logits_over_t(logits):
    g = torch.Generator().manual_seed(4)
    z, y = 3 * torch.randn(8, 11, generator=g), torch.randint(0, 10, (8,), generator=g)
    used = z[:, :10] if logits == "classes" else z
    by_hand = -used.log_softmax(1).gather(1, y[:, None]).sum()  # T = 1: the cross-entropy
    torch.testing.assert_close(attack_loss(z, y, 10, logits_used=logits), by_hand)
    for t in (0.5, 4.0):  # T != 1: log-sum-exp over the wrong classes minus the true logit, all over T
        wrong = [torch.cat([used[i, :y[i]], used[i, y[i] + 1:]]) / t for i in range(8)]
        by_hand = sum(torch.logsumexp(w, 0) - used[i, y[i]] / t for i, w in enumerate(wrong))
        torch.testing.assert_close(attack_loss(z, y, 10, temperature=t, logits_used=logits), by_hand)
        # its logit gradient is the cross-entropy's on z / T times a positive factor per example
        zz = used.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(attack_loss(zz, y, used.shape[1], temperature=t, logits_used="all"), zz)
        (g_ce,) = torch.autograd.grad(torch.nn.functional.cross_entropy(zz / t, y, reduction="sum"), zz)
        ratio = g / g_ce
        torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))
        assert bool((ratio > 0).all())
    assert not torch.allclose(attack_loss(z, y, 10, temperature=4.0, logits_used=logits),
                              attack_loss(z, y, 10, logits_used=logits))


@pytest.mark.parametrize("t", [0.25, 4.0])
def test_temperature_pgd_is_plain_pgd_on_the_logits_over_t(tiny_model, t):
    # T = 1 skips the division, so "T = 1 is plain PGD" holds by construction; the claim with
    # content is that T divides the logits and changes nothing else: Temperature-PGD at T on the
    # model is plain PGD (T = 1) on the model's logits over T, step for step, start for start.
    x, y = _batch()
    tempered = pgd(tiny_model, x, y, 0.1, 0.025, 5, temperature=t, generator=torch.Generator().manual_seed(5))
    plain_on_scaled = pgd(Scaled(tiny_model, t), x, y, 0.1, 0.025, 5, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(tempered, plain_on_scaled, rtol=0, atol=0)
    plain = pgd(tiny_model, x, y, 0.1, 0.025, 5, temperature=1.0, generator=torch.Generator().manual_seed(5))
    assert not torch.equal(tempered, plain)  # the temperature reached the loss


@pytest.mark.parametrize("start_training", [True, False])
def test_model_mode_and_requires_grad_restored_and_no_weight_grads(tiny_model, start_training):
    tiny_model.train(start_training)
    frozen = next(tiny_model.parameters())
    frozen.requires_grad_(False)
    x, y = _batch()
    pgd(tiny_model, x, y, 0.1, 0.025, 3, restarts=2)
    fgsm(tiny_model, x, y, 0.1)
    assert tiny_model.training is start_training
    flags = [p.requires_grad for p in tiny_model.parameters()]
    assert flags[0] is False and all(flags[1:])
    assert all(p.grad is None for p in tiny_model.parameters())


def test_zero_eps_returns_the_input(tiny_model):
    x, y = _batch()
    torch.testing.assert_close(pgd(tiny_model, x, y, 0.0, 0.01, 3), x)
    torch.testing.assert_close(fgsm(tiny_model, x, y, 0.0), x)


@pytest.mark.parametrize("kwargs,match", [
    (dict(eps=-0.1), "eps must be >= 0"),
    (dict(steps=0), "steps must be >= 1"),
    (dict(alpha=0.0), "alpha must be > 0"),
    (dict(norm="l1"), "norm must be one of linf, l2"),
    (dict(logits="ops"), "logits must be one of classes, all"),
    (dict(temperature=0.0), "temperature must be > 0"),
    (dict(restarts=0), "restarts must be >= 1"),
])
def test_bad_attack_arguments_are_rejected(tiny_model, kwargs, match):
    x, y = _batch(2)
    args = dict(eps=0.1, alpha=0.01, steps=2) | kwargs
    with pytest.raises(ConfigError, match=match):
        pgd(tiny_model, x, y, args.pop("eps"), args.pop("alpha"), args.pop("steps"), **args)


# --- on a model trained on real Fashion-MNIST -------------------------------------------


def _err(model, x, y):
    with torch.no_grad():
        return 100.0 * (predict(model, x) != y).float().mean().item()


def test_pgd_beats_fgsm_and_restarts_never_help_the_model(trained_cnn, fmnist_test):
    x, y = fmnist_test[0][:300], fmnist_test[1][:300]
    clean = _err(trained_cnn, x, y)
    fgsm_err = _err(trained_cnn, fgsm(trained_cnn, x, y, 0.05), y)
    torch.manual_seed(0)
    pgd1 = pgd(trained_cnn, x, y, 0.05, 0.0125, 10)
    torch.manual_seed(0)
    pgd3 = pgd(trained_cnn, x, y, 0.05, 0.0125, 10, restarts=3)
    assert clean < 30
    assert _err(trained_cnn, pgd1, y) >= fgsm_err >= clean
    assert _err(trained_cnn, pgd3, y) >= _err(trained_cnn, pgd1, y)


def test_error_rises_towards_100_percent_as_eps_grows(trained_cnn, fmnist_test):
    x, y = fmnist_test[0][:200], fmnist_test[1][:200]
    from labelaug_core.evaluation.metrics import error_curve

    rows = error_curve(trained_cnn, x, y, eps_values=(0.0, 0.02, 0.05, 0.1, 0.3), steps=10)
    errs = [r["pgd_err"] for r in rows]
    assert errs[0] == _err(trained_cnn, x, y)
    assert all(r["pgd_err"] >= r["fgsm_err"] for r in rows)
    assert all(b >= a - 1.0 for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] >= 99.0, errs


def test_l2_pgd_fools_a_trained_model(trained_cnn, fmnist_test):
    x, y = fmnist_test[0][:200], fmnist_test[1][:200]
    assert _err(trained_cnn, pgd(trained_cnn, x, y, 3.0, 0.5, 20, norm="l2"), y) >= 90
