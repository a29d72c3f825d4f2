"""Reading benchmark results back: tables and targets for the performance chapter."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

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
