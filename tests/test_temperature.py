"""Temperature-PGD without underflow, its zero-gradient share per T, and T chosen on held-out images
(labelaug_core.evaluation.classwise, labelaug_core.runs.strong.temperature_evaluation,
labelaug_core.report.temperature)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from wrappers import Scaled

from labelaug_core.attacks.pgd import attack_loss, pgd
from labelaug_core.attacks.threat import default_alpha, predict
from labelaug_core.config import TrainConfig
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.classwise import choose_temperature, temperature_sweep, zero_gradient_mask
from labelaug_core.report import temperature as RT
from labelaug_core.runs.protocol import run_test_images
from labelaug_core.runs.store import load_model, load_run
from labelaug_core.runs.strong import temperature_evaluation
from labelaug_core.runs.training import ensure_run


class Confident(torch.nn.Module):
    """A linear classifier on 4x4 grey images with large weights: margins of tens of logits at T = 1,
    so that at T = 0.1 the margin / T is in the hundreds, past float32's exp underflow (about 87-103)."""

    num_classes, num_ops = 5, 0

    def __init__(self, scale: float = 8.0):
        super().__init__()
        self.linear = torch.nn.Linear(16, 5)
        with torch.no_grad():
            self.linear.weight.copy_(torch.randn(5, 16, generator=torch.Generator().manual_seed(0)) * scale)
            self.linear.bias.zero_()

    def forward(self, x):
        return self.linear(x.flatten(1))


@pytest.fixture
def confident():
    model = Confident().eval()
    x = torch.rand(400, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(1)  # every image classified correctly and confidently
    return model, x, y


def _by_hand_zero(model, x, y, loss_of_logits) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_of_logits(model(x)), x)
    return (grad.flatten(1) == 0).all(1)


def test_temperature_below_one_never_zeroes_a_gradient_that_t1_has(confident):
    model, x, y = confident
    at_one = zero_gradient_mask(model, x, y, temperature=1.0)
    for t in (0.5, 0.1, 0.05, 0.01):
        attack = zero_gradient_mask(model, x, y, temperature=t)
        assert not (attack & ~at_one).any(), t
        by_hand = _by_hand_zero(model, x, y, lambda z, t=t: attack_loss(z, y, 5, temperature=t))
        assert torch.equal(attack, by_hand)


def test_the_cross_entropy_of_z_over_t_underflows_where_the_margin_over_t_is_large(confident):
    # Why the attack uses the log-sum-exp form: the cross-entropy's gradient softmax(z/T) - onehot(y)
    # is exactly zero in float32 once every exp(-(z_y - z_j) / T) underflows (margin / T above ~87,
    # below ~104 with subnormals). At T = 1 this model keeps every gradient; at T = 0.1 it loses many.
    model, x, y = confident
    with torch.no_grad():
        z = model(x)
    margin = z.gather(1, y[:, None]).squeeze(1) - z.scatter(1, y[:, None], float("-inf")).max(1).values
    assert not zero_gradient_mask(model, x, y, temperature=1.0, form="cross_entropy").any()
    ce = zero_gradient_mask(model, x, y, temperature=0.1, form="cross_entropy")
    by_hand = _by_hand_zero(model, x, y, lambda logits: F.cross_entropy(logits / 0.1, y, reduction="sum"))
    assert torch.equal(ce, by_hand)
    assert 0.2 < ce.float().mean() < 1.0  # a sizeable share, not all: a test that can fail either way
    assert (margin[ce] / 0.1 > 87).all() and (margin[~ce] / 0.1 < 104).all()
    assert not zero_gradient_mask(model, x, y, temperature=0.1).any()  # the attack's loss keeps them all
    # Plain PGD on the logits / 0.1 (the old form) leaves those images at their random start; the
    # Temperature-PGD of the attack moves them.
    eps, generator = 0.01, lambda: torch.Generator().manual_seed(3)
    old_1, old_5 = (pgd(Scaled(model, 0.1), x, y, eps, eps / 4, s, generator=generator()) for s in (1, 5))
    new_1, new_5 = (pgd(model, x, y, eps, eps / 4, s, temperature=0.1, generator=generator()) for s in (1, 5))
    stuck = (old_1 == old_5).flatten(1).all(1)
    assert stuck[ce].float().mean() > 0.9
    assert not (new_1 == new_5).flatten(1).all(1)[ce].any()


def test_zero_gradient_mask_rejects_unknown_forms(confident):
    model, x, y = confident
    with pytest.raises(ConfigError, match="form must be one of attack, cross_entropy"):
        zero_gradient_mask(model, x, y, temperature=1.0, form="ce")
    with pytest.raises(ConfigError, match="temperature must be > 0"):
        zero_gradient_mask(model, x, y, temperature=0.0)


def test_sweep_reports_error_and_zero_gradient_shares_per_t(confident):
    model, x, y = confident
    sweep = temperature_sweep(model, x, y, eps=0.05, steps=3, temperatures=[0.1, 1.0], batch_size=128)
    sweep = sweep.set_index("temperature")
    for t in (0.1, 1.0):
        generator = torch.Generator().manual_seed(0)  # one per T, drawn batch after batch, as the sweep does
        x_adv = torch.cat([pgd(model, x[i:i + 128], y[i:i + 128], 0.05, default_alpha(0.05, 3), 3, temperature=t,
                               generator=generator) for i in range(0, 400, 128)])
        assert sweep.loc[t, "error_%"] == pytest.approx(100 * (predict(model, x_adv) != y).float().mean().item())
        ce = zero_gradient_mask(model, x, y, temperature=t, form="cross_entropy")
        assert sweep.loc[t, "zero_grad_ce_%"] == pytest.approx(100 * ce.float().mean().item())
    assert (sweep["zero_grad_%"] == 0).all() and sweep.loc[0.1, "zero_grad_ce_%"] > 20


