"""Paper-style PGD-40 of a run (:mod:`labelaug_core.attacks.paper_style`), cached under the one cache rule.

A named variant, not the threat model: cleverhans-style PGD-40 in normalised units, unclipped,
on the argmax label over all K + M outputs. Per-example outcomes are stored, so two models
evaluated on the same images (the first ``n`` of their test subsets, as
:func:`labelaug_core.runs.strong.strong_evaluation` attacks) can be compared pairwise.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from labelaug_core.attacks.paper_style import paper_style_budget, paper_style_wrong, pixel_radius
from labelaug_core.cache import Artifact, cached_table
from labelaug_core.runs.protocol import run_test_images
from labelaug_core.runs.store import Run, load_model

PAPER_STYLE_CODE = ("labelaug_core.attacks.paper_style", "labelaug_core.runs.protocol")
COLUMNS = ("y", "wrong", "label_not_true", "label_is_operation", "eps_pixels")


def paper_style_evaluation(
    run: Run,
    *,
    n: int,
    eps_normalised: float | None = None,
    step_normalised: float | None = None,
    steps: int = 40,
    seed: int = 0,
    batch_size: int = 500,
    data_dir: str | None = None,
    device: str | None = None,
) -> pd.DataFrame:
    """Paper-style PGD-``steps`` of a run's model on the first ``n`` images of its test subset
    (``n = 0``: the images its own PGD evaluation attacked).

    ``eps_normalised`` / ``step_normalised`` (normalised units) default to
    :func:`~labelaug_core.attacks.paper_style.paper_style_budget` of the run's eps. Returns one row
    per image with the columns of :data:`COLUMNS` (``y`` int; ``wrong``, ``label_not_true``,
    ``label_is_operation`` bool, see :func:`~labelaug_core.attacks.paper_style.paper_style_wrong`;
    ``eps_pixels``, the same on every row: the radius in pixel units,
    :func:`~labelaug_core.attacks.paper_style.pixel_radius`). Cached as
    ``<run_dir>/evals/paper-style-n<n>-<key>.csv``.
    """
    n = n or int(run.metrics["n_attacked"])
    budget = paper_style_budget(run.config.eps)
    eps_normalised = budget["eps_normalised"] if eps_normalised is None else float(eps_normalised)
    step_normalised = budget["step_normalised"] if step_normalised is None else float(step_normalised)
    settings = {**run.identity(), "n": n, "eps_normalised": eps_normalised, "step_normalised": step_normalised,
                "steps": steps, "seed": seed}

    def compute() -> pd.DataFrame:
        model = load_model(run.run_dir, device, data_dir=data_dir)
        x, y = run_test_images(run.config, n, data_dir=data_dir, device=next(model.parameters()).device)
        parts = [paper_style_wrong(model, x[i:i + batch_size], y[i:i + batch_size], eps_normalised=eps_normalised,
                                   step_normalised=step_normalised, steps=steps, seed=seed)
                 for i in range(0, n, batch_size)]
        frame = pd.DataFrame({"y": y.cpu().numpy()})
        for column in COLUMNS[1:4]:
            frame[column] = [bool(v) for p in parts for v in p[column].cpu().tolist()]
        frame["eps_pixels"] = pixel_radius(model, eps_normalised)
        return frame

    frame = cached_table(Artifact(Path(run.run_dir) / "evals", f"paper-style-n{n}", settings, PAPER_STYLE_CODE), compute)
    return frame.astype({c: bool for c in COLUMNS[1:4]})
