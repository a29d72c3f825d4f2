"""Speed benchmarks (``labelaug bench``): this project's PGD and adversarial training against
what a user would otherwise write, and against the machine's limit.

Measured side by side in one process, on the same model, batch and inputs:

- **PGD-10 throughput** (L-inf, eps 8/255, alpha 2/255, one random start; images/s) of this
  project's ``attacks.pgd`` in fp32 (as evaluation runs it) and on its fast path (as training
  runs it: channels_last, and bf16 autocast on CUDA and on CPUs with bf16 units),
  ``torchattacks.PGD`` and ART's ``ProjectedGradientDescentPyTorch`` (on the model as built, as a
  user would pass it, and torchattacks also on the channels_last model); and the *floor*: the
  same 10 forward + input-backward passes with nothing else (no loss bookkeeping, no
  projection, no random start), per precision and memory layout.
- **One PGD-10 adversarial-training epoch** of the small CNN on a Fashion-MNIST subset:
  ``train.train`` against the reference loop a user would write (fp32, a DataLoader over a
  TensorDataset, torchattacks' PGD, SGD), on the same examples; and the floor of an epoch
  (the passes and optimiser steps alone, on batches already on the device).
- **The machine's limit**: each case's model FLOP/s (``torch.utils.flop_counter``: forward and
  input-backward FLOPs of one attack step, times the steps) as a percentage of a measured
  GEMM peak of the same precision (:func:`gemm_peak`).

Timing: every case is warmed up once (oneDNN/cuDNN pick their kernels on the first call),
then the cases run round-robin ``repeats`` times and the median is reported, so load from other
processes on a shared machine hits every case alike. On CUDA: CUDA events and
``torch.cuda.synchronize``. The result JSON records device, versions, git commit and load
average; benchmarks/README.md explains how to read it.
"""
from __future__ import annotations

import copy
import datetime
import json
import os
import platform
import re
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from labelaug_core import __version__
from labelaug_core.attacks import attack_mode, pgd
from labelaug_core.config import TrainConfig
from labelaug_core.models import build_model
from labelaug_core.train import make_optimizer, pick_device, pick_precision, train, uses_channels_last

EPS, ALPHA, STEPS = 8 / 255, 2 / 255, 10  # PGD-10 as in CIFAR adversarial training (Madry; Rice et al.)
FMNIST_EPS = 0.1  # the epoch benchmark trains Fashion-MNIST at its default radius (config.DATASET_DEFAULTS)


@dataclass(frozen=True)
class Workload:
    """One attack benchmark: ``model`` on (batch, channels, size, size) synthetic inputs in [0, 1]."""

    model: str
    channels: int
    image_size: int
    batch: int
    repeats: int
    compiled: bool = False  # also time the fast path under torch.compile (compile time reported apart)


# Sizes per device kind. On the 2-core CPU the large models get small batches and one or two
# repeats so that the whole `labelaug bench` stays under 5 minutes; on CUDA the usual batches.
WORKLOADS = {
    "cpu": (Workload("small-cnn", 1, 28, 128, 9, compiled=True), Workload("preact-resnet18", 3, 32, 8, 3),
            Workload("resnet50", 3, 224, 2, 1)),
    "cuda": (Workload("small-cnn", 1, 28, 128, 10, True), Workload("preact-resnet18", 3, 32, 128, 5, True),
             Workload("resnet50", 3, 224, 64, 3, True)),
    "quick": (Workload("small-cnn", 1, 28, 16, 1),),
}
# Training examples of the epoch benchmark (a multiple of the batch of 128) and its repeats.
# On the shared CPU, short epochs alternated often follow the other processes' load better
# than a few long ones.
EPOCH_IMAGES = {"cpu": (1024, 5), "cuda": (60000, 3), "quick": (128, 1)}


# --- timing -------------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_once(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds of one call of ``fn``: CUDA events on the GPU (all queued work included), wall clock on the CPU."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(device)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def interleaved(cases: dict[str, Callable[[], object]], device: torch.device, repeats: int,
                warmup: dict[str, Callable[[], object]] | None = None) -> dict[str, list[float]]:
    """Seconds per call of every case: each warmed up once (``warmup[name]`` if given, else the
    case itself), then all run round-robin ``repeats`` times."""
    for name, fn in cases.items():
        (warmup or {}).get(name, fn)()
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            times[name].append(time_once(fn, device))
    return times


# --- the attack cases ---------------------------------------------------------------------------


