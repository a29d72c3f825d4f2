"""Training configuration: one frozen dataclass of primitive fields, validated on construction.

The field names are also the papermill parameter names of the notebooks and the
``labelaug train`` flags (with ``-`` for ``_``). ``None`` means "the dataset's default";
:meth:`TrainConfig.resolved` fills those in, and only resolved configs are stored and
hashed, so a run directory always states every setting that produced it.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import io
import json
import math
import numbers
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from labelaug_core.data.registry import REGISTRY
from labelaug_core.errors import ConfigError

METHODS = ("std", "adv", "advplus")
INIT_FROM = ("", "std")       # "" = from scratch; "std" = fine-tune the Std run of the same settings (the paper)
ATTACK_BN = ("train", "eval")  # BatchNorm mode while the training attack runs (PGD-AT: train)
MODELS = ("auto", "small-cnn", "preact-resnet18", "resnet50")
PRECISIONS = ("fp32", "bf16")
# The modules whose code (with everything they import) determines a run's weights: a change retrains.
# The evaluation's code is keyed apart (labelaug_core.runs.evaluation.EVAL_CODE): a change re-evaluates.
RUN_CODE = ("labelaug_core.train",)
# The fields that choose how a trained model is evaluated, not how it is trained: they are not in the
# run's key (labelaug_core.runs.evaluation keys the evaluation by them).
EVAL_FIELDS = ("test_subset", "eval_subset", "eval_steps")



class _DatasetDefaults(Mapping):
    """{data set: the settings it fills in}, read from the data sets' records
    (:data:`labelaug_core.data.registry.REGISTRY`) at every lookup: a view, not a second table."""

    def __getitem__(self, name: str) -> Mapping[str, Any]:
        return REGISTRY[name].defaults

    def __iter__(self):
        return iter(REGISTRY)

    def __len__(self) -> int:
        return len(REGISTRY)

    def __repr__(self) -> str:
        return repr(dict(self))


# Per-dataset defaults (eps, epochs, batch_size, lr, model, pretrained): each data set's record states
# them, with the reasons (labelaug_core.data.registry).
DATASET_DEFAULTS: Mapping[str, Mapping[str, Any]] = _DatasetDefaults()


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a run's result (and so its ``run_id``)."""

    dataset: str = "fashion-mnist"   # fashion-mnist | cifar10 | cifar100 | svhn | imagefolder | imagenet
    method: str = "advplus"          # std | adv | advplus
    model: str = "auto"              # auto | small-cnn | preact-resnet18 | resnet50; auto = the dataset's default
    eps: float | None = None         # L-inf radius, [0, 1] pixel units (train and eval); None = the dataset's default
    alpha: float | None = None       # PGD step, pixel units; None = 2.5 * eps / steps (Madry)
    steps: int = 10                  # PGD steps of the training attack
    delta: float = 0.03              # label-augmentation weight, [0, 1); advplus only
    num_ops: int = 1                 # M extra outputs; advplus only (op 0 = adversarial)
    epochs: int | None = None        # training epochs; None = the dataset's default
    batch_size: int | None = None    # global batch (split over ranks when distributed); None = the dataset's default
    lr: float | None = None          # peak SGD learning rate, cosine-annealed to lr * 1e-4; None = the dataset's default
    momentum: float = 0.9            # SGD momentum, [0, 1)
    weight_decay: float = 5e-4       # SGD weight decay (L2), >= 0
    seed: int = 0                    # initial weights, data order and attack starts; [0, 2**63)
    train_subset: int = 0            # class-balanced training subset size; 0 = all
    test_subset: int = 0             # class-balanced test subset for clean error; 0 = all
    eval_subset: int = 0             # test examples attacked by PGD-k; 0 = test_subset
    eval_steps: int = 40             # PGD-k of the evaluation (paper: 40)
    pretrained: bool | None = None   # torchvision weights (ResNet-50 only); None = dataset default
    image_size: int = 0              # input side for folder data sets; 0 = the data set's own
    precision: str = "auto"          # auto | fp32 | bf16 (autocast for training steps)
    weak_classes: str = ""           # comma-separated class indices whose loss is up-weighted
    weak_class_weight: float = 1.0   # loss weight of weak_classes (others 1); Tian et al. 2021
    init_from: str = ""              # "" = train from scratch; "std" = fine-tune the Std run (see init_source)
    finetune_epochs: int = 0         # epochs of the fine-tune (init_from only; the paper: 10)
    finetune_lr: float | None = None  # peak lr of the fine-tune, cosine (init_from only; the paper: 0.01); None = lr
    attack_bn: str = "train"         # BatchNorm mode of the training attack: train (Madry, Rice et al.) | eval
    adv_fraction: float = 1.0        # share of each batch perturbed, (0, 1]; the rest stays clean (adv/advplus)

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build and validate from a dict (e.g. JSON or papermill parameters)."""
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise ConfigError(f"unknown config field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def resolved(self, device: str | None = None) -> "TrainConfig":
        """A copy with every ``None``/``auto`` replaced by the dataset default, and
        ``precision="auto"`` by what ``device`` (default: CUDA if available, else the CPU) runs:
        a bf16 run and an fp32 run of the same settings are different runs.

        For std and adv runs ``delta`` and ``num_ops`` do not apply and are set to 0, and
        ``weak_classes`` is written as sorted unique indices ("6, 2" -> "2,6"), so equal runs get
        equal ids.
        """
        defaults = DATASET_DEFAULTS[self.dataset]
        values = self.to_dict()
        for key in ("eps", "epochs", "batch_size", "lr"):
            if values[key] is None:
                values[key] = defaults[key]
        if values["model"] == "auto":
            values["model"] = defaults["model"]
        if values["pretrained"] is None:
            values["pretrained"] = bool(defaults.get("pretrained", False)) and values["model"] == "resnet50"
        # Numbers from YAML/JSON/CLI: 0 and 0.0 must give the same run id.
        for key in ("eps", "alpha", "delta", "lr", "momentum", "weight_decay", "weak_class_weight"):
            values[key] = float(values[key]) if values[key] is not None else None
        if values["alpha"] is None:
            values["alpha"] = 2.5 * float(values["eps"]) / values["steps"]
        if self.method != "advplus":
            values["delta"], values["num_ops"] = 0.0, 0
        if self.method == "std":
            values["attack_bn"] = "train"  # no training attack
            values["adv_fraction"] = 1.0
        values["adv_fraction"] = float(values["adv_fraction"])
        if not values["weak_classes"]:
            values["weak_class_weight"] = 1.0
        if not values["init_from"]:
            values["finetune_epochs"], values["finetune_lr"] = 0, None
        elif values["finetune_lr"] is None:
            values["finetune_lr"] = values["lr"]
        if values["finetune_lr"] is not None:
            values["finetune_lr"] = float(values["finetune_lr"])
        if values["eval_subset"] == 0:
            values["eval_subset"] = values["test_subset"]
        if values["weak_classes"]:
            values["weak_classes"] = ",".join(str(k) for k in sorted({int(p) for p in values["weak_classes"].split(",")}))
        if values["precision"] == "auto":
            from labelaug_core.device import pick_device, pick_precision

            values["precision"] = pick_precision(self, pick_device(device))
        return TrainConfig(**values)

    def init_source(self) -> "TrainConfig | None":
        """The run whose weights this one starts from: for ``init_from="std"`` the Std run with the
        same settings (same seed, data, model, ``epochs`` and ``lr``: the plan's own Std run), which this
        run then fine-tunes for ``finetune_epochs`` at ``finetune_lr``; None when trained from scratch."""
        if not self.init_from:
            return None
        return dataclasses.replace(self, method="std", delta=0.0, num_ops=0, init_from="", finetune_epochs=0,
                                   finetune_lr=None, weak_classes="", weak_class_weight=1.0)

    @property
    def schedule(self) -> tuple[int, float]:
        """(epochs, peak lr) of this run's own training: the fine-tune's when ``init_from`` is set."""
        if self.init_from:
            return int(self.finetune_epochs), float(self.finetune_lr if self.finetune_lr is not None else self.lr)
        return int(self.epochs), float(self.lr)

    def check_classes(self, num_classes: int) -> None:
        """Raise a ConfigError if ``weak_classes`` names a class outside [0, ``num_classes``)."""
        for part in self.weak_classes.split(",") if self.weak_classes else ():
            if not 0 <= int(part) < num_classes:
                raise ConfigError(f"weak_classes must be class indices in [0, {num_classes}); got {int(part)}")

    def class_weight(self, num_classes: int):
        """(K,) loss weights: ``weak_class_weight`` for ``weak_classes``, 1 elsewhere; None if unweighted."""
        import torch

        if not self.weak_classes or self.weak_class_weight == 1.0:
            return None
        self.check_classes(num_classes)
        weight = torch.ones(num_classes)
        for part in self.weak_classes.split(","):
            weight[int(part)] = self.weak_class_weight
        return weight

    def training_fields(self, device: str | None = None) -> dict[str, Any]:
        """The resolved config without :data:`EVAL_FIELDS`: what determines the trained weights."""
        return {k: v for k, v in self.resolved(device).to_dict().items() if k not in EVAL_FIELDS}

    def run_key(self, device: str | None = None) -> dict[str, Any]:
        """What determines a run's weights: the resolved config's training fields and the digests of
        the code that trains it (:data:`RUN_CODE` and its imports; see :mod:`labelaug_core.cache`).
        The evaluation settings (:data:`EVAL_FIELDS`) and code are keyed apart, by
        :mod:`labelaug_core.runs.evaluation`."""
        from labelaug_core.cache import code_digests

        return {"config": self.training_fields(device), "code": code_digests(*RUN_CODE)}

    def matched_control(self) -> "TrainConfig":
        """The Adv run that an Adv+ run is compared with: the same settings (seed, data order,
        ``adv_fraction``, attack, schedule), only the labels differ (one-hot instead of
        label-augmented targets). An Adv or Std config is its own control."""
        if self.method != "advplus":
            return self
        return dataclasses.replace(self, method="adv", delta=0.0, num_ops=0)

    def run_id_for(self, device: str | None = None) -> str:
        """Readable prefix + 8 hex digits of :meth:`run_key`'s hash."""
        cfg = self.resolved(device)
        digest = hashlib.sha1(json.dumps(self.run_key(device), sort_keys=True).encode()).hexdigest()[:8]
        delta = f"-d{cfg.delta:g}" if cfg.method == "advplus" else ""
        tuned = f"-ft{cfg.init_from}" if cfg.init_from else ""
        mixed = f"-f{cfg.adv_fraction:g}" if cfg.adv_fraction < 1 else ""
        return f"{cfg.dataset}-{cfg.method}{delta}{mixed}{tuned}-s{cfg.seed}-{digest}"

    @property
    def run_id(self) -> str:
        """:meth:`run_id_for` the default device."""
        return self.run_id_for(None)


@functools.lru_cache(maxsize=1)
def field_help() -> dict[str, str]:
    """{field: its meaning}: the comment on each field's line of :class:`TrainConfig` (the one source of
    the ``labelaug train --help`` texts and of the notebooks' parameter meanings); "" where none."""
    comments: dict[int, str] = {}
    source = inspect.getsource(TrainConfig)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    lines = source.splitlines()
    out = {}
    for f in fields(TrainConfig):
        number = next((i for i, line in enumerate(lines, 1) if line.strip().startswith(f"{f.name}:")), None)
        out[f.name] = comments.get(number, "") if number is not None else ""
    return out


def field_default(name: str) -> str:
    """The default of TrainConfig field ``name`` in words: its value, or for the ``None`` fields that the
    data set fills in (:data:`DATASET_DEFAULTS`), the value per data set."""
    default = next(f.default for f in fields(TrainConfig) if f.name == name)
    per_dataset = {d: v[name] for d, v in DATASET_DEFAULTS.items() if name in v}
    if default is None and per_dataset:
        return "by data set: " + ", ".join(f"{d} {v:.4g}" if isinstance(v, float) else f"{d} {v}"
                                           for d, v in per_dataset.items())
    if default == "":
        return '"" (none)'
    return "None" if default is None else str(default).lower() if isinstance(default, bool) else str(default)


# The largest integer a setting may take: seeds and sizes travel as signed 64-bit integers (torch, numpy).
MAX_INT = 2**63 - 1


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _validate(c: TrainConfig) -> None:
    for f in fields(c):  # types first: a JSON/YAML/papermill value of the wrong kind is named, not a TypeError later
        value, base = getattr(c, f.name), str(f.type).split("|")[0].strip()
        if value is None and "None" in str(f.type):
            continue
        ok = {"int": isinstance(value, numbers.Integral) and not isinstance(value, bool),
              "float": isinstance(value, numbers.Real) and not isinstance(value, bool),
              "bool": isinstance(value, bool), "str": isinstance(value, str)}[base]
        kind = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}[base]
        _check(ok, f"{f.name} must be {kind}; got {value!r}")
        if base == "float":
            _check(math.isfinite(value), f"{f.name} must be a finite number; got {value}")
        if base == "int":
            _check(value <= MAX_INT, f"{f.name} must be at most 2**63 - 1; got {value}")
    _check(c.dataset in DATASET_DEFAULTS, f"dataset must be one of {', '.join(DATASET_DEFAULTS)}; got {c.dataset!r}")
    _check(c.method in METHODS, f"method must be one of {', '.join(METHODS)}; got {c.method!r}")
    _check(c.model in MODELS, f"model must be one of {', '.join(MODELS)}; got {c.model!r}")
    _check(c.precision in ("auto", *PRECISIONS), f"precision must be one of auto, {', '.join(PRECISIONS)}; got {c.precision!r}")
    if c.eps is not None:
        _check(0 <= c.eps <= 1, f"eps must be in [0, 1] (pixel units); got {c.eps}")
    if c.alpha is not None:
        _check(0 <= c.alpha <= 1, f"alpha must be in [0, 1] (pixel units); got {c.alpha}")
    _check(0 <= c.delta < 1, f"delta must be in [0, 1); got {c.delta}")
    _check(c.steps >= 1, f"steps must be >= 1; got {c.steps}")
    _check(c.eval_steps >= 1, f"eval_steps must be >= 1; got {c.eval_steps}")
    _check(c.num_ops >= 0, f"num_ops must be >= 0; got {c.num_ops}")
    _check(c.method != "advplus" or c.num_ops >= 1, f"num_ops must be >= 1 for method advplus; got {c.num_ops}")
    if c.epochs is not None:
        _check(c.epochs >= 1, f"epochs must be >= 1; got {c.epochs}")
    if c.batch_size is not None:
        _check(c.batch_size >= 1, f"batch_size must be >= 1; got {c.batch_size}")
    if c.lr is not None:
        _check(c.lr > 0, f"lr must be > 0; got {c.lr}")
    _check(0 <= c.momentum < 1, f"momentum must be in [0, 1); got {c.momentum}")
    _check(c.weight_decay >= 0, f"weight_decay must be >= 0; got {c.weight_decay}")
    _check(c.weak_class_weight > 0, f"weak_class_weight must be > 0; got {c.weak_class_weight}")
    _check(all(part.strip().isdigit() for part in c.weak_classes.split(",")) if c.weak_classes else True,
           f"weak_classes must be comma-separated class indices like '6' or '6,2'; got {c.weak_classes!r}")
    _check(c.init_from in INIT_FROM, f"init_from must be one of '', std; got {c.init_from!r}")
    _check(not c.init_from or c.method != "std", f"init_from: {c.init_from} needs method adv or advplus; got {c.method!r}")
    _check(c.init_from or (c.finetune_epochs == 0 and c.finetune_lr is None),
           "finetune_epochs and finetune_lr need init_from: std")
    _check(not c.init_from or c.finetune_epochs >= 1, f"finetune_epochs must be >= 1 with init_from; got {c.finetune_epochs}")
    if c.finetune_lr is not None:
        _check(c.finetune_lr > 0, f"finetune_lr must be > 0; got {c.finetune_lr}")
    _check(0 < c.adv_fraction <= 1, f"adv_fraction must be in (0, 1] (the share of each batch perturbed); got {c.adv_fraction}")
    _check(c.attack_bn in ATTACK_BN, f"attack_bn must be one of train, eval; got {c.attack_bn!r}")
    for name in ("train_subset", "test_subset", "eval_subset", "seed", "image_size", "finetune_epochs"):
        _check(getattr(c, name) >= 0, f"{name} must be >= 0; got {getattr(c, name)}")
