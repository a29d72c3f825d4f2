"""An evaluation strong enough to trust: a ladder of attacks on the same examples.

Rungs, weakest to strongest: ``clean``, ``fgsm``, ``pgd-10``, ``pgd-40`` (one random start,
``alpha = default_alpha(eps, steps)``) and ``ensemble``, the per-example worst case of PGD-40, PGD-40
with restarts, APGD-CE and APGD-T (targeted DLR, 9 targets by default) via
:func:`labelaug_core.attacks.ensemble.ensemble_attack`: white-box members only, without AutoAttack's
FAB-T and Square, so not AutoAttack (tests/test_autoattack.py compares it with AutoAttack). Per-example results are kept, so two
models evaluated on the same images can be compared pairwise.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from labelaug_core.attacks.ensemble import DEFAULT_ENSEMBLE, ensemble_attack
from labelaug_core.attacks.pgd import fgsm, seeded_pgd
from labelaug_core.attacks.threat import check_logits, predict
from labelaug_core.errors import ConfigError
from labelaug_core.evaluation.ladder import LADDER, StrongEval


def _wrong(model, x_adv: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return (predict(model, x_adv) != y).cpu().numpy()


def strong_eval(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    logits: str = "classes",
    attacks: tuple[str, ...] = DEFAULT_ENSEMBLE,
    apgd_steps: int = 100,
    pgd_restarts: int = 5,
    n_target_classes: int = 9,
    seed: int = 0,
    batch_size: int = 500,
    settings: dict | None = None,
) -> StrongEval:
    """The attack ladder (:data:`LADDER`) on (x, y).

    Args:
        model: returns (B, K + M) logits and has ``num_classes`` (K) and ``num_ops`` (M).
        x: (N, C, H, W) images in [0, 1].  y: (N,) int64 labels.  eps: L-inf radius, pixel units.
        logits: ``"classes"`` (first K) or ``"all"`` (K + M): the loss every attack maximises.
        attacks, apgd_steps, pgd_restarts, n_target_classes: the ensemble's members and budget
            (:func:`labelaug_core.attacks.ensemble.ensemble_attack`; run as a cascade, so each member attacks
            only what the earlier ones left).
        seed: seeds every attack's random start. batch_size: images attacked at once.
        settings: extra entries recorded in ``StrongEval.settings`` (e.g. the run id).
    """
    check_logits(logits)
    if eps <= 0:
        raise ConfigError(f"eps must be > 0 (pixel units); got {eps}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1; got {batch_size}")
    started = time.perf_counter()
    parts: dict[str, list[torch.Tensor]] = {}
    preds = []
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        with torch.no_grad():
            out = {"clean": predict(model, xb) != yb}
        for name, x_adv in (("fgsm", fgsm(model, xb, yb, eps, logits=logits)),
                            ("pgd-10", seeded_pgd(model, xb, yb, eps, 10, logits=logits, seed=seed))):
            with torch.no_grad():
                out[name] = predict(model, x_adv) != yb
        x_worst, fooled_by = ensemble_attack(
            model, xb, yb, eps, attacks=attacks, logits=logits, apgd_steps=apgd_steps, pgd_restarts=pgd_restarts,
            n_target_classes=n_target_classes, cascade=True, seed=seed)
        with torch.no_grad():
            preds.append(predict(model, x_worst).cpu())
        if attacks[0] == "pgd-40":  # the first member attacks every example: its entry is PGD-40's own error
            out["pgd-40"] = fooled_by["pgd-40"]
        out["ensemble"] = torch.stack(list(fooled_by.values())).any(0)
        for name in attacks:
            out[f"member:{name}"] = fooled_by[name] & ~fooled_by["clean"]
        for name, w in out.items():
            parts.setdefault(name, []).append(w.cpu())
    wrong = {name: torch.cat(ws).numpy() for name, ws in parts.items()}
    if "pgd-40" not in wrong:  # an ensemble without PGD-40 first: the ladder's rung is run alone
        wrong["pgd-40"] = np.concatenate([_wrong(model, seeded_pgd(model, x[i:i + batch_size], y[i:i + batch_size], eps,
                                                                   40, logits=logits, seed=seed), y[i:i + batch_size])
                                          for i in range(0, len(x), batch_size)])
    wrong = {name: wrong[name] for name in LADDER} | {n: w for n, w in wrong.items() if n.startswith("member:")}
    recorded = dict(settings or {}) | {
        "eps": eps, "logits": logits, "attacks": list(attacks), "apgd_steps": apgd_steps,
        "pgd_restarts": pgd_restarts, "n_target_classes": n_target_classes, "seed": seed, "n": int(len(y)),
    }
    return StrongEval(recorded, y.cpu().numpy(), wrong, torch.cat(preds).numpy(), time.perf_counter() - started)


