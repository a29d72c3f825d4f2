"""Chapter 10, trustworthy evaluation: the verdict on the paper's robustness claim under the strong
ensemble of :mod:`labelaug_core.evaluation.strong`, the verdict table and the ensemble members, the
gradient-masking checks, and the strong evaluation's setting in words.

The paper (Amerehi & Healy 2025, Table 1) reports a relative drop in PGD-40 error from Adv to
Adv+ of :func:`~labelaug_core.report.paper.paper_relative_drop` (from its Table 1). A gain measured
with one attack can be a gain against that attack only: the verdict compares Adv+'s gain over Adv
under PGD-40 with the same gain under the ensemble. Errors are percentages, differences pp. Every
function that words a claim returns Markdown text; the notebooks only display it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.ladder import LADDER, StrongEval, worst_of
from labelaug_core.evaluation.paired import compare_methods, is_significant, significant_direction
from labelaug_core.report.comparisons import difference_words
from labelaug_core.report.paper import paper_relative_drop

if TYPE_CHECKING:
    from labelaug_core.config import TrainConfig

# The rows of chapter 10's verdict table that :func:`own_error_reference` compares.
FIRST_K, ALL_LOGITS, WORST_OF_BOTH = "Adv+", "Adv+ (all K+M logits)", "Adv+ (worst of both)"


def strong_eval_setting(
    cfg: TrainConfig,
    n_images: int,
    seeds: Sequence[int],
    apgd_steps: int,
    n_target_classes: int,
    pgd_restarts: int,
    square_queries: int,
) -> str:
    """Chapter 10: one sentence with the strong evaluation's setting: data set and model (bold),
    ε (``:g``), ``n_images`` test images per seed, the seeds, the APGD steps, the APGD-T target
    classes, the PGD-40 restarts and the Square check's queries (beside AutoAttack's 5000)."""
    return (
        f"Data set **{cfg.dataset}**, model **{cfg.model}**, ε = {cfg.eps:g}, {n_images} test "
        f"images per seed, seeds {list(seeds)}; APGD {apgd_steps} steps, APGD-T "
        f"{n_target_classes} targets, PGD-40 with {pgd_restarts} restart{'' if pgd_restarts == 1 else 's'}; Square check "
        f"{square_queries} queries (AutoAttack: 5000)."
    )


def verdict_evaluations(strong: dict[str, list[StrongEval]], strong_all: list[StrongEval], *,
                        worst_of_both: bool = True) -> dict[str, list[StrongEval]]:
    """The evaluations that chapter 10 compares, by label: ``Std``, ``Adv``, ``Adv+`` (first-K
    attacks, ``strong`` keyed by method), ``Adv+ (all K+M logits)`` (``strong_all``, Adv+ attacked on
    every logit) and, with ``worst_of_both``, ``Adv+ (worst of both)``: per example and seed the worst
    of the two Adv+ evaluations (:func:`~labelaug_core.evaluation.strong.worst_of`)."""
    evals = {"Std": strong["std"], "Adv": strong["adv"], "Adv+": strong["advplus"], "Adv+ (all K+M logits)": strong_all}
    if worst_of_both:
        evals["Adv+ (worst of both)"] = [worst_of(a, b) for a, b in zip(strong["advplus"], strong_all, strict=True)]
    return evals


def verdict_table(evals: dict[str, list[StrongEval]]) -> pd.DataFrame:
    """One row per label (e.g. "Std", "Adv", "Adv+", "Adv+ (all K+M logits)"): error (%) of each rung,
    mean over the label's evaluations (seeds), with ``n`` (examples per seed) and ``seeds``."""
    rows = {}
    for label, group in evals.items():
        errors = [e.errors() for e in group]
        rows[label] = {f"{r}_err": float(np.mean([e[r] for e in errors])) for r in LADDER}
        rows[label] |= {"n": int(len(group[0].y)), "seeds": len(group)}
    return pd.DataFrame.from_dict(rows, orient="index")


