"""The command line: one-line errors with exit status 2 and nothing written; a real end-to-end run."""
import json
import subprocess
import sys

import pytest

from labelaug_core.cli import main


@pytest.mark.parametrize("argv,needle", [
    (["train", "--dataset", "mnist"], "dataset must be one of"),
    (["train", "--method", "trades"], "method must be one of std, adv, advplus"),
    (["train", "--model", "vgg"], "model must be one of"),
    (["train", "--eps", "-0.1"], "eps must be in [0, 1]"),
    (["train", "--delta", "1.0"], "delta must be in [0, 1)"),
    (["train", "--steps", "0"], "steps must be >= 1"),
    (["train", "--batch-size", "0"], "batch_size must be >= 1"),
    (["train", "--epochs", "two"], "--epochs"),
    (["evaluate", "does/not/exist"], "run_dir"),
    (["report", "does/not/exist"], "run_dir"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, monkeypatch, capsys, argv, needle):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("labelaug: error: ") and err.count("\n") == 1 and needle in err
    assert list(tmp_path.iterdir()) == []


def test_unfinished_run_directory_is_rejected(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert main(["evaluate", str(tmp_path / "run")]) == 2
    assert "lacks config.json" in capsys.readouterr().err


def test_subprocess_error_has_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "labelaug_core", "train", "--delta", "2"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "labelaug: error: delta must be in [0, 1); got 2.0"
    assert not (tmp_path / "runs").exists()


def test_train_evaluate_report_end_to_end_on_real_fashion_mnist(tmp_path, data_root, capsys):
    common = ["--dataset", "fashion-mnist", "--epochs", "1", "--train-subset", "1000", "--test-subset", "500",
              "--eval-subset", "200", "--steps", "3", "--eval-steps", "5", "--runs-dir", str(tmp_path), "--no-progress"]
    for method in ("std", "adv", "advplus"):
        assert main(["train", "--method", method] + common) == 0
    run_dirs = sorted(p for p in tmp_path.iterdir() if p.is_dir())  # beside them: one .lock file per run
    assert len(run_dirs) == 3
    from labelaug_core.runs.store import load_run

    for run_dir in run_dirs:
        names = {p.name for p in run_dir.iterdir()}
        assert {"config.json", "key.json", "data.json", "history.csv", "env.json", "checkpoint.pt", "evaluation"} <= names
        eval_dir = load_run(run_dir).eval_dir  # evaluation/test<T>-pgd<k>-n<N>-<key>/
        assert {"metrics.json", "per_class.csv", "predictions.npz"} <= {p.name for p in eval_dir.iterdir()}
        metrics = json.loads((eval_dir / "metrics.json").read_text())
        assert metrics["n_test"] == 500 and metrics["n_attacked"] == 200
        assert 0 <= metrics["clean_err"] <= metrics["pgd_err"] + 5  # robust error is not far below clean
        assert metrics["fgsm_err"] <= metrics["pgd_err"] + 1.0
        env = json.loads((run_dir / "env.json").read_text())
        assert env["torch"].startswith("2.13.0") and "git_commit" in env
    # A finished run is not recomputed.
    stamp = (load_run(run_dirs[0]).eval_dir / "metrics.json").stat().st_mtime_ns
    assert main(["train", "--method", "std"] + common) == 0
    assert (load_run(run_dirs[0]).eval_dir / "metrics.json").stat().st_mtime_ns == stamp
    capsys.readouterr()
    std_dir = next(d for d in run_dirs if "-std-" in d.name)
    assert main(["evaluate", str(std_dir), "--eval-steps", "2", "--eval-subset", "100", "--no-progress"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["n_attacked"] == 100 and again["eval_steps"] == 2
    assert main(["report"] + [str(d) for d in run_dirs]) == 0
    out = capsys.readouterr().out
    assert "Table 1" in out and "Adv+ vs Adv, PGD error" in out


@pytest.mark.parametrize("text, value", [("false", False), ("False", False), ("0", False), ("true", True), ("yes", True)])
def test_boolean_flags_parse_their_value(text, value):
    from labelaug_core.cli import build_parser

    assert build_parser().parse_args(["train", "--pretrained", text]).pretrained is value


def test_refused_train_names_the_parameter_and_writes_no_run(tmp_path, data_root, capsys):
    runs = tmp_path / "runs"
    assert main(["train", "--weak-classes", "12", "--data-dir", str(data_root), "--runs-dir", str(runs)]) == 2
    assert capsys.readouterr().err.strip() == "labelaug: error: weak_classes must be class indices in [0, 10); got 12"
    assert main(["train", "--pretrained", "maybe"]) == 2
    assert "pretrained must be true or false; got 'maybe'" in capsys.readouterr().err
    assert main(["train", "--dataset", "imagefolder", "--data-dir", str(tmp_path / "none"), "--runs-dir", str(runs)]) == 2
    assert "data_dir: " + str(tmp_path / "none") + " does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["train", "--dataset", "imagefolder", "--data-dir", str(tmp_path / "empty"), "--runs-dir", str(runs)]) == 2
    assert "imagefolder: no train/ folder" in capsys.readouterr().err
    assert not runs.exists() or not any(p.is_dir() for p in runs.iterdir())  # nothing half-written
