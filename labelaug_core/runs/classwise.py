"""Class-wise studies that read the trained models of runs (chapter 9): the norm of each class's
row of the last linear layer against the class's robust accuracy (Tian et al. 2021)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from labelaug_core.evaluation.classwise import classifier_weight_norms, weight_norm_correlation
from labelaug_core.runs.collect import METHOD_NAMES
from labelaug_core.runs.store import Run


def weight_norm_tables(runs_by_method: dict[str, list[Run]], class_names,
                       data_dir: str | None = None, norms=None) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Per-class robust accuracy (%, 100 - the run's PGD error) against the norm of the class's row of
    the last linear layer (Tian et al.): ``({method: frame of its first seed, columns name, norm,
    robust_acc}``, correlations: one row per (model, seed) with ``pearson_r``, ``pearson_p``,
    ``spearman_rho``, ``spearman_p``, NaN where robust accuracy is the same for every class)``.
    ``norms(run) -> (K,)`` defaults to the trained model's :func:`classifier_weight_norms`."""
    if norms is None:
        from labelaug_core.runs.store import load_model

        def norms(run):
            return classifier_weight_norms(load_model(run.run_dir, data_dir=data_dir))
    frames, rows = {}, []
    for method, runs in runs_by_method.items():
        for run in runs:
            row_norms = np.asarray(norms(run), dtype=float)
            robust = 100 - run.per_class["pgd_err"].to_numpy(dtype=float)
            corr = (weight_norm_correlation(robust, row_norms) if np.ptp(robust) > 0 and np.ptp(row_norms) > 0
                    else dict.fromkeys(("pearson_r", "pearson_p", "spearman_rho", "spearman_p"), float("nan")))
            rows.append({"model": METHOD_NAMES.get(method, method), "seed": run.config.seed, **corr})
            frames.setdefault(method, pd.DataFrame({"name": list(class_names), "norm": row_norms, "robust_acc": robust}))
    return frames, pd.DataFrame(rows).set_index(["model", "seed"])
