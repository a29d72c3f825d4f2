"""The chapters' generated paragraphs (labelaug_core.report.interpret) against hand-made inputs
whose right wording is known."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from labelaug_core.report.attacks import error_curve_paragraph, largest_radius_sentence
from labelaug_core.report.classwise_error import classwise_paragraph
from labelaug_core.report.corruptions import corruption_paragraph
from labelaug_core.report.defences import defence_summary
from labelaug_core.report.delta import delta_tradeoff_paragraph
from labelaug_core.report.imagenet import imagenet_paragraph
from labelaug_core.report.performance import bench_paragraph
from labelaug_core.report.targets import entropy_floor, training_paragraph


def _rows(key, values, pgd, fgsm, other):
    fixed = {"eps": ("steps", other), "steps": ("eps", other)}[key]
    return [{key: v, fixed[0]: fixed[1], "pgd_err": p, "fgsm_err": f} for v, p, f in zip(values, pgd, fgsm)]


def test_error_curve_sound_attack():
    eps_rows = _rows("eps", [0.0, 0.1, 0.3], [8.0, 80.0, 100.0], [8.0, 60.0, 90.0], 10)
    step_rows = _rows("steps", [1, 10], [50.0, 70.0], [40.0, 40.0], 0.1)
    text = error_curve_paragraph(eps_rows, step_rows)
    assert "Without an attack (ε = 0) the Std model errs on **8.0%**" in text
    assert "at ε = 0.3, PGD-10 raises this to **100.0%** and FGSM to 90.0%" in text
    assert "rises (or stays) with every larger ε" in text
    assert "at least as strong as FGSM at every radius" in text
    assert "PGD misclassifies every image (100%)" in text
    assert "PGD-1 errs on 50.0% and PGD-10 on 70.0% (+20.0 pp)" in text
    assert "fewer" not in text


def test_error_curve_flags_unsound_attack():
    # Unsorted input; error falls from 0.1 to 0.2, PGD below FGSM at 0.2, never reaches 95%.
    eps_rows = _rows("eps", [0.2, 0.0, 0.1], [40.0, 5.0, 50.0], [45.0, 5.0, 30.0], 10)
    step_rows = _rows("steps", [20, 5, 10], [30.0, 40.0, 35.0], [0.0, 0.0, 0.0], 0.1)
    text = error_curve_paragraph(eps_rows, step_rows, model="Adv")
    assert "the Adv model" in text
    assert "*falls* as ε grows from 0.1 → 0.2" in text
    assert "*below* FGSM at ε = 0.2" in text
    assert "PGD misclassifies only 40.0% of the images" in text  # at the largest radius, 0.2
    assert "{numref}`ch-trustworthy-evaluation`" in text
    assert "PGD-5 errs on 40.0% and PGD-20 on 30.0% (-10.0 pp)" in text
    assert "*fewer* adversarial images from 5 → 10 and 10 → 20 steps" in text


@pytest.mark.parametrize("err, words", [(100.0, "every image (100%)"), (99.96, "every image (100%)"),
                                         (97.25, "97.2% of the images, close to the 100%"),
                                         (95.0, "95.0% of the images, close to"), (94.9, "only 94.9%")])
def test_largest_radius_sentence_states_the_number_shown(err, words):
    assert words in largest_radius_sentence(err)


def test_entropy_floor():
    assert entropy_floor(0.0) == 0.0
    assert entropy_floor(0.5) == pytest.approx(math.log(2))
    assert entropy_floor(0.03) == pytest.approx(-(0.97 * math.log(0.97) + 0.03 * math.log(0.03)))
    with pytest.raises(ValueError):
        entropy_floor(1.0)


def _run(losses, errs, delta=0.03):
    history = pd.DataFrame({"epoch": range(1, len(losses) + 1), "train_loss": losses, "train_err": errs})
    return SimpleNamespace(history=history, config=SimpleNamespace(delta=delta))


def test_training_paragraph_means_last_epoch_and_floor():
    runs = {"std": [_run([1.0, 0.4], [30.0, 10.0])],
            "adv": [_run([2.0, 1.2], [70.0, 50.0]), _run([2.0, 1.0], [70.0, 40.0])],
            "advplus": [_run([2.0, 1.5], [70.0, 45.0])]}
    text = training_paragraph(runs)
    floor = entropy_floor(0.03)
    assert text.startswith("After 2 epochs: Std loss 0.400 nats, training error 10.0%; Adv loss 1.100 nats, "
                           "training error 45.0%; Adv+ loss 1.500 nats")
    assert f"H(t) = {floor:.3f} nats" in text
    assert f"above that floor its loss is {1.5 - floor:.3f} nats, against Adv's 1.100 nats." in text


def _per_class_frame():
    rows = []
    errs = {"Adv": {"shirt": [60.0, 70.0], "bag": [10.0, 20.0], "coat": [40.0, 40.0]},
            "Adv+": {"shirt": [50.0, 50.0], "bag": [5.0, 5.0], "coat": [55.0, 55.0]}}
    for method, by_class in errs.items():
        for name, values in by_class.items():
            for seed, err in enumerate(values):
                rows.append({"method": method, "class": name, "metric": "pgd_err", "err": err, "seed": seed})
                rows.append({"method": method, "class": name, "metric": "clean_err", "err": 1.0, "seed": seed})
    return pd.DataFrame(rows)


def test_classwise_paragraph():
    table2 = pd.DataFrame({("ours", "pgd_class_sd"): [20.0, 18.0], ("paper", "pgd_class_sd"): [15.77, 15.33]},
                          index=["Adv", "Adv+"])
    text = classwise_paragraph(_per_class_frame(), table2)
    assert "**Adv**: weakest class **shirt** (65.0%), strongest class bag (15.0%), a gap of 50.0 pp." in text
    assert "**Adv+**: weakest class **coat** (55.0%), strongest class bag (5.0%), a gap of 50.0 pp." in text
    assert "weakest classes differ (coat and shirt)" in text
    assert "PGD-40 errors changes by -2.00 pp here, the same direction as the paper's -0.44 pp" in text
    table2[("ours", "pgd_class_sd")] = [18.0, 20.0]
    assert "the opposite direction to" in classwise_paragraph(_per_class_frame(), table2)


def test_sd_direction_is_judged_on_clean_and_pgd_together():
    from labelaug_core.report.classwise_error import sd_direction_lines

    table2 = pd.DataFrame({("ours", "clean_class_sd"): [10.0, 11.0], ("paper", "clean_class_sd"): [8.0, 7.5],
                           ("ours", "pgd_class_sd"): [20.0, 18.0], ("paper", "pgd_class_sd"): [15.77, 15.33]},
                          index=["Adv", "Adv+"])
    lines = sd_direction_lines(table2)
    assert "per-class clean errors changes by +1.00 pp here, the opposite direction to the paper's -0.50 pp" in lines[0]
    assert "per-class PGD-40 errors changes by -2.00 pp here, the same direction as the paper's -0.44 pp" in lines[1]
    assert lines[2].startswith("Only the PGD-40 SD moves as in the paper")
    table2[("ours", "clean_class_sd")] = [11.0, 10.0]
    assert sd_direction_lines(table2)[2] == "Both SDs move as in the paper."
    table2[("ours", "clean_class_sd")] = [10.0, 11.0]
    table2[("ours", "pgd_class_sd")] = [18.0, 20.0]
    assert sd_direction_lines(table2)[2] == "Neither SD moves as in the paper."
    assert sd_direction_lines(table2.drop(index="Adv")) == []


def test_classwise_paragraph_ties():
    frame = _per_class_frame()
    adv = (frame["method"] == "Adv") & (frame["metric"] == "pgd_err")
    frame.loc[adv, "err"] = 100.0  # every class of Adv at 100%
    frame.loc[(frame["method"] == "Adv+") & (frame["class"] == "shirt") & (frame["metric"] == "pgd_err"), "err"] = 55.0
    text = classwise_paragraph(frame, pd.DataFrame())
    assert "**Adv**: every class at 100.0%, so no class is weaker than another." in text
    assert "**Adv+**: weakest 2 classes tied at 55.0% (shirt and coat), strongest class bag (5.0%)" in text
    assert "no single weakest class can be named" in text
    assert "SD" not in text  # no Table 2 given


def test_delta_tradeoff_paragraph():
    summary = pd.DataFrame({"clean_err": [10.0, 9.0, 11.0, 12.0], "pgd_err": [60.0, 55.0, 50.0, 45.0]},
                           index=pd.Index([0.3, 0.0, 0.03, 0.1], name="delta"))
    text = delta_tradeoff_paragraph(summary)
    assert "Lowest PGD-40 error at δ = **0.1** (45.00%), lowest clean error at δ = **0** (9.00%)." in text
    assert "From δ = 0 to δ = 0.3, PGD-40 error moves by +5.00 pp and clean error by +1.00 pp." in text
    # ranks of δ 1..4 against ranks of PGD error 3, 2, 1, 4: ρ = 1 - 6 * 8 / (4 * 15) = 0.2
    assert "shows no steady trend in δ (Spearman ρ = 0.20)" in text
    assert "The paper's δ = 0.03 ranks 2 of 4 by PGD-40 error." in text
    falling = pd.DataFrame({"clean_err": [9.0, 10.0, 11.0], "pgd_err": [60.0, 50.0, 40.0]}, index=[0.0, 0.01, 0.1])
    assert "falls as δ grows (Spearman ρ = -1.00)" in delta_tradeoff_paragraph(falling)
    tied = pd.DataFrame({"clean_err": [9.0, 9.0, 11.0], "pgd_err": [60.0, 50.0, 50.0]}, index=[0.0, 0.01, 0.1])
    assert ("Lowest PGD-40 error at δ = **0.01 and 0.1** (50.00%), lowest clean error at δ = **0 and 0.01** "
            "(9.00%).") in delta_tradeoff_paragraph(tied)


def _corruption_table(base):
    rows = []
    for corruption, extra in (("gaussian_noise", 20.0), ("fog", 0.0)):
        for severity in (1, 2, 3):
            rows.append({"corruption": corruption, "severity": severity, "err": base + extra + 10.0 * severity})
    return pd.DataFrame(rows)


def test_corruption_paragraph():
    tables = {"std": _corruption_table(0.0), "adv": _corruption_table(20.0), "advplus": _corruption_table(10.0)}
    text = corruption_paragraph(tables)
    # mCE: mean over corruptions of the mean over severities = base + 10 + 20
    assert text.startswith("By mCE: Std (30.00%) < Adv+ (40.00%) < Adv (50.00%). This is the paper's order.")
    assert ("**Std**: hardest corruption **gaussian_noise** (CE 40.0%), mildest fog (20.0%); from severity 1 to 3 "
            "the error rises from 20.0% to 40.0%.") in text
    falling = _corruption_table(0.0)
    falling["err"] = 100.0 - falling["err"]
    assert "from severity 1 to 3 the error falls from 80.0% to 60.0%" in corruption_paragraph({"std": falling})
    tables["std"] = _corruption_table(40.0)
    assert "The paper's order is Std < Adv+ < Adv: this profile differs." in corruption_paragraph(tables)


def test_imagenet_paragraph():
    real = pd.DataFrame({"method": ["std", "std", "adv"], "seed": [0, 1, 0], "clean_err": [20.0, 22.0, 30.0],
                         "real_err": [18.0, 19.0, 28.0]}).set_index(["method", "seed"])
    ratios = pd.DataFrame({"pose": [1.5, 0.9], "style": [0.8, 2.0], "texture": [float("nan"), 1.1]},
                          index=["std", "adv"])
    text = imagenet_paragraph(real, ratios)
    assert ("**Std**: ReaL error 18.50% against 21.00% with the original labels (-2.50 pp); hardest ImageNet-X "
            "factor **pose** (error ratio 1.50), 1 of 2 factors above 1.") in text
    assert "**Adv**: ReaL error 28.00% against 30.00%" in text
    assert "factor **style** (error ratio 2.00), 2 of 3 factors above 1." in text


def test_defence_summary():
    cols = ["clean_avg_acc", "robust_avg_acc", "robust_worst_acc", "robust_sd"]
    table = pd.DataFrame([[80.0, 50.0, 20.0, 10.0], [82.0, 52.0, 22.0, 9.0], [78.0, 49.0, 30.0, 8.0],
                          [81.0, 52.5, 25.0, 9.0], [82.3, 46.7, 20.1, float("nan")]],
                         index=["Adv", "Adv+", "Adv, loss weight 3", "Adv+, logit bias", "AT (peers)"], columns=cols)
    text = defence_summary(table)
    assert ("**Adv, loss weight 3**: +10.0 pp of worst-class robust accuracy over Adv, at -2.0 pp of class-mean "
            "clean and -1.0 pp of class-mean robust accuracy.") in text
    table.loc["Adv, loss weight 3", "robust_worst_acc"] = 15.0
    table.loc["Adv+, logit bias", "robust_worst_acc"] = 21.0
    assert "None of the defences" in defence_summary(table)
    assert "the best, Adv+, logit bias, changes it by -1.0 pp" in defence_summary(table)
    assert defence_summary(table.loc[["Adv", "Adv+"]]) == "No defence was evaluated."


def _bench(cpu, speedup, date):
    attacks = [{"model": "small-cnn", "rows": [
        {"case": "labelaug fast", "x_torchattacks.PGD": speedup, "pct_of_floor": 99.0},
        {"case": "torchattacks.PGD", "x_torchattacks.PGD": 1.0, "pct_of_floor": 100.0}]}]
    epoch = {"steps": 10, "rows": [{"case": "labelaug train", "median_s": 2.0, "pct_of_floor": 95.0},
                                   {"case": "reference loop", "median_s": 5.0, "pct_of_floor": 40.0}]}
    return {"env": {"device": "cpu", "cpu": cpu, "threads": 1}, "date": date, "attacks": attacks, "epoch": epoch}


def test_bench_paragraph():
    results = {"a.json": _bench("AMD EPYC", 2.5, "2026-11-22T10:00"), "b.json": _bench("Xeon", 3.7, "2026-12-01")}
    text = bench_paragraph(results)
    assert ("**AMD EPYC, 1 thread(s)** (2026-11-22): PGD-10 fast path vs torchattacks.PGD: small-cnn 2.5x (99% of "
            "floor); a PGD-10 training epoch 2.5x faster than the reference loop, at 95% of its floor.") in text
    assert "ranges from 2.5x to 3.7x across the 2 results" in text
    assert "ranges" not in bench_paragraph({"a.json": results["a.json"]})