def test_choose_temperature_takes_the_highest_error_and_keeps_t1_on_ties():
    sweep = pd.DataFrame({"temperature": [0.1, 1.0, 10.0], "error_%": [40.0, 40.0, 30.0]})
    assert choose_temperature(sweep) == 1.0
    assert choose_temperature(sweep.assign(**{"error_%": [40.0, 35.0, 41.0]})) == 10.0
    assert choose_temperature(pd.DataFrame({"temperature": [0.5, 2.0], "error_%": [1.0, 1.0]})) == 0.5
    with pytest.raises(ConfigError, match="missing columns \\['error_%'\\]"):
        choose_temperature(sweep.drop(columns="error_%"))


def _sweep(errors, zero=(0.0, 0.0, 0.0), zero_ce=(50.0, 0.0, 0.0)) -> pd.DataFrame:
    return pd.DataFrame({"temperature": [0.1, 1.0, 10.0], "success_%": errors, "error_%": errors,
                         "zero_grad_%": zero, "zero_grad_ce_%": zero_ce})


def test_choice_table_reports_on_the_reported_images_the_t_chosen_on_held_out_ones():
    heldout = {"adv": _sweep([50.0, 40.0, 45.0]), "advplus": _sweep([30.0, 30.0, 20.0])}
    reported = {"adv": _sweep([38.0, 41.0, 47.0]), "advplus": _sweep([31.0, 29.0, 28.0])}
    table = RT.temperature_choice_table(heldout, reported)
    adv, plus = table.loc["Adv"], table.loc["Adv+"]
    assert adv["T chosen (held-out)"] == 0.1 and adv["err chosen T (%)"] == 38.0 and adv["change (pp)"] == -3.0
    assert adv["T best on reported images"] == 10.0  # what an in-sample choice would have picked
    assert plus["T chosen (held-out)"] == 1.0 and plus["change (pp)"] == 0.0
    text = RT.temperature_choice_sentences(heldout, reported, n_reported=100, n_heldout=80)
    lines = text.splitlines()
    assert lines[0] == ("- **Adv**: T = 0.1 is chosen on the 80 held-out images (50.0% error against 40.0% at T = 1); "
                        "on the 100 reported images it gives 38.0% against 41.0% for plain PGD (-3.0 pp).")
    assert lines[1].startswith("- **Adv+**: no temperature beats plain PGD on the 80 held-out images, so T = 1")
    with pytest.raises(ConfigError, match="must sweep the held-out temperatures"):
        RT.temperature_choice_table(heldout, {**reported, "adv": reported["adv"].iloc[1:]})
    with pytest.raises(ConfigError, match="heldout\\['adv'\\] must be a temperature_evaluation table with T = 1"):
        RT.temperature_choice_table({**heldout, "adv": heldout["adv"].iloc[[0, 2]]}, reported)


def test_zero_gradient_table_and_sentence():
    sweeps = {"std": _sweep([90.0, 90.0, 90.0], zero_ce=(62.0, 0.0, 0.0)), "adv": _sweep([40.0, 40.0, 40.0])}
    table = RT.zero_gradient_table(sweeps)
    assert table.loc[("Std", "cross-entropy of z / T"), 0.1] == 62.0
    assert table.loc[("Adv", "attack loss (log-sum-exp)")].tolist() == [0.0, 0.0, 0.0]
    text = RT.zero_gradient_sentence(sweeps)
    assert text.startswith("With the attack's loss no image has an all-zero input gradient at any temperature.")
    assert "would have left 62.0% of the Std images without a gradient at T = 0.1" in text
    some = {"std": _sweep([90.0] * 3, zero=(3.0, 1.0, 0.0), zero_ce=(3.0, 1.0, 0.0))}
    assert RT.zero_gradient_sentence(some) == (
        "With the attack's loss at most 3.0% of the images have an all-zero input gradient at any temperature "
        "(at T = 1: at most 1.0%). The cross-entropy of z / T would not have had more zero gradients on these models.")
    errors = RT.temperature_error_table(sweeps)
    assert errors.loc[1.0].tolist() == [90.0, 40.0] and errors.index.name == "T"


def test_held_out_sweep_runs_on_the_images_after_the_reported_ones(tmp_path, data_root):
    config = TrainConfig(dataset="fashion-mnist", method="std", epochs=1, train_subset=200, test_subset=60,
                         eval_subset=20, eval_steps=1, batch_size=50, precision="fp32")
    run = load_run(ensure_run(config, tmp_path, data_dir=data_root, device="cpu", progress=False))
    heldout = temperature_evaluation(run, n=20, skip=20, temperatures=[0.5], steps=2, data_dir=data_root)
    model = load_model(run.run_dir, "cpu", data_dir=data_root)
    x, y = run_test_images(run.config, 40, data_dir=data_root)
    assert np.bincount(y[20:].numpy(), minlength=10).tolist() == [2] * 10  # class-balanced, disjoint from [0, 20)
    expected = temperature_sweep(model, x[20:], y[20:], eps=run.config.eps, steps=2, temperatures=[0.5, 1.0])
    pd.testing.assert_frame_equal(heldout, expected)
    reported = temperature_evaluation(run, n=0, temperatures=[0.5], steps=2, data_dir=data_root)
    pd.testing.assert_frame_equal(reported, temperature_sweep(model, x[:20], y[:20], eps=run.config.eps, steps=2,
                                                              temperatures=[0.5, 1.0]))
    with pytest.raises(ConfigError, match="skip \\+ n .* must be at most 60"):
        temperature_evaluation(run, n=50, skip=20, temperatures=[0.5], steps=2, data_dir=data_root)
