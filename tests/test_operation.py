"""The operation output's separation of clean from attacked images (labelaug_core.evaluation.operation)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.metrics import predict_all
from labelaug_core.evaluation.operation import auroc, operation_separation
from labelaug_core.models import Classifier, Normalize


def test_auroc_is_the_share_of_correctly_ordered_pairs():
    assert auroc([0.1, 0.2], [0.3, 0.4]) == 1.0 and auroc([0.3, 0.4], [0.1, 0.2]) == 0.0
    assert auroc([0.5, 0.5], [0.5, 0.5]) == 0.5
    rng = np.random.default_rng(0)
    neg, pos = rng.normal(size=50), rng.normal(0.5, size=40).round(1)
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert auroc(neg, pos) == pytest.approx(pairs)
    with pytest.raises(ConfigError, match="NaN"):
        auroc([0.1, float("nan")], [0.2])


class _Detector(nn.Module):
    """K = 2 class logits, linear in the pixels with random weights (so PGD perturbs pixels in a random
    sign pattern) or constant (``informative=False``: PGD only adds its random start), and one
    operation logit that is ``scale`` times the image's total variation (high on noisy, attacked images)."""

    def __init__(self, scale: float, informative: bool = True):
        super().__init__()
        self.scale = scale
        self.linear = nn.Linear(64, 2)
        if not informative:
            nn.init.zeros_(self.linear.weight)

    def forward(self, x):
        classes = self.linear(x.flatten(1))
        tv = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3))
        return torch.cat([classes, (self.scale * tv).unsqueeze(1)], dim=1)


@pytest.mark.parametrize("scale, informative, low, high", [(200.0, True, 0.95, 1.0), (0.0, False, 0.5, 0.5)])
def test_a_model_whose_answer_is_known(scale, informative, low, high):
    """An operation output that reads the perturbation separates PGD from clean images (AUROC near 1);
    one that carries nothing about the input, as a constant target teaches, separates nothing (exactly 0.5)."""
    torch.manual_seed(0)
    model = Classifier(_Detector(scale, informative), Normalize((0.0,), (1.0,)), 2, 1).eval()
    x = torch.rand(64, 1, 1, 1).mul(0.2).add(0.4).expand(64, 1, 8, 8).contiguous()  # flat images: no variation
    y = torch.randint(0, 2, (64,))
    pred = predict_all(model, [(x, y)], eps=0.1, eval_steps=5, progress=False)
    result = operation_separation(pred.op_clean[pred.attacked], pred.op_pgd[pred.attacked])
    assert low <= result["auroc"] <= high and result["n_clean"] == result["n_attacked"] == 64
    if scale:
        assert result["mean_attacked"] > result["mean_clean"]
    no_ops = Classifier(_Detector(scale), Normalize((0.0,), (1.0,)), 3, 0).eval()
    assert predict_all(no_ops, [(x, y)], eps=0.1, eval_steps=2, progress=False).op_clean is None
