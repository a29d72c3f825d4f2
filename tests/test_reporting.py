from pathlib import Path

import pandas as pd
import pytest

from labelaug_core.config import TrainConfig
from labelaug_core.report.paper import relative_change
from labelaug_core.report.average_error import headline_changes
from labelaug_core.runs.collect import method_means
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
        "Adv vs Std, PGD error": 100 * (92 - 62) / 92,
        "Adv vs Std, clean error (negative = worse)": 100 * (11 - 21) / 11,
        "Adv+ vs Std, PGD error": 100 * (92 - 31) / 92,
        "Adv+ vs Std, clean error (negative = worse)": 100 * (11 - 19) / 11,
        "Adv+ vs Adv, PGD error": 100 * (62 - 31) / 62,
        "Adv+ vs Adv, clean error": 100 * (21 - 19) / 21,
        "Adv+ vs Adv, clean per-class SD": 100 * (9 - 6.5) / 9,
        "Adv+ vs Adv, PGD per-class SD": 100 * (16 - 12.5) / 16,
    }
    assert list(table.index) == list(expected)
    for label, value in expected.items():
        assert table.loc[label, "ours_%"] == pytest.approx(value, abs=1e-9), label
    # The paper's column still quotes the paper, not these runs.
    assert table.loc["Adv+ vs Adv, PGD error", "paper_%"] == pytest.approx(53.50, abs=0.005)
    assert table.loc["Adv+ vs Adv, clean per-class SD", "paper_%"] == pytest.approx(5.73, abs=0.01)
    # The paper's Adv+ vs Std changes: 65.23% (PGD), -27.93% (clean), -14.42% (mCE; a column these runs lack).
    assert table.loc["Adv+ vs Std, PGD error", "paper_%"] == pytest.approx(65.23, abs=0.005)
    assert table.loc["Adv+ vs Std, clean error (negative = worse)", "paper_%"] == pytest.approx(-27.93, abs=0.005)
    with_mce = headline_changes(method_means(runs, cols).assign(mce=[60.0, 70.0, 66.0]))
    assert with_mce.loc["Adv+ vs Std, mCE (negative = worse)", "paper_%"] == pytest.approx(-14.42, abs=0.005)
    assert with_mce.loc["Adv+ vs Std, mCE (negative = worse)", "ours_%"] == pytest.approx(-10.0)
    # Per seed: the relative change of each seed's pair, then mean and SD over seeds.
    from labelaug_core.report.comparisons import headline_table, seed_table
    from labelaug_core.report.style import mean_sd_frame
    by_method = {m: [r for r in runs if r.config.method == m] for m in values}
    per_seed = headline_table(by_method)
    drops = [100 * (60 - 30) / 60, 100 * (64 - 32) / 64]
    assert per_seed.loc["Adv+ vs Adv, PGD error", "mean_%"] == pytest.approx(np.mean(drops))
    assert per_seed.loc["Adv+ vs Adv, PGD error", "sd_%"] == pytest.approx(np.std(drops, ddof=1))
    assert per_seed.loc["Adv+ vs Adv, PGD error", "per_seed_%"] == "50.0, 50.0"
    seeds = seed_table(by_method, ("pgd_err",))
    assert seeds.loc["Adv", "pgd_err"] == 62 and seeds.loc["Adv", "pgd_err_sd"] == pytest.approx(2 ** 0.5 * 2)
    assert mean_sd_frame(seeds, ("pgd_err",)).loc["Adv+", "pgd_err"] == "31.00 ± 1.41"
    # Without adv runs, no comparison involving Adv can be made.
    no_adv = headline_changes(method_means([r for r in runs if r.config.method != "adv"], cols))
    assert list(no_adv.index) == ["Adv+ vs Std, PGD error", "Adv+ vs Std, clean error (negative = worse)"]


