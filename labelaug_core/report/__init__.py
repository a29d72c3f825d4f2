"""What the book shows: tables (:mod:`.tables`), figures (:mod:`.figures`), static-HTML widgets
(:mod:`.widgets`) and the verdict (:mod:`.verdict`), from runs and evaluations.
"""

from labelaug_core.report.corruptions import (  # noqa: F401
    table1_with_mce,
    mce_headline,
    method_tables,
    class_mce,
)
from labelaug_core.report.defences import (  # noqa: F401
    PEER_SETTING,
    PEERS,
    accuracy_summary,
    defence_table,
)
from labelaug_core.report.figures import (  # noqa: F401
    PALETTE,
    per_class_frame,
    per_class_bars,
    training_curves,
    target_vector,
    error_curve_plot,
    adversarial_grid,
    corruption_heatmaps,
    corruption_ce_bars,
    corruption_grid,
    per_class_sorted,
    factor_bars,
    adversarial_confusion_heatmaps,
    weight_norm_scatter,
    attack_ladder_lines,
    temperature_curves,
    defence_class_lines,
    show,
)
from labelaug_core.report.imagenet import (  # noqa: F401
    table2_with_real,
    real_headline,
    figure1_panels,
)
from labelaug_core.report.tables import (  # noqa: F401
    METHOD_NAMES,
    PAPER_TABLE1,
    PAPER_TABLE2,
    relative_change,
    runs_table,
    method_means,
    table1,
    table2,
    headline_changes,
    error_difference,
)
from labelaug_core.report.verdict import (  # noqa: F401
    ladder_table,
    gain_vulnerability,
    verdict_table,
    member_table,
    claim_verdict,
    verdict_sentence,
)
from labelaug_core.report.widgets import (  # noqa: F401
    png_bytes,
    FigureSlider,
    slider_of_figures,
)
