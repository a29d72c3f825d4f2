"""Training and evaluation are two cached artifacts (labelaug_core.runs.evaluation)."""
from __future__ import annotations

import json

import pytest

import labelaug_core.cache as cache
from labelaug_core.config import TrainConfig
from labelaug_core.errors import ConfigError
from labelaug_core.runs.evaluation import evaluation_dir
from labelaug_core.runs.store import find_run, is_trained, load_run
from labelaug_core.runs.training import ensure_run

TINY = dict(dataset="fashion-mnist", method="advplus", epochs=1, train_subset=256, test_subset=100, eval_subset=40,
            batch_size=64, steps=2, precision="fp32")


def _no_training(*args, **kwargs):
    raise AssertionError("the run was trained again")


def test_the_run_id_ignores_evaluation_settings_and_evaluation_code(monkeypatch):
    config = TrainConfig(**TINY)
    other_eval = TrainConfig(**(TINY | dict(test_subset=200, eval_subset=0, eval_steps=10)))
    before = config.run_id
    assert before == other_eval.run_id
    assert TrainConfig(**(TINY | dict(adv_fraction=0.5))).run_id != config.run_id
    assert "-f0.5-" in TrainConfig(**(TINY | dict(adv_fraction=0.5))).run_id
    closure = cache.module_closure("labelaug_core.train")
    assert "labelaug_core.evaluation.metrics" not in closure and "labelaug_core.runs.store" not in closure
    real = cache._file_info
    monkeypatch.setattr(cache, "_file_info", lambda m: ("edited", real(m)[1]) if m.endswith("train") else real(m))
    assert TrainConfig(**TINY).run_id != before  # training code is in the key


def test_a_change_of_summarize_re_evaluates_from_the_checkpoint_and_retrains_nothing(tmp_path, data_root, monkeypatch):
    import labelaug_core.runs.training as training

    config = TrainConfig(**TINY)
    run_dir = ensure_run(config, tmp_path, data_dir=data_root, device="cpu", progress=False)
    first = load_run(run_dir, config)
    assert is_trained(run_dir) and first.eval_dir.parent == run_dir / "evaluation"
    assert first.metrics["n_attacked"] == 40 and not (run_dir / "metrics.json").exists()
    checkpoint = (run_dir / "checkpoint.pt").stat().st_mtime_ns

    monkeypatch.setattr(training, "train", _no_training)
    real = cache._file_info
    monkeypatch.setattr(cache, "_file_info",
                        lambda m: ("edited", real(m)[1]) if m == "labelaug_core.evaluation.metrics" else real(m))
    assert TrainConfig(**TINY).run_id == config.run_id
    assert evaluation_dir(config, run_dir) is None  # the old evaluation's key no longer matches
    again = ensure_run(config, tmp_path, data_dir=data_root, device="cpu", progress=False)
    second = load_run(again, config)
    assert again == run_dir and second.eval_dir != first.eval_dir and first.eval_dir.is_dir()  # nothing deleted
    assert (run_dir / "checkpoint.pt").stat().st_mtime_ns == checkpoint
    assert second.metrics["pgd_err"] == first.metrics["pgd_err"]  # same model, same images, same starts


def test_other_evaluation_settings_share_the_trained_run(tmp_path, data_root, monkeypatch):
    import labelaug_core.runs.training as training

    config = TrainConfig(**TINY)
    run_dir = ensure_run(config, tmp_path, data_dir=data_root, device="cpu", progress=False)
    monkeypatch.setattr(training, "train", _no_training)
    wider = TrainConfig(**(TINY | dict(eval_subset=60)))
    with pytest.raises(ConfigError, match="is not in"):
        find_run(wider, tmp_path)
    assert ensure_run(wider, tmp_path, data_dir=data_root, device="cpu", progress=False) == run_dir
    assert find_run(wider, tmp_path).metrics["n_attacked"] == 60 and find_run(config, tmp_path).metrics["n_attacked"] == 40
    sidecars = sorted((run_dir / "evaluation").glob("*.key.json"))
    assert len(sidecars) == 2
    recorded = json.loads(sidecars[0].read_text())
    assert "labelaug_core.evaluation.metrics" in recorded["code"] and recorded["settings"]["run_id"] == run_dir.name
    operation = find_run(config, tmp_path).metrics["operation"]
    assert 0 <= operation["auroc"] <= 1 and operation["n_clean"] == operation["n_attacked"] == 40
    pred = find_run(config, tmp_path).predictions()
    assert pred.op_clean.shape == (100,) and pred.op_pgd[pred.attacked].min() >= 0
