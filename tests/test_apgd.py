"""APGD and the attack ensemble: the paper's step-size schedule, the DLR losses' invariances,
the attack contract, and agreement with an independent implementation (torchattacks 3.5.1)
on a small CNN trained on real Fashion-MNIST."""
import pytest
import torch
import torch.nn.functional as F
import torchattacks
from torch import nn
from wrappers import TinyCNN

from labelaug_core.attacks.apgd import apgd, checkpoints, dlr_loss, dlr_targeted_loss
from labelaug_core.attacks.ensemble import ensemble_attack, ensemble_errors
from labelaug_core.attacks.pgd import pgd, seeded_pgd
from labelaug_core.attacks.threat import default_alpha
from labelaug_core.data.readers import load_arrays
from labelaug_core.errors import ConfigError
from labelaug_core.models import predict

N_TEST = 300  # test images for the robust-accuracy comparisons
EPS = 0.04  # L-inf; the tiny model keeps ~40% robust accuracy here, so both tails can move


class ClassLogits(nn.Module):
    """The first K logits only: torchattacks attacks every output of the model it is given."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)[:, : self.model.num_classes]


class WithOpLogit(nn.Module):
    """``base`` plus one operation logit (M = 1) computed by ``op(x)``."""

    def __init__(self, base, op):
        super().__init__()
        self.base, self.op = base, op
        self.num_classes, self.num_ops = base.num_classes, 1

    def forward(self, x):
        return torch.cat([self.base(x), self.op(x)[:, None]], dim=1)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model(data_root):
    """TinyCNN after 300 Adam steps on 6000 real training images (about 83% clean accuracy)."""
    images, labels = load_arrays("fashion-mnist", "train", data_root)
    x, y = images[:6000].float() / 255, labels[:6000]
    torch.manual_seed(0)
    net = TinyCNN()
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        i = torch.randint(0, len(y), (64,), generator=g)
        loss = F.cross_entropy(net(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@pytest.fixture(scope="module")
def test_batch(fmnist_test):
    x, y = fmnist_test
    return x[:N_TEST], y[:N_TEST]


def _robust_acc(model, x_adv, y):
    with torch.no_grad():
        return 100.0 * float((predict(model, x_adv) == y).float().mean())


def _size(x_adv, x, norm):
    diff = (x_adv - x).flatten(1)
    return diff.abs().amax(1) if norm == "linf" else diff.norm(dim=1)


# --- schedule and losses ----------------------------------------------------------------------

def test_checkpoints_follow_the_paper():
    # Croce & Hein 2020, Sec. 3.2: p = 0, 0.22, then intervals shrinking by 0.03 down to 0.06.
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    for steps in (1, 5, 10, 37, 250):
        points = checkpoints(steps)
        gaps = [b - a for a, b in zip([0] + points, points)]
        assert points and points[-1] <= steps
        assert all(g >= max(int(0.06 * steps), 1) for g in gaps)
        assert gaps == sorted(gaps, reverse=True)


def test_dlr_losses_are_invariant_to_shift_and_positive_scale():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(64, 10, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (64,), generator=g)
    t = (y + 1 + torch.randint(0, 9, (64,), generator=g)) % 10
    for a, b in ((3.0, 0.0), (0.5, -7.0), (1.0, 100.0)):
        torch.testing.assert_close(dlr_loss(a * z + b, y), dlr_loss(z, y))
        torch.testing.assert_close(dlr_targeted_loss(a * z + b, y, t), dlr_targeted_loss(z, y, t))


def test_dlr_loss_sign_and_range():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(256, 10, generator=g)
    y = torch.randint(0, 10, (256,), generator=g)
    loss = dlr_loss(z, y)
    correct = z.argmax(1) == y
    assert correct.any() and (~correct).any()
    assert (loss[correct] >= -1).all() and (loss[correct] <= 0).all()
    assert (loss[~correct] > 0).all()
    t = (y + 1) % 10
    assert torch.equal(dlr_targeted_loss(z, y, t) > 0, z.gather(1, t[:, None]).squeeze(1) > z.gather(1, y[:, None]).squeeze(1))


# --- the attack contract ----------------------------------------------------------------------

@pytest.mark.parametrize("norm,eps", [("linf", 0.05), ("l2", 1.0)])
@pytest.mark.parametrize("loss", ["ce", "dlr", "dlr-targeted"])
@pytest.mark.parametrize("logits", ["classes", "all"])
def test_apgd_stays_in_ball_and_box(tiny_model, norm, eps, loss, logits):
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(8, 1, 28, 28, generator=g), torch.randint(0, 10, (8,), generator=g)
    y[:4] = predict(tiny_model, x[:4])  # some correctly classified examples get attacked
    x_adv = apgd(tiny_model, x, y, eps, 5, loss=loss, norm=norm, n_target_classes=2, logits=logits)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (_size(x_adv, x, norm) <= eps + 1e-5).all()
    assert (x_adv[:4] != x[:4]).any()


def test_zero_eps_returns_the_input(tiny_model):
    x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
    torch.testing.assert_close(apgd(tiny_model, x, y, 0.0, 3), x, rtol=0, atol=0)


def test_seeded_and_leaves_the_global_random_state_alone(model, test_batch):
    x, y = test_batch[0][:64], test_batch[1][:64]
    state = torch.get_rng_state()
    first = apgd(model, x, y, EPS, 5, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(apgd(model, x, y, EPS, 5, seed=3), first)
    assert not torch.equal(apgd(model, x, y, EPS, 5, seed=4), first)


@pytest.mark.parametrize("start_training", [True, False])
def test_model_mode_and_requires_grad_restored_and_no_weight_grads(tiny_model, start_training):
    tiny_model.train(start_training)
    next(tiny_model.parameters()).requires_grad_(False)
    x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
    apgd(tiny_model, x, y, 0.05, 3, restarts=2)
    ensemble_attack(tiny_model, x, y, 0.05, attacks=("pgd-2", "apgd-t"), apgd_steps=2, n_target_classes=2)
    assert tiny_model.training is start_training
    flags = [p.requires_grad for p in tiny_model.parameters()]
    assert flags[0] is False and all(flags[1:])
    assert all(p.grad is None for p in tiny_model.parameters())


def test_clean_mistakes_are_returned_unchanged_and_fooling_points_kept(model, test_batch):
    x, y = test_batch
    wrong = predict(model, x) != y
    assert wrong.any()
    x_adv = apgd(model, x, y, EPS, 10)
    assert torch.equal(x_adv[wrong], x[wrong])
    # Every example the attack reports as fooled is misclassified at the returned point,
    # and APGD at 10 steps is at least as strong as PGD at 10 steps (up to 1% of the examples).
    torch.manual_seed(0)
    pgd_acc = _robust_acc(model, pgd(model, x, y, EPS, default_alpha(EPS, 10), 10), y)
    assert _robust_acc(model, x_adv, y) <= pgd_acc + 1.0


def test_logits_classes_ignores_operation_logits_and_all_uses_them(model, test_batch):
    x, y = test_batch[0][:64], test_batch[1][:64]
    reference = apgd(model, x, y, EPS, 5, loss="dlr-targeted", n_target_classes=2)
    moving = WithOpLogit(model, lambda x: 50.0 * x.flatten(1).mean(1))
    assert torch.equal(apgd(moving, x, y, EPS, 5, loss="dlr-targeted", n_target_classes=2, logits="classes"), reference)
    assert not torch.equal(apgd(moving, x, y, EPS, 5, loss="dlr-targeted", n_target_classes=2, logits="all"), reference)
    # An operation logit far below every class logit adds nothing to CE or DLR.
    silent = WithOpLogit(model, lambda x: torch.full((len(x),), -1e4))
    for loss in ("ce", "dlr-targeted"):
        base = apgd(model, x, y, EPS, 5, loss=loss, n_target_classes=2)
        torch.testing.assert_close(apgd(silent, x, y, EPS, 5, loss=loss, n_target_classes=2, logits="all"), base)


@pytest.mark.parametrize("kwargs,match", [
    (dict(eps=-0.1), "eps must be >= 0"),
    (dict(steps=0), "steps must be >= 1"),
    (dict(loss="hinge"), "loss must be one of ce, dlr, dlr-targeted"),
    (dict(norm="l1"), "norm must be one of linf, l2"),
    (dict(restarts=0), "restarts must be >= 1"),
    (dict(logits="ops"), "logits must be one of classes, all"),
    (dict(rho=1.0), r"rho must be in \(0, 1\)"),
    (dict(loss="dlr-targeted", n_target_classes=10), r"n_target_classes must be in \[1, 9\]"),
])
def test_bad_apgd_arguments_are_rejected(tiny_model, kwargs, match):
    args = dict(eps=0.1, steps=2) | kwargs
    with pytest.raises(ConfigError, match=match):
        apgd(tiny_model, torch.rand(2, 1, 28, 28), torch.tensor([0, 1]), **args)


# --- agreement with torchattacks ----------------------------------------------------------------

@pytest.mark.parametrize("norm,eps", [("linf", EPS), ("l2", 0.8)])
def test_apgd_ce_agrees_with_torchattacks(model, test_batch, norm, eps):
    x, y = test_batch
    ours = apgd(model, x, y, eps, 20, loss="ce", norm=norm)
    with torch.random.fork_rng():  # torchattacks reseeds the global generator
        theirs = torchattacks.APGD(ClassLogits(model), norm={"linf": "Linf", "l2": "L2"}[norm], eps=eps, steps=20, seed=0)(x, y)
    ours_acc, theirs_acc = _robust_acc(model, ours, y), _robust_acc(model, theirs, y)
    assert 15 < theirs_acc < 75  # a regime where a weaker or stronger attack would show
    assert abs(ours_acc - theirs_acc) <= 3.0
    with torch.no_grad():
        same = (predict(model, ours) == y) == (predict(model, theirs) == y)
    assert same.float().mean() >= 0.9


def test_apgd_t_agrees_with_torchattacks(model, test_batch):
    x, y = test_batch
    ours = apgd(model, x, y, EPS, 20, loss="dlr-targeted", n_target_classes=3)
    with torch.random.fork_rng():
        # torchattacks targets the classes ranked 2 .. n_classes: n_classes=4 gives 3 targets.
        theirs = torchattacks.APGDT(ClassLogits(model), eps=EPS, steps=20, seed=0, n_classes=4)(x, y)
    ours_acc, theirs_acc = _robust_acc(model, ours, y), _robust_acc(model, theirs, y)
    assert 15 < theirs_acc < 75
    assert abs(ours_acc - theirs_acc) <= 3.0


# --- the ensemble -------------------------------------------------------------------------------

ENSEMBLE = dict(attacks=("pgd-10", "pgd-10-restarts", "apgd-ce", "apgd-t"), apgd_steps=10, pgd_restarts=2, n_target_classes=3)


@pytest.fixture(scope="module")
def ensemble(model, test_batch):
    x, y = test_batch
    return ensemble_attack(model, x, y, EPS, **ENSEMBLE)


def test_ensemble_is_the_per_example_worst_case(model, test_batch, ensemble):
    x, y = test_batch
    x_worst, fooled_by = ensemble
    assert list(fooled_by) == ["clean", *ENSEMBLE["attacks"]]
    assert x_worst.min() >= 0 and x_worst.max() <= 1 and (_size(x_worst, x, "linf") <= EPS + 1e-6).all()
    any_fooled = torch.stack(list(fooled_by.values())).any(0)
    with torch.no_grad():
        assert torch.equal(predict(model, x_worst) != y, any_fooled)
    for name in ENSEMBLE["attacks"]:
        assert not (fooled_by["clean"] & ~fooled_by[name]).any()  # clean mistakes count everywhere
    errors = ensemble_errors(fooled_by)
    assert errors["worst"] == pytest.approx(100.0 * float(any_fooled.float().mean()))
    assert errors["worst"] >= max(errors[name] for name in ENSEMBLE["attacks"])
    assert errors["clean"] < errors["pgd-10"] < 100


def test_ensemble_is_seeded_and_cascade_attacks_only_survivors(model, test_batch, ensemble):
    x, y = test_batch[0][:100], test_batch[1][:100]
    state = torch.get_rng_state()
    x_worst, fooled_by = ensemble_attack(model, x, y, EPS, **ENSEMBLE)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(x_worst, ensemble[0][:100])
    _, cascaded = ensemble_attack(model, x, y, EPS, cascade=True, **ENSEMBLE)
    new = [cascaded[name] & ~cascaded["clean"] for name in ENSEMBLE["attacks"]]
    assert int(torch.stack(new).sum(0).max()) <= 1  # each example is fooled by at most one member
    assert torch.stack(new).any(0).sum() > 0


def test_seeded_pgd_is_reproducible_and_zero_eps_is_the_identity(model, test_batch):
    x, y = test_batch[0][:64], test_batch[1][:64]
    state = torch.get_rng_state()
    first = seeded_pgd(model, x, y, EPS, 3, seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(seeded_pgd(model, x, y, EPS, 3, seed=1), first)
    assert not torch.equal(seeded_pgd(model, x, y, EPS, 3, seed=2), first)
    x_worst, fooled_by = ensemble_attack(model, x, y, 0.0, attacks=("pgd-3", "apgd-ce"), apgd_steps=3)
    assert torch.equal(x_worst, x)
    assert all(torch.equal(f, fooled_by["clean"]) for f in fooled_by.values())


@pytest.mark.parametrize("kwargs,match", [
    (dict(attacks=("pgd-10", "cw")), "unknown member 'cw'"),
    (dict(attacks=("pgd-0",)), "unknown member 'pgd-0'"),
    (dict(attacks=()), "at least one member"),
    (dict(attacks=("apgd-ce", "apgd-ce")), "must not repeat"),
    (dict(eps=-0.1), "eps must be >= 0"),
    (dict(apgd_steps=0), "apgd_steps must be >= 1"),
    (dict(pgd_restarts=0), "pgd_restarts must be >= 1"),
])
def test_bad_ensemble_arguments_are_rejected(tiny_model, kwargs, match):
    args = dict(eps=0.1) | kwargs
    with pytest.raises(ConfigError, match=match):
        ensemble_attack(tiny_model, torch.rand(2, 1, 28, 28), torch.tensor([0, 1]), **args)
