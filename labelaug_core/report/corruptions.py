"""Tables of the corruption evaluation: Table 1 with mCE, its headline, per-method tables."""
from __future__ import annotations

import dataclasses

import pandas as pd

from labelaug_core.errors import ConfigError
from labelaug_core.report.tables import METHOD_NAMES, PAPER_TABLE1, method_means


def table1_with_mce(runs, errors: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The paper's Table 1 complete: clean error, mCE and PGD error per method (percent).

    runs: finished :class:`~labelaug_core.runs.Run` s; errors: run_id -> its ``E_{c,s}`` table.
    Means over seeds, ours beside the paper's (whose mCE is on ImageNet-C, 224 px).
    """
    from labelaug_core.evaluation.corrupted_sets import mce

    missing = [r.run_id for r in runs if r.run_id not in errors]
    if missing:
        raise ConfigError(f"errors has no corruption table for run {missing[0]}")
    runs = [dataclasses.replace(r, metrics=r.metrics | {"mce": mce(errors[r.run_id])[1]}) for r in runs]
    cols = ["clean_err", "mce", "pgd_err"]
    ours = method_means(runs, tuple(cols))
    return pd.concat({"ours": ours, "paper": PAPER_TABLE1.loc[ours.index, cols]}, axis=1).rename(index=METHOD_NAMES)


def mce_headline(runs, errors: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Relative changes of mCE, ``(before - after) / before`` in percent, ours beside the paper's."""
    from labelaug_core.report.tables import relative_change

    means = table1_with_mce(runs, errors)
    rows = []
    for label, before, after in (("Adv vs Std, mCE (drop; negative = worse)", "Std", "Adv"),
                                 ("Adv+ vs Adv, mCE (drop)", "Adv", "Adv+")):
        if before in means.index and after in means.index:
            rows.append({"comparison": label,
                         **{f"{who}_%": relative_change(means.loc[before, (who, "mce")], means.loc[after, (who, "mce")])
                            for who in ("ours", "paper")}})
    return pd.DataFrame(rows, columns=["comparison", "ours_%", "paper_%"]).set_index("comparison")


def method_tables(runs, errors: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Per method, its ``E_{c,s}`` table averaged over seeds (same rows and columns as one run's)."""
    by_method: dict[str, list[pd.DataFrame]] = {}
    for run in runs:
        by_method.setdefault(run.config.method, []).append(errors[run.run_id].set_index(["corruption", "severity"]))
    return {method: (sum(tables) / len(tables)).reset_index() for method, tables in by_method.items()}


def class_mce(table: pd.DataFrame, class_names=None) -> pd.Series:
    """Per-class mCE (percent): the mean over corruptions of each class's CE_c, indexed by class name."""
    from labelaug_core.evaluation.corrupted_sets import class_ce

    per_class = class_ce(table).mean()
    if class_names is not None:
        per_class.index = [class_names[k] for k in per_class.index]
    return per_class
