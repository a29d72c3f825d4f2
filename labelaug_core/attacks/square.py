"""Square Attack (Andriushchenko et al. 2020), the black-box check, through torchattacks.

The defaults are AutoAttack's budget for it (Croce & Hein 2020, ``version="standard"``): 5000
queries, ``p_init = 0.8`` and no rescaling of the square-size schedule to the query budget.
"""
from __future__ import annotations

import torch
from torch import nn

from labelaug_core.attacks.threat import attack_mode, check_norm
from labelaug_core.errors import ConfigError

AUTOATTACK_SQUARE = {"n_queries": 5000, "p_init": 0.8, "rescale_schedule": False}  # AutoAttack's Square budget


class _ClassLogits(nn.Module):
    """The first K logits: torchattacks scores every output of the model it is given."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[:, : self.model.num_classes]


def square_budget(n_queries: int, p_init: float = 0.8, rescale_schedule: bool = False) -> str:
    """The budget in words: ``"5000 queries, p_init 0.8, no schedule rescaling: AutoAttack's budget"``,
    or for another budget e.g. ``"1000 queries, p_init 0.8, no schedule rescaling; AutoAttack's: 5000
    queries, p_init 0.8, no rescaling"``."""
    words = f"{n_queries} queries, p_init {p_init:g}, {'with' if rescale_schedule else 'no'} schedule rescaling"
    same = {"n_queries": n_queries, "p_init": p_init, "rescale_schedule": rescale_schedule} == AUTOATTACK_SQUARE
    return words + (": AutoAttack's budget" if same else "; AutoAttack's: 5000 queries, p_init 0.8, no rescaling")


def square_attack(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, norm: str = "linf",
    n_queries: int = 5000, p_init: float = 0.8, rescale_schedule: bool = False, seed: int = 0,
) -> torch.Tensor:
    """Square Attack (Andriushchenko et al. 2020), a score-based black-box attack, via torchattacks.

    Margin loss on the first K logits, ``n_queries`` queries per image, one restart, initial
    square fraction ``p_init``; ``rescale_schedule`` (torchattacks' ``resc_schedule``) shrinks the
    square-size schedule to ``n_queries`` as if 10000 were given (AutoAttack: off). The defaults are
    AutoAttack's (:data:`AUTOATTACK_SQUARE`). x: (B, C, H, W) in [0, 1]; returns x_adv in [0, 1]
    within ``eps``. The global random state is left as it was (torchattacks reseeds it).
    """
    check_norm(norm)
    if n_queries < 1:
        raise ConfigError(f"n_queries must be >= 1; got {n_queries}")
    if not 0 < p_init <= 1:
        raise ConfigError(f"p_init must be in (0, 1]; got {p_init}")
    try:
        import torchattacks
    except ModuleNotFoundError as exc:  # installed with --no-deps: it pins an old requests
        raise ModuleNotFoundError("square_attack needs torchattacks: pip install --no-deps torchattacks==3.5.1") from exc

    attack = torchattacks.Square(
        _ClassLogits(model), norm={"linf": "Linf", "l2": "L2"}[norm], eps=eps, n_queries=n_queries, p_init=p_init,
        resc_schedule=rescale_schedule, seed=seed,
    )
    devices = [x.device.index or 0] if x.device.type == "cuda" else []
    with attack_mode(model), torch.random.fork_rng(devices=devices), torch.no_grad():
        return attack(x.detach(), y.detach())
