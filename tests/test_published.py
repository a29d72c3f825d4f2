"""Published results: `labelaug publish` copies a plan's small files (never a checkpoint) with a
manifest, the book reads them back by name, and the verdict over seeds and protocols is computed
from them."""
import json

import numpy as np
import pytest

from labelaug_core.book.plan import read_plan
from labelaug_core.cli import main
from labelaug_core.errors import ConfigError
from labelaug_core.report.seeds import (
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
    mean, sd = (float(t) for t in table.loc[("from scratch", "Adv"), "clean_err"].split(" ± "))
    assert mean == pytest.approx(adv.clean_err.mean(), abs=0.006) and sd == pytest.approx(adv.clean_err.std(), abs=0.006)
    stats = verdict_statistics(verdicts)
    assert len(stats) == 4 and stats["seeds"].eq(2).all()
    text = protocols_paragraph(pub, verdicts)
    assert "From scratch" in text and "Fine-tuned from std" in text and "50%" in text
    assert "labelaug publish --plan plan.yaml" in source_sentence(pub)
    table = settings_comparison(pub, {"dataset": "fashion-mnist", "epochs": 5, "batch_size": 50, "delta": 0.03})
    assert table.loc["epochs"].tolist() == ["–", "1", "5", "DIFFERS"] and table.loc["batch_size", "differs"] == ""
    assert table.loc["steps", "paper"] == "10" and table.loc["steps", "verdict runs"] == "2"
    assert table.loc["finetune_epochs", "verdict runs"] == "1" and table.loc["delta", "differs"] == ""


def test_missing_published_results_say_how_to_make_them(tmp_path):
    with pytest.raises(ConfigError, match="labelaug publish"):
        load_published(tmp_path)


@pytest.mark.parametrize("flag, message", [("--strong-subset", "strong_subset must be >= 1"),
                                           ("--n-target-classes", "n_target_classes must be >= 1"),
                                           ("--apgd-steps", "apgd_steps must be >= 1")])
def test_publish_refuses_a_bad_ensemble_setting_and_writes_nothing(tmp_path, capsys, flag, message):
    out = tmp_path / "out"
    assert main(["publish", "--profile", "smoke", flag, "0", "--out", str(out), "--runs-dir", str(tmp_path / "runs")]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "runs").exists()


def test_publishing_again_reuses_the_runs_and_drops_runs_the_plan_no_longer_has(published):
    plan, root = published
    stale = root / "results" / "fashion-mnist-adv-s9-00000000"
    stale.mkdir()
    (stale / "config.json").write_text("{}")
    publish(plan, root / "results", strong_subset=20, runs_dir=root / "runs", progress=False,
            command="labelaug publish --plan plan.yaml", apgd_steps=5, pgd_restarts=1, n_target_classes=2)
    assert not stale.exists()
    assert len(load_published(root / "results").runs) == 10