def test_class_collapse_names_classes_above_the_limit():
    from labelaug_core.report.classwise_error import class_collapse, collapse_sentence

    ok = _run("adv", 0)
    ok.per_class = pd.DataFrame({"name": ["tee", "shirt"], "clean_err": [10.0, 49.9]})
    bad = _run("advplus", 1)
    bad.per_class = pd.DataFrame({"name": ["tee", "shirt"], "clean_err": [10.0, 95.0]})
    assert class_collapse([ok]).empty and "no class has collapsed" in collapse_sentence([ok])
    assert "(the worst: shirt at 49.9% under Adv)" in collapse_sentence([ok])
    table = class_collapse([ok, bad])
    assert table[["method", "seed", "class", "clean_err"]].values.tolist() == [["Adv+", 1, "shirt", 95.0]]
    assert collapse_sentence([ok, bad]).startswith("**Collapsed classes**: shirt exceeds 50% clean error in 1 of 2 runs")


# --- the chapters' computations (labelaug_core.report.tables), on runs made by hand ---------------

import json

import numpy as np

from labelaug_core.evaluation.imagenet import real_errors
from labelaug_core.evaluation.targets import augmented_target_table, target_optimum_table
from labelaug_core.report.classwise_robustness import class_accuracy_table, flow_table
from labelaug_core.report.corruptions import class_mce_table
from labelaug_core.report.defences import class_list, heldout_error_table
from labelaug_core.report.imagenet import real_error_table
from labelaug_core.report.performance import bench_report, has_gpu_result
from labelaug_core.report.temperature import temperature_success_table
from labelaug_core.runs.classwise import weight_norm_tables
from labelaug_core.runs.collect import (
    adversarial_flow_tables,
    delta_summary,
    delta_sweep_runs,
    predictions_by_method,
)
from labelaug_core.runs.defences import bias_choices, defence_rows
from labelaug_core.report.paper import PAPER_SETTING, PAPER_TABLE1, paper_relative_drop
from labelaug_core.report.verdict.reproduction import paper_comparison, setting_table
from labelaug_core.runs.collect import map_run_dirs, map_runs, mean_frames, mean_metric, n_attacked, run_list

CLASS_NAMES = ["tee", "trouser", "coat"]


def hand_run(method: str, seed: int = 0, *, clean=(10.0, 20.0, 30.0), pgd=(40.0, 50.0, 60.0), delta: float = 0.03,
             run_dir: Path | None = None, n_attacked: int = 100, env: dict | None = None) -> Run:
    """A finished run made by hand: 3 classes, per-class clean and PGD error (%)."""
    config = TrainConfig(dataset="fashion-mnist", method=method, seed=seed, delta=delta, epochs=1)
    per_class = pd.DataFrame({"class": range(3), "name": CLASS_NAMES, "clean_err": list(clean),
                              "fgsm_err": list(pgd), "pgd_err": list(pgd)})
    metrics = {"clean_err": float(np.mean(clean)), "pgd_err": float(np.mean(pgd)), "n_attacked": n_attacked,
               "clean_class_sd": float(np.std(clean)), "pgd_class_sd": float(np.std(pgd))}
    return Run(run_dir or Path(f"runs/{method}-{delta}-{seed}"), config, metrics, per_class, pd.DataFrame(), env or {})


def write_run(runs_dir: Path, config: TrainConfig, *, clean, pgd, y=None, adv_pred=None) -> Path:
    """A trained and evaluated run directory as `labelaug train` leaves it (no checkpoint), named by
    config's run id, its evaluation in the cached folder of config's evaluation settings."""
    from labelaug_core.runs.evaluation import evaluation_artifact

    run_dir = runs_dir / config.run_id
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(config.resolved().to_dict()))
    (run_dir / "env.json").write_text("{}")
    pd.DataFrame({"epoch": [1], "train_loss": [1.0], "train_err": [50.0]}).to_csv(run_dir / "history.csv", index=False)
    evaluation = evaluation_artifact(config, run_dir)
    out = evaluation.stem
    out.mkdir(parents=True)
    pd.DataFrame({"class": range(3), "name": CLASS_NAMES, "clean_err": clean, "fgsm_err": pgd,
                  "pgd_err": pgd}).to_csv(out / "per_class.csv", index=False)
    y = np.zeros(1, dtype=np.int64) if y is None else np.asarray(y)
    adv_pred = y if adv_pred is None else np.asarray(adv_pred)
    np.savez(out / "predictions.npz", y=y, clean=y, fgsm=adv_pred, pgd=adv_pred, attacked=np.ones(len(y), bool))
    (out / "metrics.json").write_text(json.dumps({"clean_err": float(np.mean(clean)), "pgd_err": float(np.mean(pgd)),
                                                  "clean_class_sd": 0.0, "pgd_class_sd": 0.0, "n_attacked": len(y)}))
    evaluation.mark_done()
    return run_dir


