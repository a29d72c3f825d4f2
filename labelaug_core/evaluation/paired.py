"""Comparing two models, or two training methods, as a reviewer would: paired, and across seeds.

Two models evaluated on the **same images** make correlated errors, so their error difference is
judged from the per-example masks (McNemar's test, a paired bootstrap), never as if the two error
rates came from independent samples. A **training method** is judged over several seeds: each seed
gives one paired difference, and the spread of those differences (which includes the evaluation's
own noise) is what a claim about the method must beat.

Inputs are boolean error masks, shape (N,), True where the model gets example i wrong (clean
mistakes included for attacked errors). Outputs are in percent (errors) and percentage points (pp,
differences); ``diff = error of A - error of B``, so a positive difference means B errs less.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats

from labelaug_core.errors import ConfigError


def _masks(err_a, err_b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(err_a, dtype=bool), np.asarray(err_b, dtype=bool)
    if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
        raise ConfigError(f"paired masks must be two non-empty (N,) arrays of the same images; got shapes "
                          f"{a.shape} and {b.shape}")
    return a, b


def mcnemar(err_a, err_b, *, confidence: float = 0.95) -> dict:
    """McNemar's exact test of two models on the same N images.

    Only the discordant images carry information: ``b`` = A wrong and B right, ``c`` = A right and
    B wrong. Under "equal error rates" each discordant image is a fair coin, so the two-sided
    p-value is the exact binomial test of ``b`` successes in ``b + c`` trials at 1/2
    (``scipy.stats.binomtest``); 1 when there are no discordant images.

    Returns ``n``, ``b``, ``c``, ``err_a`` and ``err_b`` (%), ``diff_pp`` = err_a - err_b =
    100 (b - c) / n, its paired standard error ``se_pp`` = 100 sqrt(b + c - (b - c)^2 / n) / n (the
    SE of a difference of two proportions measured on the same units), the Wald interval
    ``ci_low_pp``..``ci_high_pp`` at ``confidence``, and ``p_value``.
    """
    a, b_mask = _masks(err_a, err_b)
    n = len(a)
    b, c = int((a & ~b_mask).sum()), int((~a & b_mask).sum())
    diff = 100.0 * (b - c) / n
    se = 100.0 * math.sqrt(max(b + c - (b - c) ** 2 / n, 0.0)) / n
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = float(stats.binomtest(b, b + c, 0.5).pvalue) if b + c else 1.0
    return {"n": n, "b": b, "c": c, "err_a": 100.0 * float(a.mean()), "err_b": 100.0 * float(b_mask.mean()),
            "diff_pp": diff, "se_pp": se, "ci_low_pp": diff - z * se, "ci_high_pp": diff + z * se, "p_value": p}


def paired_bootstrap(err_a, err_b, *, n_boot: int = 10_000, seed: int = 0, confidence: float = 0.95) -> dict:
    """Percentile bootstrap of ``err_a - err_b`` (pp), resampling images (both models together).

    Returns ``diff_pp``, ``se_pp`` (SD of the bootstrap differences) and the percentile interval
    ``ci_low_pp``..``ci_high_pp``. Resampling is seeded (``seed``), the global RNG is untouched.
    """
    a, b = _masks(err_a, err_b)
    if n_boot < 100:
        raise ConfigError(f"n_boot must be >= 100; got {n_boot}")
    d = a.astype(np.int8) - b.astype(np.int8)  # per image: +1 only A wrong, -1 only B wrong
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(d), size=(n_boot, len(d)))
    boots = 100.0 * d[draws].mean(axis=1)
    tail = 100.0 * (1 - confidence) / 2
    return {"diff_pp": 100.0 * float(d.mean()), "se_pp": float(boots.std(ddof=1)),
            "ci_low_pp": float(np.percentile(boots, tail)), "ci_high_pp": float(np.percentile(boots, 100 - tail))}


def seed_summary(values: Sequence[float]) -> dict:
    """Mean and SD (ddof = 1: the sample SD across seeds) of one quantity over seeds; SD NaN for one seed."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        raise ConfigError("seed_summary: needs at least one value")
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else float("nan"), "seeds": len(v)}


def seed_differences(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95) -> dict:
    """Per-seed paired differences ``a[s] - b[s]`` (e.g. Adv's and Adv+'s error of seed s, pp).

    Returns ``diffs`` (list), ``mean``, ``sd`` (ddof = 1), the t interval ``ci_low``..``ci_high``
    of the mean difference at ``confidence`` (S - 1 degrees of freedom) and the paired t-test's
    two-sided ``p_value`` (``scipy.stats.ttest_rel``); interval and p are NaN for fewer than 2 seeds.
    """
    a_, b_ = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a_.shape != b_.shape or a_.ndim != 1 or len(a_) == 0:
        raise ConfigError(f"seed_differences: a and b need one value per seed each; got {a_.shape} and {b_.shape}")
    d = a_ - b_
    out = {"diffs": d.tolist(), "mean": float(d.mean()), "seeds": len(d)}
    if len(d) < 2:
        return out | {"sd": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "p_value": float("nan")}
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(d) - 1)) * sd / math.sqrt(len(d))
    p = float(stats.ttest_rel(a_, b_).pvalue) if sd > 0 else (0.0 if d.mean() != 0 else 1.0)
    return out | {"sd": sd, "ci_low": d.mean() - half, "ci_high": d.mean() + half, "p_value": p}


