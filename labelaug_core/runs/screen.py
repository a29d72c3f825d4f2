"""A screen, then a confirmation on fresh seeds, under a rule written down before the confirmation.

A plan with a ``confirm:`` entry (:mod:`labelaug_core.book.plan`) is a screen: its runs pair every
Adv+ setting with its matched Adv run (:meth:`~labelaug_core.config.TrainConfig.matched_control`:
the same seed, data order, ``adv_fraction``, attack and schedule; only the labels differ). The
rule named by ``confirm.rule`` (one of :data:`RULES`) picks one Adv+ setting from the screen's
results; ``labelaug publish`` then trains that setting and its matched Adv on the fresh
``confirm.seeds`` (:func:`confirmation_configs`). The screen alone proves nothing: picking the
best of many noisy differences favours a lucky one (the winner's curse); only the confirmation,
on seeds the choice never saw, tests the chosen setting.
"""
from __future__ import annotations

import dataclasses

import pandas as pd

from labelaug_core.config import TrainConfig
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.paired import mcnemar

# Rule name -> the rule in words (the book prints it as the pre-registered rule).
RULES = {
    "largest-pgd-gain": (
        "Of the screened Adv+ settings (adv_fraction, eps, delta), confirm the one with the largest PGD-40 gain over "
        "its matched Adv run: Adv's PGD-40 error minus Adv+'s, in percentage points, paired on every test image "
        "both were attacked on (seed 0). Ties: the smaller delta, then the larger adv_fraction, then the larger "
        "eps. The confirmation trains that setting and its matched Adv on the fresh seeds and calls Adv+ more "
        "robust only if the gain is beyond noise there (the t interval over the seeds above 0 and the pooled "
        "McNemar test p < 0.05, labelaug_core.evaluation.paired.significant_direction)."
    ),
}
SETTING_FIELDS = ("adv_fraction", "eps", "delta")


def _same_training(a: TrainConfig, b: TrainConfig) -> bool:
    return a.resolved().to_dict() == b.resolved().to_dict()


def matched_pairs(runs: list) -> list[tuple]:
    """(Adv+ run, its matched Adv run) for every Adv+ run of ``runs`` (objects with ``.config``, e.g.
    :class:`~labelaug_core.runs.store.Run`), matched by their settings (not by run id, so published
    runs made by older code still pair). A ConfigError names an Adv+ run without its control."""
    pairs = []
    for plus in (r for r in runs if r.config.method == "advplus"):
        wanted = plus.config.matched_control()
        control = [r for r in runs if r.config.method == "adv" and _same_training(r.config, wanted)]
        if not control:
            raise ConfigError(f"screen: the Adv+ run {plus.run_id} has no matched Adv run (method adv with its "
                              f"seed, adv_fraction, eps and schedule); add it to the plan's runs")
        pairs.append((plus, control[0]))
    if not pairs:
        raise ConfigError("screen: the plan has no Adv+ run to screen")
    return pairs


def screen_table(pairs: list[tuple]) -> pd.DataFrame:
    """One row per screened pair: the Adv+ setting (:data:`SETTING_FIELDS`), seed, both PGD-40 errors
    (%), ``gain_pp`` = Adv's minus Adv+'s error (pp; > 0: Adv+ more robust) paired on every image both
    were attacked on, its McNemar ``p_value``, the images ``n``, both clean errors, and the operation
    output's AUROC of the Adv+ model (NaN if it was not measured). Sorted by the rule's order."""
    rows = []
    for plus, adv in pairs:
        paired = mcnemar(adv.error_mask("pgd"), plus.error_mask("pgd"))
        operation = plus.metrics.get("operation", {})
        rows.append({**{f: getattr(plus.config, f) for f in SETTING_FIELDS}, "seed": plus.config.seed,
                     "adv_pgd_err": paired["err_a"], "advplus_pgd_err": paired["err_b"], "gain_pp": paired["diff_pp"],
                     "p_value": paired["p_value"], "n": paired["n"], "adv_clean_err": adv.metrics["clean_err"],
                     "advplus_clean_err": plus.metrics["clean_err"], "op_auroc": operation.get("auroc", float("nan")),
                     "advplus_run": plus.run_id, "adv_run": adv.run_id})
    table = pd.DataFrame(rows)
    order = table.assign(_d=table["delta"], _f=-table["adv_fraction"], _e=-table["eps"], _g=-table["gain_pp"])
    return table.loc[order.sort_values(["_g", "_d", "_f", "_e"]).index].reset_index(drop=True)


def choose(pairs: list[tuple], rule: str = "largest-pgd-gain") -> tuple:
    """The (Adv+ run, Adv run) pair that ``rule`` picks from the screen (:data:`RULES`)."""
    if rule not in RULES:
        raise ConfigError(f"rule must be one of {', '.join(RULES)}; got {rule!r}")
    best = screen_table(pairs).iloc[0]
    return next(p for p in pairs if p[0].run_id == best["advplus_run"])


def confirmation_configs(chosen: TrainConfig, seeds: list[int]) -> list[TrainConfig]:
    """The confirmation's runs: the chosen Adv+ setting and its matched Adv on each of ``seeds``."""
    if chosen.method != "advplus":
        raise ConfigError(f"confirmation: the chosen run must be an Adv+ run; got method {chosen.method!r}")
    out = []
    for seed in seeds:
        plus = dataclasses.replace(chosen, seed=seed)
        out += [plus, plus.matched_control()]
    return out
