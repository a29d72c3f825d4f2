"""Defences of the weakest class (Tian et al. 2021, "Analysis and Applications of Class-wise
Robustness in Adversarial Training", KDD, Sec. 6): a class-weighted training loss and a
per-class logit adjustment at inference, both aimed at the class with the lowest robust
accuracy, both chosen on held-out data and never on the test images they are reported on.

- **Held-out split** (:func:`heldout_indices`): the training images that the run's
  class-balanced ``train_subset`` leaves out (:func:`labelaug_core.data.balanced_subset`);
  when the run trains on every training image, the test images outside its ``test_subset``;
  when both are whole, there is none and a ConfigError says so.
- **Which class is weakest** (:func:`weakest_classes`): the highest PGD error of the adv run's
  model on the held-out split. The class-weighted runs (TrainConfig ``weak_classes`` /
  ``weak_class_weight``, the loss in :mod:`labelaug_core.losses`) must name their class before
  they train, so an experiment plan states it; the report recomputes it here and says whether
  they agree.
- **Logit adjustment** (:class:`LogitAdjusted`): a constant bias added to the weakest class's
  logit among the first K; the bias is the one of a grid that maximises the worst-class robust
  accuracy on the held-out split (:func:`choose_bias`). Attacks are white-box against the
  adjusted model: the bias is part of the model.

Accuracies and errors are percentages (0-100); the SD across classes is the population SD
(``ddof = 0``), as in :mod:`labelaug_core.evaluate`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from labelaug_core.apgd import seeded_pgd
from labelaug_core.data import balanced_subset, dataset_info, load_examples, make_loader, split_labels
from labelaug_core.errors import ConfigError
from labelaug_core.evaluate import per_class_error, predict_all
from labelaug_core.runs import Run, load_model
from labelaug_core.verdict import cached_table, settings_digest

# The peers' class-wise fairness numbers (PAPER.md Sec. 3, from the CFA paper): CIFAR-10,
# PreAct-ResNet-18, L-inf eps 8/255, robust accuracy under AutoAttack. Accuracies in percent.
PEER_SETTING = "CIFAR-10, PreAct-ResNet-18, eps 8/255, AutoAttack (CFA paper)"
PEERS = pd.DataFrame(
    {"clean_avg_acc": [82.3, 80.8, 82.8], "clean_worst_acc": [63.9, 64.6, 71.4],
     "robust_avg_acc": [46.7, 50.1, 45.9], "robust_worst_acc": [20.1, 24.4, 25.4]},
    index=["AT (peers)", "AT + CFA (peers)", "FRL (peers)"],
)


# --- Held-out data -------------------------------------------------------------------------------

def heldout_indices(config, size: int = 0, *, data_dir: str | None = None) -> tuple[str, torch.Tensor]:
    """A class-balanced held-out split that the run neither trained nor is reported on.

    Args:
        config: the run's TrainConfig (any data set; folder sets are indexed in sorted path order).
        size: how many held-out images (class-balanced, fixed choice); 0 = all that are free.

    Returns:
        (split, indices): ``"train"`` and sorted int64 indices of training images outside the
        run's ``balanced_subset(train_labels, train_subset)``; or, if ``train_subset`` uses every
        training image, ``"test"`` and indices of test images outside its ``test_subset``.
    """
    config = config.resolved()
    if size < 0:
        raise ConfigError(f"heldout_size must be >= 0; got {size}")
    for split, used_n in (("train", config.train_subset), ("test", config.test_subset)):
        if used_n == 0:
            continue
        labels = split_labels(config.dataset, split, data_dir)
        free = torch.ones(len(labels), dtype=torch.bool)
        free[balanced_subset(labels, used_n)] = False
        free = free.nonzero().squeeze(1)
        if len(free) == 0:
            continue
        if size > len(free):
            raise ConfigError(f"heldout_size must be at most {len(free)} (the {split} images the run leaves out); got {size}")
        return split, free[balanced_subset(labels[free], size)]
    raise ConfigError(
        "train_subset: the run uses every training and every test image (train_subset and test_subset are 0 or "
        "whole), so there is no held-out data; train with train_subset below the training set's size")


def heldout_data(config, size: int = 1000, *, data_dir: str | None = None, device: str | torch.device = "cpu"):
    """:func:`heldout_indices`' images: (split, x (N, C, H, W) float [0, 1], y (N,) int64) on ``device``."""
    split, idx = heldout_indices(config, size, data_dir=data_dir)
    config = config.resolved()
    x, y = load_examples(config.dataset, split, idx, data_dir=data_dir, image_size=config.image_size or None)
    return split, x.to(device), y.to(device)