def compare_methods(errs_a: Sequence[np.ndarray], errs_b: Sequence[np.ndarray], *, confidence: float = 0.95) -> dict:
    """Method A against method B over seeds: ``errs_a[s]``, ``errs_b[s]`` are the (N_s,) error masks of
    seed s's two models on the same images.

    Returns ``per_seed`` (one :func:`mcnemar` dict per seed), ``pooled`` (:func:`mcnemar` of all
    seeds' pairs together: the exact test on the summed discordant counts, a stratified McNemar
    test of "no difference in any seed"), ``across_seeds``
    (:func:`seed_differences` of the per-seed errors), ``err_a``/``err_b`` (:func:`seed_summary` of
    each method's error), and which noise dominates the difference:

    - ``eval_se_pp``: the root-mean-square of the per-seed paired SEs (the evaluation's noise on a
      single seed's difference: which images happen to be attacked);
    - ``seed_sd_pp``: the SD of the per-seed differences (evaluation noise + training noise);
    - ``training_sd_pp``: sqrt(max(seed_sd^2 - eval_se^2, 0)), the part due to the seed of training;
    - ``dominant_noise``: ``"training seeds"`` when training_sd > eval_se, ``"evaluation"``
      otherwise, ``"unknown (one seed)"`` with one seed.
    """
    if len(errs_a) != len(errs_b) or not errs_a:
        raise ConfigError(f"compare_methods: one mask per seed for each method; got {len(errs_a)} and {len(errs_b)}")
    per_seed = [mcnemar(a, b, confidence=confidence) for a, b in zip(errs_a, errs_b)]
    across = seed_differences([r["err_a"] for r in per_seed], [r["err_b"] for r in per_seed], confidence=confidence)
    eval_se = math.sqrt(float(np.mean([r["se_pp"] ** 2 for r in per_seed])))
    seed_sd = across["sd"]
    if len(per_seed) < 2:
        training_sd, dominant = float("nan"), "unknown (one seed)"
    else:
        training_sd = math.sqrt(max(seed_sd ** 2 - eval_se ** 2, 0.0))
        dominant = "training seeds" if training_sd > eval_se else "evaluation"
    pooled = mcnemar(np.concatenate([np.asarray(a, bool) for a in errs_a]),
                     np.concatenate([np.asarray(b, bool) for b in errs_b]), confidence=confidence)
    return {"per_seed": per_seed, "pooled": pooled, "across_seeds": across,
            "err_a": seed_summary([r["err_a"] for r in per_seed]), "err_b": seed_summary([r["err_b"] for r in per_seed]),
            "eval_se_pp": eval_se, "seed_sd_pp": seed_sd, "training_sd_pp": training_sd, "dominant_noise": dominant}


def significant_direction(comparison: dict, *, level: float = 0.05) -> int:
    """Which way a :func:`compare_methods` difference goes beyond noise: 1 (method B errs less),
    -1 (B errs more) or 0 (within noise).

    With >= 2 seeds, both sources of noise must be beaten: the t interval of the per-seed
    differences lies on one side of zero (the seed-to-seed spread) *and* the pooled McNemar test
    over all seeds' images gives p < ``level`` with a difference of the same sign (the
    evaluation's noise). The second guards against a t interval of zero width: differences that
    happen to be equal on a few seeds (errors move in steps of 100/N pp) have SD 0 whatever the
    images say. With one seed: McNemar's p < ``level`` (evaluation noise only; the training noise
    is then unmeasured).
    """
    across = comparison["across_seeds"]
    if across["seeds"] >= 2:
        pooled = comparison["pooled"]
        if pooled["p_value"] >= level:
            return 0
        if across["ci_low"] > 0 and pooled["diff_pp"] > 0:
            return 1
        return -1 if across["ci_high"] < 0 and pooled["diff_pp"] < 0 else 0
    only = comparison["per_seed"][0]
    if only["p_value"] >= level or only["diff_pp"] == 0:
        return 0
    return 1 if only["diff_pp"] > 0 else -1


def is_significant(comparison: dict, *, level: float = 0.05) -> bool:
    """Is method B's lower error beyond noise? :func:`significant_direction` is 1."""
    return significant_direction(comparison, level=level) == 1


