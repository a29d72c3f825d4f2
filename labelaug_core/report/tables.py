"""Tables that set this project's runs beside the paper's numbers.

The paper's numbers below are quoted from Amerehi & Healy (Table 1 and Table 2;
ResNet-50 fine-tuned on ImageNet, PGD-40, eps 0.03). Everything else in these tables
is read from run directories.
"""
from __future__ import annotations

import math

import pandas as pd

from labelaug_core.runs.store import Run

METHOD_NAMES = {"std": "Std", "adv": "Adv", "advplus": "Adv+"}


# Table 1 of the paper: error %, ResNet-50 on ImageNet.
PAPER_TABLE1 = pd.DataFrame(
    {"clean_err": [20.87, 32.18, 26.70], "mce": [58.06, 71.41, 66.43], "pgd_err": [94.06, 70.32, 32.70]},
    index=pd.Index(["std", "adv", "advplus"], name="method"),
)


# Table 2 of the paper: per-class error, mean and SD across the 1000 classes.
PAPER_TABLE2 = pd.DataFrame(
    {
        "clean_class_mean": [20.87, 32.17, 26.69], "clean_class_sd": [15.65, 17.78, 16.76],
        "real_class_mean": [19.43, 29.00, 24.27], "real_class_sd": [12.78, 15.24, 14.04],
        "pgd_class_mean": [94.06, 70.32, 32.70], "pgd_class_sd": [4.71, 15.77, 15.33],
    },
    index=pd.Index(["std", "adv", "advplus"], name="method"),
)


def relative_change(before: float, after: float) -> float:
    """Relative drop in percent, ``(before - after) / before * 100`` (the paper's headline numbers).

    Positive = ``after`` is lower (better). e.g. ``relative_change(94.06, 70.32) == 25.24``.
    """
    if before == 0 or math.isnan(before) or math.isnan(after):
        return float("nan")
    return 100.0 * (before - after) / before


def runs_table(runs: list[Run], columns: tuple[str, ...] = ("clean_err", "fgsm_err", "pgd_err", "clean_class_sd", "pgd_class_sd")) -> pd.DataFrame:
    """One row per run: method, delta, seed and the requested metrics (percent)."""
    rows = []
    for run in runs:
        row = {"run_id": run.run_id, "method": run.config.method, "delta": run.config.delta, "seed": run.config.seed}
        row.update({c: run.metrics.get(c, float("nan")) for c in columns})
        rows.append(row)
    return pd.DataFrame(rows)


def method_means(runs: list[Run], columns: tuple[str, ...]) -> pd.DataFrame:
    """Mean over seeds per method (std, adv, advplus in that order), for the given metric columns."""
    table = runs_table(runs, columns)
    order = [m for m in ("std", "adv", "advplus") if m in set(table["method"])]
    return table.groupby("method")[list(columns)].mean().loc[order]


def table1(runs: list[Run]) -> pd.DataFrame:
    """Table 1: clean and PGD error per method, ours beside the paper's."""
    ours = method_means(runs, ("clean_err", "pgd_err"))
    paper = PAPER_TABLE1.loc[ours.index, ["clean_err", "pgd_err"]]
    return pd.concat({"ours": ours, "paper": paper}, axis=1).rename(index=METHOD_NAMES)


def table2(runs: list[Run]) -> pd.DataFrame:
    """Table 2: mean and SD of per-class error (clean, PGD), ours beside the paper's."""
    cols = ("clean_class_mean", "clean_class_sd", "pgd_class_mean", "pgd_class_sd")
    ours = method_means(runs, cols)
    paper = PAPER_TABLE2.loc[ours.index, list(cols)]
    return pd.concat({"ours": ours, "paper": paper}, axis=1).rename(index=METHOD_NAMES)


def headline_changes(means: pd.DataFrame, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's headline relative changes, recomputed from per-method means.

    ``means`` is indexed by method (std, adv, advplus) with columns among clean_err,
    pgd_err, clean_class_sd, pgd_class_sd. Returns one row per comparison with ``ours``
    and, where the paper reports it, ``paper``.
    """
    paper = pd.concat([PAPER_TABLE1, PAPER_TABLE2], axis=1) if paper is None else paper
    comparisons = [
        ("Adv vs Std, PGD error (drop)", "std", "adv", "pgd_err"),
        ("Adv vs Std, clean error (drop; negative = worse)", "std", "adv", "clean_err"),
        ("Adv+ vs Adv, PGD error (drop)", "adv", "advplus", "pgd_err"),
        ("Adv+ vs Adv, clean error (drop)", "adv", "advplus", "clean_err"),
        ("Adv+ vs Adv, clean per-class SD (drop)", "adv", "advplus", "clean_class_sd"),
        ("Adv+ vs Adv, PGD per-class SD (drop)", "adv", "advplus", "pgd_class_sd"),
    ]
    rows = []
    for label, before, after, col in comparisons:
        if before in means.index and after in means.index and col in means.columns:
            rows.append({
                "comparison": label,
                "ours_%": relative_change(means.loc[before, col], means.loc[after, col]),
                "paper_%": relative_change(paper.loc[before, col], paper.loc[after, col]),
            })
    return pd.DataFrame(rows).set_index("comparison")


def error_difference(before_err: float, after_err: float, n: int) -> dict:
    """How far apart two error rates (%) on ``n`` examples each are, in standard errors.

    ``gain`` = before - after (pp; positive: ``after`` errs less), ``se`` = the binomial standard
    error (pp) of that difference treating the two as independent, ``outcome`` = ``"lower"`` or
    ``"higher"`` when ``|gain| >= 2 se`` (``after`` is clearly better or worse), else ``"within noise"``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    gain = before_err - after_err
    se = math.sqrt((before_err * (100 - before_err) + after_err * (100 - after_err)) / n)
    outcome = "within noise" if abs(gain) < 2 * se else ("lower" if gain > 0 else "higher")
    return {"gain": gain, "se": se, "outcome": outcome}
