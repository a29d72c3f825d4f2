"""Gradient-masking checks: a small CNN trained on real Fashion-MNIST passes them all; the same
CNN behind a zero-gradient input quantisation, a softmax head or a noisy forward is flagged."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from wrappers import TinyCNN

from labelaug_core.attacks.square import square_attack
from labelaug_core.data.readers import load_arrays
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.checks import (
    CheckResult,
    check_black_box,
    check_deterministic,
    check_large_eps,
    check_logits,
    check_more_steps,
    checks_frame,
    run_masking_checks,
)
from labelaug_core.models import predict

N_TEST = 200
EPS = 0.1  # L-inf; large enough that the quantised model's blind spots show
FAST = dict(white_box=("pgd-10", "apgd-ce", "apgd-t"), apgd_steps=10, step_counts=(5, 20), square_queries=300)
NAMES = [
    "logits_not_probabilities", "deterministic", "nonzero_gradients", "more_steps_never_help",
    "large_eps_error", "square_not_better", "transfer_not_better",
]


class Wrapped(nn.Module):
    """``model`` with its input or output passed through ``pre`` / ``post``."""

    def __init__(self, model, pre=None, post=None):
        super().__init__()
        self.model, self.pre, self.post = model, pre, post
        self.num_classes, self.num_ops = model.num_classes, model.num_ops

    def forward(self, x):
        out = self.model(self.pre(x) if self.pre else x)
        return self.post(out) if self.post else out


def quantised(model):
    # torch.round has a zero derivative everywhere: the classic obfuscated gradient.
    return Wrapped(model, pre=lambda x: torch.round(x * 4) / 4)


pytestmark = pytest.mark.usefixtures("one_thread")


def _train(x, y, seed, steps):
    torch.manual_seed(seed)
    net = TinyCNN()
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        i = torch.randint(0, len(y), (64,), generator=g)
        loss = F.cross_entropy(net(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@pytest.fixture(scope="module")
def models(data_root):
    """Two TinyCNNs trained on 6000 real training images (~83% / ~80% clean accuracy)."""
    images, labels = load_arrays("fashion-mnist", "train", data_root)
    x, y = images[:6000].float() / 255, labels[:6000]
    return _train(x, y, seed=0, steps=300), _train(x, y, seed=1, steps=150)


@pytest.fixture(scope="module")
def batch(fmnist_test):
    x, y = fmnist_test
    return x[:N_TEST], y[:N_TEST]


@pytest.fixture(scope="module")
def healthy_results(models, batch):
    model, other = models
    return run_masking_checks(model, *batch, EPS, transfer_model=other, **FAST)


def test_a_normally_trained_model_passes_every_check(healthy_results):
    assert [r.name for r in healthy_results] == NAMES
    failed = [r.message for r in healthy_results if not r.passed]
    assert failed == []
    by_name = {r.name: r for r in healthy_results}
    assert by_name["nonzero_gradients"].value == 0.0
    assert by_name["large_eps_error"].value >= 99.0


def test_checks_frame_has_one_row_per_check(healthy_results):
    frame = checks_frame(healthy_results)
    assert list(frame.columns) == ["name", "passed", "value", "threshold", "message"]
    assert frame["name"].tolist() == NAMES and frame["passed"].all()


def test_a_quantised_model_is_flagged(models, batch):
    model, _ = models
    masked = quantised(model)
    # The transfer source is the unmasked twin: its gradients are the ones the mask hides.
    results = {r.name: r for r in run_masking_checks(masked, *batch, EPS, transfer_model=model, **FAST)}
    assert results["nonzero_gradients"].value == 100.0 and not results["nonzero_gradients"].passed
    assert not results["square_not_better"].passed and results["square_not_better"].value > 10
    assert not results["transfer_not_better"].passed
    assert not results["large_eps_error"].passed
    # Quantisation is deterministic and leaves the logits alone: those checks still pass.
    assert results["logits_not_probabilities"].passed and results["deterministic"].passed


def test_softmax_outputs_are_flagged(models, batch):
    x, _ = batch
    result = check_logits(Wrapped(models[0], post=lambda z: z.softmax(1)), x)
    assert not result.passed and result.value == 100.0
    assert check_logits(Wrapped(models[0], post=lambda z: z.log_softmax(1)), x).passed  # same gradients as logits


def test_a_randomised_model_is_flagged(models, batch):
    x, _ = batch
    noisy = Wrapped(models[0], pre=lambda x: (x + 0.3 * torch.randn_like(x)).clamp(0, 1))
    with torch.random.fork_rng():
        result = check_deterministic(noisy, x)
    assert not result.passed and result.value > 1e-2
    assert check_deterministic(models[0], x, passes=3).passed


def test_black_box_comparison_is_error_difference_in_points(models, batch):
    model, _ = models
    x, y = batch
    clean_err = 100.0 * float((predict(model, x) != y).float().mean())
    nobody = check_black_box("clean_not_better", model, x, y, torch.zeros_like(y, dtype=torch.bool))
    assert nobody.value == pytest.approx(clean_err) and not nobody.passed
    everybody = check_black_box("clean_not_better", model, x, y, torch.ones_like(y, dtype=torch.bool))
    assert everybody.value == pytest.approx(clean_err - 100.0) and everybody.passed
    assert nobody.threshold == pytest.approx(100.0 * 2 / N_TEST)


def test_square_attack_stays_in_the_ball_and_leaves_random_state(models, batch):
    model, _ = models
    x, y = batch[0][:50], batch[1][:50]
    state = torch.get_rng_state()
    x_adv = square_attack(model, x, y, EPS, n_queries=50)
    assert torch.equal(torch.get_rng_state(), state)
    assert x_adv.min() >= 0 and x_adv.max() <= 1 and (x_adv - x).abs().max() <= EPS + 1e-6
    assert (predict(model, x_adv) != y).sum() > (predict(model, x) != y).sum()


def test_l2_checks_pass_on_the_normal_model(models, batch):
    model, _ = models
    x, y = batch[0][:100], batch[1][:100]
    results = run_masking_checks(model, x, y, 1.0, norm="l2", white_box=("pgd-10",), step_counts=(5, 20), square_queries=0)
    assert [r.name for r in results] == NAMES[:5]
    assert all(r.passed for r in results), [r.message for r in results if not r.passed]


@pytest.mark.parametrize("start_training", [True, False])
def test_model_state_and_random_state_are_restored(models, batch, start_training):
    model = TinyCNN()
    model.load_state_dict(models[0].state_dict())
    model.train(start_training)
    next(model.parameters()).requires_grad_(False)
    x, y = batch[0][:20], batch[1][:20]
    state = torch.get_rng_state()
    results = run_masking_checks(model, x, y, EPS, white_box=("pgd-2",), step_counts=(1, 2), square_queries=10)
    assert all(isinstance(r, CheckResult) for r in results)
    assert torch.equal(torch.get_rng_state(), state)
    assert model.training is start_training
    flags = [p.requires_grad for p in model.parameters()]
    assert flags[0] is False and all(flags[1:])
    assert all(p.grad is None for p in model.parameters())


class Brightness(nn.Module):
    """Class 1 iff the mean pixel exceeds 0.25: an all-white image keeps class 1 in the whole L-inf
    ball of radius 0.5 (mean >= 0.5) and in the L2 ball of radius 0.5 * sqrt(d), but not at eps 1."""

    num_classes, num_ops = 2, 0

    def forward(self, x):
        s = x.flatten(1).mean(1)
        return 10 * torch.stack([0.25 - s, s - 0.25], dim=1)


@pytest.mark.parametrize("norm, full", [("linf", 1.0), ("l2", 2.0)])
def test_large_eps_uses_the_radius_that_holds_every_image(norm, full):
    x, y = torch.ones(8, 1, 2, 2), torch.ones(8, dtype=torch.long)
    result = check_large_eps(Brightness(), x, y, norm=norm)
    assert result.passed and result.value == 100.0
    assert f"{norm} eps {full:g} gives 100.0% error" in result.message and "the ball holds every image" in result.message
    # Below that radius nothing is guaranteed: this model keeps every white image, and the check says it is a heuristic.
    smaller = check_large_eps(Brightness(), x, y, norm=norm, large_eps=full / 2)
    assert smaller.value == 0.0 and not smaller.passed and "a heuristic" in smaller.message


def test_square_budget_is_autoattacks_and_is_stated(healthy_results):
    message = {r.name: r.message for r in healthy_results}["square_not_better"]
    assert "square (300 queries, p_init 0.8, no schedule rescaling; AutoAttack's: 5000 queries" in message
    from labelaug_core.attacks.square import square_budget
    assert square_budget(5000) == "5000 queries, p_init 0.8, no schedule rescaling: AutoAttack's budget"
    import inspect
    assert inspect.signature(run_masking_checks).parameters["square_queries"].default == 5000
    assert {k: inspect.signature(square_attack).parameters[k].default for k in ("n_queries", "p_init", "rescale_schedule")} \
        == {"n_queries": 5000, "p_init": 0.8, "rescale_schedule": False}


def test_bad_arguments_are_rejected(models, batch):
    model, _ = models
    x, y = batch[0][:4], batch[1][:4]
    with pytest.raises(ConfigError, match="eps must be > 0"):
        run_masking_checks(model, x, y, 0.0)
    with pytest.raises(ConfigError, match="step_counts must be at least two increasing"):
        check_more_steps(model, x, y, EPS, step_counts=(20, 5))
    with pytest.raises(ConfigError, match="passes must be >= 2"):
        check_deterministic(model, x, passes=1)
    with pytest.raises(ConfigError, match="norm must be one of linf, l2"):
        square_attack(model, x, y, EPS, norm="l1")
