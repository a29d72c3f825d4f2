"""Data sets: where they are (:mod:`.sources`), reading them (:mod:`.readers`), deterministic sampling
(:mod:`.sampling`), folder data sets (:mod:`.folders`) and the loaders (:mod:`.loaders`).
"""

from labelaug_core.data.folders import (  # noqa: F401
    FolderLoader,
)
from labelaug_core.data.loaders import (  # noqa: F401
    ArrayLoader,
    load_examples,
    make_loader,
    split_labels,
)
from labelaug_core.data.readers import (  # noqa: F401
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    load_arrays,
    read_idx,
)
from labelaug_core.data.sampling import (  # noqa: F401
    balanced_subset,
    crop_flip,
)
from labelaug_core.data.sources import (  # noqa: F401
    AUGMENTATION,
    DATASETS,
    DEBIAN_FASHION_MNIST,
    SMALL_DATASETS,
    SPLITS,
    DatasetInfo,
    cache_dir,
    dataset_info,
)