def member_table(evals: dict[str, list[StrongEval]]) -> pd.DataFrame:
    """Share (%) of the examples that each ensemble member fooled first (the cascade's order: what a
    member adds to the members before it), one row per label, mean over its evaluations."""
    rows = {label: pd.DataFrame([{k.removeprefix("member:"): v for k, v in e.errors().items() if k.startswith("member:")}
                                 for e in group]).mean() for label, group in evals.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def claim_verdict(adv: list[StrongEval], advplus: list[StrongEval], *, pgd40: dict | None = None) -> dict:
    """Does Adv+'s PGD-40 gain over Adv survive the strong ensemble? Paired, and over seeds.

    ``adv[s]``, ``advplus[s]``: the strong evaluations of seed s's Adv and Adv+ models on the same
    images (:class:`StrongEval`; Adv+ may be a :func:`worst_of` of two logit choices). For the
    ``pgd-40`` and ``ensemble`` rungs, ``pgd40`` and ``ensemble`` hold
    :func:`~labelaug_core.evaluation.paired.compare_methods` of the per-example error masks (McNemar
    per seed, the per-seed differences' t interval, which noise dominates). ``gain_*`` = mean over
    seeds of Adv error - Adv+ error (pp; positive: Adv+ more robust), ``relative_*`` = that gain /
    Adv's mean error (%; the paper's for PGD-40 is
    :func:`~labelaug_core.report.paper.paper_relative_drop`), ``retained`` = gain_ensemble / gain_pgd40.

    ``pgd40``: a :func:`~labelaug_core.evaluation.paired.compare_methods` of the PGD-40 masks to use
    instead of the ensemble's own PGD-40 rung (e.g. the runs' own PGD-40 evaluation on every image
    they attacked, more than the ensemble's subset).

    ``outcome``: ``"no PGD-40 gain"`` (Adv+'s PGD-40 error is not lower beyond noise,
    :func:`~labelaug_core.evaluation.paired.significant_direction`: nothing to test), ``"vanishes"``
    (ensemble gain <= 0), ``"within noise"`` (not significant by
    :func:`~labelaug_core.evaluation.paired.is_significant`: with >= 2 seeds the t interval of the
    per-seed gains reaches 0; with one seed McNemar's p >= 0.05), ``"shrinks"`` (significant, but
    less than half of the PGD-40 gain retained) or ``"survives"``.
    """
    if not adv or len(adv) != len(advplus):
        raise ConfigError(f"claim_verdict: one evaluation per seed of each model; got {len(adv)} and {len(advplus)}")
    if pgd40 is None:
        pgd40 = compare_methods([e.wrong["pgd-40"] for e in adv], [e.wrong["pgd-40"] for e in advplus])
    ensemble = compare_methods([e.wrong["ensemble"] for e in adv], [e.wrong["ensemble"] for e in advplus])
    gain_pgd, gain_ens = pgd40["across_seeds"]["mean"], ensemble["across_seeds"]["mean"]
    retained = gain_ens / gain_pgd if gain_pgd > 0 else float("nan")
    if gain_pgd <= 0 or significant_direction(pgd40) != 1:
        outcome = "no PGD-40 gain"
    elif gain_ens <= 0:
        outcome = "vanishes"
    elif not is_significant(ensemble):
        outcome = "within noise"
    elif retained < 0.5:
        outcome = "shrinks"
    else:
        outcome = "survives"
    rel = lambda before, gain: 100.0 * gain / before if before > 0 else float("nan")
    return {"gain_pgd40": gain_pgd, "gain_ensemble": gain_ens,
            "relative_pgd40": rel(pgd40["err_a"]["mean"], gain_pgd),
            "relative_ensemble": rel(ensemble["err_a"]["mean"], gain_ens), "retained": retained,
            "pgd40": pgd40, "ensemble": ensemble, "seeds": len(adv), "n": int(len(adv[0].y)), "outcome": outcome}


def verdict_sentence(v: dict) -> str:
    """One Markdown paragraph stating :func:`claim_verdict`'s result from its numbers."""
    n_pgd, n_ens = v["pgd40"]["per_seed"][0]["n"], v["n"]
    head = (f"Under PGD-40 ({n_pgd:,} images per seed): {difference_words(v['pgd40'], 'Adv', 'Adv+', 'PGD-40 error')} "
            f"That is a {v['relative_pgd40']:.1f}% relative drop (the paper: {paper_relative_drop():.1f}%). "
            f"Under the strong ensemble ({n_ens:,} images per seed): "
            f"{difference_words(v['ensemble'], 'Adv', 'Adv+', 'ensemble error')} "
            f"({v['relative_ensemble']:.1f}% relative drop).")
    tail = {
        "no PGD-40 gain": ("Adv+'s PGD-40 error is not lower than Adv's beyond noise, so there is no PGD-40 gain for "
                           "a stronger attack to test."),
        "vanishes": "**The gain does not survive**: against the ensemble Adv+ is not more robust than Adv.",
        "within noise": "**The gain does not survive clearly**: what is left against the ensemble is within noise.",
        "shrinks": (f"**The gain survives only in part**: {100 * v['retained']:.0f}% of the PGD-40 gain is left "
                    "against the ensemble, so PGD-40 overstates it."),
        "survives": (f"**The gain survives**: {100 * v['retained']:.0f}% of the PGD-40 gain is left against the "
                     "ensemble."),
    }[v["outcome"]]
    return f"{head} {tail}"


# --- The chapters' claims, worded from their numbers (the notebooks display these). -------------


def own_error_reference(
    own: Mapping[str, float], n_attacked: int, ensemble_err: Mapping[str, float]
) -> str:
    """Chapter 10: the runs' own PGD-40 error (``own``: {"std" | "adv" | "advplus": error %},
    two decimals) on ``n_attacked`` images, then how Adv+'s ensemble error (``ensemble_err``: the
    verdict table's ``ensemble_err`` column, by row label) changes when all K + M logits are
    attacked instead of the first K (signed, pp) and what the worst of both adds (pp)."""
    first_k = ensemble_err[FIRST_K]
    all_logits = ensemble_err[ALL_LOGITS] - first_k
    worst = ensemble_err[WORST_OF_BOTH] - first_k
    return (
        f"For reference, the runs' own PGD-40 evaluation ({n_attacked} images, another random "
        f"start): Std {own['std']:.2f}%, Adv {own['adv']:.2f}%, Adv+ {own['advplus']:.2f}%. "
        f"Attacking all K + M logits instead of the first K changes Adv+'s ensemble error by "
        f"{all_logits:+.2f} pp; taking the worst of both adds {worst:.2f} pp to the first-K "
        f"ensemble error."
    )


def failed_checks(checks: dict[str, pd.DataFrame]) -> dict[str, list[str]]:
    """``{label: names of its failed checks}`` (empty list: every check passed)."""
    return {label: table.loc[~table["passed"].astype(bool), "name"].tolist() for label, table in checks.items()}


def masking_report(checks: dict[str, pd.DataFrame]) -> list:
    """For each label of :func:`masking_check_tables`: a Markdown line (every check passes, or which
    fail) and its table (``name``, ``passed``, ``message``); ``display(*masking_report(checks))``."""
    from IPython.display import Markdown

    items = []
    for label, failed in failed_checks(checks).items():
        items.append(Markdown(f"**{label}**: " + ("every check passes." if not failed else
                                                 f"**{len(failed)} check(s) fail: {', '.join(failed)}**.")))
        items.append(checks[label][["name", "passed", "message"]])
    return items


def verdict_paragraph(v: dict, v_k: dict, table: pd.DataFrame, failed: dict[str, list[str]]) -> str:
    """Chapter 10's conclusion: :func:`verdict_sentence` of ``v`` (Adv+ at its worst of both logit
    choices), the first-K-only ensemble gain ``v_k``, Adv against Std under the ensemble (pp, from
    ``table``: :func:`verdict_table`) and which models failed a gradient-masking check (``failed``:
    :func:`failed_checks`)."""
    masked = [label for label, names in failed.items() if names]
    return (verdict_sentence(v)
            + f" Counting only first-K attacks on Adv+, the ensemble gain is {v_k['gain_ensemble']:.2f} pp ({v_k['outcome']})."
            + f" Adv against Std under the ensemble: "
              f"{table.loc['Adv', 'ensemble_err'] - table.loc['Std', 'ensemble_err']:+.2f} pp of error."
            + (f" Gradient-masking checks failed for: {', '.join(masked)}; read those numbers with care."
               if masked else " Every gradient-masking check passed."))


def _p_and_verdict(c: dict) -> tuple[float, int, str]:
    """A :func:`~labelaug_core.evaluation.paired.compare_methods` result's McNemar p (one seed: that
    seed's; several: pooled over seeds), its :func:`significant_direction` and the words for it."""
    p = c["per_seed"][0]["p_value"] if c["across_seeds"]["seeds"] < 2 else c["pooled"]["p_value"]
    direction = significant_direction(c)
    words = {1: "Adv+ lower, beyond the noise", -1: "Adv+ higher, beyond the noise", 0: "within noise"}[direction]
    return p, direction, words


def significance_across_chapters(own: dict, pgd40: dict, ensemble: dict | None = None, *, level: float = 0.05) -> str:
    """Chapter 10: the Adv against Adv+ comparison of :numref:`ch-average-error` (``own``: the runs'
    own PGD-40 evaluation, :func:`~labelaug_core.runs.collect.compare_runs`) beside this chapter's
    (``pgd40``: the strong evaluation's PGD-40 rung on its images; ``ensemble``: the ensemble's),
    each a :func:`~labelaug_core.evaluation.paired.compare_methods` result: their differences (pp),
    images per seed, McNemar p-values and verdicts; whether the verdicts agree, and, where they do
    not (or a p-value lies between ``level`` / 5 and 5 ``level``), why two evaluations of the same
    models can: other images, another random start, a stronger attack, p-values near the threshold
    and many comparisons."""
    rows = [("in {numref}`ch-average-error` (the runs' own PGD-40 evaluation)", own),
            ("in this chapter's PGD-40 (another random start)", pgd40)]
    if ensemble is not None:
        rows.append(("under this chapter's strong ensemble (a stronger attack, the same images)", ensemble))
    parts, directions, ps = [], [], []
    for what, c in rows:
        p, direction, words = _p_and_verdict(c)
        directions.append(direction)
        ps.append(p)
        seeds = c["across_seeds"]["seeds"]
        parts.append(f"{what}: Adv − Adv+ = {c['across_seeds']['mean']:+.2f} pp of error on {c['per_seed'][0]['n']:,} "
                     f"images per seed, McNemar p = {p:.3g}" + (" (pooled over seeds)" if seeds >= 2 else "")
                     + f": **{words}**")
    text = ("The same comparison, Adv against Adv+, appears more than once in this book: " + "; ".join(parts)
            + ".")
    n_own, n_here = own["per_seed"][0]["n"], pgd40["per_seed"][0]["n"]
    if len(set(directions)) == 1:
        text += " The verdicts agree."
        if not any(level / 5 <= p < 5 * level for p in ps):
            return text
        text += " They need not have: "
    else:
        text += " **The verdicts differ**, and that is no contradiction: "
    images = (f"the first {n_here:,} of {n_own:,} images" if n_here < n_own else
              f"the same {n_own:,} images" if n_here == n_own else f"{n_here:,} images instead of {n_own:,}")
    near = [f"{p:.3g}" for p in ps if level / 5 <= p < 5 * level]
    text += (f"this chapter attacks {images} (a different sample, so a different count of discordant images), "
             "from a different random start"
             + (", and the ensemble is a stronger attack, which changes which images each model gets wrong" if ensemble
                is not None else "")
             + f". A p-value is itself noisy: "
             + (f"p-values near {level:g} (here {', '.join(near)}) cross the threshold with a handful of images, "
                if near else f"a p-value far from {level:g} is stable, one near it is not, ")
             + f"and every comparison read at the {level:g} level has a {100 * level:g}% chance of a false positive "
             "when there is no difference, so among the many comparisons of this book some are expected to come "
             "out \"beyond the noise\" by chance. Neither verdict alone settles the question; the agreement of "
             "independent evaluations (other images, other seeds) does.")
    return text
