"""The verdict on the paper's robustness claim, the per-class ladder analysis (Tian et al. 2021),
and the sentences in which the chapters state what their numbers show.

The paper (Amerehi & Healy 2025, Table 1) reports a relative drop in PGD-40 error from Adv to
Adv+ of :func:`~labelaug_core.report.tables.paper_relative_drop` (from its Table 1). A gain measured
with one attack can be a gain against that attack only: the verdict compares Adv+'s gain over Adv
under PGD-40 with the same gain under the ensemble of :mod:`labelaug_core.evaluation.strong`.
Errors are percentages, differences pp. Every function that words a claim returns Markdown
text; the notebooks only display it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.ladder import LADDER, StrongEval, worst_of
from labelaug_core.evaluation.paired import compare_methods, is_significant, significant_direction
from labelaug_core.report.comparisons import difference_words
from labelaug_core.report.tables import paper_relative_drop


def ladder_table(evals: list[StrongEval], class_names) -> pd.DataFrame:
    """Per-class error (%) of each rung (mean over ``evals``, e.g. seeds) and each rung's gain (pp)
    over the previous one. One row per class: ``class``, ``<rung>_err``, ``<rung>_gain``."""
    k = len(class_names)
    errs = sum(e.per_class_errors(k) for e in evals) / len(evals)
    table = pd.DataFrame({"class": list(class_names)})
    for i, rung in enumerate(LADDER):
        table[f"{rung}_err"] = errs[f"{rung}_err"].to_numpy()
        if i:
            table[f"{rung}_gain"] = table[f"{rung}_err"] - table[f"{LADDER[i - 1]}_err"]
    return table


def gain_vulnerability(ladder: pd.DataFrame, reference: str = "fgsm") -> pd.DataFrame:
    """Do stronger attacks gain mainly on the vulnerable classes?

    For each rung after ``reference``, and for the whole climb from ``reference`` to the last rung
    (row ``"<reference> -> <last>"``): the Pearson and Spearman correlation, across classes,
    between the rung's gain (pp over the previous rung) and the class's error under
    ``reference`` (its vulnerability), and the share (%) of the summed gain that falls on the
    more vulnerable half of the classes (50% = no preference). NaN where the gain is constant.
    """
    vulnerability = ladder[f"{reference}_err"].to_numpy()
    order = np.argsort(-vulnerability, kind="stable")
    weak_half = order[: len(order) // 2]
    rows = []
    later = LADDER[LADDER.index(reference) + 1:]
    gains = {rung: ladder[f"{rung}_gain"].to_numpy() for rung in later}
    gains[f"{reference} -> {later[-1]}"] = ladder[f"{later[-1]}_err"].to_numpy() - vulnerability
    for rung, gain in gains.items():
        constant = np.ptp(gain) == 0 or np.ptp(vulnerability) == 0
        total = gain.sum()
        rows.append({
            "rung": rung, "mean_gain_pp": float(gain.mean()),
            "pearson_r": float("nan") if constant else float(stats.pearsonr(gain, vulnerability).statistic),
            "spearman_rho": float("nan") if constant else float(stats.spearmanr(gain, vulnerability).statistic),
            "weak_half_share_%": float(100.0 * gain[weak_half].sum() / total) if total > 0 else float("nan"),
        })
    return pd.DataFrame(rows)


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
    :func:`~labelaug_core.report.tables.paper_relative_drop`), ``retained`` = gain_ensemble / gain_pgd40.

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

def runs_used_sentence(runs) -> str:
    """The run ids a chapter used, and the code commit(s) and torch version(s) that trained them
    (each distinct value once, in the runs' order)."""
    commits = list(dict.fromkeys(str(r.env.get("git_commit", "unknown")) for r in runs))
    torches = list(dict.fromkeys(str(r.env.get("torch", "?")) for r in runs))
    return ("Runs used: " + ", ".join(f"`{r.run_id}`" for r in runs)
            + f". Code commit{'s' if len(commits) > 1 else ''} " + ", ".join(f"`{c}`" for c in commits)
            + f", torch {', '.join(torches)}.")


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


