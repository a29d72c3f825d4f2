"""Paired statistics: McNemar's exact test, the paired bootstrap and differences over seeds, against
hand-computed tables and scipy."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.paired import (
    compare_methods,
    is_significant,
    mcnemar,
    paired_bootstrap,
    seed_differences,
    seed_summary,
    significant_direction,
)


def _table(both: int, only_a: int, only_b: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks with the given 2x2 table: both wrong, only A wrong, only B wrong, both right."""
    a = np.array([1] * both + [1] * only_a + [0] * only_b + [0] * neither, dtype=bool)
    b = np.array([1] * both + [0] * only_a + [1] * only_b + [0] * neither, dtype=bool)
    return a, b


def test_mcnemar_hand_computed_table():
    a, b = _table(both=30, only_a=8, only_b=2, neither=60)  # n = 100
    r = mcnemar(a, b)
    assert (r["n"], r["b"], r["c"]) == (100, 8, 2)
    assert r["err_a"] == pytest.approx(38.0) and r["err_b"] == pytest.approx(32.0)
    assert r["diff_pp"] == pytest.approx(6.0)
    assert r["se_pp"] == pytest.approx(math.sqrt(10 - 36 / 100))  # 100 sqrt(b + c - (b - c)^2 / n) / n
    assert r["p_value"] == pytest.approx(2 * (1 + 10 + 45) / 1024)  # 2 P(X >= 8), X ~ Bin(10, 1/2)
    assert r["ci_low_pp"] == pytest.approx(6.0 - 1.959964 * r["se_pp"], rel=1e-5)
    swapped = mcnemar(b, a)
    assert swapped["diff_pp"] == pytest.approx(-6.0) and swapped["p_value"] == pytest.approx(r["p_value"])


@pytest.mark.parametrize("b, c", [(0, 5), (3, 9), (20, 31), (17, 17)])
def test_mcnemar_p_is_scipys_exact_binomial_test(b, c):
    a, m = _table(both=11, only_a=b, only_b=c, neither=40)
    assert mcnemar(a, m)["p_value"] == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue)


def test_no_discordant_images_no_difference():
    a, b = _table(both=5, only_a=0, only_b=0, neither=5)
    r = mcnemar(a, b)
    assert r["diff_pp"] == 0 and r["se_pp"] == 0 and r["p_value"] == 1.0


def test_paired_se_is_far_below_the_unpaired_one_for_correlated_models():
    # The case: 500 images, two models near 38% error that disagree on 7 images.
    a, b = _table(both=188, only_a=5, only_b=2, neither=305)
    r = mcnemar(a, b)
    p_a, p_b = r["err_a"] / 100, r["err_b"] / 100
    unpaired = 100 * math.sqrt((p_a * (1 - p_a) + p_b * (1 - p_b)) / 500)
    assert r["se_pp"] == pytest.approx(0.53, abs=0.01) and unpaired == pytest.approx(3.07, abs=0.02)


def test_paired_bootstrap_agrees_with_the_wald_interval_on_many_images():
    rng = np.random.default_rng(3)
    a = rng.random(4000) < 0.4
    b = np.where(rng.random(4000) < 0.9, a, rng.random(4000) < 0.3)  # mostly the same errors
    boot, exact = paired_bootstrap(a, b, n_boot=4000, seed=1), mcnemar(a, b)
    assert boot["diff_pp"] == pytest.approx(exact["diff_pp"])
    assert boot["se_pp"] == pytest.approx(exact["se_pp"], rel=0.08)
    assert boot["ci_low_pp"] == pytest.approx(exact["ci_low_pp"], abs=0.3)
    assert paired_bootstrap(a, b, n_boot=500, seed=1) == paired_bootstrap(a, b, n_boot=500, seed=1)


def test_bad_masks_are_refused():
    with pytest.raises(ConfigError, match="same images"):
        mcnemar(np.zeros(3, bool), np.zeros(4, bool))
    with pytest.raises(ConfigError, match="n_boot must be >= 100"):
        paired_bootstrap(np.zeros(3, bool), np.zeros(3, bool), n_boot=10)


def test_seed_differences_t_interval_by_hand():
    r = seed_differences([10.0, 12.0, 14.0], [8.0, 9.0, 13.0])  # differences 2, 3, 1
    assert r["diffs"] == [2.0, 3.0, 1.0] and r["mean"] == pytest.approx(2.0) and r["sd"] == pytest.approx(1.0)
    half = stats.t.ppf(0.975, 2) / math.sqrt(3)  # 4.303 / sqrt(3)
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(2 - half), pytest.approx(2 + half))
    assert r["p_value"] == pytest.approx(stats.ttest_1samp([2.0, 3.0, 1.0], 0).pvalue)
    one = seed_differences([10.0], [8.0])
    assert one["mean"] == 2.0 and math.isnan(one["ci_low"])
    assert seed_summary([1.0, 2.0, 3.0]) == {"mean": 2.0, "sd": 1.0, "seeds": 3}