def test_paper_relative_drop_is_derived_from_table1():
    assert paper_relative_drop() == pytest.approx(53.50, abs=0.005)  # the paper's headline, (70.32 - 32.70) / 70.32
    assert paper_relative_drop() == pytest.approx(100 * (PAPER_TABLE1.loc["adv", "pgd_err"] - PAPER_TABLE1.loc[
        "advplus", "pgd_err"]) / PAPER_TABLE1.loc["adv", "pgd_err"])
    assert paper_relative_drop("std", "adv") == pytest.approx(25.24, abs=0.005)
    assert paper_relative_drop(column="pgd_class_sd") == pytest.approx(2.79, abs=0.005)  # from Table 2
    with pytest.raises(KeyError, match="columns"):
        paper_relative_drop(column="fgsm_err")


def test_run_helpers_flatten_count_average_and_map():
    runs = {"std": [hand_run("std", 0, n_attacked=50), hand_run("std", 1, n_attacked=70)],
            "adv": [hand_run("adv", 0, pgd=(10.0, 20.0, 30.0))]}
    flat = run_list(runs)
    assert [(r.config.method, r.config.seed) for r in flat] == [("std", 0), ("std", 1), ("adv", 0)]
    assert n_attacked(runs["std"]) == 120
    assert mean_metric(runs["adv"] + [hand_run("adv", 1, pgd=(30.0, 40.0, 50.0))], "pgd_err") == pytest.approx(30.0)
    with pytest.raises(ValueError, match="no runs"):
        mean_metric([], "pgd_err")
    calls = []

    def evaluate(run, *, scale):
        calls.append(run.config.seed)
        return run.metrics["pgd_err"] * scale

    assert map_runs(evaluate, runs, scale=2) == {"std": [100.0, 100.0], "adv": [40.0]}
    assert map_runs(evaluate, runs["std"], scale=1) == [50.0, 50.0]
    assert calls == [0, 1, 0, 0, 1]
    assert map_run_dirs(lambda d, suffix: f"{d.name}{suffix}", flat[:2], suffix="!") == {
        flat[0].run_id: f"{flat[0].run_id}!", flat[1].run_id: f"{flat[1].run_id}!"}
    frames = {"a": [pd.DataFrame({"x": [1.0, 3.0]}), pd.DataFrame({"x": [3.0, 5.0]})]}
    assert mean_frames(frames)["a"]["x"].tolist() == [2.0, 4.0]


def test_augmented_target_table_moves_delta_from_the_class_to_the_operation():
    table = augmented_target_table([0.0, 0.1, 0.3], num_classes=10, num_ops=2, label=3)
    assert list(table.columns) == ["class 3", "op 0", "op 1"]
    assert table.index.names == ["δ", "image"] and len(table) == 6
    for d in (0.0, 0.1, 0.3):
        assert table.loc[(d, "clean")].tolist() == pytest.approx([1.0, 0.0, 0.0])
        assert table.loc[(d, "adversarial")].tolist() == pytest.approx([1 - d, d, 0.0])


def test_target_optimum_table_loss_at_the_optimum_is_the_entropy():
    table = target_optimum_table([0.0, 0.03, 0.3], num_classes=10, num_ops=1, label=3)
    assert list(table.index) == [0.0, 0.03, 0.3]
    assert table["loss at the optimum"].to_numpy() == pytest.approx(table["H(t)"].to_numpy(), abs=1e-5)
    assert table.loc[0.3, "H(t)"] == pytest.approx(-(0.7 * np.log(0.7) + 0.3 * np.log(0.3)), abs=1e-6)
    assert table.loc[0.0, "H(t)"] == pytest.approx(0.0, abs=1e-9)
    assert table["softmax on the true class"].to_numpy() == pytest.approx([1.0, 0.97, 0.7], abs=1e-6)


