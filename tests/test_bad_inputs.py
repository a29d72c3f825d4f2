"""The command line under bad input (issue 21): one parametrised table of bad inputs across ``train``,
``evaluate``, ``report``, ``book``, ``status``, ``publish`` and ``bench``, each refused with exit status 2,
one line ``labelaug: error: ...`` naming the parameter, no traceback and nothing written; then the
regression tests of the data-loss and wrong-cache cases, the OS errors and the file modes."""
from __future__ import annotations

import errno
import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from labelaug_core.cli import main
from labelaug_core.config import TrainConfig
from datagen import write_fashion_mnist, write_image_folder

GPU = torch.cuda.is_available()
TINY = {"dataset": "fashion-mnist", "method": "std", "epochs": 1, "batch_size": 50, "train_subset": 100,
        "test_subset": 50, "eval_subset": 10, "steps": 1, "eval_steps": 1, "precision": "fp32"}


def _flags(settings: dict) -> list[str]:
    return [x for k, v in settings.items() for x in (f"--{k.replace('_', '-')}", str(v))]


def _flat_run(directory: Path, config: TrainConfig, *, digest: str | None = None, clean_err: float = 10.0) -> Path:
    """A finished flat (published-style) run folder, written by hand: load_run reads it as it is."""
    directory.mkdir(parents=True)
    config = config.resolved("cpu")
    (directory / "config.json").write_text(json.dumps(config.to_dict()))
    (directory / "env.json").write_text(json.dumps({"data_dir": None}))
    pd.DataFrame({"epoch": [1], "lr": [0.1], "train_loss": [1.0], "train_err": [50.0],
                  "epoch_time_s": [1.0]}).to_csv(directory / "history.csv", index=False)
    pd.DataFrame({"class": range(10), "name": [str(k) for k in range(10)], "clean_err": [clean_err] * 10,
                  "fgsm_err": [50.0] * 10, "pgd_err": [60.0] * 10}).to_csv(directory / "per_class.csv", index=False)
    y = np.arange(20) % 10
    np.savez(directory / "predictions.npz", y=y, clean=y, fgsm=y, pgd=y, attacked=np.ones(20, bool))
    metrics = {"clean_err": clean_err, "fgsm_err": 50.0, "pgd_err": 60.0, "clean_class_sd": 1.0, "pgd_class_sd": 2.0,
               "clean_class_mean": clean_err, "pgd_class_mean": 60.0, "n_test": 20, "n_attacked": 20, "eval_steps": 1}
    (directory / "metrics.json").write_text(json.dumps(metrics))
    if digest:
        (directory / "data.json").write_text(json.dumps({"dataset": config.dataset, "root": "/x", "files": 4,
                                                         "bytes": 1, "digest": digest}))
    return directory


