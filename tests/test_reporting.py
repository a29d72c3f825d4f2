from pathlib import Path

import pandas as pd
import pytest

from labelaug_core.config import TrainConfig
from labelaug_core.report.tables import headline_changes, method_means, relative_change
from labelaug_core.runs.store import Run


def test_relative_change_reproduces_the_papers_headline_numbers():
    assert relative_change(94.06, 70.32) == pytest.approx(25.24, abs=0.005)
    assert relative_change(20.87, 32.18) == pytest.approx(-54.19, abs=0.005)
    assert relative_change(70.32, 32.70) == pytest.approx(53.50, abs=0.005)
    assert relative_change(17.78, 16.76) == pytest.approx(5.73, abs=0.01)  # the paper truncates 5.737
    assert relative_change(15.24, 14.04) == pytest.approx(7.87, abs=0.005)
    assert relative_change(15.77, 15.33) == pytest.approx(2.79, abs=0.005)


def _run(method: str, seed: int, **metrics) -> Run:
    config = TrainConfig(method=method, seed=seed, delta=0.03 if method == "advplus" else 0.0)
    return Run(Path(f"runs/{method}-{seed}"), config, metrics, pd.DataFrame(), pd.DataFrame(), {})


def test_headline_changes_of_runs_built_here():
    # Two seeds per method; their means: std pgd 92, clean 11; adv pgd 62, clean 21, clean SD 9,
    # PGD SD 16; advplus pgd 31, clean 19, clean SD 6.5, PGD SD 12.5.
    cols = ("clean_err", "pgd_err", "clean_class_sd", "pgd_class_sd")
    values = {"std": [(10, 90, 14, 4), (12, 94, 16, 6)], "adv": [(20, 60, 8, 15), (22, 64, 10, 17)],
              "advplus": [(18, 30, 6, 12), (20, 32, 7, 13)]}
    runs = [_run(m, seed, **dict(zip(cols, v))) for m, rows in values.items() for seed, v in enumerate(rows)]
    table = headline_changes(method_means(runs, cols))
    expected = {  # (before - after) / before, in percent, from the means above
        "Adv vs Std, PGD error (drop)": 100 * (92 - 62) / 92,
        "Adv vs Std, clean error (drop; negative = worse)": 100 * (11 - 21) / 11,
        "Adv+ vs Adv, PGD error (drop)": 100 * (62 - 31) / 62,
        "Adv+ vs Adv, clean error (drop)": 100 * (21 - 19) / 21,
        "Adv+ vs Adv, clean per-class SD (drop)": 100 * (9 - 6.5) / 9,
        "Adv+ vs Adv, PGD per-class SD (drop)": 100 * (16 - 12.5) / 16,
    }
    assert list(table.index) == list(expected)
    for label, value in expected.items():
        assert table.loc[label, "ours_%"] == pytest.approx(value, abs=1e-9), label
    # The paper's column still quotes the paper, not these runs.
    assert table.loc["Adv+ vs Adv, PGD error (drop)", "paper_%"] == pytest.approx(53.50, abs=0.005)
    assert table.loc["Adv+ vs Adv, clean per-class SD (drop)", "paper_%"] == pytest.approx(5.73, abs=0.01)
    # Without adv runs, no comparison involving Adv can be made.
    assert headline_changes(method_means([r for r in runs if r.config.method != "adv"], cols)).empty


def test_error_difference_counts_standard_errors():
    from labelaug_core.report.tables import error_difference

    d = error_difference(37.9, 37.3, 1000)  # the default profile's Adv vs Adv+ size of effect
    assert d["gain"] == pytest.approx(0.6)
    assert d["se"] == pytest.approx(((37.9 * 62.1 + 37.3 * 62.7) / 1000) ** 0.5)
    assert d["outcome"] == "within noise"
    assert error_difference(70.32, 32.70, 1000)["outcome"] == "lower"  # the paper's gain: many SEs
    assert error_difference(32.70, 70.32, 1000)["outcome"] == "higher"
    assert error_difference(50.0, 50.0, 10)["se"] == pytest.approx((2 * 2500 / 10) ** 0.5)
    with pytest.raises(ValueError, match="n must be >= 1"):
        error_difference(1.0, 2.0, 0)
