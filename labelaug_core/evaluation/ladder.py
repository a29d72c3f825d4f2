"""The attack ladder's rungs and its per-example result, as data: what the verdict and the chapters read.

Rungs, weakest to strongest: ``clean``, ``fgsm``, ``pgd-10``, ``pgd-40``, ``ensemble``. A
:class:`StrongEval` holds, per example, which rungs got it wrong; it is produced by
:func:`labelaug_core.evaluation.strong.strong_eval`. This module imports no attack, so code that only
reads results does not depend on the attacks' code (:mod:`labelaug_core.cache`).
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from labelaug_core.cache import write_bytes_atomic, write_json_atomic
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.metrics import per_class_error

LADDER = ("clean", "fgsm", "pgd-10", "pgd-40", "ensemble")


@dataclass(frozen=True)
class StrongEval:
    """Per-example results of the attack ladder on N test images of one model.

    ``wrong``: rung name (:data:`LADDER`) -> (N,) bool, True where that attack (alone) makes the
    example an error (clean mistakes count for every rung); plus ``member:<name>`` -> (N,) bool
    for each ensemble member: the examples it fooled that no earlier member had (the ensemble
    runs as a cascade). ``y`` and ``ensemble_pred`` (the class the worst-case image is sent to)
    are (N,) int64. ``settings`` records everything that determined the result.
    """

    settings: dict
    y: np.ndarray
    wrong: dict[str, np.ndarray]
    ensemble_pred: np.ndarray
    time_s: float

    def errors(self) -> dict[str, float]:
        """Error (%) of each rung and member."""
        return {name: 100.0 * float(w.mean()) for name, w in self.wrong.items()}

    def save(self, npz_path: Path) -> None:
        """Write the per-example arrays to ``npz_path`` (atomically) and the rest to ``.json`` beside it."""
        buffer = io.BytesIO()
        np.savez(buffer, y=self.y, ensemble_pred=self.ensemble_pred, **{f"wrong/{n}": w for n, w in self.wrong.items()})
        write_bytes_atomic(npz_path, buffer.getvalue())
        write_json_atomic(Path(npz_path).with_suffix(".json"), {"settings": self.settings, "time_s": self.time_s,
                                                               "wrong": list(self.wrong), "errors": self.errors()})

    @classmethod
    def load(cls, npz_path: Path) -> "StrongEval":
        meta = json.loads(Path(npz_path).with_suffix(".json").read_text())
        with np.load(npz_path) as f:
            wrong = {name: f[f"wrong/{name}"] for name in meta["wrong"]}
            return cls(meta["settings"], f["y"], wrong, f["ensemble_pred"], meta["time_s"])

    def per_class_errors(self, num_classes: int) -> pd.DataFrame:
        """(K rows) per-class error (%) of each rung: columns ``<rung>_err``."""
        return pd.DataFrame({f"{r}_err": per_class_error(self.y, np.where(self.wrong[r], -1, self.y), num_classes)
                             for r in LADDER})


def worst_of(a: StrongEval, b: StrongEval) -> StrongEval:
    """Per-example worst case of two evaluations of the same examples (e.g. attacking the first K
    logits and all K + M): an example is an error of a rung if either evaluation has it wrong."""
    if a.y.shape != b.y.shape or not (a.y == b.y).all():
        raise ConfigError("worst_of: the two evaluations must be of the same examples")
    wrong = {r: a.wrong[r] | b.wrong[r] for r in LADDER}
    pred = np.where(a.wrong["ensemble"], a.ensemble_pred, b.ensemble_pred)
    return StrongEval({"worst_of": [a.settings, b.settings]}, a.y, wrong, pred, a.time_s + b.time_s)



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
    ``ladder``: :func:`ladder_table`.
    """
    from scipy import stats

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
