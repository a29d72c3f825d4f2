"""labelaug_core.runs: run ids, the evaluation protocol, the per-run lock and ``labelaug status``."""
import json
import threading
import time
from types import SimpleNamespace

import torch

from labelaug_core.config import TrainConfig
from labelaug_core.runs.protocol import protocol_predictions, run_test_images
from labelaug_core.runs.status import chapter_status, run_status
from labelaug_core.runs.training import run_lock

SMALL = dict(dataset="fashion-mnist", method="adv", test_subset=100, eval_subset=40, eval_steps=3)


def test_run_id_holds_precision_and_normalised_weak_classes():
    assert TrainConfig(precision="fp32").run_id != TrainConfig(precision="bf16").run_id
    assert TrainConfig(weak_classes="6, 2").run_id == TrainConfig(weak_classes="2,6").run_id
    auto = TrainConfig(precision="auto")
    assert auto.resolved("cpu").precision in ("fp32", "bf16")
    assert auto.run_id_for("cpu") == TrainConfig(precision=auto.resolved("cpu").precision).run_id_for("cpu")


def test_protocol_is_seeded_by_generators_and_leaves_the_global_rng_alone(tiny_model, data_root):
    config = TrainConfig(**SMALL).resolved("cpu")
    state = torch.get_rng_state()
    a = protocol_predictions(tiny_model, config, data_dir=data_root)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(123)  # the global RNG does not matter
    b = protocol_predictions(tiny_model, config, data_dir=data_root)
    assert (a.pgd == b.pgd).all() and (a.clean == b.clean).all()
    assert a.attacked.sum() == 40 and len(a.y) == 100
    x, y = run_test_images(config, 40, data_dir=data_root)
    assert (y.numpy() == a.y[:40]).all()  # the attacked images are the first of the test subset


def test_a_second_process_waits_for_the_run_lock(tmp_path):
    order = []
    with run_lock(tmp_path, "r"):
        thread = threading.Thread(target=lambda: run_lock(tmp_path, "r").__enter__() or order.append("second"))
        thread.start()
        time.sleep(0.3)
        order.append("first done")
    thread.join(5)
    assert order == ["first done", "second"]


def test_status_lists_missing_finished_stale_runs_and_chapters(tmp_path):
    plan = SimpleNamespace(runs=[TrainConfig(**SMALL), TrainConfig(**SMALL | {"method": "std"})], chapters=["01_x"])
    from labelaug_core.runs.evaluation import evaluation_artifact

    done = tmp_path / plan.runs[0].run_id_for("cpu")
    done.mkdir()
    (done / "history.csv").write_text("epoch\n1\n")  # trained...
    evaluation = evaluation_artifact(plan.runs[0], done)
    evaluation.stem.mkdir(parents=True)
    assert run_status(plan, tmp_path, "cpu")[0]["status"] == "missing"  # ...but not evaluated
    (evaluation.stem / "metrics.json").write_text("{}")
    evaluation.mark_done()
    old = tmp_path / "fashion-mnist-adv-s0-00000000"
    old.mkdir()
    (old / "key.json").write_text(json.dumps({"code": {"labelaug_core.train": "000000000000"}}))
    rows = {r["name"]: r for r in run_status(plan, tmp_path, "cpu")}
    assert rows[done.name]["status"] == "finished"
    assert rows[plan.runs[1].run_id_for("cpu")]["status"] == "missing"
    assert rows[old.name]["status"] == "stale" and "train" in rows[old.name]["why"]
    (tmp_path / "01_x.stamp.json").write_text(json.dumps({"code": {"labelaug_core.errors": "0"}}))
    assert chapter_status(tmp_path, ["01_x", "02_y"]) == [
        {"kind": "chapter", "name": "01_x", "status": "stale", "why": "code changed: errors"},
        {"kind": "chapter", "name": "02_y", "status": "not executed", "why": ""}]