def test_compare_methods_says_which_noise_dominates():
    # Seed-to-seed: the same tiny paired difference on every seed -> the evaluation's noise dominates.
    same = [_table(both=100, only_a=6, only_b=4, neither=390)] * 3
    steady = compare_methods([a for a, _ in same], [b for _, b in same])
    assert steady["seed_sd_pp"] == 0 and steady["dominant_noise"] == "evaluation"
    assert steady["per_seed"][0]["diff_pp"] == pytest.approx(0.4)
    # Differences that swing from seed to seed by far more than their paired SE: training noise.
    swings = [_table(100, 40, 0, 360), _table(100, 0, 40, 360), _table(100, 20, 0, 380)]
    wild = compare_methods([a for a, _ in swings], [b for _, b in swings])
    assert wild["across_seeds"]["diffs"] == pytest.approx([8.0, -8.0, 4.0])
    assert wild["dominant_noise"] == "training seeds" and wild["training_sd_pp"] > wild["eval_se_pp"]
    assert not is_significant(wild)
    assert compare_methods([same[0][0]], [same[0][1]])["dominant_noise"] == "unknown (one seed)"


def test_is_significant_uses_seeds_when_there_are_several():
    clear = [_table(100, 30 + k, 2, 368 - k) for k in range(3)]  # ~6 pp on every seed
    assert is_significant(compare_methods([a for a, _ in clear], [b for _, b in clear]))
    one = compare_methods([clear[0][0]], [clear[0][1]])
    assert one["per_seed"][0]["p_value"] < 0.05 and is_significant(one)
    weak = compare_methods([_table(100, 3, 1, 396)[0]], [_table(100, 3, 1, 396)[1]])
    assert not is_significant(weak)  # McNemar p = 0.625


def test_equal_small_differences_on_every_seed_are_not_significant():
    """Three seeds with the same difference (3 against 1 discordant images of 400 each, +0.5 pp): the t
    interval over seeds has zero width, but McNemar's test on the pooled pairs (9 against 3) is far
    from significant, so the difference is not called "better"."""
    tied = [_table(100, 3, 1, 396) for _ in range(3)]  # b = 3, c = 1 on each seed: +0.4 pp
    c = compare_methods([a for a, _ in tied], [b for _, b in tied])
    assert c["across_seeds"]["sd"] == 0 and c["across_seeds"]["ci_low"] > 0
    assert c["pooled"]["b"] == 9 and c["pooled"]["c"] == 3
    assert c["pooled"]["p_value"] == pytest.approx(stats.binomtest(3, 12, 0.5).pvalue)
    assert not is_significant(c)


def test_significant_direction_is_symmetric_in_the_two_methods():
    clear = [_table(100, 30 + k, 2, 368 - k) for k in range(3)]  # B errs ~6 pp less on every seed
    forward = compare_methods([a for a, _ in clear], [b for _, b in clear])
    backward = compare_methods([b for _, b in clear], [a for a, _ in clear])
    assert significant_direction(forward) == 1 and significant_direction(backward) == -1
    one_forward, one_backward = compare_methods([clear[0][0]], [clear[0][1]]), compare_methods([clear[0][1]], [clear[0][0]])
    assert significant_direction(one_forward) == 1 and significant_direction(one_backward) == -1
    tied = [_table(100, 3, 1, 396) for _ in range(3)]
    assert significant_direction(compare_methods([b for _, b in tied], [a for a, _ in tied])) == 0


def test_a_three_seed_sd_interval_spans_about_half_to_six_times_the_estimate():
    from labelaug_core.evaluation.paired import sd_interval

    low, high = sd_interval(1.0, 3)
    assert low == pytest.approx(0.5207, abs=1e-3) and high == pytest.approx(6.285, abs=1e-2)
    assert all(math.isnan(v) for v in sd_interval(1.0, 1))


def test_the_minimum_detectable_effect_agrees_with_simulation_and_the_book_rule_needs_more():
    from labelaug_core.evaluation.paired import mcnemar_mde, minimum_detectable_effect, simulated_power

    analytic = mcnemar_mde(30_000, 0.06)
    assert analytic == pytest.approx(100 * 2.8016 * math.sqrt(0.06 / 30_000), rel=1e-3)
    simulated = minimum_detectable_effect(n=10_000, discordant_rate=0.06, seeds=3, rule="pooled", n_sim=1000)
    assert simulated == pytest.approx(analytic, rel=0.1)
    assert simulated_power(0.0, n=10_000, discordant_rate=0.06, seeds=3, rule="pooled", n_sim=2000) < 0.05
    assert simulated_power(2 * analytic, n=10_000, discordant_rate=0.06, seeds=3, rule="pooled", n_sim=500) > 0.99
    both = minimum_detectable_effect(n=10_000, discordant_rate=0.06, seeds=3, training_sd_pp=0.3, rule="both",
                                     n_sim=1000)
    assert both > simulated
