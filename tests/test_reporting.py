import pytest

from labelaug_core.report.tables import PAPER_TABLE1, PAPER_TABLE2, headline_changes, relative_change


def test_relative_change_reproduces_the_papers_headline_numbers():
    assert relative_change(94.06, 70.32) == pytest.approx(25.24, abs=0.005)
    assert relative_change(20.87, 32.18) == pytest.approx(-54.19, abs=0.005)
    assert relative_change(70.32, 32.70) == pytest.approx(53.50, abs=0.005)
    assert relative_change(17.78, 16.76) == pytest.approx(5.73, abs=0.01)  # the paper truncates 5.737
    assert relative_change(15.24, 14.04) == pytest.approx(7.87, abs=0.005)
    assert relative_change(15.77, 15.33) == pytest.approx(2.79, abs=0.005)


def test_headline_changes_of_the_papers_own_tables():
    means = PAPER_TABLE1.join(PAPER_TABLE2)
    table = headline_changes(means)
    assert table.loc["Adv+ vs Adv, PGD error (drop)", "ours_%"] == pytest.approx(53.50, abs=0.005)
    assert table.loc["Adv+ vs Adv, clean per-class SD (drop)", "paper_%"] == pytest.approx(5.73, abs=0.01)
    assert (table["ours_%"] - table["paper_%"]).abs().max() < 1e-9


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
