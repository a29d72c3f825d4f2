"""Small models and model wrappers shared by the attack tests."""
import torch


class Scaled(torch.nn.Module):
    """``model``'s logits divided by ``t``: plain PGD on it is Temperature-PGD at T = t on ``model``."""

    def __init__(self, model, t):
        super().__init__()
        self.model, self.t = model, t
        self.num_classes, self.num_ops = model.num_classes, model.num_ops

    def forward(self, x):
        return self.model(x) / self.t


class TinyCNN(torch.nn.Module):
    """About 0.2 M multiply-adds per image (K = 10, M = 0): fast enough for APGD-T in a unit test."""

    num_classes, num_ops = 10, 0

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.net = nn.Sequential(
            nn.Conv2d(1, 8, 5, 2, 2), nn.ReLU(), nn.Conv2d(8, 16, 5, 2, 2), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 49, 10)
        )

    def forward(self, x):
        return self.net(x)