def test_delta_sweep_finds_each_delta_and_summary_averages_seeds(tmp_path):
    settings = {"dataset": "fashion-mnist", "epochs": 1, "train_subset": 100, "test_subset": 30, "delta": 0.03}
    for d, seed, pgd in ((0.0, 0, 60.0), (0.0, 1, 70.0), (0.3, 0, 40.0), (0.3, 1, 50.0)):
        config = TrainConfig.from_dict(settings | {"method": "advplus", "delta": d, "seed": seed})
        write_run(tmp_path, config, clean=[10.0, 20.0, 30.0], pgd=[pgd] * 3)
    sweep = delta_sweep_runs(tmp_path, [0, 1], [0.0, 0.3], **settings)
    assert list(sweep) == [0.0, 0.3]
    assert [(r.config.delta, r.config.seed) for r in sweep[0.3]] == [(0.3, 0), (0.3, 1)]
    summary = delta_summary(sweep)
    assert summary.index.name == "delta" and summary.loc[0.0, "pgd_err"] == 65.0 and summary.loc[0.3, "pgd_err"] == 45.0
    assert summary.loc[0.3, "clean_err"] == 20.0


def test_setting_table_marks_what_differs_from_the_paper():
    config = TrainConfig(dataset="fashion-mnist", method="advplus", epochs=10, batch_size=64, delta=0.03, eps=0.03,
                         lr=0.01).resolved("cpu")
    run = Run(Path("runs/x"), config, {}, pd.DataFrame(), pd.DataFrame(), {"device": "cpu"})
    table = setting_table(run, 1)
    assert list(table.index) == list(PAPER_SETTING)
    assert table.loc["epochs", "same?"] == "same" and table.loc["batch", "same?"] == "same"
    assert table.loc["δ", "same?"] == "same" and table.loc["training images", "same?"] == "same"
    assert table.loc["data set", "same?"] == "DIFFERS" and table.loc["data set", "this profile"] == "fashion-mnist"
    assert table.loc["device", "this profile"] == "cpu" and table.loc["seeds", "this profile"] == "1"
    # What the paper does not state is never called a difference (it once showed "1 vs 1 -> DIFFERS").
    assert table.loc["seeds", "same?"] == "paper silent" and table.loc["ε (train and eval)", "same?"] == "paper silent"
    assert table.loc["share of each batch perturbed", "same?"] == "paper silent"
    assert table.loc["share of each batch perturbed", "this profile"] == "1"


def test_paper_comparison_sets_ours_beside_the_papers_numbers():
    means = pd.DataFrame({"pgd_err": [50.0, 40.0], "clean_class_sd": [9.0, 8.0]}, index=["adv", "advplus"])
    table = paper_comparison(means, ("pgd_err", "clean_class_sd"))
    assert table.loc[("adv", "pgd_err"), "paper"] == 70.32 and table.loc[("adv", "pgd_err"), "ours"] == 50.0
    assert table.loc[("advplus", "clean_class_sd"), "paper"] == 16.76
    assert len(table) == 4


def test_class_mce_table_summarises_each_methods_classes():
    def errors(class_errs):  # one corruption at two severities, per-class errors (%) of 3 classes
        return pd.DataFrame({"corruption": ["noise", "noise"], "severity": [1, 2], "err": [0.0, 0.0],
                             **{f"class_{k}_err": [e, e] for k, e in enumerate(class_errs)}})

    per_class, summary = class_mce_table({"adv": errors([10.0, 40.0, 20.0]), "advplus": errors([5.0, 5.0, 35.0])},
                                           CLASS_NAMES)
    assert list(per_class.index) == CLASS_NAMES and list(per_class.columns) == ["adv", "advplus"]
    assert per_class["adv"].tolist() == [10.0, 40.0, 20.0]
    assert summary.loc["worst", "adv"] == 40.0 and summary.loc["worst class", "adv"] == "trouser"
    assert summary.loc["worst class", "advplus"] == "coat"
    assert summary.loc["mean", "advplus"] == pytest.approx(15.0)
    assert summary.loc["SD", "adv"] == pytest.approx(np.std([10.0, 40.0, 20.0]))


