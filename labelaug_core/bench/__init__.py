"""``labelaug bench``: timing primitives, workloads, the run, and reading results back."""

from labelaug_core.bench.results import (  # noqa: F401
    TARGETS,
    load_results,
    result_summary,
    attack_frame,
    epoch_frame,
    targets_frame,
)
from labelaug_core.bench.run import (  # noqa: F401
    run_benchmarks,
)
from labelaug_core.bench.timing import (  # noqa: F401
    time_once,
    interleaved,
    floor_passes,
    pass_flops,
    gemm_peak,
)
from labelaug_core.bench.workloads import (  # noqa: F401
    FMNIST_EPS,
    Workload,
    WORKLOADS,
    EPOCH_IMAGES,
    attack_cases,
    bench_attacks,
    reference_epoch,
    floor_epoch,
    bench_epoch,
)
