"""``labelaug bench``: run the benchmarks and write ``benchmarks/results/<device>-<date>.json``."""
from __future__ import annotations

import datetime
import json
import os
import platform
import re
import time
from pathlib import Path

import numpy as np
import torch

from labelaug_core import __version__
from labelaug_core.bench.timing import gemm_peak
from labelaug_core.bench.workloads import (
    EPOCH_IMAGES,
    WORKLOADS,
    _optional,
    bench_attacks,
    bench_epoch,
)
from labelaug_core.config import TrainConfig
from labelaug_core.train import pick_device, pick_precision


def environment(device: torch.device, fast_precision: str) -> dict:
    """Device, versions, git commit and load: what a result needs to be compared with another."""
    import torchvision

    from labelaug_core.runs.store import git_commit

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
    from labelaug_core.data.readers import load_arrays

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
