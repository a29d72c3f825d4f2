"""The verdict on the paper's robustness claim, and the per-class ladder analysis (Tian et al. 2021).

The paper (Amerehi & Healy 2025, Table 1) reports a 53.5% relative drop in PGD-40 error from
Adv to Adv+. A gain measured with one attack can be a gain against that attack only: the
verdict compares Adv+'s gain over Adv under PGD-40 with the same gain under the ensemble of
:mod:`labelaug_core.evaluation.strong`. Errors are percentages, differences pp.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.strong import LADDER, StrongEval
from labelaug_core.report.tables import error_difference


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


def claim_verdict(adv_pgd40: float, advplus_pgd40: float, adv_ensemble: float, advplus_ensemble: float,
                  n: int) -> dict:
    """Does Adv+'s PGD-40 gain over Adv survive the strong ensemble?

    Errors in percent on the same ``n`` examples per model. ``gain_*`` = Adv error - Adv+ error
    (pp; positive: Adv+ more robust), ``relative_*`` = that gain / Adv error (%, the paper's
    53.5% for PGD-40), ``se_ensemble`` the binomial standard error (pp) of the ensemble gain
    treating the two models' errors as independent, ``retained`` = gain_ensemble / gain_pgd40.

    ``outcome``: ``"no PGD-40 gain"`` (nothing to test), ``"vanishes"`` (ensemble gain <= 0),
    ``"within noise"`` (0 < ensemble gain < 2 SE), ``"shrinks"`` (significant, but less than
    half of the PGD-40 gain is retained) or ``"survives"``.
    """
    if n < 1:
        raise ConfigError(f"n must be >= 1; got {n}")
    gain_pgd, gain_ens = adv_pgd40 - advplus_pgd40, adv_ensemble - advplus_ensemble
    se = error_difference(adv_ensemble, advplus_ensemble, n)["se"]
    retained = gain_ens / gain_pgd if gain_pgd > 0 else float("nan")
    if gain_pgd <= 0:
        outcome = "no PGD-40 gain"
    elif gain_ens <= 0:
        outcome = "vanishes"
    elif gain_ens < 2 * se:
        outcome = "within noise"
    elif retained < 0.5:
        outcome = "shrinks"
    else:
        outcome = "survives"
    rel = lambda before, gain: 100.0 * gain / before if before > 0 else float("nan")  # noqa: E731
    return {"gain_pgd40": gain_pgd, "gain_ensemble": gain_ens, "relative_pgd40": rel(adv_pgd40, gain_pgd),
            "relative_ensemble": rel(adv_ensemble, gain_ens), "se_ensemble": se, "retained": retained,
            "outcome": outcome}


def verdict_sentence(v: dict) -> str:
    """One Markdown paragraph stating :func:`claim_verdict`'s result from its numbers."""
    def gap(gain: float) -> str:
        return f"{abs(gain):.2f} pp {'below' if gain >= 0 else 'above'} Adv's"

    head = (f"Under PGD-40, Adv+'s error is {gap(v['gain_pgd40'])} ({v['relative_pgd40']:.1f}% relative drop; "
            f"the paper: 53.5%). Under the strong ensemble it is {gap(v['gain_ensemble'])} "
            f"({v['relative_ensemble']:.1f}% relative drop; standard error of the difference {v['se_ensemble']:.2f} pp).")
    tail = {
        "no PGD-40 gain": "Adv+ is not more robust than Adv even under PGD-40 here, so there is no gain to test.",
        "vanishes": "**The gain does not survive**: against the ensemble Adv+ is not more robust than Adv.",
        "within noise": "**The gain does not survive clearly**: what is left is within two standard errors of zero.",
        "shrinks": (f"**The gain survives only in part**: {100 * v['retained']:.0f}% of the PGD-40 gain is left "
                    "against the ensemble, so PGD-40 overstates it."),
        "survives": (f"**The gain survives**: {100 * v['retained']:.0f}% of the PGD-40 gain is left against the "
                     "ensemble."),
    }[v["outcome"]]
    return f"{head} {tail}"
