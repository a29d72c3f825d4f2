"""The run store and the run-level studies: run directories (:mod:`.store`), training a run
(:mod:`.training`), the evaluation protocol (:mod:`.protocol`), and the cached studies built on them
(:mod:`.strong`, :mod:`.defences`, :mod:`.corruptions`, :mod:`.imagenet`).
"""

from labelaug_core.runs.corruptions import (  # noqa: F401
    find_imagenet_c,
    clean_images,
    CORRUPTION_CODE,
    corruption_eval,
    corruption_source,
    corruption_examples,
)
from labelaug_core.runs.defences import (  # noqa: F401
    DEFENCE_CODE,
    heldout_indices,
    heldout_data,
    heldout_class_errors,
    weakest_classes,
    choose_run_bias,
    evaluate_adjusted,
)
from labelaug_core.runs.imagenet import (  # noqa: F401
    run_predictions,
)
from labelaug_core.runs.protocol import (  # noqa: F401
    EVAL_BATCH,
    test_loader,
    attack_seed,
    protocol_predictions,
    run_test_images,
)
from labelaug_core.runs.status import (  # noqa: F401
    run_status,
    study_status,
    chapter_status,
    plan_status,
)
from labelaug_core.runs.store import (  # noqa: F401
    RUN_FILES,
    Run,
    git_commit,
    is_finished,
    read_config,
    load_run,
    recorded_data_dir,
    load_model,
    find_run,
    find_runs,
)
from labelaug_core.runs.strong import (  # noqa: F401
    STRONG_CODE,
    CHECKS_CODE,
    TEMPERATURE_CODE,
    strong_evaluation,
    masking_checks,
    temperature_evaluation,
)
from labelaug_core.runs.training import (  # noqa: F401
    EVAL_CODE,
    run_lock,
    check_inputs,
    ensure_run,
    evaluate_run,
    evaluate_again,
)
