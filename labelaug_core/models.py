"""Classifiers with K + M outputs; input normalisation lives inside the model.

Every model built here takes images in [0, 1], shape (B, C, H, W), and returns
logits of shape (B, K + M): K class logits followed by M operation logits (label
augmentation; M = 0 for std and adv models). The prediction is the argmax over the
first K (see :func:`predict`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from labelaug_core.errors import ConfigError

ARCHITECTURES = ("small-cnn", "preact-resnet18", "resnet50")

# Per-channel mean/std of the training sets (grey sets use one channel).
_NORMALISATION = {
    1: ((0.2860,), (0.3530,)),  # Fashion-MNIST
    3: ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),  # CIFAR-10
}
_IMAGENET_NORMALISATION = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def normalisation(name: str, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per channel of the :class:`Normalize` layer that :func:`build_model` gives
    architecture ``name`` for ``channels``-channel images: ImageNet's for ``resnet50``, else the
    training set's (Fashion-MNIST for grey images, CIFAR-10 for colour)."""
    return _IMAGENET_NORMALISATION if name == "resnet50" else _NORMALISATION[1 if channels == 1 else 3]


class Normalize(nn.Module):
    """(x - mean) / std per channel, so attacks work on [0, 1] pixels."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Classifier(nn.Module):
    """Normalisation + backbone, carrying ``num_classes`` (K) and ``num_ops`` (M)."""

    def __init__(self, backbone: nn.Module, normalize: Normalize, num_classes: int, num_ops: int):
        super().__init__()
        self.normalize = normalize
        self.backbone = backbone
        self.num_classes = num_classes
        self.num_ops = num_ops

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.normalize(x))


class SmallCNN(nn.Module):
    """Two conv blocks + two linear layers for 28x28 grey images (the CPU default).

    About 4.2 M multiply-adds per image, so PGD-10 adversarial training of Fashion-MNIST
    fits in minutes on a 2-core CPU.
    """

    def __init__(self, in_channels: int, num_outputs: int, image_size: int = 28):
        super().__init__()
        # Pooling before ReLU is the same function as the usual conv-ReLU-pool (both are monotone,
        # so they commute) with a quarter of the ReLU work: PGD-10 ran 1.3x faster on the CPU
        # (benchmarks/README.md). The convolutions keep their indices (0, 3) in the state dict.
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(inplace=True),
        )
        side = image_size // 4
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * side * side, 128), nn.ReLU(inplace=True), nn.Linear(128, num_outputs)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class PreActBlock(nn.Module):
    """Pre-activation basic block (He et al. 2016, "Identity mappings in deep residual networks")."""

    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.shortcut = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet18(nn.Module):
    """PreAct-ResNet-18 for 32x32 images, the standard model of CIFAR adversarial training."""

    def __init__(self, in_channels: int, num_outputs: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        layers, in_planes = [], 64
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [PreActBlock(in_planes, planes, stride), PreActBlock(planes, planes, 1)]
            in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(512)
        self.linear = nn.Linear(512, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(self.conv1(x))
        out = F.adaptive_avg_pool2d(F.relu(self.bn(out)), 1).flatten(1)
        return self.linear(out)


def _resnet50(num_classes: int, num_ops: int, pretrained: bool) -> nn.Module:
    from torchvision.models import ResNet50_Weights, resnet50

    weights = None
    if pretrained:
        weights = ResNet50_Weights.DEFAULT
    try:
        net = resnet50(weights=weights)
    except (OSError, RuntimeError) as exc:  # urllib errors are OSErrors
        raise ConfigError(
            f"pretrained: could not load torchvision's ResNet-50 weights ({type(exc).__name__}); "
            "they need an internet connection or a copy in $TORCH_HOME/hub/checkpoints"
        ) from exc
    old = net.fc
    net.fc = nn.Linear(old.in_features, num_classes + num_ops)
    if pretrained and num_classes == old.out_features:
        # Keep the ImageNet classifier for the K class rows; the M operation rows start fresh.
        with torch.no_grad():
            net.fc.weight[:num_classes].copy_(old.weight)
            net.fc.bias[:num_classes].copy_(old.bias)
    return net


def build_model(
    name: str,
    num_classes: int,
    num_ops: int = 0,
    *,
    channels: int = 1,
    image_size: int = 28,
    pretrained: bool = False,
) -> Classifier:
    """Build a :class:`Classifier` returning (B, num_classes + num_ops) logits.

    Args:
        name: one of ``ARCHITECTURES``.
        num_classes: K >= 2.  num_ops: M >= 0.
        channels, image_size: input shape (C, H = W).
        pretrained: torchvision's ImageNet weights (``resnet50`` only; needs them on disk or online).
    """
    if name not in ARCHITECTURES:
        raise ConfigError(f"model must be one of {', '.join(ARCHITECTURES)}; got {name!r}")
    if pretrained and name != "resnet50":
        raise ConfigError(f"pretrained: only resnet50 has pretrained weights; got model {name!r}")
    outputs = num_classes + num_ops
    if name == "small-cnn":
        backbone = SmallCNN(channels, outputs, image_size)
    elif name == "preact-resnet18":
        backbone = PreActResNet18(channels, outputs)
    else:
        backbone = _resnet50(num_classes, num_ops, pretrained)
    mean, std = normalisation(name, channels)
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3; got {channels}")
    if name == "resnet50" and channels == 1:
        raise ConfigError("model resnet50 needs 3-channel images")
    return Classifier(backbone, Normalize(mean, std), num_classes, num_ops)


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Class prediction: argmax over the first K logits. x: (B, C, H, W) in [0, 1] -> (B,) int64."""
    return model(x)[:, : model.num_classes].argmax(dim=1)