# --- Per-class robustness and the weakest class -------------------------------------------------

def class_robustness(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, steps: int = 40,
                     seed: int = 0, batch_size: int = 500) -> pd.DataFrame:
    """Per-class clean and PGD-``steps`` accuracy (%) of ``model`` on (x, y).

    x: (N, C, H, W) in [0, 1]; y: (N,) int64. PGD: L-inf ``eps``, ``alpha = 2.5 eps / steps``, one
    random start drawn from ``seed``, loss on the first K logits. One row per class: ``class``,
    ``n``, ``clean_acc``, ``robust_acc`` (NaN for a class absent from y).
    """
    k = model.num_classes
    clean, robust = [], []
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        x_adv = seeded_pgd(model, xb, yb, eps, steps, seed=seed)
        with torch.no_grad():
            clean.append(model(xb)[:, :k].argmax(1).cpu())
            robust.append(model(x_adv)[:, :k].argmax(1).cpu())
    y_np = y.cpu().numpy()
    return pd.DataFrame({
        "class": range(k), "n": np.bincount(y_np, minlength=k),
        "clean_acc": 100.0 - per_class_error(y_np, torch.cat(clean).numpy(), k),
        "robust_acc": 100.0 - per_class_error(y_np, torch.cat(robust).numpy(), k),
    })


def rank_weakest(robust_err, n: int = 1) -> list[int]:
    """Indices of the ``n`` classes with the highest robust error (%), highest first; ties go to
    the lower index; absent classes (NaN) are never chosen."""
    errs = np.asarray(robust_err, dtype=float)
    if not 1 <= n <= int((~np.isnan(errs)).sum()):
        raise ConfigError(f"n must be between 1 and the number of classes with examples ({int((~np.isnan(errs)).sum())}); got {n}")
    return [int(i) for i in np.argsort(-np.nan_to_num(errs, nan=-np.inf), kind="stable")[:n]]


def heldout_class_errors(run: Run, *, size: int = 1000, steps: int | None = None, data_dir: str | None = None,
                         device: str | None = None) -> pd.DataFrame:
    """Per-class clean and PGD error (%) of a run's model on its held-out split (:func:`heldout_indices`).

    ``steps`` defaults to the run's ``eval_steps``. Cached in ``<run_dir>/evals/heldout-*.csv``.
    Columns: ``class``, ``name``, ``n``, ``clean_err``, ``robust_err``, ``split``.
    """
    config = run.config
    steps = config.eval_steps if steps is None else steps
    settings = {"run_id": run.run_id, "size": size, "steps": steps, "eps": config.eps}

    def compute() -> pd.DataFrame:
        model = load_model(run.run_dir, device, data_dir=data_dir)
        split, x, y = heldout_data(config, size, data_dir=data_dir, device=next(model.parameters()).device)
        table = class_robustness(model, x, y, config.eps, steps=steps, seed=config.seed)
        return pd.DataFrame({"class": table["class"], "name": dataset_info(config.dataset, data_dir).class_names,
                             "n": table["n"], "clean_err": 100.0 - table["clean_acc"],
                             "robust_err": 100.0 - table["robust_acc"], "split": split})

    return cached_table(Path(run.run_dir) / "evals" / f"heldout-n{size}-pgd{steps}-{settings_digest(settings)}.csv", compute)


