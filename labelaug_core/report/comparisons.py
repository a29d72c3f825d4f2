"""Method against method, seed by seed and paired: the tables and sentences behind every "Adv+ is
better / within noise" of the book (statistics in :mod:`labelaug_core.evaluation.paired`, the
pairing of runs in :func:`labelaug_core.runs.collect.compare_runs`).

Runs of two methods with the same seed are evaluated on the same images in the same order (the
protocol of :mod:`labelaug_core.runs.protocol`), so their per-example error masks pair up. Errors are
percent, differences pp (``before - after``: positive = ``after`` errs less).
"""
from __future__ import annotations

import pandas as pd

from labelaug_core.evaluation.paired import sd_interval, seed_summary, significant_direction
from labelaug_core.report.paper import HEADLINE_COMPARISONS, PAPER_TABLE1, PAPER_TABLE2, relative_change
from labelaug_core.runs.collect import METHOD_NAMES, by_seed
from labelaug_core.runs.store import Run


def seed_table(runs_by_method: dict[str, list[Run]], columns: tuple[str, ...]) -> pd.DataFrame:
    """Mean ± SD over seeds per method: one row per method (Std, Adv, Adv+ names), for each metric
    column ``<c>`` the mean and ``<c>_sd`` (ddof = 1 over seeds; NaN for one seed), and ``seeds``."""
    rows = {}
    for method, runs in runs_by_method.items():
        row = {}
        for c in columns:
            s = seed_summary([float(r.metrics[c]) for r in runs])
            row[c], row[f"{c}_sd"] = s["mean"], s["sd"]
        rows[METHOD_NAMES.get(method, method)] = row | {"seeds": len(runs)}
    return pd.DataFrame.from_dict(rows, orient="index")


def per_seed_table(runs_by_method: dict[str, list[Run]], columns: tuple[str, ...]) -> pd.DataFrame:
    """Every seed's value: rows (method, seed), one column per metric (percent)."""
    rows = [{"method": METHOD_NAMES.get(m, m), "seed": r.config.seed} | {c: float(r.metrics[c]) for c in columns}
            for m, runs in runs_by_method.items() for r in by_seed(runs)]
    return pd.DataFrame(rows).set_index(["method", "seed"])


def headline_table(runs_by_method: dict[str, list[Run]]) -> pd.DataFrame:
    """The paper's headline relative changes (%) recomputed per seed: for each comparison of
    :data:`HEADLINE_COMPARISONS` whose methods were run, ``mean_%`` ± ``sd_%`` over seeds of the
    per-seed relative change (same seed before and after), ``per_seed_%`` (list) and the paper's.
    Per-class SDs are over classes with ddof = 0 (this project's choice; the paper does not say)."""
    paper = PAPER_TABLE1.join(PAPER_TABLE2)
    rows = []
    for label, before, after, col in HEADLINE_COMPARISONS:
        if before not in runs_by_method or after not in runs_by_method:
            continue
        if any(col not in r.metrics for r in runs_by_method[before] + runs_by_method[after]):
            continue  # e.g. mCE: measured by the corruption chapter, not by a run's own evaluation
        pairs = zip(by_seed(runs_by_method[before]), by_seed(runs_by_method[after]), strict=True)
        changes = [relative_change(float(b.metrics[col]), float(a.metrics[col])) for b, a in pairs]
        s = seed_summary(changes)
        rows.append({"comparison": label, "mean_%": s["mean"], "sd_%": s["sd"],
                     "per_seed_%": ", ".join(f"{c:.1f}" for c in changes),
                     "paper_%": relative_change(float(paper.loc[before, col]), float(paper.loc[after, col]))})
    return pd.DataFrame(rows, columns=["comparison", "mean_%", "sd_%", "per_seed_%", "paper_%"]).set_index("comparison")


