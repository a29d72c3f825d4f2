"""Method against method, seed by seed and paired: the tables and sentences behind every "Adv+ is
better / within noise" of the book (statistics in :mod:`labelaug_core.evaluation.paired`).

Runs of two methods with the same seed are evaluated on the same images in the same order (the
protocol of :mod:`labelaug_core.runs.protocol`), so their per-example error masks pair up. Errors are
percent, differences pp (``before - after``: positive = ``after`` errs less).
"""
from __future__ import annotations

import math

import pandas as pd

from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.paired import compare_methods, sd_interval, seed_summary, significant_direction
from labelaug_core.report.tables import (
    HEADLINE_COMPARISONS,
    METHOD_NAMES,
    PAPER_TABLE1,
    PAPER_TABLE2,
    relative_change,
)
from labelaug_core.runs.store import Run


def by_seed(runs: list[Run]) -> list[Run]:
    """``runs`` sorted by seed; a seed twice is a ConfigError (two runs would claim one pair)."""
    seeds = [r.config.seed for r in runs]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"runs: one run per seed expected; got seeds {seeds}")
    return sorted(runs, key=lambda r: r.config.seed)


def compare_runs(before: list[Run], after: list[Run], kind: str = "pgd") -> dict:
    """:func:`~labelaug_core.evaluation.paired.compare_methods` of two methods' runs (one per seed,
    paired by seed) on their own evaluation's error masks (``kind``: clean, fgsm or pgd;
    :meth:`~labelaug_core.runs.store.Run.error_mask`)."""
    before, after = by_seed(before), by_seed(after)
    if [r.config.seed for r in before] != [r.config.seed for r in after]:
        raise ConfigError(f"compare_runs: the two methods need the same seeds; got {[r.config.seed for r in before]} "
                          f"and {[r.config.seed for r in after]}")
    return compare_methods([r.error_mask(kind) for r in before], [r.error_mask(kind) for r in after])


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
    head = (f"{after}'s {what} is {abs(gain):.2f} pp {'below' if gain >= 0 else 'above'} {before}'s "
            f"({c['err_b']['mean']:.2f}% against {c['err_a']['mean']:.2f}%")
    if seeds >= 2:
        head += (f", mean of {seeds} seeds; per-seed differences {', '.join(f'{d:+.2f}' for d in across['diffs'])} pp, "
                 f"95% CI of the mean [{across['ci_low']:+.2f}, {across['ci_high']:+.2f}] pp; McNemar p per seed {ps}, "
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
        head += (f", one seed; paired SE {only['se_pp']:.2f} pp, 95% CI [{only['ci_low_pp']:+.2f}, "
                 f"{only['ci_high_pp']:+.2f}] pp, McNemar exact p = {only['p_value']:.3g} on {only['n']} images, "
                 f"{only['b'] + only['c']} of them discordant)")
        noise = " With one seed the training noise is not measured: a second seed may differ by more than this."
    verdict = {1: f"**{after} is better here**, beyond the noise.", -1: f"**{after} is worse here**, beyond the noise.",
               0: "**The difference is within noise.**"}[significant_direction(c)]
    return f"{head}. {verdict}{noise}"


def profile_gain_paragraph(runs_by_method: dict[str, list[Run]]) -> str:
    """Chapter 3's claim: Adv+ against Adv under the runs' own PGD-40 evaluation, paired by image and
    over seeds, beside the paper's relative drop."""
    c = compare_runs(runs_by_method["adv"], runs_by_method["advplus"], "pgd")
    rel = relative_change(c["err_a"]["mean"], c["err_b"]["mean"])
    paper = relative_change(float(PAPER_TABLE1.loc["adv", "pgd_err"]), float(PAPER_TABLE1.loc["advplus", "pgd_err"]))
    return (f"On this profile, label augmentation changes PGD-40 error relative to Adv by **{rel:.2f} %** "
            f"(the paper reports {paper:.2f} % on ImageNet). " + difference_words(c, "Adv", "Adv+", "PGD-40 error")
            + " Chapter 10 repeats the comparison under a much stronger attack.")


def class_collapse(runs: list[Run], limit_pct: float = 50.0) -> pd.DataFrame:
    """Classes whose clean error exceeds ``limit_pct`` in any of ``runs``: rows (run_id, method, seed,
    class name, clean_err %). Empty when no class collapses."""
    rows = [{"run_id": r.run_id, "method": METHOD_NAMES.get(r.config.method, r.config.method), "seed": r.config.seed,
             "class": row["name"], "clean_err": float(row["clean_err"])}
            for r in runs for _, row in r.per_class.iterrows() if float(row["clean_err"]) > limit_pct]
    return pd.DataFrame(rows, columns=["run_id", "method", "seed", "class", "clean_err"])


def collapse_sentence(runs: list[Run], limit_pct: float = 50.0) -> str:
    """Whether any class of ``runs`` (e.g. the Adv and Adv+ runs) has clean error above ``limit_pct``:
    a collapsed class would dominate every class-wise number."""
    table = class_collapse(runs, limit_pct)
    worst = max(float(r.per_class["clean_err"].max()) for r in runs)
    if table.empty:
        return (f"No class of these {len(runs)} runs has a clean error above {limit_pct:g}% (the worst: "
                f"{worst:.1f}%), so no class has collapsed.")
    classes = sorted(set(table["class"]))
    names = ", ".join(classes) + (" exceeds" if len(classes) == 1 else " exceed")
    return (f"**Collapsed classes**: {names} {limit_pct:g}% clean error in {table['run_id'].nunique()} of "
            f"{len(runs)} runs (worst {worst:.1f}%); class-wise numbers are dominated by them.")


def nan_to_dash(value: float) -> str:
    """Format helper for tables: ``"–"`` for NaN (e.g. an SD over one seed), else 2 decimals."""
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def mean_sd_frame(table: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """``table`` (from :func:`seed_table`) with each column and its ``_sd`` merged into "mean ± SD" text."""
    out = pd.DataFrame(index=table.index)
    for c in columns:
        out[c] = [f"{m:.2f} ± {nan_to_dash(s)}" for m, s in zip(table[c], table[f"{c}_sd"])]
    out["seeds"] = table["seeds"].astype(int)
    return out
