"""The ``labelaug`` command line.

    labelaug train --dataset fashion-mnist --method advplus --delta 0.03 [...]
    labelaug evaluate RUN_DIR [--eval-steps 40] [--attack-logits all]
    labelaug report RUN_DIR [RUN_DIR ...]
    labelaug book [--profile fashion-mnist-cpu | --plan FILE.yaml]
    labelaug status [--profile fashion-mnist-cpu | --plan FILE.yaml]
    labelaug bench [...]

Bad input prints one line ``labelaug: error: ...`` naming the parameter and what is
allowed, and exits with status 2, before anything is written.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from labelaug_core.config import TrainConfig
from labelaug_core.errors import ConfigError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints usage too by default)
        raise ConfigError(message)


def _config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field (``--batch-size`` for ``batch_size``), default = unset."""
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        type_name = str(field.type)  # annotations are strings: "float | None", "int", "bool", ...
        if type_name.startswith("bool"):  # --pretrained true|false (also yes/no, 1/0)
            parser.add_argument(flag, dest=field.name, type=_boolean(field.name), default=None, metavar="true|false")
            continue
        kind = int if type_name.startswith("int") else float if type_name.startswith("float") else str
        parser.add_argument(flag, dest=field.name, type=kind, default=None, metavar=field.name.upper())


def _boolean(name: str):
    def parse(text: str) -> bool:
        value = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(text.lower())
        if value is None:
            raise argparse.ArgumentTypeError(f"{name} must be true or false; got {text!r}")
        return value
    return parse


def _common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=os.environ.get("LABELAUG_DATA"), help="data root (default: $LABELAUG_DATA)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


DEFAULT_PROFILE = "fashion-mnist-cpu"