def comparison_row(label: str, c: dict) -> dict:
    """One table row of a :func:`compare_methods` result: errors mean ± SD, the mean paired difference
    (pp) with its t interval over seeds, the per-seed differences and McNemar p-values, and the noise."""
    across = c["across_seeds"]
    return {"comparison": label, "before_%": c["err_a"]["mean"], "before_sd": c["err_a"]["sd"],
            "after_%": c["err_b"]["mean"], "after_sd": c["err_b"]["sd"], "gain_pp": across["mean"],
            "ci_low_pp": across["ci_low"], "ci_high_pp": across["ci_high"], "seeds": across["seeds"],
            "per_seed_gain_pp": ", ".join(f"{d:+.2f}" for d in across["diffs"]),
            "per_seed_mcnemar_p": ", ".join(f"{r['p_value']:.3g}" for r in c["per_seed"]),
            "pooled_mcnemar_p": c["pooled"]["p_value"],
            "eval_se_pp": c["eval_se_pp"], "seed_sd_pp": c["seed_sd_pp"], "training_sd_pp": c["training_sd_pp"],
            "dominant_noise": c["dominant_noise"]}


def difference_words(c: dict, before: str, after: str, what: str) -> str:
    """One sentence: how ``after`` differs from ``before`` in ``what`` (e.g. "PGD-40 error") over the
    seeds of :func:`compare_methods` ``c``, with the paired statistics and the verdict of
    :func:`~labelaug_core.evaluation.paired.significant_direction`."""
    across, seeds = c["across_seeds"], c["across_seeds"]["seeds"]
    gain = across["mean"]
    ps = ", ".join(f"{r['p_value']:.3g}" for r in c["per_seed"])
    # The statistics are of the gain (before's error minus after's); the sentence is about after
    # against before, so every difference and interval is written as after - before, with the
    # sign of the sentence's "above" / "below".
    head = (f"{after}'s {what} is {abs(gain):.2f} pp {'below' if gain >= 0 else 'above'} {before}'s "
            f"({c['err_b']['mean']:.2f}% against {c['err_a']['mean']:.2f}%")
    if seeds >= 2:
        head += (f", mean of {seeds} seeds; {after} − {before} per seed {', '.join(f'{-d:+.2f}' for d in across['diffs'])} pp, "
                 f"95% CI of the mean [{-across['ci_high']:+.2f}, {-across['ci_low']:+.2f}] pp; McNemar p per seed {ps}, "
                 f"pooled over seeds {c['pooled']['p_value']:.3g})")
        low, high = sd_interval(c["seed_sd_pp"], seeds)
        noise = (f" The seed-to-seed SD of the difference ({c['seed_sd_pp']:.2f} pp; 95% interval [{low:.2f}, "
                 f"{high:.2f}] pp from {seeds} seeds) holds the evaluation's noise (the paired SE of one seed, "
                 f"{c['eval_se_pp']:.2f} pp) and the training's (what is left, √(SD² − SE²) = "
                 f"{c['training_sd_pp']:.2f} pp). The point estimates put more of it in the "
                 f"{c['dominant_noise']}, but "
                 + ("an SD from so few seeds cannot establish which noise dominates."
                    if low < c["eval_se_pp"] < high or seeds < 5 else "the SD's interval excludes the other reading."))
    else:
        only = c["per_seed"][0]
        head += (f", one seed; {after} − {before} {-only['diff_pp']:+.2f} pp, paired SE {only['se_pp']:.2f} pp, "
                 f"95% CI [{-only['ci_high_pp']:+.2f}, {-only['ci_low_pp']:+.2f}] pp, McNemar exact p = "
                 f"{only['p_value']:.3g} on {only['n']} images, {only['b'] + only['c']} of them discordant)")
        noise = " With one seed the training noise is not measured: a second seed may differ by more than this."
    verdict = {1: f"**{after} is better here**, beyond the noise.", -1: f"**{after} is worse here**, beyond the noise.",
               0: "**The difference is within noise.**"}[significant_direction(c)]
    return f"{head}. {verdict}{noise}"
