"""ImageNet predictions of a run, with file names, for ReaL and ImageNet-X."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.imagenet import predictions_frame, require_imagenet


def run_predictions(run_dir: Path | str, *, data_dir: str | None = None) -> pd.DataFrame:
    """:func:`predictions_frame` of a finished imagenet run, from its clean predictions.

    ``predictions.npz`` holds the clean prediction of every evaluated validation image in the
    order of the run's test loader; the same loader (same ``test_subset``) gives their paths.
    """
    from labelaug_core.data.loaders import make_loader
    from labelaug_core.data.sources import dataset_info
    from labelaug_core.runs.store import load_run

    run = load_run(run_dir)
    config = run.config
    require_imagenet(config.dataset)
    info = dataset_info(config.dataset, data_dir)
    loader = make_loader(config.dataset, "test", 500, train=False, data_dir=data_dir, seed=config.seed,
                         subset=config.test_subset, image_size=config.image_size or None, num_workers=0)
    pred = run.predictions()
    paths, y = loader.paths(), np.array([t for _, t in loader.samples])[loader.epoch_indices().numpy()]
    if len(paths) != len(pred.y) or not np.array_equal(y, pred.y):
        raise ConfigError(f"run_dir: {run_dir}'s predictions.npz does not match the validation folder of "
                          f"data_dir {data_dir} ({len(pred.y)} predictions, {len(paths)} images): the folder changed")
    return predictions_frame(paths, pred.y, pred.clean, info.class_names, info.num_classes)