def floor_passes(model: torch.nn.Module, x: torch.Tensor, steps: int, precision: str) -> None:
    """``steps`` forward + input-backward passes and nothing else: the least any PGD-``steps`` costs."""
    with attack_mode(model):
        x = x.detach().requires_grad_(True)
        for _ in range(steps):
            with torch.enable_grad(), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                out = model(x)
            torch.autograd.grad(out.float().sum(), x)


def pass_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward + input-backward pass of ``model`` on the batch ``x`` (weights frozen)."""
    with attack_mode(model), FlopCounterMode(display=False) as counter:
        xr = x.detach().requires_grad_(True)
        with torch.enable_grad():  # .backward: the counter's module hooks do not support autograd.grad
            model(xr).sum().backward(inputs=[xr])
    return counter.get_total_flops()


def _optional(name: str):
    """An installed module, else None (torchattacks and ART are the ``bench`` extra)."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def attack_cases(model, x: torch.Tensor, y: torch.Tensor, steps: int, fast_precision: str, *, compiled: bool = False):
    """``{name: (fn(steps), precision, floor name)}``: the attack cases on one model and batch.

    ``model`` and ``x`` come as built (NCHW), which is how torchattacks and ART get them, as a
    user would pass them. This project's rows run as training and evaluation do: the model in
    channels_last where :func:`train.uses_channels_last` says so; "torchattacks.PGD NHWC" shows
    how much of the difference that layout alone makes. Each fn returns its adversarial batch
    (floors: None); a row's floor is the floor of the same precision and layout.
    """
    device = x.device
    layout = torch.channels_last if uses_channels_last(device) else torch.contiguous_format
    nhwc = copy.deepcopy(model).to(memory_format=layout)
    x_nhwc = x.contiguous(memory_format=layout)
    cases = {
        "labelaug fp32": (lambda s: pgd(nhwc, x_nhwc, y, EPS, ALPHA, s), "fp32", "floor fp32"),
        "labelaug fast": (lambda s: pgd(nhwc, x_nhwc, y, EPS, ALPHA, s, precision=fast_precision),
                          fast_precision, "floor fast"),
    }
    if compiled:
        compiled_model = copy.deepcopy(nhwc)
        compiled_model.compile()  # in place, so num_classes stays; compiles on the first call
        cases["labelaug fast+compile"] = (
            lambda s: pgd(compiled_model, x_nhwc, y, EPS, ALPHA, s, precision=fast_precision), fast_precision, "floor fast")
    torchattacks = _optional("torchattacks")
    if torchattacks is not None:
        for name, net, inputs, floor in (("torchattacks.PGD", model, x, "floor fp32 NCHW"),
                                         ("torchattacks.PGD NHWC", nhwc, x_nhwc, "floor fp32")):
            def run_ta(s, attack=torchattacks.PGD(net, eps=EPS, alpha=ALPHA, steps=steps, random_start=True), inputs=inputs):
                attack.steps = s
                return attack(inputs, y)
            cases[name] = (run_ta, "fp32", floor)
    if _optional("art") is not None:
        from art.attacks.evasion import ProjectedGradientDescentPyTorch
        from art.estimators.classification import PyTorchClassifier

        classifier = PyTorchClassifier(
            model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=tuple(x.shape[1:]), nb_classes=model.num_classes,
            clip_values=(0.0, 1.0), device_type="gpu" if device.type == "cuda" else "cpu",
        )
        art_pgd = ProjectedGradientDescentPyTorch(classifier, norm=np.inf, eps=EPS, eps_step=ALPHA, max_iter=steps,
                                                  num_random_init=1, batch_size=len(x), verbose=False)

        def run_art(s):  # tensors in, tensors out: the host round trip is part of using ART
            art_pgd.max_iter = s
            return torch.from_numpy(art_pgd.generate(x.cpu().numpy(), y.cpu().numpy())).to(device)
        cases["ART PGD"] = (run_art, "fp32", "floor fp32 NCHW")
    cases["floor fp32 NCHW"] = (lambda s: floor_passes(model, x, s, "fp32"), "fp32", "floor fp32 NCHW")
    cases["floor fp32"] = (lambda s: floor_passes(nhwc, x_nhwc, s, "fp32"), "fp32", "floor fp32")
    cases["floor fast"] = (lambda s: floor_passes(nhwc, x_nhwc, s, fast_precision), fast_precision, "floor fast")
    return cases


