"""labelaug_core: adversarial training with label augmentation, tested and reproducible.

Conventions used everywhere in this package:
- images are float tensors in [0, 1], shape (B, C, H, W); normalisation lives inside models;
- ``eps`` and ``alpha`` are on that [0, 1] pixel scale;
- every ``*_err`` / ``*_acc`` value is a percentage (0-100), as the paper writes them;
- models return K + M logits (``model.num_classes`` = K, ``model.num_ops`` = M) and the
  prediction is the argmax over the first K.
"""
from labelaug_core._torchvision_compat import ensure_torchvision_importable

ensure_torchvision_importable()

__version__ = "0.1.0"
