"""Square Attack (Andriushchenko et al. 2020), the black-box check, through torchattacks."""
from __future__ import annotations

import torch
from torch import nn

from labelaug_core.attacks.threat import attack_mode, check_norm


class _ClassLogits(nn.Module):
    """The first K logits: torchattacks scores every output of the model it is given."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[:, : self.model.num_classes]


def square_attack(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, norm: str = "linf",
    n_queries: int = 1000, seed: int = 0,
) -> torch.Tensor:
    """Square Attack (Andriushchenko et al. 2020), a score-based black-box attack, via torchattacks.

    Margin loss on the first K logits, ``n_queries`` queries per image, one restart.
    x: (B, C, H, W) in [0, 1]; returns x_adv in [0, 1] within ``eps``. The global random
    state is left as it was (torchattacks reseeds it).
    """
    check_norm(norm)
    try:
        import torchattacks
    except ModuleNotFoundError as exc:  # installed with --no-deps: it pins an old requests
        raise ModuleNotFoundError("square_attack needs torchattacks: pip install --no-deps torchattacks==3.5.1") from exc

    attack = torchattacks.Square(
        _ClassLogits(model), norm={"linf": "Linf", "l2": "L2"}[norm], eps=eps, n_queries=n_queries, seed=seed
    )
    devices = [x.device.index or 0] if x.device.type == "cuda" else []
    with attack_mode(model), torch.random.fork_rng(devices=devices), torch.no_grad():
        return attack(x.detach(), y.detach())
