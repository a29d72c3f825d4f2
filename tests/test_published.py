"""Published results: `labelaug publish` copies a plan's small files (never a checkpoint) with a
manifest, the book reads them back by name, and the verdict over seeds and protocols is computed
from them."""
import json

import numpy as np
import pytest

from labelaug_core.book.plan import read_plan
from labelaug_core.cli import main
from labelaug_core.errors import ConfigError
from labelaug_core.report.verdict.reproduction import (
    per_seed_errors,
    protocol_verdicts,
    protocols_paragraph,
    seed_summary_table,
    settings_comparison,
    source_sentence,
    verdict_statistics,
)
from labelaug_core.runs.published import load_published, publish
from labelaug_core.runs.store import load_run

PLAN = """
description: two seeds, both protocols, tiny
settings: {dataset: fashion-mnist, epochs: 1, train_subset: 300, test_subset: 100, eval_subset: 30,
           batch_size: 50, steps: 2, eval_steps: 3}
seeds: [0, 1]
runs:
  - method: [std, adv, advplus]
  - method: [adv, advplus]
    init_from: std
    finetune_epochs: 1
    finetune_lr: 0.01
"""


@pytest.fixture(scope="module")
def published(tmp_path_factory, data_root):
    root = tmp_path_factory.mktemp("published")
    (root / "plan.yaml").write_text(PLAN)
    plan = read_plan(root / "plan.yaml")
    publish(plan, root / "results", strong_subset=20, runs_dir=root / "runs", data_dir=data_root, progress=False,
            command="labelaug publish --plan plan.yaml", apgd_steps=5, pgd_restarts=1, n_target_classes=2)
    return plan, root


def test_publish_copies_the_small_files_in_plan_order_and_never_a_checkpoint(published):
    plan, root = published
    manifest = json.loads((root / "results" / "manifest.json").read_text())
    assert manifest["runs"] == [c.run_id for c in plan.runs] and len(plan.runs) == 10
    assert manifest["command"] == "labelaug publish --plan plan.yaml" and manifest["strong_subset"] == 20
    assert not list((root / "results").rglob("checkpoint.pt"))
    for config in plan.runs:
        names = {p.name for p in (root / "results" / config.run_id).iterdir()}
        assert {"config.json", "metrics.json", "per_class.csv", "predictions.npz", "strong-classes.npz"} <= names
        assert ("strong-all.npz" in names) == (config.method == "advplus")
        original, copy = load_run(root / "runs" / config.run_id), load_run(root / "results" / config.run_id)
        assert original.metrics == copy.metrics
        np.testing.assert_array_equal(original.error_mask("pgd"), copy.error_mask("pgd"))


def test_published_results_read_back_by_name_with_the_ensemble_masks(published):
    plan, root = published
    pub = load_published(root / "results")
    assert [r.run_id for r in pub.runs] == [c.run_id for c in plan.runs]
    assert [r.config.seed for r in pub.select("adv", "std")] == [0, 1]
    assert all(r.config.init_from == "" for r in pub.select("advplus"))
    for run in pub.runs:
        strong = pub.strong[run.run_id]["classes"]
        assert len(strong.y) == 20
        # the ensemble's images are the first 20 of the run's own attacked images, in the same order
        np.testing.assert_array_equal(strong.y, run.predictions().y[run.predictions().attacked][:20])
        assert (strong.wrong["ensemble"] >= strong.wrong["pgd-40"]).all()


