"""What the book shows: tables (:mod:`.tables`), figures (:mod:`.figures`), static-HTML widgets
(:mod:`.widgets`) and the verdict (:mod:`.verdict`), from runs and evaluations.
"""

from labelaug_core.report.corruptions import (  # noqa: F401
    class_mce,
    mce_headline,
    method_tables,
    table1_with_mce,
)
from labelaug_core.report.defences import (  # noqa: F401
    PEER_SETTING,
    PEERS,
    accuracy_summary,
    defence_table,
)
from labelaug_core.report.figures import (  # noqa: F401
    PALETTE,
    adversarial_confusion_heatmaps,
    adversarial_grid,
    attack_ladder_lines,
    corruption_ce_bars,
    corruption_grid,
    corruption_heatmaps,
    defence_class_lines,
    error_curve_plot,
    factor_bars,
    per_class_bars,
    per_class_frame,
    per_class_sorted,
    show,
    target_vector,
    temperature_curves,
    training_curves,
    weight_norm_scatter,
)
from labelaug_core.report.imagenet import (  # noqa: F401
    figure1_panels,
    real_headline,
    table2_with_real,
)
from labelaug_core.report.tables import (  # noqa: F401
    METHOD_NAMES,
    PAPER_TABLE1,
    PAPER_TABLE2,
    error_difference,
    headline_changes,
    method_means,
    relative_change,
    runs_table,
    table1,
    table2,
)
from labelaug_core.report.verdict import (  # noqa: F401
    claim_verdict,
    gain_vulnerability,
    ladder_table,
    member_table,
    verdict_sentence,
    verdict_table,
)
from labelaug_core.report.widgets import (  # noqa: F401
    FigureSlider,
    png_bytes,
    slider_of_figures,
)
