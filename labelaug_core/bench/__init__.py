"""``labelaug bench``: timing primitives, workloads, the run, and reading results back."""

from labelaug_core.bench.results import (  # noqa: F401
    TARGETS,
    attack_frame,
    epoch_frame,
    load_results,
    result_summary,
    targets_frame,
)
from labelaug_core.bench.run import (  # noqa: F401
    run_benchmarks,
)
from labelaug_core.bench.timing import (  # noqa: F401
    floor_passes,
    gemm_peak,
    interleaved,
    pass_flops,
    time_once,
)
from labelaug_core.bench.workloads import (  # noqa: F401
    EPOCH_IMAGES,
    FMNIST_EPS,
    WORKLOADS,
    Workload,
    attack_cases,
    bench_attacks,
    bench_epoch,
    floor_epoch,
    reference_epoch,
)