def _plan_flags(parser: argparse.ArgumentParser) -> None:
    """--profile NAME (experiments/NAME.yaml) or --plan FILE (a plan file anywhere), not both."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--profile", default=None, help=f"a plan of experiments/ by name (default: {DEFAULT_PROFILE})")
    which.add_argument("--plan", default=None, metavar="FILE.yaml",
                       help="a plan file anywhere; its profile name is its `name:` or the file's stem")


def _plan_of(args):
    """The plan that --profile/--plan name, validated (ConfigError before anything runs)."""
    from labelaug_core.book.plan import load_plan, read_plan

    return read_plan(args.plan) if args.plan else load_plan(args.profile or DEFAULT_PROFILE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="labelaug", description="Adversarial training with label augmentation.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train and evaluate one run into RUNS_DIR/<run_id>/")
    _config_flags(p)
    _common_flags(p)
    p.add_argument("--runs-dir", default="runs")

    p = sub.add_parser("evaluate", help="evaluate a run's checkpoint again (optionally with other attack settings)")
    p.add_argument("run_dir")
    p.add_argument("--eval-steps", type=int, default=None)
    p.add_argument("--attack-logits", choices=("classes", "all"), default="classes")
    p.add_argument("--eval-subset", type=int, default=None)
    _common_flags(p)

    p = sub.add_parser("report", help="print the Table 1 / Table 2 comparison of finished runs")
    p.add_argument("run_dirs", nargs="+")

    p = sub.add_parser("book", help="run an experiment plan and build the HTML book")
    _plan_flags(p)
    p.add_argument("--force", action="store_true", help="re-execute every notebook")

    p = sub.add_parser("status", help="what a plan has cached, what is stale and why")
    _plan_flags(p)
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--device", default=None)

    p = sub.add_parser("publish", help="make a plan's runs and strong evaluations; copy their small files to results/")
    _plan_flags(p)
    p.add_argument("--out", default=None, help="folder of the published files (default: results/<profile>)")
    p.add_argument("--strong-subset", type=int, default=500, help="test images the strong ensemble attacks per run (0: none)")
    p.add_argument("--paper-style-subset", type=int, default=0,
                   help="test images of paper-style PGD-40 per run (0: none)")
    p.add_argument("--apgd-steps", type=int, default=100, help="steps of APGD-CE and of each APGD-T target")
    p.add_argument("--n-target-classes", type=int, default=9, help="APGD-T target classes (AutoAttack: 9)")
    p.add_argument("--pgd-restarts", type=int, default=5, help="random starts of the ensemble's PGD-40")
    p.add_argument("--runs-dir", default="runs")
    _common_flags(p)

    p = sub.add_parser("bench", help="speed benchmarks; JSON into benchmarks/results/")
    p.add_argument("--quick", action="store_true", help="fewer repeats (a smoke check)")
    p.add_argument("--out", default="benchmarks/results")
    return parser


def _cmd_train(args) -> int:
    from labelaug_core.distributed import process_group
    from labelaug_core.runs.training import ensure_run

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if getattr(args, f.name) is not None}
    config = TrainConfig.from_dict(values).resolved(args.device)
    # Under torchrun every rank trains its shard; rank 0 alone writes, evaluates and prints.
    with process_group(args.device) as me:
        device = args.device if me.world_size == 1 else str(me.device)
        run_dir = ensure_run(config, args.runs_dir, data_dir=args.data_dir, device=device,
                             progress=not args.no_progress, rank=me.rank, world_size=me.world_size)
    if not me.is_main:
        return 0
    from labelaug_core.runs.store import load_run

    metrics = load_run(run_dir, config).metrics
    print(f"{run_dir}: clean {metrics['clean_err']:.2f}%  PGD-{metrics['eval_steps']} {metrics['pgd_err']:.2f}% error")
    return 0


def _cmd_evaluate(args) -> int:
    from labelaug_core.runs.training import evaluate_again

    metrics = evaluate_again(args.run_dir, eval_steps=args.eval_steps, attack_logits=args.attack_logits,
                             eval_subset=args.eval_subset, data_dir=args.data_dir, device=args.device,
                             progress=not args.no_progress)
    print(json.dumps(metrics, indent=2, sort_keys=True))
    return 0


def _cmd_report(args) -> int:
    import pandas as pd

    from labelaug_core.report.tables import (
        headline_changes,
        method_means,
        table1,
        table2,
    )
    from labelaug_core.runs.store import load_run

    runs = [load_run(d) for d in args.run_dirs]
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

    if args.plan:
        build_book(plan_file=args.plan, force=args.force)
    else:
        build_book(args.profile or DEFAULT_PROFILE, force=args.force)
    return 0


def _cmd_status(args) -> int:
    from labelaug_core.runs.status import plan_status

    rows = plan_status(_plan_of(args), args.runs_dir, "book", args.device)
    width = max(len(r["name"]) for r in rows) if rows else 0
    for row in rows:
        print(f"{row['kind']:8} {row['name']:{width}}  {row['status']}" + (f"  ({row['why']})" if row["why"] else ""))
    return 0


def _cmd_publish(args) -> int:
    from labelaug_core.runs.published import publish

    plan = _plan_of(args)
    out = Path(args.out or Path("results") / plan.profile)
    which = f"--plan {args.plan}" if args.plan else f"--profile {plan.profile}"
    strong = {"apgd_steps": args.apgd_steps, "n_target_classes": args.n_target_classes, "pgd_restarts": args.pgd_restarts}
    command = (f"labelaug publish {which} --strong-subset {args.strong_subset} "
               f"--paper-style-subset {args.paper_style_subset} "
               + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in strong.items()) + (f" --out {args.out}" if args.out else ""))
    manifest = publish(plan, out, strong_subset=args.strong_subset, paper_style_subset=args.paper_style_subset,
                       runs_dir=args.runs_dir, data_dir=args.data_dir,
                       device=args.device, progress=not args.no_progress, command=command, **strong)
    print(f"{manifest}: {len(json.loads(manifest.read_text())['runs'])} runs published")
    return 0


def _cmd_bench(args) -> int:
    from labelaug_core.bench.run import run_benchmarks

    run_benchmarks(out_dir=args.out, quick=args.quick)
    return 0


COMMANDS = {"train": _cmd_train, "evaluate": _cmd_evaluate, "report": _cmd_report, "book": _cmd_book,
            "status": _cmd_status, "publish": _cmd_publish, "bench": _cmd_bench}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"labelaug: error: {exc}", file=sys.stderr)
        return 2
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
