import numpy as np
import pytest
import torch

from labelaug_core.attacks.pgd import fgsm, pgd
from labelaug_core.evaluation.classwise import adversarial_flows, attack_ladder, classifier_weight_norms, success_rate, temperature_sweep, weight_norm_correlation


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


def test_temperature_one_equals_plain_pgd_and_ladder_is_consistent(trained_cnn, fmnist_test):
    x, y = fmnist_test[0][:200], fmnist_test[1][:200]
    sweep = temperature_sweep(trained_cnn, x, y, eps=0.05, steps=5, temperatures=[0.5, 1.0, 5.0])
    torch.manual_seed(0)
    plain = pgd(trained_cnn, x, y, 0.05, 2.5 * 0.05 / 5, 5)
    with torch.no_grad():
        clean, adv = trained_cnn(x)[:, :10].argmax(1), trained_cnn(plain)[:, :10].argmax(1)
    assert sweep.set_index("temperature").loc[1.0, "success_%"] == pytest.approx(success_rate(y, clean, adv))
    names = [str(k) for k in range(10)]
    ladder = attack_ladder(trained_cnn, x, y, {
        "fgsm": lambda m, a, b: fgsm(m, a, b, 0.05),
        "pgd10": lambda m, a, b: pgd(m, a, b, 0.05, 0.0125, 10),
    }, names)
    np.testing.assert_allclose(ladder["fgsm_err"] - ladder["clean_err"], ladder["fgsm_gain"])
    assert ladder["pgd10_err"].mean() >= ladder["fgsm_err"].mean()