def sd_interval(sd: float, seeds: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """The chi-square interval of a standard deviation ``sd`` (ddof = 1) estimated from ``seeds``
    values of a normal quantity: ``[sd sqrt((S-1)/chi2_hi), sd sqrt((S-1)/chi2_lo)]``. With 3 seeds
    it spans about 0.52x to 6.3x the estimate; NaN for fewer than 2 seeds."""
    if seeds < 2 or not math.isfinite(sd):
        return float("nan"), float("nan")
    df = seeds - 1
    tail = (1 - confidence) / 2
    return (sd * math.sqrt(df / stats.chi2.ppf(1 - tail, df)), sd * math.sqrt(df / stats.chi2.ppf(tail, df)))


def mcnemar_mde(n: int, discordant_rate: float, *, level: float = 0.05, power: float = 0.8) -> float:
    """The smallest error difference (pp) that a two-sided McNemar test on ``n`` paired images detects
    with probability ``power`` at ``level``, when a share ``discordant_rate`` (in (0, 1]) of the
    images is discordant (one model right, the other wrong): the normal approximation
    ``100 (z_(1-level/2) + z_power) sqrt(discordant_rate / n)`` (the difference's SE under the null
    is ``sqrt(discordant_rate / n)``)."""
    if n < 1 or not 0 < discordant_rate <= 1:
        raise ConfigError(f"mcnemar_mde: n must be >= 1 and discordant_rate in (0, 1]; got {n}, {discordant_rate}")
    z = stats.norm.ppf(1 - level / 2) + stats.norm.ppf(power)
    return float(100.0 * z * math.sqrt(discordant_rate / n))


def simulated_power(effect_pp: float, *, n: int, discordant_rate: float, seeds: int, training_sd_pp: float = 0.0,
                    rule: str = "both", level: float = 0.05, n_sim: int = 2000, seed: int = 0) -> float:
    """Power of a comparison of two training methods over ``seeds`` seeds, each pair of models
    evaluated on the same ``n`` images, simulated ``n_sim`` times (seeded; the global RNG untouched).

    Model: seed s's true gain is ``effect_pp`` plus a normal training effect of SD ``training_sd_pp``;
    its ``n`` images fall into "only A wrong" / "only B wrong" / concordant with probabilities
    ``(d + g_s) / 2``, ``(d - g_s) / 2``, ``1 - d`` (``d = discordant_rate``, ``g_s`` the gain as a
    share). ``rule``: ``"pooled"`` (the pooled McNemar test over all seeds' images, p < ``level``, in
    B's favour) or ``"both"`` (:func:`significant_direction`'s rule: that test *and* the t interval
    of the per-seed differences above 0). Returns the share of simulations that detect B's gain.
    """
    if rule not in ("pooled", "both"):
        raise ConfigError(f"rule must be one of pooled, both; got {rule!r}")
    rng = np.random.default_rng(seed)
    gains = effect_pp / 100 + rng.normal(0.0, training_sd_pp / 100, size=(n_sim, seeds))
    p_b = np.clip((discordant_rate + gains) / 2, 0, discordant_rate)
    b = rng.binomial(n, p_b)
    c = rng.binomial(n - b, np.clip((discordant_rate - p_b) / np.maximum(1 - p_b, 1e-12), 0, 1))
    diffs = 100.0 * (b - c) / n
    bs, cs = b.sum(axis=1), c.sum(axis=1)
    p_pooled = np.array([stats.binomtest(int(x), int(x + y), 0.5).pvalue if x + y else 1.0 for x, y in zip(bs, cs)])
    detected = (p_pooled < level) & (bs > cs)
    if rule == "both" and seeds >= 2:
        half = stats.t.ppf(0.975, seeds - 1) * diffs.std(axis=1, ddof=1) / math.sqrt(seeds)
        detected &= diffs.mean(axis=1) - half > 0
    return float(detected.mean())


def minimum_detectable_effect(*, n: int, discordant_rate: float, seeds: int, training_sd_pp: float = 0.0,
                              rule: str = "both", power: float = 0.8, level: float = 0.05, n_sim: int = 2000,
                              seed: int = 0, max_pp: float = 50.0) -> float:
    """The smallest gain (pp) that :func:`simulated_power` detects with probability ``power``: found by
    bisection to 0.01 pp (common random numbers: the same ``seed`` at every effect, so the power is
    monotone in the effect). ``max_pp`` if even that is not detected."""
    def enough(effect: float) -> bool:
        return simulated_power(effect, n=n, discordant_rate=discordant_rate, seeds=seeds, training_sd_pp=training_sd_pp,
                               rule=rule, level=level, n_sim=n_sim, seed=seed) >= power

    low, high = 0.0, min(max_pp, 100.0 * discordant_rate)
    if not enough(high):
        return float(max_pp)
    while high - low > 0.01:
        mid = (low + high) / 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return float(high)


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation between ``x`` and ``y`` (e.g. δ and PGD error over a sweep):
    +1 when ``y`` rises with ``x``, -1 when it falls; NaN when either is constant."""
    return float(stats.spearmanr(x, y).statistic)
