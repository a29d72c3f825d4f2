"""Collecting runs for the book: the runs of a chapter as lists and ``{method: [run per seed]}``
dicts, a function mapped over them, their metrics averaged over seeds, their predictions pooled,
their error masks paired by seed, and the trained models they hold.

Everything here reads run directories (:mod:`labelaug_core.runs.store`); the book's tables,
figures and sentences (:mod:`labelaug_core.report`) only arrange what it returns. Errors are
percentages (0-100).
"""
from __future__ import annotations

import pandas as pd

from labelaug_core.errors import ConfigError
from labelaug_core.runs.store import Run

# The display name of each training method, as the collected tables (and the book) name them.
METHOD_NAMES = {"std": "Std", "adv": "Adv", "advplus": "Adv+"}


# --- runs as lists and dicts, a function over every run -----------------------------------------

def run_list(runs_by_method: dict[str, list[Run]]) -> list[Run]:
    """Every run of a ``{method: [run per seed]}`` dict (:func:`~labelaug_core.runs.find_runs`), method
    by method, seeds in order."""
    return [run for runs in runs_by_method.values() for run in runs]


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


def predictions_by_method(runs_by_method: dict[str, list[Run]], predictions: dict[str, object]) -> dict[str, list]:
    """``{method: [predictions of each seed's run]}`` from ``{run_id: predictions}``."""
    return {m: [predictions[r.run_id] for r in runs] for m, runs in runs_by_method.items()}


def by_seed(runs: list[Run]) -> list[Run]:
    """``runs`` sorted by seed; a seed twice is a ConfigError (two runs would claim one pair)."""
    seeds = [r.config.seed for r in runs]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"runs: one run per seed expected; got seeds {seeds}")
    return sorted(runs, key=lambda r: r.config.seed)


# --- metrics over seeds ---------------------------------------------------------------------------

def n_attacked(runs: list[Run]) -> int:
    """Test images attacked by the runs' own PGD evaluation, summed over ``runs`` (e.g. the seeds of
    one method)."""
    return int(sum(int(run.metrics["n_attacked"]) for run in runs))


def mean_metric(runs: list[Run], key: str) -> float:
    """Mean of metric ``key`` (e.g. ``pgd_err``, percent) over ``runs`` (e.g. the seeds of one method)."""
    if not runs:
        raise ValueError(f"mean_metric: no runs to average {key!r} over")
    return float(sum(float(run.metrics[key]) for run in runs) / len(runs))


def mean_per_class(runs: list[Run], column: str):
    """(K,) mean over ``runs`` (e.g. seeds) of a per-class column (%, e.g. ``pgd_err``)."""
    import numpy as np

    return np.mean([r.per_class[column].to_numpy(dtype=float) for r in runs], axis=0)


def mean_frames(frames_by_key: dict[str, list[pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """``{key: element-wise mean of its frames}`` (e.g. one table per seed, same rows and columns)."""
    return {key: sum(frames) / len(frames) for key, frames in frames_by_key.items()}


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


# --- the δ sweep (chapter 5) ------------------------------------------------------------------------

def delta_sweep_runs(runs_dir, seeds: list[int], deltas, **settings) -> dict[float, list[Run]]:
    """The Adv+ runs of each δ of a sweep, ``{δ: [run per seed]}``, the other TrainConfig fields from
    ``settings`` (its own ``delta``, if any, is replaced by each δ)."""
    from labelaug_core.runs.store import find_runs

    return {d: find_runs(runs_dir, seeds, ("advplus",), **(settings | {"delta": d}))["advplus"] for d in deltas}


def delta_summary(sweep: dict[float, list[Run]],
                  metrics: tuple[str, ...] = ("clean_err", "pgd_err", "clean_class_sd", "pgd_class_sd")) -> pd.DataFrame:
    """Mean over seeds of each metric (percent) for each δ of :func:`delta_sweep_runs`; index ``delta``."""
    return pd.DataFrame([{"delta": d, **{k: mean_metric(runs, k) for k in metrics}} for d, runs in sweep.items()],
                        columns=["delta", *metrics]).set_index("delta")


# --- predictions and error masks, pooled or paired --------------------------------------------------

def compare_runs(before: list[Run], after: list[Run], kind: str = "pgd") -> dict:
    """:func:`~labelaug_core.evaluation.paired.compare_methods` of two methods' runs (one per seed,
    paired by seed) on their own evaluation's error masks (``kind``: clean, fgsm or pgd;
    :meth:`~labelaug_core.runs.store.Run.error_mask`)."""
    from labelaug_core.evaluation.paired import compare_methods

    before, after = by_seed(before), by_seed(after)
    if [r.config.seed for r in before] != [r.config.seed for r in after]:
        raise ConfigError(f"compare_runs: the two methods need the same seeds; got {[r.config.seed for r in before]} "
                          f"and {[r.config.seed for r in after]}")
    return compare_methods([r.error_mask(kind) for r in before], [r.error_mask(kind) for r in after])


def adversarial_flow_tables(runs_by_method: dict[str, list[Run]], class_names,
                            top: int = 5) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Where each method's PGD images go, over all its seeds' attacked images
    (:func:`labelaug_core.evaluation.classwise.adversarial_flows`): ``({method: (K, K) share %}, {method:
    the top flows}``)."""
    import numpy as np

    from labelaug_core.evaluation.classwise import adversarial_flows

    matrices, flows = {}, {}
    for method, runs in runs_by_method.items():
        preds = [r.predictions() for r in runs]
        y = np.concatenate([p.y[p.attacked] for p in preds])
        sent = np.concatenate([p.pgd[p.attacked] for p in preds])
        matrices[method], flows[method] = adversarial_flows(y, sent, list(class_names), top=top)
    return matrices, flows


# --- trained models -------------------------------------------------------------------------------

def first_models(runs_by_method: dict, *, data_dir: str | None = None, device: str | None = None) -> dict:
    """``{method: trained model of its first seed}`` (eval mode)."""
    from labelaug_core.runs.store import load_model

    return {method: load_model(runs[0].run_dir, device, data_dir=data_dir) for method, runs in runs_by_method.items()}


def eps_normalised(config) -> float | None:
    """A run's ε (pixel units, [0, 1] images) in the model's normalised units, where the model's
    normalisation has one SD for every channel (grey images); None otherwise. Folder data sets are RGB
    (no disk read)."""
    from labelaug_core.data.sources import SMALL_DATASETS, dataset_info
    from labelaug_core.models import normalisation

    channels = dataset_info(config.dataset).channels if config.dataset in SMALL_DATASETS else 3
    std = normalisation(config.model, channels)[1]
    return config.eps / std[0] if len(set(std)) == 1 else None
