"""Attacks under one threat model (:mod:`.threat`): FGSM and PGD (:mod:`.pgd`), APGD (:mod:`.apgd`),
the worst-case ensemble (:mod:`.ensemble`) and the black-box Square attack (:mod:`.square`).
Pure tensor functions: nothing here reads or writes files.
"""

from labelaug_core.attacks.apgd import (  # noqa: F401
    LOSSES,
    apgd,
    checkpoints,
    dlr_loss,
    dlr_targeted_loss,
)
from labelaug_core.attacks.ensemble import (  # noqa: F401
    DEFAULT_ENSEMBLE,
    ensemble_attack,
    ensemble_errors,
)
from labelaug_core.attacks.pgd import (  # noqa: F401
    attack_loss,
    fgsm,
    pgd,
    seeded_pgd,
)
from labelaug_core.attacks.square import (  # noqa: F401
    square_attack,
)
from labelaug_core.attacks.threat import (  # noqa: F401
    LOGITS,
    NORMS,
    attack_mode,
    attacked_logits,
    check_logits,
    check_norm,
    default_alpha,
    generator_for,
    l2_norm,
    per_example,
    project,
)