def weakest_classes(run: Run, n: int = 1, *, size: int = 1000, steps: int | None = None, data_dir: str | None = None,
                    device: str | None = None) -> list[int]:
    """The ``n`` classes with the highest PGD error of ``run``'s model (the adv run) on held-out data,
    weakest first (:func:`heldout_class_errors`, :func:`rank_weakest`)."""
    table = heldout_class_errors(run, size=size, steps=steps, data_dir=data_dir, device=device)
    return rank_weakest(table["robust_err"].to_numpy(), n)


# --- Logit adjustment at inference --------------------------------------------------------------

class LogitAdjusted(nn.Module):
    """``model`` with a constant bias added to its first K logits (a per-class logit adjustment).

    bias: (K,) float. Input and output as ``model``: (B, C, H, W) in [0, 1] -> (B, K + M);
    ``num_classes`` and ``num_ops`` are the wrapped model's, and the M operation logits are
    unchanged. Raising class c's logit by b moves every decision boundary of c outwards, so
    more images (clean and adversarial) are predicted as c.
    """

    def __init__(self, model: nn.Module, bias: torch.Tensor):
        super().__init__()
        bias = torch.as_tensor(bias, dtype=torch.float32)
        if bias.shape != (model.num_classes,):
            raise ConfigError(f"bias must have shape ({model.num_classes},) (one per class); got {tuple(bias.shape)}")
        self.model = model
        self.num_classes, self.num_ops = model.num_classes, model.num_ops
        self.register_buffer("bias", bias.to(next(model.parameters()).device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        k = self.num_classes
        return torch.cat([out[:, :k] + self.bias.to(out.dtype), out[:, k:]], dim=1)


def class_bias(num_classes: int, classes, value: float) -> torch.Tensor:
    """(K,) bias: ``value`` at each index of ``classes``, 0 elsewhere."""
    bias = torch.zeros(num_classes)
    for c in classes:
        if not 0 <= int(c) < num_classes:
            raise ConfigError(f"classes must be class indices in [0, {num_classes}); got {c}")
        bias[int(c)] = value
    return bias


def choose_bias(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, weak_class: int, biases, *,
                steps: int = 10, seed: int = 0, batch_size: int = 500) -> tuple[float, pd.DataFrame]:
    """The bias of ``weak_class``'s logit, among ``biases``, that maximises the worst-class robust accuracy.

    Each bias is evaluated white-box: PGD-``steps`` against the adjusted model on (x, y) (the
    held-out split). Ties go to the higher class-mean robust accuracy, then to the smaller |bias|.
    Returns the chosen bias and one row per bias: ``bias``, ``clean_avg_acc``, ``robust_avg_acc``,
    ``robust_worst_acc``, ``worst_class``, ``weak_class_robust_acc`` (percent; averages over classes).
    """
    biases = [float(b) for b in biases]
    if not biases:
        raise ConfigError("biases must list at least one value")
    rows = []
    for b in biases:
        adjusted = LogitAdjusted(model, class_bias(model.num_classes, [weak_class], b))
        table = class_robustness(adjusted, x, y, eps, steps=steps, seed=seed, batch_size=batch_size)
        rows.append({"bias": b, "clean_avg_acc": float(table["clean_acc"].mean()),
                     "robust_avg_acc": float(table["robust_acc"].mean()),
                     "robust_worst_acc": float(table["robust_acc"].min()),
                     "worst_class": int(table["robust_acc"].idxmin()),
                     "weak_class_robust_acc": float(table.loc[weak_class, "robust_acc"])})
    frame = pd.DataFrame(rows)
    return _best_bias(frame), frame


def _best_bias(frame: pd.DataFrame) -> float:
    ranked = frame.assign(abs_bias=frame["bias"].abs()).sort_values(
        ["robust_worst_acc", "robust_avg_acc", "abs_bias"], ascending=[False, False, True], kind="stable")
    return float(ranked.iloc[0]["bias"])


def choose_run_bias(run: Run, weak_class: int, biases, *, size: int = 1000, steps: int = 10,
                    data_dir: str | None = None, device: str | None = None) -> tuple[float, pd.DataFrame]:
    """:func:`choose_bias` for a run's model on its held-out split; the table cached in ``<run_dir>/evals/``."""
    biases = [float(b) for b in biases]
    settings = {"run_id": run.run_id, "weak_class": int(weak_class), "biases": biases, "size": size, "steps": steps}

    def compute() -> pd.DataFrame:
        model = load_model(run.run_dir, device, data_dir=data_dir)
        _, x, y = heldout_data(run.config, size, data_dir=data_dir, device=next(model.parameters()).device)
        return choose_bias(model, x, y, run.config.eps, weak_class, biases, steps=steps, seed=run.config.seed)[1]

    frame = cached_table(Path(run.run_dir) / "evals" / f"bias-c{weak_class}-{settings_digest(settings)}.csv", compute)
    return _best_bias(frame), frame


def evaluate_adjusted(run: Run, bias: torch.Tensor | None = None, *, data_dir: str | None = None,
                      device: str | None = None) -> pd.DataFrame:
    """Per-class clean / FGSM / PGD error (%) of a run's model with a logit ``bias`` ((K,) or None), on
    its test set with the run's own protocol (:func:`labelaug_core.runs.evaluate_run`: clean on
    ``test_subset``, white-box FGSM and PGD-``eval_steps`` on the first ``eval_subset``, the same
    random starts). Without a bias this is the run's ``per_class.csv``; otherwise cached in
    ``<run_dir>/evals/logit-adjusted-*.csv``.
    """
    if bias is None or not bool(torch.as_tensor(bias).any()):
        return run.per_class.copy()
    config = run.config
    bias = torch.as_tensor(bias, dtype=torch.float32)
    settings = {"run_id": run.run_id, "bias": [round(float(b), 6) for b in bias]}

    def compute() -> pd.DataFrame:
        model = LogitAdjusted(load_model(run.run_dir, device, data_dir=data_dir), bias)
        dev = next(model.parameters()).device
        loader = make_loader(config.dataset, "test", 500, train=False, data_dir=data_dir, device=dev,
                             seed=config.seed, subset=config.test_subset, image_size=config.image_size or None)
        with torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else []):
            torch.manual_seed(config.seed + 1)  # evaluate_run's random starts
            pred = predict_all(model, loader, eps=config.eps, eval_steps=config.eval_steps,
                               attack_limit=config.eval_subset, progress=False)
        info = dataset_info(config.dataset, data_dir)
        a = pred.attacked
        return pd.DataFrame({
            "class": range(info.num_classes), "name": info.class_names,
            "clean_err": per_class_error(pred.y, pred.clean, info.num_classes),
            "fgsm_err": per_class_error(pred.y[a], pred.fgsm[a], info.num_classes),
            "pgd_err": per_class_error(pred.y[a], pred.pgd[a], info.num_classes),
        })

    return cached_table(Path(run.run_dir) / "evals" / f"logit-adjusted-{settings_digest(settings)}.csv", compute)


# --- The report -----------------------------------------------------------------------------------

def accuracy_summary(per_class: pd.DataFrame) -> dict[str, float]:
    """Class-mean and worst-class accuracy (%) and SD across classes (pp) from a per-class table
    with ``clean_err`` and ``pgd_err`` columns (percent): the peers' metric set plus SD."""
    out = {}
    for name, col in (("clean", "clean_err"), ("robust", "pgd_err")):
        acc = 100.0 - per_class[col].to_numpy(dtype=float)
        out |= {f"{name}_avg_acc": float(np.nanmean(acc)), f"{name}_worst_acc": float(np.nanmin(acc)),
                f"{name}_sd": float(np.nanstd(acc))}
    return out


def defence_table(per_class_by_label: dict[str, list[pd.DataFrame]], peers: bool = True) -> pd.DataFrame:
    """One row per model (mean over its per-class tables, e.g. seeds) of :func:`accuracy_summary`,
    then, with ``peers``, the peers' rows (:data:`PEERS`, a different setting: SD not reported)."""
    rows = {label: pd.DataFrame([accuracy_summary(t) for t in tables]).mean().to_dict()
            for label, tables in per_class_by_label.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    if peers:
        table = pd.concat([table, PEERS.reindex(columns=table.columns)])
    return table
