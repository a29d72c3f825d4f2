"""The evaluation protocol, stated once: which test images a run is evaluated on, in which order,
and with which random starts. Every caller (a run's own evaluation, re-evaluations, the logit-bias
defence, the strong evaluation's images) goes through these functions.

- the run's class-balanced ``test_subset`` of the test split, in a fixed order, batches of
  :data:`EVAL_BATCH`; clean error on all of it;
- FGSM and PGD-``eval_steps`` (``alpha = 2.5 eps / steps``, one random start) on its first
  ``eval_subset`` images;
- random starts drawn from a generator seeded with ``seed + 1`` (never the global RNG), so every
  evaluation of the same run attacks from the same starts.
"""
from __future__ import annotations

import torch

from labelaug_core.config import TrainConfig
from labelaug_core.data.loaders import make_loader
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.metrics import Predictions, predict_all

EVAL_BATCH = 500  # images per evaluation batch (attacks run batch-wise; results do not depend on it)


def test_loader(config: TrainConfig, *, data_dir: str | None = None, device: str | torch.device = "cpu"):
    """The run's test images in protocol order: ``(x [0, 1] (B, C, H, W), y (B,))`` batches on ``device``."""
    return make_loader(config.dataset, "test", EVAL_BATCH, train=False, data_dir=data_dir, device=device,
                       seed=config.seed, subset=config.test_subset, image_size=config.image_size or None)


def attack_seed(config: TrainConfig) -> int:
    """The seed of the evaluation's random starts: ``seed + 1`` (training uses ``seed``)."""
    return config.seed + 1


def protocol_predictions(
    model,
    config: TrainConfig,
    *,
    eval_steps: int | None = None,
    attack_logits: str = "classes",
    eval_subset: int | None = None,
    data_dir: str | None = None,
    progress: bool = False,
) -> Predictions:
    """Clean / FGSM / PGD predictions of ``model`` under the protocol (module docstring), at the run's
    eps; ``eval_steps`` and ``eval_subset`` default to the run's own."""
    steps = config.eval_steps if eval_steps is None else eval_steps
    subset = config.eval_subset if eval_subset is None else eval_subset
    loader = test_loader(config, data_dir=data_dir, device=next(model.parameters()).device)
    return predict_all(model, loader, eps=config.eps, eval_steps=steps, attack_limit=subset,
                       attack_logits=attack_logits, seed=attack_seed(config), progress=progress)


def run_test_images(config: TrainConfig, n: int, *, data_dir: str | None = None,
                    device: str | torch.device = "cpu", parameter: str = "n_images"):
    """The first ``n`` images of a run's test subset, in protocol order (its PGD evaluation attacks
    the first ``eval_subset`` of them).

    Returns x (n, C, H, W) float in [0, 1] and y (n,) int64 on ``device``. ``parameter`` names
    ``n`` in the error raised when it is < 1 or larger than the test subset.
    """
    if n < 1:
        raise ConfigError(f"{parameter} must be >= 1; got {n}")
    xs, ys, seen = [], [], 0
    for x, y in test_loader(config, data_dir=data_dir, device=device):
        xs.append(x[: n - seen])
        ys.append(y[: n - seen])
        seen += len(ys[-1])
        if seen >= n:
            break
    if seen < n:
        raise ConfigError(f"{parameter} must be at most {seen} (the run's test subset); got {n}")
    return torch.cat(xs), torch.cat(ys)
