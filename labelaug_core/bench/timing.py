"""Timing primitives of the benchmarks: synchronised wall-clock, interleaved repeats, FLOP counts, peaks."""
from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from labelaug_core.attacks.threat import attack_mode


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
