"""Make ``import torchvision`` work when its compiled ops cannot load.

torchvision 0.28.0 from PyPI is a CUDA build. On a machine whose torch is the
CPU build, its ``_C`` extension fails to load, and torchvision's import then
dies registering fake kernels for ``torchvision::nms`` and ``torchvision::qnms``
("operator torchvision::nms does not exist"). This project uses no detection
ops, so when the extension cannot load we declare those two operator schemas
(no kernels) before torchvision is imported. Models, transforms and datasets
then import normally; calling ``torchvision.ops.nms`` would still fail loudly.

Where the extension does load (a matching CUDA torch), nothing is changed.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

_PLACEHOLDER_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_library = None  # keeps the placeholder library alive for the process


def _extension_loads() -> bool:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return True  # torchvision absent: nothing to patch
    for lib_path in Path(spec.origin).parent.glob("_C*.so"):
        try:
            torch.ops.load_library(str(lib_path))
            return True
        except (OSError, RuntimeError):
            return False
    return False


def ensure_torchvision_importable() -> None:
    """Declare placeholder ``torchvision::`` op schemas if its extension cannot load."""
    global _library
    if "torchvision" in sys.modules or _library is not None or _extension_loads():
        return
    _library = torch.library.Library("torchvision", "DEF")
    for schema in _PLACEHOLDER_SCHEMAS.values():
        _library.define(schema)
