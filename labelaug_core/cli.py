"""The ``labelaug`` command line.

    labelaug train --dataset fashion-mnist --method advplus --delta 0.03 [...]
    labelaug evaluate RUN_DIR [--eval-steps 40] [--attack-logits all]
    labelaug report RUN_DIR [RUN_DIR ...]
    labelaug book [--profile fashion-mnist-cpu | --plan FILE.yaml]
    labelaug status [--profile fashion-mnist-cpu | --plan FILE.yaml]
    labelaug bench [...]

Bad input prints one line ``labelaug: error: ...`` naming the parameter and what is
allowed, and exits with status 2, before anything is written: the settings, the devices, the
folders (``--data-dir`` must exist, ``--runs-dir``/``--out`` must be folders that can be written
when something is to be written there), the sizes asked of the data, and whether a cached run was
trained on the data given now. An OS error while running (no space left, a read-only or
unwritable folder) is one line naming the path and the error, exit status 1, with no temporary
file left behind. Flags are never abbreviated (``--epoch`` is not ``--epochs``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from labelaug_core import inputs
from labelaug_core.config import TrainConfig, field_default, field_help
from labelaug_core.errors import ConfigError


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # --epoch must not be taken for --epochs
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # one line, exit 2 (argparse prints usage too by default)
        raise ConfigError(message)


def _help(text: str) -> str:
    return text.replace("%", "%%")  # argparse formats help strings with %


def _config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field (``--batch-size`` for ``batch_size``), default = unset. The help
    of each is the comment on the field's line in labelaug_core/config.py (one source) and its default."""
    meanings = field_help()
    group = parser.add_argument_group("settings (TrainConfig fields; they make the run id)")
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        text = _help(f"{meanings[field.name] or field.name} (default: {field_default(field.name)})")
        type_name = str(field.type)  # annotations are strings: "float | None", "int", "bool", ...
        if type_name.startswith("bool"):  # --pretrained true|false (also yes/no, 1/0)
            group.add_argument(flag, dest=field.name, type=_boolean(field.name), default=None, metavar="true|false",
                               help=text)
            continue
        kind = int if type_name.startswith("int") else float if type_name.startswith("float") else str
        group.add_argument(flag, dest=field.name, type=kind, default=None, metavar=field.name.upper(), help=text)


def _boolean(name: str):
    def parse(text: str) -> bool:
        value = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(text.lower())
        if value is None:
            raise argparse.ArgumentTypeError(f"{name} must be true or false; got {text!r}")
        return value
    return parse


def _common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=None,
                        help="data root, an existing folder (default: $LABELAUG_DATA, then Debian's "
                             "/usr/share/datasets, then ~/.cache/labelaug)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available, else cpu)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (default: shown)")


def _runs_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", default="runs", help="folder of the run directories (default: runs)")


DEFAULT_PROFILE = "fashion-mnist-cpu"


