"""Model wrappers shared by the attack tests."""
import torch


class Scaled(torch.nn.Module):
    """``model``'s logits divided by ``t``: plain PGD on it is Temperature-PGD at T = t on ``model``."""

    def __init__(self, model, t):
        super().__init__()
        self.model, self.t = model, t
        self.num_classes, self.num_ops = model.num_classes, model.num_ops

    def forward(self, x):
        return self.model(x) / self.t
