"""The device and precision a run computes on: CUDA when available, bf16 where the hardware has it."""
from __future__ import annotations

from pathlib import Path

import torch


def pick_device(device: str | None = None) -> torch.device:
    """The given device, else CUDA when available, else the CPU."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_precision(config, device: torch.device) -> str:
    """Training precision: ``auto`` is bf16 on CUDA and on CPUs with bf16 matrix units.

    Why (``labelaug bench`` and its variants on the project's 2-core AVX-512-BF16 CPU, one
    thread, NHWC): bf16 autocast ran PGD-10 2.5x (small CNN) and 1.7x (PreAct-ResNet-18)
    faster than fp32, and the training step 2.7x / 1.7x. Without bf16 units, bf16 is emulated
    and slower, so fp32 is kept there. On CUDA bf16 runs on the tensor cores. Evaluation
    attacks stay fp32 (``attacks.pgd``'s default); tests/test_bench.py shows that a bf16 attack
    finds the robust error of the fp32 attack within 1 point on a trained model.
    """
    if config.precision != "auto":
        return config.precision
    if device.type == "cuda":
        return "bf16"
    return "bf16" if _cpu_has_bf16() else "fp32"


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
