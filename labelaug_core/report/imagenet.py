"""Tables and panels of the ImageNet-ReaL evaluation (Table 2, Figure 1 of the paper)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from labelaug_core.errors import ConfigError
from labelaug_core.report.tables import (
    METHOD_NAMES,
    PAPER_TABLE2,
    method_means,
    relative_change,
)


def table2_with_real(runs, real_metrics: dict[str, dict]) -> pd.DataFrame:
    """The paper's Table 2 complete: per-class mean and SD of clean, ReaL and PGD error per method.

    runs: finished :class:`~labelaug_core.runs.Run` s; real_metrics: run_id -> :func:`real_error`
    metrics. Means over seeds, ours beside the paper's (percent).
    """
    cols = ("clean_class_mean", "clean_class_sd", "real_class_mean", "real_class_sd", "pgd_class_mean", "pgd_class_sd")
    ours = method_means(_with_metrics(runs, real_metrics), cols)
    paper = PAPER_TABLE2.loc[ours.index, list(cols)]
    return pd.concat({"ours": ours, "paper": paper}, axis=1).rename(index=METHOD_NAMES)


def real_headline(runs, real_metrics: dict[str, dict]) -> pd.DataFrame:
    """The paper's ReaL headline numbers, relative drops ``(before - after) / before`` in percent."""
    cols = ("real_class_mean", "real_class_sd")
    ours = method_means(_with_metrics(runs, real_metrics), cols)
    rows = []
    comparisons = (("Adv+ vs Adv, ReaL per-class SD (drop)", "adv", "advplus", "real_class_sd"),
                   ("Adv+ vs Adv, ReaL per-class mean (drop)", "adv", "advplus", "real_class_mean"),
                   ("Adv vs Std, ReaL per-class mean (drop; negative = worse)", "std", "adv", "real_class_mean"))
    for label, before, after, col in comparisons:
        if before in ours.index and after in ours.index:
            rows.append({"comparison": label, "ours_%": relative_change(ours.loc[before, col], ours.loc[after, col]),
                         "paper_%": relative_change(PAPER_TABLE2.loc[before, col], PAPER_TABLE2.loc[after, col])})
    return pd.DataFrame(rows, columns=["comparison", "ours_%", "paper_%"]).set_index("comparison")


def figure1_panels(runs, real_per_class: dict[str, pd.DataFrame]) -> dict[str, dict[str, np.ndarray]]:
    """Per-class clean, ReaL and PGD error (percent) per method, mean over seeds: the paper's Fig. 1.

    runs: finished runs; real_per_class: run_id -> the per-class table of :func:`real_error`.
    Returns {"Clean" | "ReaL" | "PGD-40": {method: (K,) errors}}, classes in the runs' order
    (NaN for a class with no image scored), ready for :func:`labelaug_core.figures.per_class_sorted`.
    """
    panels: dict[str, dict[str, list[pd.Series]]] = {"Clean": {}, "ReaL": {}, f"PGD-{runs[0].config.eval_steps}": {}}
    for run in runs:
        names = run.per_class["name"]
        real = real_per_class[run.run_id].set_index("wnid")["real_err"].reindex(names)
        for (title, by_method), series in zip(panels.items(), (
                run.per_class.set_index("name")["clean_err"], real, run.per_class.set_index("name")["pgd_err"])):
            by_method.setdefault(run.config.method, []).append(series.reset_index(drop=True))
    return {title: {m: pd.concat(s, axis=1).mean(axis=1).to_numpy() for m, s in by_method.items()}
            for title, by_method in panels.items()}


def _with_metrics(runs, extra: dict[str, dict]):
    missing = [r.run_id for r in runs if r.run_id not in extra]
    if missing:
        raise ConfigError(f"real_metrics has no entry for run {missing[0]}")
    return [dataclasses.replace(r, metrics=r.metrics | extra[r.run_id]) for r in runs]