def test_real_error_helpers_split_score_and_regroup():
    runs = {"std": [hand_run("std", 0)], "adv": [hand_run("adv", 0), hand_run("adv", 1)]}
    predictions = {r.run_id: pd.DataFrame({"wrong": [r.config.seed]}) for r in run_list(runs)}
    metrics, tables = real_errors(predictions, score=lambda f: ({"real_err": 10.0 + f["wrong"][0]}, f * 2))
    assert metrics == {r.run_id: {"real_err": 10.0 + r.config.seed} for r in run_list(runs)}
    assert tables[runs["adv"][1].run_id]["wrong"].tolist() == [2]
    table = real_error_table(run_list(runs), metrics)
    assert table.loc[("adv", 1), "real_err"] == 11.0 and table.loc[("std", 0), "clean_err"] == 20.0
    grouped = predictions_by_method(runs, predictions)
    assert list(grouped) == ["std", "adv"] and grouped["adv"][1] is predictions[runs["adv"][1].run_id]


def test_class_accuracy_table_is_100_minus_mean_error():
    runs = {"adv": [hand_run("adv", 0, pgd=(40.0, 50.0, 60.0)), hand_run("adv", 1, pgd=(60.0, 70.0, 80.0))]}
    acc = class_accuracy_table(runs, CLASS_NAMES)
    assert list(acc.columns) == [("Adv", "clean"), ("Adv", "PGD-40")]
    assert acc[("Adv", "PGD-40")].tolist() == [50.0, 40.0, 30.0] and acc[("Adv", "clean")].tolist() == [90.0, 80.0, 70.0]


def test_adversarial_flow_tables_pool_the_seeds(tmp_path):
    base = {"dataset": "fashion-mnist", "method": "adv", "epochs": 1}
    # seed 0: two tees sent to coat; seed 1: one tee to coat, one trouser to tee
    write_run(tmp_path, TrainConfig(**base, seed=0), clean=[0.0] * 3, pgd=[0.0] * 3, y=[0, 0, 1], adv_pred=[2, 2, 1])
    write_run(tmp_path, TrainConfig(**base, seed=1), clean=[0.0] * 3, pgd=[0.0] * 3, y=[0, 0, 1], adv_pred=[2, 0, 0])
    from labelaug_core.runs.store import find_runs

    runs = find_runs(tmp_path, [0, 1], ("adv",), dataset="fashion-mnist", epochs=1)
    matrices, flows = adversarial_flow_tables(runs, CLASS_NAMES, top=5)
    assert matrices["adv"].loc["tee", "coat"] == 75.0 and matrices["adv"].loc["trouser", "tee"] == 50.0
    assert flows["adv"].iloc[0][["true", "sent to", "count"]].tolist() == ["tee", "coat", 3]
    table = flow_table(flows)
    assert table.index.names == ["model", "rank"] and table.loc[("Adv", 1), "sent to"] == "tee"


def test_weight_norm_tables_correlate_robust_accuracy_with_norms():
    runs = {"adv": [hand_run("adv", 0, pgd=(80.0, 50.0, 20.0)), hand_run("adv", 1, pgd=(50.0, 50.0, 50.0))]}
    frames, corr = weight_norm_tables(runs, CLASS_NAMES, norms=lambda run: [1.0, 2.0, 3.0])
    assert frames["adv"]["robust_acc"].tolist() == [20.0, 50.0, 80.0] and frames["adv"]["norm"].tolist() == [1, 2, 3]
    assert corr.loc[("Adv", 0), "pearson_r"] == pytest.approx(1.0)
    assert np.isnan(corr.loc[("Adv", 1), "pearson_r"])  # every class equally robust: no correlation defined


def test_temperature_success_table_one_column_per_model():
    sweep = pd.DataFrame({"temperature": [0.1, 1.0], "success_%": [30.0, 40.0]})
    table = temperature_success_table({"adv": sweep, "advplus": sweep.assign(**{"success_%": [10.0, 20.0]})})
    assert table.index.name == "T" and table.loc[1.0, "Adv"] == 40.0 and table.loc[0.1, "Adv+"] == 10.0


