"""The book: experiment plans (:mod:`.plan`), the build (:mod:`.build`) and its progress (:mod:`.progress`)."""

from labelaug_core.book.build import (  # noqa: F401
    STATIC_ASSETS,
    STATIC_DIR,
    STATIC_FONT_DIRS,
    build_book,
    build_html,
    check_kernel,
    execute_notebook,
    install_static_assets,
    module_path_exists,
    notebook_code,
    notebook_stamp,
)
from labelaug_core.book.plan import (  # noqa: F401
    COMMON_PARAMETERS,
    PLAN_KEYS,
    REQUIRED_METHODS,
    RESULTS_DIR,
    SETTINGS_PARAMETER,
    BookError,
    Plan,
    available_profiles,
    check_required_runs,
    load_plan,
    notebook_parameters,
    plan_path,
    read_plan,
    toc_chapters,
    toc_files,
)
from labelaug_core.book.progress import CellProgress, PlanProgress  # noqa: F401
