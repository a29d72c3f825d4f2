"""labelaug_core.report.chapter_text: the chapters' prose from hand-made numbers, and code lines that
fit the book's code box (no code line of a notebook longer than 88 characters)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labelaug_core.config import TrainConfig
from labelaug_core.report.average_error import average_error_setting
from labelaug_core.report.classwise_robustness import classwise_setting
from labelaug_core.report.imagenet import factor_error_intro, imagenet_missing_text, real_error_intro
from labelaug_core.report.performance import no_gpu_result_text
from labelaug_core.report.trustworthy import own_error_reference, strong_eval_setting

REPO = Path(__file__).resolve().parents[1]
WIDTH = 88  # characters per code line (ruff's line length; tools/tidy_notebooks.py WIDTH)


@pytest.fixture
def cfg() -> TrainConfig:
    return TrainConfig(dataset="fashion-mnist", method="advplus", epochs=3, eps=0.125, delta=0.05,
                       steps=7, eval_steps=20, precision="fp32").resolved("cpu")


def test_average_error_setting_states_every_setting(cfg):
    text = average_error_setting(cfg, 321, [0, 1, 2])
    assert text == ("Data set **fashion-mnist**, model **small-cnn**, all training images for 3 epochs, "
                    "ε = 0.125 (pixel units), PGD-7 training with every training image perturbed, PGD-20 "
                    "evaluation on 321 test images, δ = 0.05, seeds [0, 1, 2].")
    mixed = dataclasses.replace(cfg, adv_fraction=0.5, train_subset=10_000)
    assert "10,000 training images for 3 epochs" in average_error_setting(mixed, 321, [0])
    assert "PGD-7 training with 50% of each batch perturbed, the rest clean" in average_error_setting(mixed, 321, [0])
    assert "seeds [4]." in average_error_setting(cfg, 321, (4,))  # a tuple is listed as a list


def test_classwise_setting_states_the_evaluation(cfg):
    assert classwise_setting(cfg, 64, [1]) == (
        "Data set **fashion-mnist**, model **small-cnn**, ε = 0.125, PGD-20 on the first 64 test images, "
        "seeds [1].")


def test_strong_eval_setting_states_each_attacks_budget(cfg):
    text = strong_eval_setting(cfg, 50, [0, 1], apgd_steps=25, n_target_classes=3, pgd_restarts=2,
                               square_queries=400)
    assert text.startswith("Data set **fashion-mnist**, model **small-cnn**, ε = 0.125, 50 test images per seed, "
                           "seeds [0, 1]; ")
    assert "APGD 25 steps, APGD-T 3 targets, PGD-40 with 2 restarts; Square check 400 queries (AutoAttack: 5000)." \
        in text
    one = strong_eval_setting(cfg, 50, [0], apgd_steps=25, n_target_classes=3, pgd_restarts=1, square_queries=400)
    assert "PGD-40 with 1 restart; Square" in one


def _ensemble(first: float, all_logits: float, worst: float) -> pd.Series:
    return pd.Series({"Adv": 70.0, "Adv+": first, "Adv+ (all K+M logits)": all_logits,
                      "Adv+ (worst of both)": worst}, name="ensemble_err")


def test_own_error_reference_gives_errors_with_two_decimals_and_signed_changes():
    own = pd.Series({"std": 91.234, "adv": 55.5, "advplus": 48.125})
    text = own_error_reference(own, 200, _ensemble(60.0, 62.5, 63.25))
    assert "PGD-40 evaluation (200 images, another random start)" in text
    assert "Std 91.23%, Adv 55.50%, Adv+ 48.12%." in text
    assert "changes Adv+'s ensemble error by +2.50 pp;" in text
    assert "taking the worst of both adds 3.25 pp to the first-K ensemble error." in text
    lower = own_error_reference(own, 200, _ensemble(60.0, 58.75, 60.0))
    assert "changes Adv+'s ensemble error by -1.25 pp;" in lower and "adds 0.00 pp" in lower


def test_own_error_reference_reads_the_verdict_tables_rows_by_label():
    table = pd.DataFrame({"ensemble_err": [60.0, 61.0, 64.0]},
                         index=["Adv+ (worst of both)", "Adv+", "Adv+ (all K+M logits)"])
    text = own_error_reference({"std": 1.0, "adv": 2.0, "advplus": 3.0}, 10, table["ensemble_err"])
    assert "by +3.00 pp" in text and "adds -1.00 pp" in text


def test_imagenet_missing_text_names_the_data_set_and_the_profile_that_fills_the_chapter():
    text = imagenet_missing_text("cifar10")
    assert text.startswith("**This profile's data set is cifar10, so this chapter has nothing to show.**")
    assert "no cifar10 counterpart exists" in text
    assert "`labelaug book --profile imagenet-gpu`" in text
    assert imagenet_missing_text("svhn") != text


def test_real_error_intro_counts_the_evaluated_images():
    text = real_error_intro(n_real=4650, n_excluded=350)
    assert text.startswith("## ReaL error\n\n")
    assert "clean predictions on the 5000 validation images" in text
    assert "4650 images have a ReaL set, 350 have none and are left out" in text
    assert text.endswith("Overall error (%), per run:")


def test_factor_error_intro_words_which_factor_counts_and_lists_the_counts():
    counts = pd.Series({"pose": 12.0, "background": 3, "style": 0})
    top, multi = factor_error_intro(counts, "top"), factor_error_intro(counts, "multi")
    assert top.startswith("## ImageNet-X: error per factor (Figure 3)\n\n")
    assert "images whose main factor is each of the 16" in top
    assert "images whose marked factor is each of the 16" in multi
    assert top != multi and top.replace("main factor", "marked factor") == multi
    assert "be trusted: pose 12, background 3, style 0. The paper gives" in top


def test_no_gpu_result_text_is_a_gpu_section_naming_the_result_file():
    text = no_gpu_result_text()
    assert text.startswith("## GPUs\n\nNo GPU result yet")
    assert "`benchmarks/results/cuda-<gpu>-<date>.json`" in text
    assert "\n#" not in text.split("\n\n", 1)[1]  # one heading, then prose


def long_code_lines(notebook: dict, width: int = WIDTH) -> list[tuple[int, int, str]]:
    """(cell index, line number from 1, line) of every code-cell line longer than ``width``."""
    found = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        found += [(index, number, line) for number, line in enumerate(source.splitlines(), 1) if len(line) > width]
    return found


def test_long_code_lines_finds_a_long_line_in_code_cells_only():
    long = "x = " + "1 + " * 30 + "1"
    notebook = {"cells": [{"cell_type": "markdown", "source": [long]},
                          {"cell_type": "code", "source": ["y = 1\n", long + "\n", "z = 2"]},
                          {"cell_type": "code", "source": ["w = " + "2" * (WIDTH - 4)]}]}
    assert long_code_lines(notebook) == [(1, 2, long)]


@pytest.mark.parametrize("path", sorted((REPO / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_no_notebook_code_line_is_longer_than_the_code_box(path):
    found = long_code_lines(json.loads(path.read_text()))
    assert not found, "\n".join(f"{path.name}: cell {index}, line {number} ({len(line)} > {WIDTH} characters): "
                                f"{line.strip()[:60]!r}" for index, number, line in found)


def _comparison(n, only_a, only_b):
    from labelaug_core.evaluation.paired import compare_methods

    a, b = np.zeros(n, bool), np.zeros(n, bool)
    a[:only_a], b[only_a:only_a + only_b] = True, True
    return compare_methods([a], [b])


def test_significance_across_chapters_states_both_comparisons_and_says_whether_they_agree():
    from labelaug_core.report.trustworthy import significance_across_chapters

    own, here, ens = _comparison(1000, 30, 17), _comparison(500, 25, 8), _comparison(500, 30, 12)
    text = significance_across_chapters(own, here, ens)
    p_own, p_here = own["per_seed"][0]["p_value"], here["per_seed"][0]["p_value"]
    assert p_own > 0.05 and p_here < 0.05
    assert (f"in {{numref}}`ch-average-error` (the runs' own PGD-40 evaluation): Adv − Adv+ = +1.30 pp of error on "
            f"1,000 images per seed, McNemar p = {p_own:.3g}: **within noise**") in text
    assert (f"in this chapter's PGD-40 (another random start): Adv − Adv+ = +3.40 pp of error on 500 images per "
            f"seed, McNemar p = {p_here:.3g}: **Adv+ lower, beyond the noise**") in text
    assert "**The verdicts differ**" in text and "the first 500 of 1,000 images" in text
    assert "stronger attack" in text and "false positive" in text and f"(here {p_own:.3g})" in text
    # both beyond the noise, far from 0.05: they agree, and nothing more is said
    agree = significance_across_chapters(_comparison(1000, 60, 17), _comparison(500, 45, 8))
    assert agree.endswith("**Adv+ lower, beyond the noise**. The verdicts agree.")
    # both within noise
    none = significance_across_chapters(_comparison(1000, 10, 10), _comparison(500, 5, 6))
    assert none.count("**within noise**") == 2 and none.endswith("The verdicts agree.")
    # agreeing, but a p-value near 0.05: the text says they need not have
    near = significance_across_chapters(_comparison(1000, 30, 14), _comparison(500, 25, 8))
    assert "The verdicts agree. They need not have:" in near and "The verdicts differ" not in near
