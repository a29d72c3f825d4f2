"""The book: experiment plans (:mod:`.plan`) and the build (:mod:`.build`)."""

from labelaug_core.book.build import (  # noqa: F401
    STATIC_DIR,
    STATIC_ASSETS,
    STATIC_FONT_DIRS,
    module_path_exists,
    notebook_code,
    notebook_stamp,
    execute_notebook,
    check_kernel,
    install_static_assets,
    build_html,
    build_book,
)
from labelaug_core.book.plan import (  # noqa: F401
    PLAN_KEYS,
    COMMON_PARAMETERS,
    SETTINGS_PARAMETER,
    RESULTS_DIR,
    BookError,
    Plan,
    available_profiles,
    toc_files,
    toc_chapters,
    load_plan,
    notebook_parameters,
)