def _plan_flags(parser: argparse.ArgumentParser) -> None:
    """--profile NAME (experiments/NAME.yaml) or --plan FILE (a plan file anywhere), not both."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--profile", default=None, help=f"a plan of experiments/ by name, run in the book's folder "
                                                       f"(default: {DEFAULT_PROFILE})")
    which.add_argument("--plan", default=None, metavar="FILE.yaml",
                       help="a plan file anywhere; its profile name is its `name:` or the file's stem")


def _plan_of(args):
    """The plan that --profile/--plan name, validated (ConfigError before anything runs)."""
    from labelaug_core.book.plan import load_plan, read_plan

    return read_plan(args.plan) if args.plan else load_plan(args.profile or DEFAULT_PROFILE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="labelaug", description="Adversarial training with label augmentation.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")

    p = command("train", "train and evaluate one run into RUNS_DIR/<run_id>/")
    _config_flags(p)
    _common_flags(p)
    _runs_flag(p)

    p = command("evaluate", "evaluate a run's checkpoint again (optionally with other attack settings)")
    p.add_argument("run_dir", help="a trained run directory (RUNS_DIR/<run_id>)")
    p.add_argument("--eval-steps", type=int, default=None, help="PGD steps (default: the run's eval_steps)")
    p.add_argument("--attack-logits", choices=("classes", "all"), default="classes",
                   help="logits the attack ascends: the K classes or all K + M outputs (default: classes)")
    p.add_argument("--eval-subset", type=int, default=None,
                   help="test images attacked, at most the run's test images (default: the run's eval_subset)")
    _common_flags(p)

    p = command("report", "print the Table 1 / Table 2 comparison of finished runs")
    p.add_argument("run_dirs", nargs="+", help="run directories of one data set and one set of settings "
                                               "(methods and seeds may differ; a run given twice counts once)")

    p = command("book", "run an experiment plan and build the HTML book")
    _plan_flags(p)
    p.add_argument("--force", action="store_true", help="re-execute every notebook (default: reuse unchanged ones)")
    _runs_flag(p)
    _common_flags(p)

    p = command("status", "what a plan has cached, what is stale and why")
    _plan_flags(p)
    _runs_flag(p)
    p.add_argument("--device", default=None, help="the device whose precision the run ids assume (default: cuda if "
                                                  "available, else cpu)")

    p = command("publish", "make a plan's runs and strong evaluations; copy their small files to results/")
    _plan_flags(p)
    p.add_argument("--out", default=None, help="folder of the published files, outside --runs-dir "
                                               "(default: results/<profile>)")
    p.add_argument("--strong-subset", type=int, default=500, help="test images the strong ensemble attacks per run "
                                                                   "(0: none; default: 500)")
    p.add_argument("--paper-style-subset", type=int, default=0,
                   help="test images of paper-style PGD-40 per run (0: none; default: 0)")
    p.add_argument("--apgd-steps", type=int, default=100, help="steps of APGD-CE and of each APGD-T target (default: 100)")
    p.add_argument("--n-target-classes", type=int, default=9,
                   help="APGD-T target classes, at most the classes less one (AutoAttack: 9; default: 9)")
    p.add_argument("--pgd-restarts", type=int, default=5, help="random starts of the ensemble's PGD-40 (default: 5)")
    _runs_flag(p)
    _common_flags(p)

    p = command("bench", "speed benchmarks; JSON into benchmarks/results/")
    p.add_argument("--quick", action="store_true", help="fewer repeats (a smoke check; default: the full benchmark)")
    p.add_argument("--out", default="benchmarks/results", help="folder of the result JSON (default: benchmarks/results)")
    return parser


def _cmd_train(args) -> int:
    from labelaug_core.distributed import process_group
    from labelaug_core.runs.store import is_finished
    from labelaug_core.runs.training import check_cached_inputs, ensure_run

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if getattr(args, f.name) is not None}
    device = inputs.checked_device(args.device)
    data_dir = inputs.data_dir_of(args)
    config = TrainConfig.from_dict(values).resolved(device)
    inputs.checked_folder(args.runs_dir, "runs_dir", write=False)
    check_cached_inputs(config, args.runs_dir, data_dir, device)
    if not is_finished(config, args.runs_dir):
        inputs.checked_folder(args.runs_dir, "runs_dir", write=True)
    # Under torchrun every rank trains its shard; rank 0 alone writes, evaluates and prints.
    with process_group(device) as me:
        rank_device = device if me.world_size == 1 else str(me.device)
        run_dir = ensure_run(config, args.runs_dir, data_dir=data_dir, device=rank_device,
                             progress=not args.no_progress, rank=me.rank, world_size=me.world_size)
    if not me.is_main:
        return 0
    from labelaug_core.runs.store import load_run

    metrics = load_run(run_dir, config).metrics
    print(f"{run_dir}: clean {metrics['clean_err']:.2f}%  PGD-{metrics['eval_steps']} {metrics['pgd_err']:.2f}% error")
    return 0


def _cmd_evaluate(args) -> int:
    from labelaug_core.data.loaders import check_sizes
    from labelaug_core.runs.store import read_config, recorded_data_dir
    from labelaug_core.runs.training import evaluate_again

    device = inputs.checked_device(args.device)
    data_dir = inputs.data_dir_of(args)
    config = read_config(args.run_dir)
    if args.eval_steps is not None and not 1 <= args.eval_steps <= 100_000:
        raise ConfigError(f"eval_steps must be between 1 and 100000; got {args.eval_steps}")
    if args.eval_subset is not None:
        if args.eval_subset < 0:
            raise ConfigError(f"eval_subset must be >= 0; got {args.eval_subset}")
        check_sizes(config.dataset, data_dir or recorded_data_dir(args.run_dir), train=False,
                    test_subset=config.test_subset, eval_subset=args.eval_subset)
    metrics = evaluate_again(args.run_dir, eval_steps=args.eval_steps, attack_logits=args.attack_logits,
                             eval_subset=args.eval_subset, data_dir=data_dir, device=device,
                             progress=not args.no_progress)
    print(json.dumps(metrics, indent=2, sort_keys=True))
    return 0


def _cmd_report(args) -> int:
    import pandas as pd

    from labelaug_core.report.average_error import table1
    from labelaug_core.report.classwise_error import table2
    from labelaug_core.report.average_error import headline_changes
    from labelaug_core.runs.collect import method_means
    from labelaug_core.runs.store import load_run

    dirs = list(dict.fromkeys(Path(d).resolve() for d in args.run_dirs))  # a folder given twice counts once
    runs = inputs.comparable_runs([load_run(d) for d in dirs])
    with pd.option_context("display.float_format", "{:.2f}".format, "display.width", 140):
        print("Table 1: error % (ours: this project's runs; paper: ResNet-50 on ImageNet)")
        print(table1(runs), end="\n\n")
        print("Table 2: per-class error %, mean and SD across classes")
        print(table2(runs), end="\n\n")
        means = method_means(runs, ("clean_err", "pgd_err", "clean_class_sd", "pgd_class_sd"))
        print("Relative changes (the paper's headline percentages)")
        print(headline_changes(means))
    return 0


def _cmd_book(args) -> int:
    from labelaug_core.book.build import build_book

    device = inputs.checked_device(args.device)
    data_dir = inputs.data_dir_of(args)
    plan = _plan_of(args)  # a bad plan, or no book folder here, is refused before anything runs
    inputs.checked_folder(args.runs_dir, "runs_dir", write=True)
    common = dict(force=args.force, data_dir=data_dir, device=device, progress=not args.no_progress,
                  runs_dir=args.runs_dir)
    if args.plan:
        build_book(plan_file=args.plan, **common)
    else:
        build_book(plan.profile, **common)
    return 0


def _cmd_status(args) -> int:
    from labelaug_core.runs.status import plan_status

    device = inputs.checked_device(args.device)
    plan = _plan_of(args)
    inputs.checked_folder(args.runs_dir, "runs_dir", write=False)
    rows = plan_status(plan, args.runs_dir, "book", device)
    width = max(len(r["name"]) for r in rows) if rows else 0
    for row in rows:
        print(f"{row['kind']:8} {row['name']:{width}}  {row['status']}" + (f"  ({row['why']})" if row["why"] else ""))
    return 0


def _cmd_publish(args) -> int:
    from labelaug_core.runs.published import publish

    device = inputs.checked_device(args.device)
    data_dir = inputs.data_dir_of(args)
    plan = _plan_of(args)
    out = Path(args.out or Path("results") / plan.profile)
    inputs.check_publish(args, plan, out, data_dir, device)
    which = f"--plan {args.plan}" if args.plan else f"--profile {plan.profile}"
    strong = {"apgd_steps": args.apgd_steps, "n_target_classes": args.n_target_classes, "pgd_restarts": args.pgd_restarts}
    command = (f"labelaug publish {which} --strong-subset {args.strong_subset} "
               f"--paper-style-subset {args.paper_style_subset} "
               + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in strong.items()) + (f" --out {args.out}" if args.out else ""))
    manifest = publish(plan, out, strong_subset=args.strong_subset, paper_style_subset=args.paper_style_subset,
                       runs_dir=args.runs_dir, data_dir=data_dir,
                       device=device, progress=not args.no_progress, command=command, **strong)
    run_ids = json.loads(manifest.read_text())["runs"]
    print(f"{manifest}: {len(run_ids)} runs published")
    return 0


def _cmd_bench(args) -> int:
    from labelaug_core.bench.run import run_benchmarks

    inputs.checked_folder(args.out, "out", write=True)  # refused now, not after minutes of benchmarks
    run_benchmarks(out_dir=args.out, quick=args.quick)
    return 0


COMMANDS = {"train": _cmd_train, "evaluate": _cmd_evaluate, "report": _cmd_report, "book": _cmd_book,
            "status": _cmd_status, "publish": _cmd_publish, "bench": _cmd_bench}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"labelaug: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except OSError as exc:  # no space left, read-only file system, permission denied ... while running
        print(f"labelaug: error: {inputs.os_error_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        from labelaug_core.book.plan import BookError
        from labelaug_core.train import TrainingDiverged

        if not isinstance(exc, (BookError, TrainingDiverged)):
            raise
        print(f"labelaug: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("labelaug: interrupted; a rerun resumes from the last checkpoint", file=sys.stderr)
        return 130


def entry_point() -> None:
    sys.exit(main())
