"""The command line's inputs, checked before anything is written (:mod:`labelaug_core.cli`).

Each check raises a one-line :class:`~labelaug_core.errors.ConfigError` naming the parameter and
what is allowed (``labelaug: error: ...``, exit status 2): the data folder, the device, the
folders to write, what a run asks of the data (and whether a cached run was trained on these
data), the runs a report may average, and what ``publish`` is given. :func:`os_error_line` words an
OS error met while running (exit status 1).
"""
from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

from labelaug_core.errors import ConfigError


def data_dir_of(args) -> str | None:
    """``--data-dir``, else ``$LABELAUG_DATA``; either must be an existing folder when given (never
    skipped silently for the next place the data could be)."""
    if args.data_dir:
        if not Path(args.data_dir).is_dir():
            what = "is not a directory" if Path(args.data_dir).exists() else "does not exist"
            raise ConfigError(f"data_dir: {args.data_dir} {what} (--data-dir)")
        return args.data_dir
    env = os.environ.get("LABELAUG_DATA")
    if env and not Path(env).is_dir():
        raise ConfigError(f"data_dir: $LABELAUG_DATA={env} is not an existing folder; fix or unset it, or give --data-dir")
    return env or None


def checked_device(text: str | None) -> str | None:
    """``--device``: cpu, cuda or cuda:N (a GPU torch can use on this machine), mps where available."""
    if text is None:
        return None
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise ConfigError(f"device must be cpu, cuda or cuda:N; got {text!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device: {text} is not available (torch finds no CUDA GPU on this machine); use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device: {text} does not exist (this machine has {torch.cuda.device_count()} CUDA GPUs)")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"device: {text} is not available on this machine; use --device cpu")
    elif device.type != "cpu":
        raise ConfigError(f"device must be cpu, cuda or cuda:N; got {text!r}")
    return text


def checked_folder(path: str | Path, name: str, *, write: bool) -> Path:
    """``path`` must be a folder or not yet exist; with ``write``, its nearest existing ancestor must be
    a folder this process can write (not on a read-only file system)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{name}: {path} is a file, not a folder")
    if not write:
        return path
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{name}: {existing} is a file, not a folder (in {path})")
    problem = None
    try:
        if os.statvfs(existing).f_flag & os.ST_RDONLY:
            problem = errno.EROFS
    except OSError:
        pass
    if problem is None and not os.access(existing, os.W_OK | os.X_OK):
        problem = errno.EACCES
    if problem is not None:
        raise ConfigError(f"{name}: {existing}: {os.strerror(problem)}; give a folder you can write")
    return path


# Settings that differ between the methods of one comparison (resolved() sets some per method): each
# method's runs must agree on them among themselves; every other setting must be equal across all runs.
PER_METHOD = ("method", "delta", "num_ops", "attack_bn", "adv_fraction", "init_from", "finetune_epochs", "finetune_lr")


def comparable_runs(runs) -> list:
    """The runs a report can average (per method, over seeds): each run once (a folder given twice, or the
    same run id in two folders, counts once), all of one data set, of the same data and of the same
    settings except the method's own (:data:`PER_METHOD`) and the seed; else a ConfigError naming two runs."""
    from labelaug_core.runs.store import recorded_data

    unique, seen = [], set()
    for run in runs:
        if run.run_id in seen:
            print(f"labelaug: note: {run.run_dir} is run {run.run_id} again; counted once", file=sys.stderr)
            continue
        seen.add(run.run_id)
        unique.append(run)
    first = unique[0]

    def shared(run):
        return {k: v for k, v in run.config.to_dict().items() if k not in PER_METHOD + ("seed",)}

    for run in unique[1:]:
        if run.config.dataset != first.config.dataset:
            raise ConfigError(f"run_dirs: {first.run_dir} is of {first.config.dataset} and {run.run_dir} of "
                              f"{run.config.dataset}; a report compares runs of one data set")
        a, b = recorded_data(first.run_dir), recorded_data(run.run_dir)
        if a and b and a["digest"] != b["digest"]:
            raise ConfigError(f"run_dirs: {first.run_dir} and {run.run_dir} were trained on different "
                              f"{run.config.dataset} files ({a.get('root')}, {b.get('root')}; data.json digests "
                              f"{a['digest']}, {b['digest']})")
        differ = [k for k, v in shared(first).items() if shared(run).get(k) != v]
        if differ:
            k = differ[0]
            raise ConfigError(f"run_dirs: {first.run_dir} and {run.run_dir} differ in {k} ({getattr(first.config, k)!r} "
                              f"vs {getattr(run.config, k)!r}); a report compares methods at the same settings")
        same_method = next((r for r in unique if r.config.method == run.config.method), run)
        differ = [k for k in PER_METHOD if getattr(same_method.config, k) != getattr(run.config, k)]
        if differ:
            k = differ[0]
            raise ConfigError(f"run_dirs: {same_method.run_dir} and {run.run_dir} are both {run.config.method} runs "
                              f"but differ in {k} ({getattr(same_method.config, k)!r} vs {getattr(run.config, k)!r}); "
                              "a report averages one setting per method over seeds")
    return unique



def check_publish(args, plan, out: Path, data_dir: str | None, device: str | None) -> None:
    """Everything ``publish`` is given, checked before it trains or writes anything."""
    from labelaug_core.data.loaders import split_size
    from labelaug_core.data.sources import dataset_info
    from labelaug_core.runs.published import check_options, check_out_dir
    from labelaug_core.runs.store import is_finished
    from labelaug_core.runs.training import check_cached_inputs

    check_options(plan, args.strong_subset, args.paper_style_subset,
                  {name: getattr(args, name) for name in ("apgd_steps", "n_target_classes", "pgd_restarts")})
    checked_folder(args.runs_dir, "runs_dir", write=False)
    check_out_dir(out, args.runs_dir)
    checked_folder(out, "out", write=True)
    for config in plan.runs:
        check_cached_inputs(config, args.runs_dir, data_dir, device)
        info = dataset_info(config.dataset, data_dir)
        if args.n_target_classes > info.num_classes - 1:
            raise ConfigError(f"n_target_classes must be at most {info.num_classes - 1} ({config.dataset} has "
                              f"{info.num_classes} classes, one of them the true one); got {args.n_target_classes}")
        tested = config.test_subset or split_size(config.dataset, "test", data_dir)
        for name in ("strong_subset", "paper_style_subset"):
            if getattr(args, name) > tested:
                raise ConfigError(f"{name} must be at most the test images a run evaluates ({tested}); "
                                  f"got {getattr(args, name)}")
    if not all(is_finished(c, args.runs_dir) for c in plan.runs):
        checked_folder(args.runs_dir, "runs_dir", write=True)



def os_error_line(exc: OSError) -> str:
    """One line for an OSError: the path and the errno's meaning (``No space left on device``)."""
    meaning = os.strerror(exc.errno) if exc.errno else (exc.strerror or type(exc).__name__)
    where = exc.filename if exc.filename is not None else None
    if where is None:
        text = " ".join(str(exc).split())
        return f"{text[:200]}" if text else meaning
    return f"{where}: {meaning}"
