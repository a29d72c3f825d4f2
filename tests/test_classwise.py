import numpy as np
import pytest
import torch
from wrappers import Scaled

from labelaug_core.attacks.pgd import fgsm, pgd
from labelaug_core.attacks.threat import default_alpha, generator_for, predict
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.classwise import (
    adversarial_flows,
    attack_ladder,
    classifier_weight_norms,
    success_rate,
    temperature_sweep,
    weight_norm_correlation,
)
from labelaug_core.evaluation.metrics import Predictions, class_stats, per_class_error, summarize


def test_adversarial_flows_by_hand():
    y = np.array([0, 0, 0, 1, 1, 2])
    adv = np.array([1, 1, 0, 2, 1, 0])
    matrix, flows = adversarial_flows(y, adv, ["a", "b", "c"], top=2)
    assert matrix.loc["a", "b"] == pytest.approx(200 / 3)
    np.testing.assert_allclose(matrix.sum(axis=1), 100.0)
    assert flows.iloc[0][["true", "sent to", "count"]].tolist() == ["a", "b", 2]


def test_weight_norms_are_the_class_rows_of_the_last_layer(tiny_model):
    norms = classifier_weight_norms(tiny_model)
    last = tiny_model.backbone.head[-1]
    assert norms.shape == (10,)  # K rows only, not the M operation row
    np.testing.assert_allclose(norms, last.weight[:10].norm(dim=1).detach().numpy(), rtol=1e-6)
    corr = weight_norm_correlation(np.arange(10.0), np.arange(10.0) * 2 + 1)
    assert corr["pearson_r"] == pytest.approx(1.0) and corr["spearman_rho"] == pytest.approx(1.0)


def test_success_rate_counts_only_correct_clean_images():
    y = torch.tensor([0, 1, 2, 3])
    clean = torch.tensor([0, 1, 2, 0])  # the last one is already wrong
    adv = torch.tensor([1, 1, 0, 0])
    assert success_rate(y, clean, adv) == pytest.approx(200 / 3)


def test_temperature_sweep_is_plain_pgd_on_the_logits_over_t_and_ladder_is_consistent(trained_cnn, fmnist_test):
    # T = 1 skips the division inside the attack loss, so matching plain PGD there only checks the
    # sweep's plumbing (step size, seeding). Each T != 1 goes through the division: its row must
    # equal plain PGD, same start, on the model's logits over T, which differs from plain PGD.
    x, y = fmnist_test[0][:200], fmnist_test[1][:200]
    rng = torch.get_rng_state()
    sweep = temperature_sweep(trained_cnn, x, y, eps=0.05, steps=5, temperatures=[0.5, 1.0, 5.0], batch_size=150)
    assert torch.equal(torch.get_rng_state(), rng)  # random starts from a seeded generator, not the global RNG
    clean = predict(trained_cnn, x)

    def plain_success(model):
        x_adv = pgd(model, x, y, 0.05, default_alpha(0.05, 5), 5, generator=generator_for(x, 0))
        with torch.no_grad():
            return success_rate(y, clean, predict(trained_cnn, x_adv))

    rows = sweep.set_index("temperature")["success_%"]
    assert rows[1.0] == pytest.approx(plain_success(trained_cnn))
    for t in (0.5, 5.0):
        assert rows[t] == pytest.approx(plain_success(Scaled(trained_cnn, t)))
    assert rows.nunique() > 1  # the temperature changes the attack
    names = [str(k) for k in range(10)]
    ladder = attack_ladder(trained_cnn, x, y, {
        "fgsm": lambda m, a, b: fgsm(m, a, b, 0.05),
        "pgd10": lambda m, a, b: pgd(m, a, b, 0.05, default_alpha(0.05, 10), 10),
    }, names)
    np.testing.assert_allclose(ladder["fgsm_err"] - ladder["clean_err"], ladder["fgsm_gain"])
    assert ladder["pgd10_err"].mean() >= ladder["fgsm_err"].mean()


def test_class_stats_cover_every_class_or_name_the_missing_ones():
    errs = per_class_error(np.array([0, 0, 2, 2]), np.array([0, 1, 2, 2]), 3)  # class 1 has no example
    with pytest.raises(ConfigError, match=r"1 of 3 classes have no evaluated example \(1\)") as info:
        class_stats(errs)
    assert "\n" not in str(info.value)
    stats = class_stats(np.array([50.0, 0.0, 100.0]))
    assert stats == {"mean": 50.0, "sd": pytest.approx(np.sqrt(5000 / 3)), "worst": 100.0}
    # an attacked subset that misses a class (here: only the first two images attacked) raises too
    y = np.array([0, 1, 2, 0, 1, 2])
    pred = Predictions(y=y, clean=y, fgsm=np.where(np.arange(6) < 2, y, -1), pgd=np.where(np.arange(6) < 2, y, -1),
                       attacked=np.arange(6) < 2)
    with pytest.raises(ConfigError, match=r"no evaluated example \(2\)"):
        summarize(pred, 3)
