"""The run-level studies of the trustworthy-evaluation chapters, cached under the one cache rule.

- :func:`strong_evaluation`: the attack ladder of :mod:`labelaug_core.evaluation.strong` (clean,
  FGSM, PGD-10, PGD-40, the ensemble of PGD-40 with restarts, APGD-CE and APGD-T: not AutoAttack,
  no FAB-T or Square) on a run's test images, per example;
- :func:`masking_checks`: the gradient-masking checks of :mod:`labelaug_core.evaluation.checks`;
- :func:`temperature_evaluation`: the Temperature-PGD sweep of :mod:`labelaug_core.evaluation.classwise`.

Each is stored in ``<run_dir>/evals/`` under a key covering its settings and its code
(:mod:`labelaug_core.cache`), so a change of the attack code recomputes exactly these.
Errors are percentages (0-100)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from labelaug_core.attacks.ensemble import DEFAULT_ENSEMBLE
from labelaug_core.cache import Artifact, cached_table
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.checks import checks_frame, run_masking_checks
from labelaug_core.evaluation.classwise import temperature_sweep
from labelaug_core.evaluation.ladder import StrongEval
from labelaug_core.evaluation.strong import strong_eval
from labelaug_core.runs.protocol import run_test_images
from labelaug_core.runs.store import Run, load_model

# The code that determines each cached study (with everything it imports): see labelaug_core.cache.
STRONG_CODE = ("labelaug_core.evaluation.strong", "labelaug_core.runs.protocol")
CHECKS_CODE = ("labelaug_core.evaluation.checks", "labelaug_core.runs.protocol")
TEMPERATURE_CODE = ("labelaug_core.evaluation.classwise", "labelaug_core.runs.protocol")


def strong_evaluation(
    run: Run,
    *,
    n: int,
    logits: str = "classes",
    apgd_steps: int = 100,
    pgd_restarts: int = 5,
    n_target_classes: int = 9,
    seed: int = 0,
    batch_size: int = 500,
    data_dir: str | None = None,
    device: str | None = None,
) -> StrongEval:
    """:func:`strong_eval` of a run's model on the first ``n`` images of its test subset, at its eps;
    ``n = 0``: the images its own PGD evaluation attacked (``eval_subset``).

    Cached as ``<run_dir>/evals/strong-<logits>-n<n>-<key>.npz`` (+ ``.json``, ``.key.json``), the
    key covering every setting and the attack code (:mod:`labelaug_core.cache`); a cached result is
    returned without loading the model.
    """
    n = n or int(run.metrics["n_attacked"])
    settings = {**run.identity(), "eps": run.config.eps, "logits": logits, "attacks": list(DEFAULT_ENSEMBLE),
                "apgd_steps": apgd_steps, "pgd_restarts": pgd_restarts, "n_target_classes": n_target_classes,
                "seed": seed, "n": n}
    artifact = Artifact(Path(run.run_dir) / "evals", f"strong-{logits}-n{n}", settings, STRONG_CODE)
    if artifact.exists():
        return StrongEval.load(artifact.path(".npz"))
    model = load_model(run.run_dir, device, data_dir=data_dir)
    x, y = run_test_images(run.config, n, data_dir=data_dir, device=next(model.parameters()).device)
    result = strong_eval(model, x, y, run.config.eps, logits=logits, apgd_steps=apgd_steps, pgd_restarts=pgd_restarts,
                         n_target_classes=n_target_classes, seed=seed, batch_size=batch_size,
                         settings={"run_id": run.run_id})
    result.save(artifact.path(".npz"))
    artifact.mark_done()
    return result


def masking_checks(
    run: Run,
    *,
    n: int,
    logits: str = "classes",
    white_box_wrong: np.ndarray | None = None,
    transfer_run: Run | None = None,
    apgd_steps: int = 100,
    step_counts: tuple[int, ...] = (10, 40, 100),
    square_queries: int = 5000,
    seed: int = 0,
    data_dir: str | None = None,
    device: str | None = None,
) -> pd.DataFrame:
    """:func:`labelaug_core.checks.run_masking_checks` on the first ``n`` test images of a run, cached.

    ``white_box_wrong``: (>= n,) bool, the examples a white-box evaluation of the same images got
    wrong (e.g. ``strong.wrong["ensemble"]``), so the ensemble is not run again. ``n = 0``: as many
    images as ``white_box_wrong`` has (else as the run's own PGD evaluation attacked). ``transfer_run``:
    the source model of the transfer (black-box) check. ``square_queries``: the Square check's budget
    (p_init 0.8, no schedule rescaling; 5000 is AutoAttack's; the table's message states it). Cached as
    ``<run_dir>/evals/checks-<logits>-n<n>-<key>.csv``; returns :func:`checks_frame`'s table.
    """
    if n == 0:
        n = len(white_box_wrong) if white_box_wrong is not None else int(run.metrics["n_attacked"])
    if white_box_wrong is not None and len(white_box_wrong) < n:
        raise ConfigError(f"checks_subset must be at most {len(white_box_wrong)} (the white-box evaluation's images); got {n}")
    settings = {**run.identity(), "logits": logits, "n": n, "apgd_steps": apgd_steps,
                "step_counts": list(step_counts), "square_queries": square_queries, "seed": seed,
                "transfer": transfer_run.run_id if transfer_run is not None else None,
                "white_box": None if white_box_wrong is None else hashlib.sha1(
                    np.asarray(white_box_wrong[:n], dtype=bool).tobytes()).hexdigest()[:8]}

    def compute() -> pd.DataFrame:
        model = load_model(run.run_dir, device, data_dir=data_dir)
        dev = next(model.parameters()).device
        x, y = run_test_images(run.config, n, data_dir=data_dir, device=dev)
        transfer = load_model(transfer_run.run_dir, device, data_dir=data_dir) if transfer_run is not None else None
        wb = None if white_box_wrong is None else torch.as_tensor(np.asarray(white_box_wrong[:n], dtype=bool), device=dev)
        return checks_frame(run_masking_checks(model, x, y, run.config.eps, logits=logits, transfer_model=transfer,
                                               white_box_wrong=wb, apgd_steps=apgd_steps, step_counts=step_counts,
                                               square_queries=square_queries, seed=seed))

    return cached_table(Artifact(Path(run.run_dir) / "evals", f"checks-{logits}-n{n}", settings, CHECKS_CODE), compute)


def temperature_evaluation(run: Run, *, n: int, temperatures, steps: int | None = None, skip: int = 0, seed: int = 0,
                           data_dir: str | None = None, device: str | None = None) -> pd.DataFrame:
    """:func:`labelaug_core.evaluation.classwise.temperature_sweep` of a run's model on ``n`` images of
    its test subset, in protocol order after the first ``skip`` (``n = 0``: as many as its own PGD
    evaluation attacked, ``eval_subset``), at its eps and ``steps`` (default: its ``eval_steps``),
    T = 1 always included. ``skip = 0``: the reported images (the first ``n``, those of the strong
    evaluation); ``skip`` = the reported count: held-out images, disjoint from them, on which T is chosen
    (:func:`labelaug_core.evaluation.classwise.choose_temperature`). The protocol order interleaves the
    classes, so both sets are class-balanced. Columns: those of ``temperature_sweep`` (percent).

    Cached as ``<run_dir>/evals/temperature-n<n>-pgd<steps>-<key>.csv`` (``skip = 0``) or
    ``temperature-n<n>-skip<skip>-pgd<steps>-<key>.csv``.
    """
    steps = run.config.eval_steps if steps is None else steps
    n = n or int(run.metrics["n_attacked"])
    if skip < 0:
        raise ConfigError(f"skip must be >= 0 (test images before the swept ones); got {skip}")
    temperatures = sorted({float(t) for t in temperatures} | {1.0})
    settings = {**run.identity(), "n": n, "skip": skip, "steps": steps, "temperatures": temperatures, "seed": seed}

    def compute() -> pd.DataFrame:
        model = load_model(run.run_dir, device, data_dir=data_dir)
        parameter = "skip + n (chapter 9: temperature_subset + temperature_heldout)" if skip else "n"
        x, y = run_test_images(run.config, skip + n, data_dir=data_dir, device=next(model.parameters()).device,
                               parameter=parameter)
        return temperature_sweep(model, x[skip:], y[skip:], eps=run.config.eps, steps=steps,
                                 temperatures=temperatures, seed=seed)

    name = f"temperature-n{n}-skip{skip}-pgd{steps}" if skip else f"temperature-n{n}-pgd{steps}"
    return cached_table(Artifact(Path(run.run_dir) / "evals", name, settings, TEMPERATURE_CODE), compute)


def masking_check_tables(runs: dict, strong: dict[str, list[StrongEval]], strong_all: list[StrongEval], *,
                         n: int, apgd_steps: int, step_counts, square_queries: int, data_dir: str | None = None,
                         check=None) -> dict[str, pd.DataFrame]:
    """Chapter 10's gradient-masking checks of each model's first seed (``check`` =
    :func:`labelaug_core.runs.strong.masking_checks` by default): Std (transfer from Adv), Adv and Adv+
    (transfer from Std), Adv+ attacked on all K + M logits; each reuses the examples that its
    white-box ensemble got wrong. ``{label: checks table}`` with ``name``, ``passed``, ``message``."""
    check = masking_checks if check is None else check
    first = {m: group[0] for m, group in runs.items()}
    cases = {"Std": (first["std"], "classes", first["adv"], strong["std"][0]),
             "Adv": (first["adv"], "classes", first["std"], strong["adv"][0]),
             "Adv+": (first["advplus"], "classes", first["std"], strong["advplus"][0]),
             "Adv+ (all K+M logits)": (first["advplus"], "all", first["std"], strong_all[0])}
    return {label: check(run, n=n, logits=logits, white_box_wrong=white_box.wrong["ensemble"], transfer_run=transfer,
                         apgd_steps=apgd_steps, step_counts=tuple(step_counts), square_queries=square_queries,
                         data_dir=data_dir)
            for label, (run, logits, transfer, white_box) in cases.items()}


def temperature_class_counts(runs_by_method: dict[str, list[Run]], n: int = 0) -> dict[str, np.ndarray]:
    """Per method, the number of images per class that a per-class Temperature-PGD success rate of
    :func:`temperature_evaluation` (``skip = 0``) rests on: the first ``n`` test images in protocol
    order (``n = 0``: each run's ``n_attacked``) that the model classifies correctly when clean,
    summed over the method's runs (seeds). Read from each run's own evaluation (``predictions.npz``:
    the same images in the same order, the same model), so nothing is recomputed. (K,) int arrays."""
    out = {}
    for method, group in runs_by_method.items():
        counts = []
        for run in group:
            pred = run.predictions()
            m = n or int(run.metrics["n_attacked"])
            y, clean = np.asarray(pred.y)[:m], np.asarray(pred.clean)[:m]
            k = len(run.per_class)
            counts.append(np.bincount(y[clean == y], minlength=k))
        out[method] = np.sum(counts, axis=0)
    return out
