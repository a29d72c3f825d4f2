"""Data sets: where they are (:mod:`.sources`), reading them (:mod:`.readers`), deterministic sampling
(:mod:`.sampling`), folder data sets (:mod:`.folders`) and the loaders (:mod:`.loaders`).
"""

from labelaug_core.data.folders import (  # noqa: F401
    FolderLoader,
)
from labelaug_core.data.loaders import (  # noqa: F401
    ArrayLoader,
    split_labels,
    load_examples,
    make_loader,
)
from labelaug_core.data.readers import (  # noqa: F401
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    read_idx,
    load_arrays,
)
from labelaug_core.data.sampling import (  # noqa: F401
    balanced_subset,
    crop_flip,
)
from labelaug_core.data.sources import (  # noqa: F401
    DATASETS,
    SMALL_DATASETS,
    SPLITS,
    DEBIAN_FASHION_MNIST,
    AUGMENTATION,
    DatasetInfo,
    cache_dir,
    dataset_info,
)