def bench_attacks(work: Workload, device: torch.device, fast_precision: str, peaks: dict[str, float]) -> dict:
    """PGD-10 of every attack case on ``work``; one row per case with images/s, ratios and % of peak."""
    torch.manual_seed(0)
    model = build_model(work.model, 10, 0, channels=work.channels, image_size=work.image_size).to(device).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(work.batch, work.channels, work.image_size, work.image_size, generator=g).to(device)
    y = torch.randint(0, 10, (work.batch,), generator=g).to(device)
    cases = attack_cases(model, x, y, STEPS, fast_precision, compiled=work.compiled)
    warmup_s: dict[str, float] = {}

    def warm(name, fn):  # one step builds every kernel (and compiles the compiled case)
        return lambda: warmup_s.__setitem__(name, time_once(lambda: fn(1), device))
    times = interleaved({n: (lambda f=f: f(STEPS)) for n, (f, _, _) in cases.items()}, device, work.repeats,
                        warmup={n: warm(n, f) for n, (f, _, _) in cases.items()})
    flops = STEPS * pass_flops(model, x)
    median = {n: statistics.median(t) for n, t in times.items()}
    rows = []
    for name, (_, precision, floor_name) in cases.items():
        floor = median[floor_name]
        row = {
            "case": name, "precision": precision, "median_s": median[name], "times_s": times[name],
            "warmup_s": warmup_s[name],
            "images_per_s": work.batch / median[name], "pct_of_floor": 100 * floor / median[name],
            "tflops_per_s": flops / median[name] / 1e12, "pct_of_peak": 100 * flops / median[name] / peaks[precision],
        }
        for ref in ("torchattacks.PGD", "torchattacks.PGD NHWC", "ART PGD"):
            if ref in median:
                row[f"x_{ref}"] = median[ref] / median[name]
        rows.append(row)
    return {"model": work.model, "input": [work.batch, work.channels, work.image_size, work.image_size],
            "steps": STEPS, "eps": EPS, "alpha": ALPHA, "repeats": work.repeats, "flops_per_attack": flops, "rows": rows}


# --- the epoch ------------------------------------------------------------------------------------


