"""Evaluation of a model on tensors: metrics, the strong attack ladder, gradient-masking checks,
class-wise analyses, corruptions, ImageNet-ReaL/-X and weakest-class defences. Pure functions of a
model and images: nothing here knows about run directories.
"""

from labelaug_core.evaluation.checks import (  # noqa: F401
    PROBABILITY_TOL,
    DETERMINISM_TOL,
    CheckResult,
    check_logits,
    check_deterministic,
    check_nonzero_gradients,
    check_more_steps,
    check_large_eps,
    check_black_box,
    run_masking_checks,
    checks_frame,
)
from labelaug_core.evaluation.classwise import (  # noqa: F401
    adversarial_flows,
    classifier_weight_norms,
    weight_norm_correlation,
    attack_ladder,
    success_rate,
    temperature_sweep,
)
from labelaug_core.evaluation.corrupted_sets import (  # noqa: F401
    GENERATOR_CODE,
    default_cache_dir,
    corrupted_set,
    corruption_errors,
    mce,
    class_ce,
    imagenet_c_loader,
    imagenet_c_errors,
)
from labelaug_core.evaluation.corruptions import (  # noqa: F401
    CORRUPTIONS,
    SEVERITIES,
    SMALL_IMAGE_SIZE,
    SEVERITY_PARAMS,
    validate,
    close_pool,
    corrupt,
)
from labelaug_core.evaluation.defences import (  # noqa: F401
    class_robustness,
    rank_weakest,
    LogitAdjusted,
    class_bias,
    choose_bias,
)
from labelaug_core.evaluation.imagenet import (  # noqa: F401
    N_VAL,
    NUM_IMAGENET_CLASSES,
    VAL_NAMES,
    require_imagenet,
    imagenet_classes,
    imagenet_indices,
    predictions_frame,
    model_predictions,
    real_error,
    imagenet_x_accuracies,
    imagenet_x_counts,
    factor_errors,
    error_ratios,
)
from labelaug_core.evaluation.metrics import (  # noqa: F401
    Predictions,
    predict_all,
    error_pct,
    per_class_error,
    confusion_matrix,
    class_stats,
    summarize,
    error_curve,
)
from labelaug_core.evaluation.strong import (  # noqa: F401
    LADDER,
    StrongEval,
    strong_eval,
    worst_of,
)
