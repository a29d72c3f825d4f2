"""Evaluation of a model on tensors: metrics, the strong attack ladder, gradient-masking checks,
class-wise analyses, corruptions, ImageNet-ReaL/-X and weakest-class defences. Pure functions of a
model and images: nothing here knows about run directories.
"""

from labelaug_core.evaluation.checks import (  # noqa: F401
    DETERMINISM_TOL,
    PROBABILITY_TOL,
    CheckResult,
    check_black_box,
    check_deterministic,
    check_large_eps,
    check_logits,
    check_more_steps,
    check_nonzero_gradients,
    checks_frame,
    run_masking_checks,
)
from labelaug_core.evaluation.classwise import (  # noqa: F401
    adversarial_flows,
    attack_ladder,
    classifier_weight_norms,
    success_rate,
    temperature_sweep,
    weight_norm_correlation,
)
from labelaug_core.evaluation.corrupted_sets import (  # noqa: F401
    GENERATOR_CODE,
    class_ce,
    corrupted_set,
    corruption_errors,
    default_cache_dir,
    imagenet_c_errors,
    imagenet_c_loader,
    mce,
)
from labelaug_core.evaluation.corruptions import (  # noqa: F401
    CORRUPTIONS,
    SEVERITIES,
    SEVERITY_PARAMS,
    SMALL_IMAGE_SIZE,
    close_pool,
    corrupt,
    validate,
)
from labelaug_core.evaluation.defences import (  # noqa: F401
    LogitAdjusted,
    choose_bias,
    class_bias,
    class_robustness,
    rank_weakest,
)
from labelaug_core.evaluation.imagenet import (  # noqa: F401
    N_VAL,
    NUM_IMAGENET_CLASSES,
    VAL_NAMES,
    error_ratios,
    factor_errors,
    imagenet_classes,
    imagenet_indices,
    imagenet_x_accuracies,
    imagenet_x_counts,
    model_predictions,
    predictions_frame,
    real_error,
    require_imagenet,
)
from labelaug_core.evaluation.ladder import (  # noqa: F401
    LADDER,
    StrongEval,
    worst_of,
)
from labelaug_core.evaluation.metrics import (  # noqa: F401
    Predictions,
    class_stats,
    confusion_matrix,
    error_curve,
    error_pct,
    per_class_error,
    predict_all,
    summarize,
)
from labelaug_core.evaluation.strong import (  # noqa: F401
    strong_eval,
)