def reference_epoch(images: torch.Tensor, labels: torch.Tensor, config: TrainConfig, device: torch.device) -> float:
    """Seconds of one PGD adversarial-training epoch as a user would write it with torchattacks:
    fp32, a DataLoader over a TensorDataset of float images, SGD + cosine schedule.

    images: (N, 1, 28, 28) uint8; labels: (N,) int64. Model building is not timed (as in ``train``).
    """
    import torchattacks

    torch.manual_seed(config.seed)
    model = build_model("small-cnn", 10, 0, channels=1, image_size=28).to(device)
    data = torch.utils.data.TensorDataset(images.float() / 255, labels)
    loader = torch.utils.data.DataLoader(data, batch_size=config.batch_size, shuffle=True, drop_last=True)
    attack = torchattacks.PGD(model, eps=config.eps, alpha=config.alpha, steps=config.steps, random_start=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=len(loader))
    _sync(device)
    started = time.perf_counter()
    model.train()
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(attack(x, y)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    _sync(device)
    return time.perf_counter() - started


def floor_epoch(images: torch.Tensor, labels: torch.Tensor, config: TrainConfig, device: torch.device) -> float:
    """Seconds of the passes of one epoch alone, on the fast path: per batch ``steps`` forward +
    input-backward passes, one forward + full backward and a fused optimiser step."""
    precision = pick_precision(config, device)
    layout = torch.channels_last if uses_channels_last(device) else torch.contiguous_format
    torch.manual_seed(config.seed)
    model = build_model("small-cnn", 10, 0, channels=1, image_size=28).to(device).to(memory_format=layout)
    optimizer = make_optimizer(model, config, device)
    b = config.batch_size
    batches = [((images[i:i + b].to(device).float() / 255).contiguous(memory_format=layout), labels[i:i + b].to(device))
               for i in range(0, len(images) - b + 1, b)]
    _sync(device)
    started = time.perf_counter()
    for x, y in batches:
        floor_passes(model, x, config.steps, precision)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(x)
        loss = F.cross_entropy(out.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    return time.perf_counter() - started


def bench_epoch(n_images: int, repeats: int, device: torch.device, data_dir: str | None) -> dict:
    """One PGD-10 adversarial-training epoch of the small CNN on ``n_images`` Fashion-MNIST examples."""
    from labelaug_core.data import balanced_subset, load_arrays

    config = TrainConfig(dataset="fashion-mnist", method="adv", epochs=1, train_subset=n_images, batch_size=128,
                         steps=STEPS, eps=FMNIST_EPS).resolved()
    images, labels = load_arrays("fashion-mnist", "train", data_dir)
    keep = balanced_subset(labels, n_images)  # the examples train() uses
    images, labels = images[keep], labels[keep]
    warm = dict(train_subset=2 * config.batch_size)

    def ours(cfg: TrainConfig) -> float:
        with tempfile.TemporaryDirectory() as run_dir:
            _, history = train(cfg, run_dir, data_dir=data_dir, device=str(device), progress=False)
        return history[0]["epoch_time_s"]

    cases = {
        "labelaug train": (lambda: ours(config), lambda: ours(TrainConfig.from_dict(config.to_dict() | warm))),
        "floor": (lambda: floor_epoch(images, labels, config, device),
                  lambda: floor_epoch(images[:256], labels[:256], config, device)),
    }
    if _optional("torchattacks") is not None:
        cases["reference loop"] = (lambda: reference_epoch(images, labels, config, device),
                                   lambda: reference_epoch(images[:256], labels[:256], config, device))
    if repeats > 1:  # (quick mode, one repeat, is a smoke check: no warm-up)
        for _, warmup in cases.values():
            warmup()
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):  # the cases time themselves (setup excluded), round-robin
        for name, (run, _) in cases.items():
            seconds[name].append(run())
    median = {n: statistics.median(s) for n, s in seconds.items()}
    out = {"model": "small-cnn", "dataset": "fashion-mnist", "images": n_images, "batch": config.batch_size,
           "steps": STEPS, "eps": FMNIST_EPS, "precision": pick_precision(config, device), "repeats": repeats,
           "rows": [{"case": n, "median_s": median[n], "times_s": seconds[n], "images_per_s": n_images / median[n],
                     "pct_of_floor": 100 * median["floor"] / median[n]} for n in cases]}
    if "reference loop" in median:
        out["speedup_vs_reference"] = median["reference loop"] / median["labelaug train"]
    return out


# --- the machine ---------------------------------------------------------------------------------


def gemm_peak(device: torch.device, dtype: torch.dtype, size: int, repeats: int = 10) -> float:
    """A practical peak FLOP/s in ``dtype``: the best of ``repeats`` dense products.

    On CUDA a ``size`` x ``size`` matmul (cuBLAS). On the CPU the better of a matmul (MKL) and a
    3x3 convolution of ``size / 4`` channels on 16x16 images of batch 32 (oneDNN, which runs the
    models' convolutions); on the project's AMD CPU MKL's fp32 matmul reaches less than half of
    what oneDNN's convolution does, so a matmul alone would understate the peak.
    """
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    flops = {"matmul": 2 * size**3}
    cases = {"matmul": lambda: a @ b}
    if device.type == "cpu":
        c = size // 4
        image = torch.randn(32, c, 16, 16).to(dtype).contiguous(memory_format=torch.channels_last)
        filters = torch.randn(c, c, 3, 3).to(dtype).contiguous(memory_format=torch.channels_last)
        flops["conv3x3"] = 2 * 32 * 16 * 16 * c * c * 9
        cases["conv3x3"] = lambda: F.conv2d(image, filters, padding=1)
    times = interleaved(cases, device, repeats)
    return max(flops[name] / min(t) for name, t in times.items())


def environment(device: torch.device, fast_precision: str) -> dict:
    """Device, versions, git commit and load: what a result needs to be compared with another."""
    import torchvision

    from labelaug_core.runs import git_commit

    env = {"device": device.type, "fast_precision": fast_precision, "threads": torch.get_num_threads(),
           "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
           "cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
           "git_commit": git_commit(), "labelaug_core": __version__, "torch": torch.__version__,
           "torchvision": torchvision.__version__, "numpy": np.__version__}
    for module in ("torchattacks", "art"):
        found = _optional(module)
        env[module] = getattr(found, "__version__", "installed") if found else "not installed"
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    env["cpu"] = model.group(1) if model else platform.processor()
    env["cpu_bf16"] = "avx512_bf16" in cpuinfo or "amx_bf16" in cpuinfo
    if device.type == "cuda":
        env.update(device_name=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version())
    return env


def _attack_table(a: dict) -> str:
    b, c, h, _ = a["input"]
    lines = [f"\nPGD-{a['steps']} on {a['model']} ({c}x{h}x{h}, batch {b}), median of {a['repeats']} ({a['wall_s']:.0f} s)",
             f"  {'case':22s} {'img/s':>9s} {'x torchatt.':>11s} {'x ART':>7s} {'% floor':>8s} {'TFLOP/s':>8s} {'% peak':>7s}"]
    for r in a["rows"]:
        ta, art = r.get("x_torchattacks.PGD", float("nan")), r.get("x_ART PGD", float("nan"))
        lines.append(f"  {r['case']:22s} {r['images_per_s']:9.1f} {ta:11.2f} {art:7.2f} "
                     f"{r['pct_of_floor']:8.1f} {r['tflops_per_s']:8.3f} {r['pct_of_peak']:7.1f}")
    return "\n".join(lines)


def _epoch_table(e: dict) -> str:
    lines = [f"\nOne PGD-{e['steps']} adversarial-training epoch, small CNN, {e['images']} Fashion-MNIST images, "
             f"batch {e['batch']}, median of {e['repeats']} ({e['wall_s']:.0f} s)",
             f"  {'case':22s} {'s':>8s} {'img/s':>9s} {'% floor':>8s}"]
    for r in e["rows"]:
        lines.append(f"  {r['case']:22s} {r['median_s']:8.2f} {r['images_per_s']:9.1f} {r['pct_of_floor']:8.1f}")
    if "speedup_vs_reference" in e:
        lines.append(f"  labelaug train is {e['speedup_vs_reference']:.2f}x the reference loop")
    return "\n".join(lines)


def _timed_section(fn, *args) -> dict:
    started = time.perf_counter()
    out = fn(*args)
    out["wall_s"] = time.perf_counter() - started
    return out


def run_benchmarks(out_dir: str, quick: bool = False, *, device: str | None = None, data_dir: str | None = None) -> dict:
    """Run every benchmark on ``device`` (default: CUDA if available), print the tables as they
    finish, and write ``out_dir/<device>-<date>[-quick].json``; return the result dict.

    ``quick``: the small CNN only (batch 16), one repeat, 128 training images: a smoke check of
    every code path, not a measurement.
    """
    from labelaug_core.data import load_arrays

    dev = pick_device(device)
    started, load_start = time.perf_counter(), os.getloadavg()
    data_dir = data_dir or os.environ.get("LABELAUG_DATA")
    load_arrays("fashion-mnist", "train", data_dir)  # fail now, not after minutes of attack benchmarks
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # for every case alike: each picks its fastest kernels
    fast_precision = pick_precision(TrainConfig(precision="auto"), dev)
    kind = "quick" if quick else dev.type
    env = environment(dev, fast_precision)
    print(f"labelaug bench on {dev} ({env.get('device_name', env['cpu'])}, {env['threads']} threads, "
          f"fast path {fast_precision}); load average {load_start[0]:.2f}", flush=True)
    if dev.type == "cpu" and load_start[0] > 0.5 and env["threads"] > 1:
        # With other processes on the cores, the threads of one op wait for each other at every
        # barrier while one of them is descheduled: each op then costs a scheduler time slice,
        # whatever its size, and every case slows down to about the same speed.
        print("  note: other processes use the CPU; for steady ratios rerun on an idle machine "
              "or with OMP_NUM_THREADS=1", flush=True)
    size = 8192 if dev.type == "cuda" else 256 if quick else 1024
    peaks = {"fp32": gemm_peak(dev, torch.float32, size), "bf16": gemm_peak(dev, torch.bfloat16, size)}
    print(f"GEMM peak: fp32 {peaks['fp32'] / 1e12:.3f}, bf16 {peaks['bf16'] / 1e12:.3f} TFLOP/s", flush=True)
    result = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "quick": quick, "env": env,
              "gemm_peak_tflops": {k: v / 1e12 for k, v in peaks.items()}, "attacks": []}
    for work in WORKLOADS[kind]:
        result["attacks"].append(_timed_section(bench_attacks, work, dev, fast_precision, peaks))
        print(_attack_table(result["attacks"][-1]), flush=True)
    result["epoch"] = _timed_section(bench_epoch, *EPOCH_IMAGES[kind], dev, data_dir)
    print(_epoch_table(result["epoch"]), flush=True)
    small = next(r for r in result["attacks"][0]["rows"] if r["case"] == "labelaug fast")
    result["headline"] = {
        "small_cnn_pgd10_fast_vs_torchattacks": small.get("x_torchattacks.PGD"),
        "small_cnn_pgd10_fast_vs_torchattacks_nhwc": small.get("x_torchattacks.PGD NHWC"),
        "small_cnn_pgd10_fast_vs_art": small.get("x_ART PGD"),
        "epoch_vs_reference_loop": result["epoch"].get("speedup_vs_reference"),
    }
    result["load_average"] = {"start": load_start, "end": os.getloadavg()}
    result["wall_s"] = time.perf_counter() - started
    name = "cpu" if dev.type == "cpu" else re.sub(r"[^a-z0-9]+", "-", f"cuda-{env['device_name']}".lower()).strip("-")
    path = Path(out_dir) / f"{name}-{datetime.date.today().isoformat()}{'-quick' if quick else ''}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nload average at the end {result['load_average']['end'][0]:.2f}; written {path} ({result['wall_s']:.0f} s)")
    return result