def test_class_list_and_heldout_error_table():
    assert class_list("6,2") == [6, 2] and class_list("") == [] and class_list("3") == [3]
    heldout = [pd.DataFrame({"clean_err": [10.0, 20.0, 30.0], "robust_err": [50.0, 60.0, 70.0]}),
               pd.DataFrame({"clean_err": [30.0, 20.0, 10.0], "robust_err": [70.0, 60.0, 90.0]})]
    table = heldout_error_table(heldout, CLASS_NAMES)
    assert table["clean_err"].tolist() == [20.0, 20.0, 20.0] and table.loc["coat", "robust_err"] == 80.0


def test_bias_choices_and_defence_rows():
    runs = {"std": [hand_run("std")], "adv": [hand_run("adv", 0), hand_run("adv", 1)], "advplus": [hand_run("advplus")]}
    seen = []

    def choose(run, weak_class, biases, *, size, steps, data_dir):
        seen.append((run.config.method, weak_class, size, steps))
        return float(run.config.seed), pd.DataFrame({"bias": biases, "worst_class": [0, 2]})

    chosen, grids = bias_choices(runs, 2, [0.0, 1.0], size=10, steps=3, choose=choose)
    assert grids["worst_class"].tolist() == [0, 2] * 2  # ids here; report.defences.bias_grid_table names them
    assert chosen == {("adv", 0): 0.0, ("adv", 1): 1.0, ("advplus", 0): 0.0}
    assert seen[0] == ("adv", 2, 10, 3) and len(seen) == 3  # std is not adjusted
    assert grids.index.names == ["model", "row"] and list(grids.index.get_level_values(0).unique()) == ["Adv", "Adv+"]
    # With a bias of 0 a run is evaluated as it is: its own per-class table, no model needed.
    zero = {k: 0.0 for k in chosen}
    weighted = {"adv": [hand_run("adv", 0, pgd=(1.0, 2.0, 3.0))], "advplus": [hand_run("advplus", pgd=(4.0, 5.0, 6.0))]}
    rows = defence_rows(runs, weighted, zero, 2, 3, 3.0)
    assert list(rows) == ["Adv", "Adv+", "Adv, loss weight 3", "Adv+, loss weight 3", "Adv, logit bias", "Adv+, logit bias"]
    assert len(rows["Adv"]) == 2 and rows["Adv+, loss weight 3"][0]["pgd_err"].tolist() == [4.0, 5.0, 6.0]
    assert rows["Adv, logit bias"][1]["pgd_err"].tolist() == runs["adv"][1].per_class["pgd_err"].tolist()
    assert "Adv, loss weight 3" not in defence_rows(runs, None, zero, 2, 3, 3.0)


def test_bench_report_shows_every_result_and_the_targets():
    from IPython.display import Markdown

    row = {"case": "labelaug fast", "images_per_s": 100.0, "x_torchattacks.PGD": 1.5, "pct_of_floor": 90.0,
           "tflops_per_s": 1.0, "pct_of_peak": 10.0}
    result = {"date": "2026-01-01T00:00", "env": {"device": "cpu", "cpu_count": 2, "threads": 1, "torch": "2",
                                                  "fast_precision": "fp32"},
              "attacks": [{"model": "small-cnn", "input": [128, 1, 28, 28], "steps": 10, "repeats": 3, "rows": [row]}],
              "epoch": {"steps": 10, "images": 1000, "batch": 128, "repeats": 3, "speedup_vs_reference": 3.0,
                        "rows": [{"case": "fast", "median_s": 1.0, "images_per_s": 1000.0, "pct_of_floor": 80.0}]}}
    items = bench_report({"cpu-a.json": result, "cpu-b.json": result})
    texts = [i.data for i in items if isinstance(i, Markdown)]
    frames = [i for i in items if isinstance(i, pd.DataFrame)]
    assert sum("File `cpu-a.json`" in t for t in texts) == 1 and sum("File `cpu-b.json`" in t for t in texts) == 1
    assert len(frames) == 6  # attack, epoch and targets table of each result
    missed = [t for t in texts if t.startswith("Missed: ")]
    assert len(missed) == 2 and "fast path vs torchattacks.PGD 1.50x (target 3x)" in missed[0]
    assert not has_gpu_result({"a": result})
    assert has_gpu_result({"a": result, "b": result | {"env": result["env"] | {"device": "cuda:0"}}})
