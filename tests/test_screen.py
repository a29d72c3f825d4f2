"""A screen and its pre-registered rule (labelaug_core.runs.screen)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from labelaug_core.config import TrainConfig
from labelaug_core.errors import ConfigError
from labelaug_core.runs.screen import choose, confirmation_configs, matched_pairs, screen_table


def _run(config: TrainConfig, wrong: list[int], n: int = 100):
    mask = np.zeros(n, bool)
    mask[wrong] = True
    return SimpleNamespace(config=config.resolved("cpu"), run_id=f"{config.method}-{config.adv_fraction}-{config.delta}",
                           metrics={"clean_err": 10.0, "operation": {"auroc": 0.7}},
                           error_mask=lambda kind, m=mask: m)


def _screen():
    base = dict(epochs=1, eps=0.03, precision="fp32")
    runs = []
    for fraction in (1.0, 0.5):
        runs.append(_run(TrainConfig(method="adv", adv_fraction=fraction, **base), list(range(20))))
    # gains (pp): f=1: delta 0.03 -> +2, delta 0.3 -> +5; f=0.5: delta 0.03 -> +5 (tie), delta 0.3 -> -1
    for fraction, delta, wrong in ((1.0, 0.03, 18), (1.0, 0.3, 15), (0.5, 0.03, 15), (0.5, 0.3, 21)):
        runs.append(_run(TrainConfig(method="advplus", adv_fraction=fraction, delta=delta, **base), list(range(wrong))))
    return runs


def test_the_rule_takes_the_largest_paired_gain_and_breaks_ties_by_the_smaller_delta():
    pairs = matched_pairs(_screen())
    assert all(adv.config.adv_fraction == plus.config.adv_fraction and adv.config.method == "adv" for plus, adv in pairs)
    table = screen_table(pairs)
    assert table["gain_pp"].tolist() == [5.0, 5.0, 2.0, -1.0]
    assert table.loc[0, ["adv_fraction", "delta"]].tolist() == [0.5, 0.03]  # the tie: smaller delta first
    plus, adv = choose(pairs)
    assert (plus.config.adv_fraction, plus.config.delta, adv.config.adv_fraction) == (0.5, 0.03, 0.5)
    with pytest.raises(ConfigError, match="rule must be one of"):
        choose(pairs, "best-looking")


def test_an_advplus_run_without_its_matched_adv_is_refused():
    runs = [r for r in _screen() if not (r.config.method == "adv" and r.config.adv_fraction == 0.5)]
    with pytest.raises(ConfigError, match="no matched Adv run"):
        matched_pairs(runs)


def test_the_confirmation_trains_the_chosen_setting_and_its_control_on_the_fresh_seeds():
    chosen = TrainConfig(method="advplus", adv_fraction=0.5, delta=0.1, eps=0.01059, seed=0)
    configs = confirmation_configs(chosen, [3, 4, 5])
    assert [(c.method, c.seed) for c in configs] == [("advplus", 3), ("adv", 3), ("advplus", 4), ("adv", 4),
                                                     ("advplus", 5), ("adv", 5)]
    assert all(c.adv_fraction == 0.5 and c.eps == 0.01059 for c in configs)
    assert configs[1] == configs[0].matched_control()
