"""The run store and the run-level studies: run directories (:mod:`.store`), training a run
(:mod:`.training`), the evaluation protocol (:mod:`.protocol`), and the cached studies built on them
(:mod:`.strong`, :mod:`.defences`, :mod:`.corruptions`, :mod:`.imagenet`).
"""

from labelaug_core.runs.corruptions import (  # noqa: F401
    CORRUPTION_CODE,
    clean_images,
    corruption_eval,
    corruption_examples,
    corruption_source,
    find_imagenet_c,
)
from labelaug_core.runs.defences import (  # noqa: F401
    DEFENCE_CODE,
    choose_run_bias,
    evaluate_adjusted,
    heldout_class_errors,
    heldout_data,
    heldout_indices,
    weakest_classes,
)
from labelaug_core.runs.imagenet import (  # noqa: F401
    run_predictions,
)
from labelaug_core.runs.protocol import (  # noqa: F401
    EVAL_BATCH,
    attack_seed,
    protocol_predictions,
    run_test_images,
    test_loader,
)
from labelaug_core.runs.status import (  # noqa: F401
    chapter_status,
    plan_status,
    run_status,
    study_status,
)
from labelaug_core.runs.store import (  # noqa: F401
    RUN_FILES,
    Run,
    find_run,
    find_runs,
    git_commit,
    is_finished,
    is_trained,
    load_model,
    load_run,
    read_config,
    recorded_data_dir,
)
from labelaug_core.runs.strong import (  # noqa: F401
    CHECKS_CODE,
    STRONG_CODE,
    TEMPERATURE_CODE,
    masking_check_tables,
    masking_checks,
    strong_evaluation,
    temperature_evaluation,
)
from labelaug_core.runs.training import (  # noqa: F401
    REEVAL_CODE,
    check_inputs,
    ensure_run,
    evaluate_again,
    run_lock,
)
