import pytest

from labelaug_core.reporting import PAPER_TABLE1, PAPER_TABLE2, headline_changes, relative_change


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