def test_the_verdict_over_seeds_covers_both_protocols_with_paired_statistics(published):
    _, root = published
    pub = load_published(root / "results")
    verdicts = protocol_verdicts(pub)
    assert list(verdicts) == ["from scratch", "fine-tuned from Std"]
    for v in verdicts.values():
        assert v["seeds"] == 2 and v["n"] == 20 and len(v["ensemble"]["per_seed"]) == 2
    per_seed = per_seed_errors(pub)
    assert len(per_seed) == 10 and per_seed["worst_class_clean_err"].between(0, 100).all()
    adv = per_seed[(per_seed.protocol == "from scratch") & (per_seed.method == "Adv")]
    table = seed_summary_table(pub)
    assert list(table.columns[:3]) == ["clean_err (100 images)", "pgd40_err (30 images)", "ensemble_err (20 images)"]
    mean, sd = (float(t) for t in table.loc[("from scratch", "Adv"), "clean_err (100 images)"].split(" ± "))
    assert mean == pytest.approx(adv.clean_err.mean(), abs=0.006) and sd == pytest.approx(adv.clean_err.std(), abs=0.006)
    stats = verdict_statistics(verdicts)
    assert len(stats) == 4 and stats["seeds"].eq(2).all()
    # PGD-40 pairs every image the runs' own evaluation attacked (30), the ensemble its 20
    assert stats["n_per_seed"].tolist() == [30, 20, 30, 20]
    scratch = verdicts["from scratch"]["pgd40"]
    adv_runs, plus_runs = pub.select("adv"), pub.select("advplus")
    assert scratch["per_seed"][0]["err_a"] == pytest.approx(100 * adv_runs[0].error_mask("pgd").mean())
    assert scratch["per_seed"][1]["err_b"] == pytest.approx(plus_runs[1].metrics["pgd_err"])
    text = protocols_paragraph(pub, verdicts)
    assert "From scratch" in text and "Fine-tuned from std" in text and "50%" in text
    assert "labelaug publish --plan plan.yaml" in source_sentence(pub)
    table = settings_comparison(pub, {"dataset": "fashion-mnist", "epochs": 5, "batch_size": 50, "delta": 0.03})
    # `verdict vs paper`: DIFFERS only where the paper states a value and the runs use another
    assert table.loc["epochs"].tolist() == ["–", "1", "5", ""] and table.loc["batch_size", "verdict vs paper"] == "DIFFERS"
    assert table.loc["steps", "paper"] == "10" and table.loc["steps", "verdict runs"] == "2"
    assert table.loc["eps", "verdict runs"].endswith("(pixel units)") and "units not stated" in table.loc["eps", "paper"]
    assert table.loc["eps", "verdict vs paper"] == "DIFFERS"
    assert table.loc["finetune_epochs", "verdict runs"] == "1" and table.loc["delta", "verdict vs paper"] == ""


def test_missing_published_results_say_how_to_make_them(tmp_path):
    with pytest.raises(ConfigError, match="labelaug publish"):
        load_published(tmp_path)


@pytest.mark.parametrize("flag, value, message", [("--strong-subset", "-1", "strong_subset must be >= 0"),
                                                  ("--paper-style-subset", "-1", "paper_style_subset must be >= 0"),
                                                  ("--n-target-classes", "0", "n_target_classes must be >= 1"),
                                                  ("--apgd-steps", "0", "apgd_steps must be >= 1")])
def test_publish_refuses_a_bad_ensemble_setting_and_writes_nothing(tmp_path, capsys, flag, value, message):
    out = tmp_path / "out"
    assert main(["publish", "--profile", "smoke", flag, value, "--out", str(out), "--runs-dir", str(tmp_path / "runs")]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "runs").exists()


def test_publishing_again_drops_only_runs_it_published_before_and_never_a_foreign_folder(published):
    plan, root = published
    foreign = root / "results" / "fashion-mnist-adv-s9-00000000"  # not written by publish: it stays
    foreign.mkdir()
    (foreign / "config.json").write_text("{}")
    (root / "one-seed.yaml").write_text(PLAN.replace("seeds: [0, 1]", "seeds: [0]"))
    options = dict(strong_subset=20, runs_dir=root / "runs", progress=False, command="labelaug publish --plan plan.yaml",
                   apgd_steps=5, pgd_restarts=1, n_target_classes=2)
    publish(read_plan(root / "one-seed.yaml"), root / "results", **options)
    assert foreign.is_dir() and len(load_published(root / "results").runs) == 5
    assert not any((root / "results" / c.run_id).exists() for c in plan.runs if c.seed == 1)  # its own: dropped
    publish(plan, root / "results", **options)  # every run and study reused from the cache
    assert foreign.is_dir() and len(load_published(root / "results").runs) == 10
    assert {p.name for p in (root / "runs").iterdir() if p.is_dir()} >= {c.run_id for c in plan.runs}


def test_publish_refuses_an_out_folder_inside_the_runs_directory(published, capsys):
    _, root = published
    before = sorted(p.name for p in (root / "runs").iterdir())
    for out in (root / "runs", root / "runs" / "inside"):
        assert main(["publish", "--plan", str(root / "plan.yaml"), "--runs-dir", str(root / "runs"),
                     "--out", str(out)]) == 2
        assert "out must be a folder outside the runs directory" in capsys.readouterr().err
    assert sorted(p.name for p in (root / "runs").iterdir()) == before  # nothing deleted, nothing written


SCREEN = """
description: a tiny screen and its confirmation
publish_only: true
settings: {dataset: fashion-mnist, epochs: 1, train_subset: 300, test_subset: 100, eval_subset: 0,
           batch_size: 50, steps: 2, eval_steps: 3, eps: 0.03}
seeds: [0]
runs:
  - {method: [adv, advplus], adv_fraction: [1.0, 0.5], delta: 0.3}
confirm: {seeds: [1, 2], rule: largest-pgd-gain}
"""