# --- Reading results (the book's performance page) -------------------------------------------------

# The targets of the speed issue: (label, device type, how to read the measured ratio, target ratio).
TARGETS = (
    ("PGD-10, small CNN: fast path vs torchattacks.PGD", "cpu",
     lambda r: _row(r, "small-cnn", "labelaug fast").get("x_torchattacks.PGD"), 3.0),
    ("PGD-10 training epoch vs the reference loop", "cpu", lambda r: r["epoch"].get("speedup_vs_reference"), 2.5),
    ("PGD-10, PreAct-ResNet-18: fast path vs torchattacks.PGD", "cuda",
     lambda r: _row(r, "preact-resnet18", "labelaug fast").get("x_torchattacks.PGD"), 3.0),
    ("PGD-10, ResNet-50: fast path vs torchattacks.PGD", "cuda",
     lambda r: _row(r, "resnet50", "labelaug fast").get("x_torchattacks.PGD"), 3.0),
    ("PGD-10, ResNet-50 at 224: % of the bf16 matmul peak", "cuda",
     lambda r: _row(r, "resnet50", "labelaug fast").get("pct_of_peak"), 30.0),
)


def _row(result: dict, model: str, case: str) -> dict:
    for section in result["attacks"]:
        if section["model"] == model:
            return next((r for r in section["rows"] if r["case"] == case), {})
    return {}


