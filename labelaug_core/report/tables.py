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


# The paper's headline comparisons: (label, before, after, column); relative change = (before - after) / before,
# so positive = ``after`` lower. Adv+ vs Std gives the paper's 65.23% (PGD), 27.93% and 14.42% (clean, mCE).
HEADLINE_COMPARISONS = (
    ("Adv vs Std, PGD error", "std", "adv", "pgd_err"),
    ("Adv vs Std, clean error (negative = worse)", "std", "adv", "clean_err"),
    ("Adv+ vs Std, PGD error", "std", "advplus", "pgd_err"),
    ("Adv+ vs Std, clean error (negative = worse)", "std", "advplus", "clean_err"),
    ("Adv+ vs Std, mCE (negative = worse)", "std", "advplus", "mce"),
    ("Adv+ vs Adv, PGD error", "adv", "advplus", "pgd_err"),
    ("Adv+ vs Adv, clean error", "adv", "advplus", "clean_err"),
    ("Adv+ vs Adv, clean per-class SD", "adv", "advplus", "clean_class_sd"),
    ("Adv+ vs Adv, PGD per-class SD", "adv", "advplus", "pgd_class_sd"),
)


def headline_changes(means: pd.DataFrame, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's headline relative changes, recomputed from per-method means.

    ``means`` is indexed by method (std, adv, advplus) with columns among clean_err,
    pgd_err, clean_class_sd, pgd_class_sd. Returns one row per comparison with ``ours``
    and, where the paper reports it, ``paper``.
    """
    paper = pd.concat([PAPER_TABLE1, PAPER_TABLE2], axis=1) if paper is None else paper
    rows = []
    for label, before, after, col in HEADLINE_COMPARISONS:
        if before in means.index and after in means.index and col in means.columns:
            rows.append({
                "comparison": label,
                "ours_%": relative_change(means.loc[before, col], means.loc[after, col]),
                "paper_%": relative_change(paper.loc[before, col], paper.loc[after, col]),
            })
    return pd.DataFrame(rows, columns=["comparison", "ours_%", "paper_%"]).set_index("comparison")


# --- What the chapters compute from runs: the notebooks call these instead of looping themselves. ---

def paper_relative_drop(before: str = "adv", after: str = "advplus", column: str = "pgd_err") -> float:
    """The paper's relative drop (%) of ``column`` from method ``before`` to ``after``, derived from
    :data:`PAPER_TABLE1` (and :data:`PAPER_TABLE2` for its per-class columns) with
    :func:`relative_change`: 53.5 for the headline PGD-40 error of Adv -> Adv+."""
    paper = PAPER_TABLE1.join(PAPER_TABLE2)
    if column not in paper.columns or before not in paper.index or after not in paper.index:
        raise KeyError(f"the paper's tables have methods {list(paper.index)} and columns {list(paper.columns)}; "
                       f"got {before!r} -> {after!r}, {column!r}")
    return relative_change(float(paper.loc[before, column]), float(paper.loc[after, column]))


def run_list(runs_by_method: dict[str, list[Run]]) -> list[Run]:
    """Every run of a ``{method: [run per seed]}`` dict (:func:`~labelaug_core.runs.find_runs`), method
    by method, seeds in order."""
    return [run for runs in runs_by_method.values() for run in runs]


def n_attacked(runs: list[Run]) -> int:
    """Test images attacked by the runs' own PGD evaluation, summed over ``runs`` (e.g. the seeds of
    one method)."""
    return int(sum(int(run.metrics["n_attacked"]) for run in runs))


def mean_metric(runs: list[Run], key: str) -> float:
    """Mean of metric ``key`` (e.g. ``pgd_err``, percent) over ``runs`` (e.g. the seeds of one method)."""
    if not runs:
        raise ValueError(f"mean_metric: no runs to average {key!r} over")
    return float(sum(float(run.metrics[key]) for run in runs) / len(runs))


def map_runs(function, runs, /, **kwargs):
    """``function(run, **kwargs)`` for every run, keeping the shape of ``runs``: a
    ``{method: [run, ...]}`` dict gives ``{method: [result, ...]}``, a list gives a list (e.g. a
    cached evaluation such as :func:`labelaug_core.runs.strong_evaluation` of every run)."""
    if isinstance(runs, dict):
        return {key: [function(run, **kwargs) for run in group] for key, group in runs.items()}
    return [function(run, **kwargs) for run in runs]


def map_run_dirs(function, runs: list[Run], /, **kwargs) -> dict:
    """``{run_id: function(run.run_dir, **kwargs)}`` for every run of a list (evaluations that take
    a run directory, e.g. :func:`labelaug_core.runs.corruption_eval`)."""
    return {run.run_id: function(run.run_dir, **kwargs) for run in runs}


def mean_frames(frames_by_key: dict[str, list[pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """``{key: element-wise mean of its frames}`` (e.g. one table per seed, same rows and columns)."""
    return {key: sum(frames) / len(frames) for key, frames in frames_by_key.items()}


# The paper's setting (Amerehi & Healy, Section 4) by TrainConfig field, as strings; "–" where it does
# not apply or is not stated: it fine-tunes pretrained ImageNet weights, so it has no from-scratch
# epochs or lr. The one source of the paper's settings: PAPER_SETTING and report.seeds read it.
PAPER_FIELDS = {"dataset": "imagenet", "model": "resnet50 (pretrained)", "eps": "0.03", "steps": "10",
                "eval_steps": "40", "epochs": "–", "train_subset": "0", "test_subset": "–", "eval_subset": "–",
                "batch_size": "64", "lr": "–", "delta": "0.03", "finetune_epochs": "10", "finetune_lr": "0.01"}

# The same setting as the rows of setting_table, plus what is not a TrainConfig field.
PAPER_SETTING = {
    "data set": "ImageNet", "model": "ResNet-50 (pretrained)", "epochs": PAPER_FIELDS["finetune_epochs"],
    "ε (train and eval)": PAPER_FIELDS["eps"], "training attack": f"PGD-{PAPER_FIELDS['steps']}",
    "evaluation attack": f"PGD-{PAPER_FIELDS['eval_steps']}", "δ": PAPER_FIELDS["delta"],
    "batch": PAPER_FIELDS["batch_size"], "lr": f"{PAPER_FIELDS['finetune_lr']} cosine",
    "seeds": "1 (not stated)", "device": "RTX-3080",
}


def setting_table(run: Run, n_seeds: int) -> pd.DataFrame:
    """The paper's setting (:data:`PAPER_SETTING`) beside this profile's, read from ``run`` (an Adv+
    run) and the number of seeds: columns ``paper``, ``this profile`` and ``same?`` (``same`` or
    ``DIFFERS``), one row per item."""
    cfg, env = run.config, run.env
    ours = {
        "data set": cfg.dataset, "model": cfg.model, "epochs": str(cfg.epochs), "ε (train and eval)": f"{cfg.eps:g}",
        "training attack": f"PGD-{cfg.steps}", "evaluation attack": f"PGD-{cfg.eval_steps}", "δ": f"{cfg.delta:g}",
        "batch": str(cfg.batch_size), "lr": f"{cfg.lr:g} cosine", "seeds": str(n_seeds),
        "device": env.get("device_name", env.get("device", "?")),
    }
    table = pd.DataFrame({"paper": PAPER_SETTING, "this profile": ours})
    table["same?"] = ["same" if p == o else "DIFFERS" for p, o in zip(table["paper"], table["this profile"])]
    return table


def paper_comparison(means: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Long table of ours beside the paper's: one row per (method, quantity) of ``means`` (indexed by
    method, e.g. :func:`method_means`) and ``columns``, with ``paper`` (Tables 1 and 2) and ``ours``
    (percent); NaN where the paper does not report a method or quantity."""
    paper = PAPER_TABLE1.join(PAPER_TABLE2)
    rows = [{"method": m, "quantity": c,
             "paper": paper.loc[m, c] if m in paper.index and c in paper.columns else float("nan"),
             "ours": means.loc[m, c]} for m in means.index for c in columns]
    return pd.DataFrame(rows).set_index(["method", "quantity"])


