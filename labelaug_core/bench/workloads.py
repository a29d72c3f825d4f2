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
import statistics
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from labelaug_core.attacks.pgd import pgd
from labelaug_core.bench.timing import (
    _sync,
    floor_passes,
    interleaved,
    pass_flops,
    time_once,
)
from labelaug_core.config import TrainConfig
from labelaug_core.models import build_model
from labelaug_core.train import (
    make_optimizer,
    pick_precision,
    train,
    uses_channels_last,
)

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
    from labelaug_core.data.readers import load_arrays
    from labelaug_core.data.sampling import balanced_subset

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