@pytest.fixture(scope="module")
def screened(tmp_path_factory, data_root):
    root = tmp_path_factory.mktemp("screened")
    (root / "plan.yaml").write_text(SCREEN)
    publish(read_plan(root / "plan.yaml"), root / "results", strong_subset=10, paper_style_subset=20,
            runs_dir=root / "runs", data_dir=data_root, progress=False, command="labelaug publish --plan plan.yaml",
            apgd_steps=3, pgd_restarts=1, n_target_classes=2)
    return load_published(root / "results")


def test_a_screened_plan_confirms_the_rules_choice_on_fresh_seeds_with_matched_controls(screened):
    from labelaug_core.runs.screen import matched_pairs, screen_table

    m = screened.manifest
    assert len(m["screen"]) == 4 and len(m["confirm"]["runs"]) == 4 and m["runs"] == m["screen"] + m["confirm"]["runs"]
    best = screen_table(matched_pairs(screened.stage("screen"))).iloc[0]
    assert m["confirm"]["chosen"] == best["advplus_run"] and m["confirm"]["chosen_control"] == best["adv_run"]
    chosen = screened.by_id(m["confirm"]["chosen"]).config
    confirm = screened.stage("confirm")
    assert [(r.config.method, r.config.seed) for r in confirm] == [("advplus", 1), ("adv", 1), ("advplus", 2), ("adv", 2)]
    assert all(r.config.adv_fraction == chosen.adv_fraction and r.config.eps == chosen.eps for r in confirm)
    for plus, adv in matched_pairs(confirm):
        assert plus.config.matched_control().resolved() == adv.config  # only the labels differ
    # the ensemble attacks the confirmation only; paper-style PGD-40 and the operation AUROC every model
    assert all(not screened.strong[r] for r in m["screen"]) and all(screened.strong[r] for r in m["confirm"]["runs"])
    assert set(screened.paper_style) == set(m["runs"]) and all(len(f) == 20 for f in screened.paper_style.values())
    assert all(0 <= r.metrics["operation"]["auroc"] <= 1 for r in screened.runs if r.config.method == "advplus")
    assert all(r.metrics["n_attacked"] == 100 for r in screened.runs)


def test_the_design_report_pairs_every_image_and_states_the_rule_the_power_and_the_verdict(screened):
    from labelaug_core.evaluation.paired import mcnemar_mde
    from labelaug_core.report.verdict import design

    comparisons = design.confirmation_comparisons(screened)
    assert list(comparisons) == ["PGD-40", "clean", "paper-style PGD-40", "ensemble"]
    assert [comparisons[k]["per_seed"][0]["n"] for k in comparisons] == [100, 100, 20, 10]
    table = design.confirmation_table(comparisons)
    assert table.loc["PGD-40", "n_per_seed"] == 100 and set(table["outcome"]) <= {"Adv+ better", "Adv+ worse", "within noise"}
    power = design.power_summary(comparisons["PGD-40"], n_sim=200)
    assert power["mde_pooled_pp"] == pytest.approx(mcnemar_mde(200, power["discordant_rate"]))
    assert power["mde_rule_pp"] >= power["mde_pooled_pp"] - 0.5
    verdict = design.design_verdict(screened, comparisons, power)
    assert "Confirmation" in verdict and "seeds 1, 2" in verdict and "Label augmentation as designed" in verdict
    assert "winner's curse" in design.screen_sentence(screened)
    assert design.screen_frame(screened)["chosen"].tolist().count("◀ chosen") == 1
    ops = design.operation_table(screened)
    assert len(ops) == 4 and set(ops["stage"]) == {"screen", "confirmation"}
    text = design.operation_sentence(ops, design.screen_frame(screened))
    assert "Does the mechanism act?" in text and "Where it separates best" in text
    acting = ops.assign(auroc=[0.55 if f == 1 else 0.95 for f in ops["adv_fraction"]])
    assert "the mechanism the paper names acts here" in design.operation_sentence(acting)
    assert "No setting makes" in design.operation_sentence(ops.assign(auroc=0.6))
    settings = design.settings_against_paper(screened)
    assert "pixel units" in settings.loc["ε (L-inf)", "screen"] and "not stated" in settings.loc["weight decay", "paper"]
    assert settings.loc["share of each batch perturbed (adv_fraction)", "screen"] == "1 | 0.5"
    assert settings.loc["seeds", "confirmation"] == "1, 2"