def load_results(results_dir: str | Path) -> dict[str, dict]:
    """Every full (not ``-quick``) result JSON in ``results_dir``, oldest first: {file name: result}."""
    paths = sorted(Path(results_dir).glob("*.json"), key=lambda p: (p.stem.rsplit("-", 3)[-3:], p.name))
    results = {p.name: json.loads(p.read_text()) for p in paths}
    return {name: result for name, result in results.items() if not result.get("quick")}


def result_summary(result: dict) -> str:
    """One line: device, threads, torch, date, load average."""
    env = result["env"]
    device = env.get("device_name") or f"CPU ({env.get('cpu', '?')}, {env['cpu_count']} cores, {env['threads']} threads)"
    load = result.get("load_average", {})
    return (f"{device}, torch {env['torch']}, fast path {env['fast_precision']}, {result['date'][:10]}"
            + (f", load average {load['start'][0]:.1f} -> {load['end'][0]:.1f}" if load else ""))


def attack_frame(section: dict) -> pd.DataFrame:
    """An attack benchmark as a table, one row per case: images/s, ``x torchattacks`` and ``x ART``
    (the library's median time over the case's), ``% floor``, TFLOP/s and ``% peak``."""
    return pd.DataFrame([{"case": r["case"], "images/s": r["images_per_s"],
                          "x torchattacks": r.get("x_torchattacks.PGD", float("nan")),
                          "x ART": r.get("x_ART PGD", float("nan")), "% floor": r["pct_of_floor"],
                          "TFLOP/s": r["tflops_per_s"], "% peak": r["pct_of_peak"]}
                         for r in section["rows"]]).set_index("case")


def epoch_frame(section: dict) -> pd.DataFrame:
    """An epoch benchmark as a table: seconds, images/s and ``% floor`` per case."""
    return pd.DataFrame([{"case": r["case"], "seconds": r["median_s"], "images/s": r["images_per_s"],
                          "% floor": r["pct_of_floor"]} for r in section["rows"]]).set_index("case")


def targets_frame(result: dict) -> pd.DataFrame:
    """:data:`TARGETS` of the result's device type: measured value, target and whether it is met."""
    kind = result["env"]["device"].split(":")[0]
    rows = {label: {"measured": float(read(result) or float("nan")), "target": target}
            for label, device, read, target in TARGETS if device == kind}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["measured", "target"])
    frame["met"] = frame["measured"] >= frame["target"]
    return frame