@pytest.fixture(scope="module")
def world(tmp_path_factory, data_root) -> dict[str, Path]:
    """The sandbox every row runs in: a mini book folder (``_toc.yml``, experiments/), an empty folder
    outside any book, plans, fake runs, image folders and data copies, all made before the row runs."""
    w = tmp_path_factory.mktemp("bad")
    book = w / "book"
    (book / "book").mkdir(parents=True)
    (book / "book" / "intro.md").write_text("# Intro\n")
    (book / "_toc.yml").write_text(yaml.safe_dump({"format": "jb-book", "root": "book/intro"}))
    (book / "experiments").mkdir()
    plan = {"settings": {k: v for k, v in TINY.items() if k != "method"}, "runs": [{"method": "std"}]}
    (book / "experiments" / "mini.yaml").write_text(yaml.safe_dump(plan))
    plans = w / "plans"
    plans.mkdir()

    def plan_file(name: str, content) -> None:
        (plans / name).write_text(content if isinstance(content, str) else yaml.safe_dump(content))

    plan_file("ok.yaml", plan)
    plan_file("pub.yaml", plan | {"publish_only": True})
    plan_file("pub-empty.yaml", {"settings": plan["settings"], "runs": [], "publish_only": True})
    plan_file("pub-big.yaml", {"settings": plan["settings"] | {"train_subset": 1000000}, "runs": [{"method": "std"}],
                               "publish_only": True})
    plan_file("bad-yaml.yaml", "settings: [unclosed\n")
    plan_file("unknown-key.yaml", {"runz": 1})
    plan_file("seeds.yaml", {"seeds": [-1]})
    plan_file("delta.yaml", {"runs": [{"method": "advplus", "delta": 2.0}]})
    plan_file("settings-only.yaml", {"settings": {"delta": 2.0}})
    plan_file("small-subset.yaml", {"settings": plan["settings"] | {"train_subset": 5}, "runs": [{"method": "std"}]})
    plan_file("empty-entry.yaml", {"runs": [{}]})
    plan_file("empty-list.yaml", {"runs": [{"method": []}]})
    (w / "outside").mkdir()
    (w / "a-file").write_text("not a folder\n")
    (w / "runs").mkdir()
    (w / "runs" / "other-run").mkdir()
    (w / "runs" / "other-run" / "config.json").write_text("{}")
    (w / "ro").mkdir()  # a folder the rows treat as unwritable (see the setup "read-only")

    # Fake runs for evaluate and report.
    runs = w / "fake"
    runs.mkdir()
    base = TrainConfig.from_dict(TINY)
    (runs / "empty").mkdir()
    (runs / "unfinished").mkdir()
    (runs / "unfinished" / "config.json").write_text(json.dumps(base.resolved("cpu").to_dict()))
    truncated = runs / "truncated"
    truncated.mkdir()
    (truncated / "config.json").write_text(json.dumps(base.resolved("cpu").to_dict()))
    (truncated / "env.json").write_text(json.dumps({"data_dir": None}))
    (truncated / "history.csv").write_text("epoch,lr,train_loss,train_err,epoch_time_s\n1,0.1,1.0,50.0,1.0\n")
    buffer = io.BytesIO()
    torch.save({"model": {"w": torch.zeros(1000)}}, buffer)
    (truncated / "checkpoint.pt").write_bytes(buffer.getvalue()[:700])
    (runs / "corrupt-config").mkdir()
    (runs / "corrupt-config" / "config.json").write_text("{not json")
    (runs / "unknown-field").mkdir()
    (runs / "unknown-field" / "config.json").write_text(json.dumps({"dataset": "fashion-mnist", "epoch": 3}))
    _flat_run(runs / "fm-std", base)
    _flat_run(runs / "c10-std", TrainConfig.from_dict(TINY | {"dataset": "cifar10", "model": "small-cnn"}))
    _flat_run(runs / "fm-adv-eps", TrainConfig.from_dict(TINY | {"method": "adv", "eps": 0.2}))
    _flat_run(runs / "fm-plus-d03", TrainConfig.from_dict(TINY | {"method": "advplus", "delta": 0.03}))
    _flat_run(runs / "fm-plus-d10", TrainConfig.from_dict(TINY | {"method": "advplus", "delta": 0.1}))
    _flat_run(runs / "fm-std-data-a", TrainConfig.from_dict(TINY | {"seed": 1}), digest="a" * 16)
    _flat_run(runs / "fm-std-data-b", TrainConfig.from_dict(TINY | {"seed": 2}), digest="b" * 16)
    _flat_run(runs / "fm-std-evalsteps", TrainConfig.from_dict(TINY | {"method": "adv", "eval_steps": 7}))

    # A cached run of the row's settings, trained on other data (data.json of another digest).
    cached = w / "cached-runs"
    other = TrainConfig.from_dict(TINY)
    run_dir = cached / other.run_id_for("cpu")
    _flat_run(run_dir, other, digest="0" * 16)
    (run_dir / "key.json").write_text("{}")

    # Image folders.
    write_image_folder(w / "img", {"train": {"a": 4, "b": 4}, "val": {"a": 2, "b": 2}})
    write_image_folder(w / "img-bad", {"train": {"a": 4, "b": 4}, "val": {"a": 2, "b": 2}})
    (w / "img-bad" / "train" / "b" / "img3.png").write_bytes(b"this is not a PNG file\n" * 10)
    write_image_folder(w / "img-noval", {"train": {"a": 2, "b": 2}})
    write_image_folder(w / "img-extra", {"train": {"a": 2, "b": 2}, "val": {"a": 1, "c": 1}})
    (w / "img-empty" / "train" / "a").mkdir(parents=True)
    (w / "img-empty" / "train" / "a" / "notes.txt").write_text("no images\n")
    (w / "img-notrain").mkdir()

    # Fashion-MNIST copies with a corrupt file.
    write_fashion_mnist(w / "fm-magic", n_train=100, n_test=50)
    raw = bytearray((w / "fm-magic" / "train-images-idx3-ubyte.gz").read_bytes())
    import gzip

    data = bytearray(gzip.decompress(bytes(raw)))
    data[3] = 0x01
    (w / "fm-magic" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(data)))
    write_fashion_mnist(w / "fm-trunc", n_train=100, n_test=50)
    whole = (w / "fm-trunc" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (w / "fm-trunc" / "t10k-labels-idx1-ubyte.gz").write_bytes(whole[: len(whole) // 2])
    return {"cache": tmp_path_factory.mktemp("xdg-cache"), "w": w, "book": book, "outside": w / "outside", "plans": plans, "fake": runs, "data": Path(data_root)}


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.is_dir(), p.stat().st_size if p.is_file() else 0,
                                       p.stat().st_mtime_ns if p.is_file() else 0)
            for p in sorted(root.rglob("*"))}


def _read_only(monkeypatch, world):
    """``w/ro`` reads as not writable, as for another user or a read-only mount (the tests run as root,
    for whom chmod does not refuse)."""
    import labelaug_core.inputs as cli

    real = os.access
    ro = str(world["w"] / "ro")
    monkeypatch.setattr(cli.os, "access", lambda path, mode, *a, **k: False if str(path).startswith(ro)
                        and mode & os.W_OK else real(path, mode, *a, **k))


def _read_only_fs(monkeypatch, world):
    """``w/ro`` is on a read-only file system (statvfs says ST_RDONLY)."""
    import labelaug_core.inputs as cli

    real = os.statvfs
    ro = str(world["w"] / "ro")

    class Flags:
        def __init__(self, result):
            self.f_flag = result.f_flag | os.ST_RDONLY

    monkeypatch.setattr(cli.os, "statvfs", lambda path: Flags(real(path)) if str(path).startswith(ro) else real(path))


def _bogus_env(monkeypatch, world):
    monkeypatch.setenv("LABELAUG_DATA", str(world["w"] / "no-such-data"))


SETUPS = {"read-only": _read_only, "read-only-fs": _read_only_fs, "bogus-env": _bogus_env}

T = ["train", "--device", "cpu", "--runs-dir", "{w}/runs", "--no-progress"]
TT = T + _flags(TINY)  # a valid tiny run: each row below changes one thing
IMG = T + ["--dataset", "imagefolder", "--model", "small-cnn", "--epochs", "1", "--batch-size", "2", "--method", "std"]
E = ["evaluate", "--no-progress"]
PLAN = ["--plan", "{plans}/ok.yaml"]

# (id, argv, what the one line must contain, cwd: "book" | "outside", setup)
ROWS = [
    # train: settings
    ("dataset", TT + ["--dataset", "mnist"], "dataset must be one of"),
    ("method", TT + ["--method", "trades"], "method must be one of std, adv, advplus"),
    ("model", TT + ["--model", "vgg"], "model must be one of"),
    ("eps-negative", TT + ["--eps", "-0.1"], "eps must be in [0, 1]"),
    ("eps-large", TT + ["--eps", "1.5"], "eps must be in [0, 1]"),
    ("eps-nan", TT + ["--eps", "nan"], "eps must be a finite number"),
    ("alpha", TT + ["--alpha", "2"], "alpha must be in [0, 1]"),
    ("steps", TT + ["--steps", "0"], "steps must be >= 1"),
    ("delta-1", TT + ["--delta", "1.0"], "delta must be in [0, 1)"),
    ("delta-negative", TT + ["--delta", "-0.1"], "delta must be in [0, 1)"),
    ("num-ops", TT + ["--num-ops", "-1"], "num_ops must be >= 0"),
    ("num-ops-advplus", TT + ["--method", "advplus", "--num-ops", "0"], "num_ops must be >= 1 for method advplus"),
    ("epochs-0", TT + ["--epochs", "0"], "epochs must be >= 1"),
    ("epochs-word", TT + ["--epochs", "two"], "--epochs"),
    ("epochs-float", TT + ["--epochs", "1.5"], "--epochs"),
    ("batch-0", TT + ["--batch-size", "0"], "batch_size must be >= 1"),
    ("batch-huge", TT + ["--batch-size", "100000"], "or batch_size at most 100"),
    ("lr-0", TT + ["--lr", "0"], "lr must be > 0"),
    ("lr-negative", TT + ["--lr", "-1"], "lr must be > 0"),
    ("lr-inf", TT + ["--lr", "inf"], "lr must be a finite number"),
    ("lr-nan", TT + ["--lr", "nan"], "lr must be a finite number"),
    ("momentum", TT + ["--momentum", "1"], "momentum must be in [0, 1)"),
    ("weight-decay-negative", TT + ["--weight-decay", "-1"], "weight_decay must be >= 0"),
    ("weight-decay-inf", TT + ["--weight-decay", "inf"], "weight_decay must be a finite number"),
    ("seed-negative", TT + ["--seed", "-1"], "seed must be >= 0"),
    ("seed-2**63", TT + ["--seed", str(2**63)], "seed must be at most 2**63 - 1"),
    ("seed-2**64", TT + ["--seed", str(2**64 + 5)], "seed must be at most 2**63 - 1"),
    ("train-subset-negative", TT + ["--train-subset", "-5"], "train_subset must be >= 0"),
    ("train-subset-5", TT + ["--train-subset", "5"], "train_subset (5) must be at least batch_size (50"),
    ("train-subset-huge", TT + ["--train-subset", "1000000"], "train_subset must be between 0 (all) and 60000"),
    ("test-subset-huge", TT + ["--test-subset", "99999"], "test_subset must be between 0 (all) and 10000"),
    ("eval-subset-over-test", TT + ["--test-subset", "100", "--eval-subset", "200"], "eval_subset must be between"),
    ("eval-subset-over-split", TT + ["--test-subset", "0", "--eval-subset", "20000"], "eval_subset must be between"),
    ("eval-steps", TT + ["--eval-steps", "0"], "eval_steps must be >= 1"),
    ("pretrained", TT + ["--pretrained", "maybe"], "pretrained must be true or false"),
    ("image-size-negative", TT + ["--image-size", "-1"], "image_size must be >= 0"),
    ("image-size-small-set", TT + ["--image-size", "32"], "image_size applies to imagefolder and imagenet only"),
    ("precision", TT + ["--precision", "fp16"], "precision must be one of"),
    ("weak-classes-range", TT + ["--weak-classes", "12"], "weak_classes must be class indices in [0, 10)"),
    ("weak-classes-words", TT + ["--weak-classes", "a,b"], "weak_classes must be comma-separated"),
    ("weak-class-weight-0", TT + ["--weak-classes", "2", "--weak-class-weight", "0"], "weak_class_weight must be > 0"),
    ("weak-class-weight-inf", TT + ["--weak-class-weight", "inf"], "weak_class_weight must be a finite number"),
    ("init-from", TT + ["--init-from", "adv"], "init_from must be one of"),
    ("init-from-std-method", TT + ["--init-from", "std", "--finetune-epochs", "1"], "init_from: std needs method"),
    ("finetune-without-init", TT + ["--method", "adv", "--finetune-epochs", "3"], "finetune_epochs and finetune_lr need"),
    ("init-without-epochs", TT + ["--method", "adv", "--init-from", "std"], "finetune_epochs must be >= 1"),
    ("finetune-lr", TT + ["--method", "adv", "--init-from", "std", "--finetune-epochs", "1", "--finetune-lr", "-1"],
     "finetune_lr must be > 0"),
    ("attack-bn", TT + ["--attack-bn", "frozen"], "attack_bn must be one of train, eval"),
    ("adv-fraction-0", TT + ["--method", "adv", "--adv-fraction", "0"], "adv_fraction must be in (0, 1]"),
    ("adv-fraction-large", TT + ["--method", "adv", "--adv-fraction", "1.5"], "adv_fraction must be in (0, 1]"),
    ("abbrev-epoch", TT + ["--epoch", "3"], "unrecognized arguments: --epoch"),
    ("abbrev-batch", TT + ["--batch", "8"], "unrecognized arguments: --batch"),
    ("unknown-flag", TT + ["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ("missing-value", T + ["--method"], "--method"),
    # train: devices, folders, data
    ("device-gpu0", TT + ["--device", "gpu0"], "device must be cpu, cuda or cuda:N"),
    ("device-cuda-7", TT + ["--device", "cuda:7"], "device: cuda:7"),
    ("device-tpu", TT + ["--device", "xla"], "device"),
    ("data-dir-missing", TT + ["--data-dir", "{w}/no-such-data"], "data_dir: {w}/no-such-data does not exist"),
    ("data-dir-file", TT + ["--data-dir", "{w}/a-file"], "data_dir: {w}/a-file is not a directory"),
    ("data-env-missing", TT, "$LABELAUG_DATA", "book", "bogus-env"),
    ("runs-dir-file", TT + ["--runs-dir", "{w}/a-file"], "runs_dir: {w}/a-file is a file"),
    ("runs-dir-under-file", TT + ["--runs-dir", "{w}/a-file/runs"], "runs_dir"),
    ("runs-dir-read-only", TT + ["--runs-dir", "{w}/ro/runs"], "runs_dir: {w}/ro: Permission denied", "book", "read-only"),
    ("runs-dir-read-only-fs", TT + ["--runs-dir", "{w}/ro/runs"], "runs_dir: {w}/ro: Read-only file system", "book",
     "read-only-fs"),
    ("cached-run-other-data", TT + ["--runs-dir", "{w}/cached-runs", "--data-dir", "{data}"],
     "data_dir: the fashion-mnist files found now"),
    ("fmnist-bad-magic", TT + ["--data-dir", "{w}/fm-magic"], "bad magic number"),
    ("fmnist-truncated", TT + ["--data-dir", "{w}/fm-trunc"], "truncated gzip stream"),
    ("imagefolder-no-train", IMG + ["--data-dir", "{w}/img-notrain"], "imagefolder: no train/ folder"),
    ("imagefolder-no-images", IMG + ["--data-dir", "{w}/img-empty"], "imagefolder: no image files"),
    ("imagefolder-not-an-image", IMG + ["--data-dir", "{w}/img-bad"], "img3.png: not an image PIL can read"),
    ("imagefolder-no-val", IMG + ["--data-dir", "{w}/img-noval"], "has no val/ or test/ folder"),
    ("imagefolder-extra-class", IMG + ["--data-dir", "{w}/img-extra"], "class folders that train/ lacks: c"),
    ("imagefolder-weak-class", IMG + ["--data-dir", "{w}/img", "--weak-classes", "5"],
     "weak_classes must be class indices in [0, 2)"),
    ("imagefolder-train-subset", IMG + ["--data-dir", "{w}/img", "--train-subset", "1"],
     "train_subset (1) must be at least batch_size (2"),
    ("imagefolder-batch", IMG + ["--data-dir", "{w}/img", "--batch-size", "128"], "batch_size must be at most 8"),
    ("imagefolder-test-subset", IMG + ["--data-dir", "{w}/img", "--test-subset", "5"],
     "test_subset must be between 0 (all) and 4"),
    # evaluate
    ("evaluate-missing", E + ["{w}/does/not/exist"], "run_dir"),
    ("evaluate-empty", E + ["{fake}/empty"], "lacks config.json"),
    ("evaluate-unfinished", E + ["{fake}/unfinished"], "has not finished training"),
    ("evaluate-truncated-checkpoint", E + ["{fake}/truncated", "--device", "cpu"], "checkpoint.pt is not a readable checkpoint"),
    ("evaluate-corrupt-config", E + ["{fake}/corrupt-config"], "config.json is unreadable"),
    ("evaluate-unknown-field", E + ["{fake}/unknown-field"], "unknown config field 'epoch'"),
    ("evaluate-eval-steps", E + ["{fake}/truncated", "--eval-steps", "0"], "eval_steps must be between 1"),
    ("evaluate-eval-subset-negative", E + ["{fake}/truncated", "--eval-subset", "-1"], "eval_subset must be >= 0"),
    ("evaluate-eval-subset-huge", E + ["{fake}/truncated", "--eval-subset", "99999"], "eval_subset must be between"),
    ("evaluate-attack-logits", E + ["{fake}/truncated", "--attack-logits", "some"], "--attack-logits"),
    ("evaluate-device", E + ["{fake}/truncated", "--device", "gpu0"], "device must be cpu, cuda or cuda:N"),
    ("evaluate-data-dir", E + ["{fake}/truncated", "--data-dir", "{w}/no-such-data"], "data_dir"),
    ("evaluate-abbrev", E + ["{fake}/truncated", "--eval-step", "3"], "unrecognized arguments: --eval-step"),
    ("evaluate-no-run", E, "the following arguments are required: run_dir"),
    # report
    ("report-missing", ["report", "{w}/does/not/exist"], "run_dir"),
    ("report-unfinished", ["report", "{fake}/unfinished"], "lacks"),
    ("report-datasets", ["report", "{fake}/fm-std", "{fake}/c10-std"], "a report compares runs of one data set"),
    ("report-settings", ["report", "{fake}/fm-std", "{fake}/fm-adv-eps"], "differ in eps"),
    ("report-eval-settings", ["report", "{fake}/fm-std", "{fake}/fm-std-evalsteps"], "differ in eval_steps"),
    ("report-deltas", ["report", "{fake}/fm-std", "{fake}/fm-plus-d03", "{fake}/fm-plus-d10"], "differ in delta"),
    ("report-data", ["report", "{fake}/fm-std-data-a", "{fake}/fm-std-data-b"], "were trained on different"),
    ("report-none", ["report"], "the following arguments are required: run_dirs"),
    # book
    ("book-profile", ["book", "--profile", "nope"], "profile must be one of mini"),
    ("book-outside-profile", ["book"], "profile: no experiments/*.yaml", "outside"),
    ("book-outside-plan", ["book", "--plan", "{plans}/ok.yaml"], "_toc.yml: not found", "outside"),
    ("book-plan-missing", ["book", "--plan", "{plans}/none.yaml"], "no such file"),
    ("book-plan-yaml", ["book", "--plan", "{plans}/bad-yaml.yaml"], "not YAML"),
    ("book-plan-key", ["book", "--plan", "{plans}/unknown-key.yaml"], "unknown key 'runz'"),
    ("book-plan-seeds", ["book", "--plan", "{plans}/seeds.yaml"], "seeds must be a list of integers >= 0"),
    ("book-plan-delta", ["book", "--plan", "{plans}/delta.yaml"], "delta must be in [0, 1)"),
    ("book-plan-empty-entry", ["book", "--plan", "{plans}/empty-entry.yaml"], "runs[0] is empty"),
    ("book-plan-empty-list", ["book", "--plan", "{plans}/empty-list.yaml"], "runs[0].method is an empty list"),
    ("book-plan-subset", ["book", "--plan", "{plans}/small-subset.yaml"], "train_subset (5) must be at least batch_size"),
    ("book-publish-only", ["book", "--plan", "{plans}/pub.yaml"], "a publish_only plan builds no book"),
    ("book-both", ["book", "--profile", "mini", "--plan", "{plans}/ok.yaml"], "not allowed with argument"),
    ("book-device", ["book", "--profile", "mini", "--device", "gpu0"], "device must be cpu, cuda or cuda:N"),
    ("book-data-dir", ["book", "--profile", "mini", "--data-dir", "{w}/no-such-data"], "data_dir"),
    ("book-runs-dir", ["book", "--profile", "mini", "--runs-dir", "{w}/a-file"], "runs_dir: {w}/a-file is a file"),
    ("book-abbrev", ["book", "--prof", "mini"], "unrecognized arguments: --prof"),
    # status
    ("status-profile", ["status", "--profile", "nope"], "profile must be one of mini"),
    ("status-outside", ["status"], "profile: no experiments/*.yaml", "outside"),
    ("status-outside-plan", ["status", "--plan", "{plans}/ok.yaml"], "_toc.yml: not found", "outside"),
    ("status-settings-no-runs", ["status", "--plan", "{plans}/settings-only.yaml"], "settings: delta must be in [0, 1)"),
    ("status-publish-empty", ["status", "--plan", "{plans}/pub-empty.yaml"], "must list at least one run"),
    ("status-device", ["status", "--profile", "mini", "--device", "gpu0"], "device must be cpu, cuda or cuda:N"),
    ("status-runs-dir", ["status", "--profile", "mini", "--runs-dir", "{w}/a-file"], "runs_dir: {w}/a-file is a file"),
    # publish
    ("publish-empty", ["publish", "--plan", "{plans}/pub-empty.yaml", "--out", "{w}/out"], "must list at least one run"),
    ("publish-out-is-runs", ["publish", *PLAN, "--runs-dir", "{w}/runs", "--out", "{w}/runs"], "out must be a folder outside"),
    ("publish-out-in-runs", ["publish", *PLAN, "--runs-dir", "{w}/runs", "--out", "{w}/runs/pub"],
     "out must be a folder outside"),
    ("publish-out-file", ["publish", *PLAN, "--out", "{w}/a-file"], "out: {w}/a-file is a file"),
    ("publish-out-read-only", ["publish", *PLAN, "--out", "{w}/ro/out"], "out: {w}/ro: Permission denied", "book",
     "read-only"),
    ("publish-targets-50", ["publish", *PLAN, "--out", "{w}/out", "--n-target-classes", "50"],
     "n_target_classes must be at most 9"),
    ("publish-targets-0", ["publish", *PLAN, "--out", "{w}/out", "--n-target-classes", "0"], "n_target_classes must be >= 1"),
    ("publish-strong-negative", ["publish", *PLAN, "--out", "{w}/out", "--strong-subset", "-1"], "strong_subset must be >= 0"),
    ("publish-strong-huge", ["publish", *PLAN, "--out", "{w}/out", "--strong-subset", "20000"],
     "strong_subset must be at most the test images a run evaluates (50)"),
    ("publish-paper-style", ["publish", *PLAN, "--out", "{w}/out", "--paper-style-subset", "-1"],
     "paper_style_subset must be >= 0"),
    ("publish-apgd-steps", ["publish", *PLAN, "--out", "{w}/out", "--apgd-steps", "0"], "apgd_steps must be >= 1"),
    ("publish-restarts", ["publish", *PLAN, "--out", "{w}/out", "--pgd-restarts", "0"], "pgd_restarts must be >= 1"),
    ("publish-device", ["publish", *PLAN, "--out", "{w}/out", "--device", "gpu0"], "device must be cpu, cuda or cuda:N"),
    ("publish-data-dir", ["publish", *PLAN, "--out", "{w}/out", "--data-dir", "{w}/no-such-data"], "data_dir"),
    ("publish-subset", ["publish", "--plan", "{plans}/pub-big.yaml", "--out", "{w}/out"], "train_subset must be between"),
    ("publish-profile", ["publish", "--profile", "nope"], "profile must be one of mini"),
    ("publish-abbrev", ["publish", *PLAN, "--n-target", "3"], "unrecognized arguments: --n-target"),
    # bench
    ("bench-out-file", ["bench", "--quick", "--out", "{w}/a-file"], "out: {w}/a-file is a file"),
    ("bench-out-read-only", ["bench", "--quick", "--out", "{w}/ro/bench"], "out: {w}/ro: Permission denied", "book",
     "read-only"),
    ("bench-extra", ["bench", "--quick", "extra"], "unrecognized arguments: extra"),
    # the command itself
    ("no-command", [], "the following arguments are required: command"),
    ("unknown-command", ["frobnicate"], "invalid choice: 'frobnicate'"),
]
if not GPU:
    ROWS += [("device-cuda", TT + ["--device", "cuda"], "device: cuda is not available"),
             ("publish-device-cuda", ["publish", *PLAN, "--out", "{w}/out", "--device", "cuda"], "device: cuda is not available")]


def test_the_table_has_at_least_90_rows():
    assert len(ROWS) >= 90
    assert len({row[0] for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_bad_input_exit_2_one_line_naming_it_and_nothing_written(row, world, monkeypatch, capsys):
    _, argv, needle, *rest = row
    cwd = rest[0] if rest else "book"
    if len(rest) > 1:
        SETUPS[rest[1]](monkeypatch, world)
    monkeypatch.setenv("XDG_CACHE_HOME", str(world["cache"]))  # no row may download (no network either)
    names = {k: str(v) for k, v in world.items()}
    argv = [a.format(**names) for a in argv]
    needle = needle.format(**names)
    monkeypatch.chdir(world[cwd])
    before = _snapshot(world["w"])
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, err
    assert err.startswith("labelaug: error: ") and err.count("\n") == 1, err
    assert needle in err, err
    assert "Traceback" not in err and out == ""
    assert _snapshot(world["w"]) == before


def test_a_refusal_in_a_fresh_process_has_no_traceback(tmp_path, data_root):
    """The same refusals as the table, end to end: the seed beyond 2**63 and a GPU that is not there."""
    for flags, needle in ((["--seed", str(2**64)], "seed must be at most 2**63 - 1"),
                          (["--device", "gpu0"], "device must be cpu, cuda or cuda:N")):
        result = subprocess.run([sys.executable, "-m", "labelaug_core", "train", *flags], cwd=tmp_path,
                                capture_output=True, text=True, env=os.environ | {"LABELAUG_DATA": data_root})
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and needle in result.stderr, result.stderr
        assert list(tmp_path.iterdir()) == []


# --- Regressions: data loss (publish) and a wrong cached result (the data's identity) -------------------

def _plan(path: Path, settings: dict, **extra) -> Path:
    path.write_text(yaml.safe_dump({"settings": {k: v for k, v in settings.items() if k != "method"},
                                    "runs": [{"method": settings["method"]}], "publish_only": True} | extra))
    return path


def test_publish_never_deletes_runs_it_did_not_publish(tmp_path, data_root, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    runs = tmp_path / "runs"
    (runs / "someone-elses-run").mkdir(parents=True)
    (runs / "someone-elses-run" / "config.json").write_text("{}")
    plan = _plan(tmp_path / "p.yaml", TINY)
    common = ["publish", "--plan", str(plan), "--runs-dir", str(runs), "--strong-subset", "0", "--device", "cpu",
              "--no-progress"]
    for out in (runs, runs / "published"):
        assert main(common + ["--out", str(out)]) == 2
        assert "out must be a folder outside the runs directory" in capsys.readouterr().err
        assert sorted(p.name for p in runs.iterdir()) == ["someone-elses-run"]
    out = tmp_path / "results"
    (out / "foreign").mkdir(parents=True)
    (out / "foreign" / "config.json").write_text("{}")
    for _ in range(2):  # the second publication removes only what the first one's manifest listed
        assert main(common + ["--out", str(out)]) == 0, capsys.readouterr().err
    assert (out / "foreign" / "config.json").read_text() == "{}"
    assert (runs / "someone-elses-run" / "config.json").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runs"] == [TrainConfig.from_dict(TINY).run_id_for("cpu")]


def test_a_run_is_not_returned_for_other_image_folders(tmp_path, monkeypatch, capsys):
    """The wrong cached result of issue 21: the same command with another --data-dir returned the run
    trained on the first folder. Now the second is refused, naming --data-dir and --runs-dir."""
    monkeypatch.chdir(tmp_path)
    write_image_folder(tmp_path / "A", {"train": {"a": 4, "b": 4}, "val": {"a": 2, "b": 2}}, seed=1)
    write_image_folder(tmp_path / "B", {"train": {"a": 4, "b": 4}, "val": {"a": 2, "b": 2}}, seed=2)
    argv = ["train", "--dataset", "imagefolder", "--model", "small-cnn", "--method", "std", "--epochs", "1",
            "--batch-size", "4", "--eval-steps", "1", "--precision", "fp32", "--device", "cpu", "--no-progress",
            "--runs-dir", str(tmp_path / "runs")]
    assert main(argv + ["--data-dir", str(tmp_path / "A")]) == 0, capsys.readouterr().err
    run_dir = next(p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    recorded = json.loads((run_dir / "data.json").read_text())
    assert recorded["dataset"] == "imagefolder" and recorded["files"] == 12
    before = _snapshot(tmp_path)
    capsys.readouterr()
    assert main(argv + ["--data-dir", str(tmp_path / "B")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data_dir: the imagefolder files found now" in err and "--runs-dir" in err
    assert _snapshot(tmp_path) == before
    assert main(argv + ["--data-dir", str(tmp_path / "A")]) == 0  # the same data: the cached run
    assert _snapshot(tmp_path) == before


def test_a_run_is_not_returned_for_a_changed_fashion_mnist_copy(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    copy = tmp_path / "fm"
    write_fashion_mnist(copy, n_train=100, n_test=50)
    settings = TINY | {"test_subset": 0, "eval_subset": 0}  # all 50 test images of the copy
    argv = ["train", *_flags(settings), "--device", "cpu", "--no-progress", "--runs-dir", str(tmp_path / "runs"),
            "--data-dir", str(copy)]
    assert main(argv) == 0, capsys.readouterr().err
    same = tmp_path / "same"
    shutil.copytree(copy, same)  # copy2: sizes and modification times kept, so the identity is the same
    assert main(argv[:-1] + [str(same)]) == 0
    write_fashion_mnist(copy, n_train=100, n_test=50, seed=7)  # other images, same names and sizes
    capsys.readouterr()
    assert main(argv) == 2
    assert "data_dir: the fashion-mnist files found now" in capsys.readouterr().err


def test_report_counts_a_run_once(world, capsys):
    fake = world["fake"]
    assert main(["report", str(fake / "fm-std"), str(fake / "fm-adv-eps")]) == 2  # (settings differ: table row)
    capsys.readouterr()
    outputs = []
    for dirs in ([fake / "fm-std"], [fake / "fm-std", fake / "fm-std"], [fake / "fm-std", str(fake / "fm-std") + "/"],
                 [fake / "fm-std", fake / "fm-std"]):
        assert main(["report", *map(str, dirs)]) == 0
        outputs.append(capsys.readouterr().out)
    assert len(set(outputs)) == 1
    # The same run in another folder (a published copy): the same run id, counted once, with a note.
    other = world["w"] / "elsewhere" / "fm-std"
    if not other.exists():
        shutil.copytree(fake / "fm-std", other)
    assert main(["report", str(fake / "fm-std"), str(other)]) == 0
    out, err = capsys.readouterr()
    assert out == outputs[0] and "counted once" in err


# --- OS errors: one line naming the path and the error; no temporary file left ------------------------

def test_a_full_disk_while_checkpointing_leaves_no_temporary_file(tmp_path, monkeypatch, capsys):
    import labelaug_core.train as train_module

    def full_disk(state, path):
        Path(path).write_bytes(b"\0" * 4096)  # a part written, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(train_module.torch, "save", full_disk)
    monkeypatch.chdir(tmp_path)
    code = main(["train", *_flags(TINY), "--device", "cpu", "--no-progress", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("labelaug: error: ") and "checkpoint.tmp: No space left on device" in err
    assert not list(tmp_path.rglob("*.tmp"))


def test_an_atomic_write_on_a_read_only_file_system_leaves_nothing(tmp_path, monkeypatch):
    from labelaug_core import cache

    def read_only(src, dst):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dst))

    monkeypatch.setattr(cache.os, "replace", read_only)
    with pytest.raises(OSError) as caught:
        cache.write_json_atomic(tmp_path / "metrics.json", {"a": 1})
    assert caught.value.errno == errno.EROFS
    assert list(tmp_path.iterdir()) == []


def test_an_os_error_is_one_line_naming_the_path(monkeypatch, capsys):
    import labelaug_core.cli as cli

    def denied(args):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/srv/runs/x/config.json")

    monkeypatch.setitem(cli.COMMANDS, "status", denied)
    assert main(["status"]) == 1
    assert capsys.readouterr().err == "labelaug: error: /srv/runs/x/config.json: Permission denied\n"


def test_a_run_that_diverges_in_its_first_epoch_does_not_claim_a_checkpoint():
    from labelaug_core.train import TrainingDiverged, _raise_if_diverged

    with pytest.raises(TrainingDiverged, match="no checkpoint was written") as first:
        _raise_if_diverged(torch.tensor(3), torch.tensor(float("nan")), 0, 0)
    assert "epoch 0" not in str(first.value)
    with pytest.raises(TrainingDiverged, match=r"the last good checkpoint \(epoch 2\) is kept"):
        _raise_if_diverged(torch.tensor(3), torch.tensor(float("inf")), 2, 2)


# --- Shared machines: files follow the umask ---------------------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_follow_the_umask(tmp_path, umask, mode):
    from labelaug_core.cache import write_json_atomic

    old = os.umask(umask)
    try:
        write_json_atomic(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.json").stat().st_mode) == mode


def test_a_run_trained_by_one_user_is_readable_by_another(tmp_path, monkeypatch, capsys):
    """Every file of a run directory is readable by group and others under the usual umask 022 (what
    another user of a course machine needs), every folder enterable; nothing is 0600 as mkstemp makes it."""
    monkeypatch.chdir(tmp_path)
    old = os.umask(0o022)
    try:
        assert main(["train", *_flags(TINY), "--device", "cpu", "--no-progress", "--runs-dir", "runs"]) == 0
    finally:
        os.umask(old)
    run_dir = next(p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {"config.json", "key.json", "env.json", "data.json", "history.csv", "checkpoint.pt", "metrics.json"} <= {
        p.name for p in files}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044, f"{path} is {oct(path.stat().st_mode)}"
    for path in [run_dir, *(p for p in run_dir.rglob("*") if p.is_dir())]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o055 == 0o055, path
    if os.geteuid() == 0:  # root can check with a real second user: nobody reads every file
        shutil.copytree(run_dir, Path("/tmp") / f"labelaug-modes-{os.getpid()}", copy_function=shutil.copy)
        shared = Path("/tmp") / f"labelaug-modes-{os.getpid()}"
        try:
            os.chmod(shared, 0o755)
            for path in shared.rglob("*"):
                os.chmod(path, stat.S_IMODE((run_dir / path.relative_to(shared)).stat().st_mode))
            result = subprocess.run(["cat", *map(str, (p for p in shared.rglob("*") if p.is_file()))],
                                    user=65534, capture_output=True)
            assert result.returncode == 0, result.stderr
        finally:
            shutil.rmtree(shared)


# --- Help -----------------------------------------------------------------------------------------------

def test_train_help_states_every_setting_and_its_default(capsys):
    from dataclasses import fields

    from labelaug_core.config import field_help

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    squeezed = "".join(text.split())  # argparse wraps lines, also after hyphens
    for field in fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        assert flag in text
        meaning = "".join(field_help()[field.name].split())
        assert meaning and meaning in squeezed, field.name
    assert text.count("(default:") >= len(fields(TrainConfig))
    assert "fashion-mnist 10" in text  # epochs' default per data set


def test_book_has_the_flags_of_status_and_publish(capsys):
    with pytest.raises(SystemExit):
        main(["book", "--help"])
    text = capsys.readouterr().out
    for flag in ("--runs-dir", "--data-dir", "--device", "--no-progress"):
        assert flag in text
