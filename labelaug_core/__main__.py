"""``python -m labelaug_core ...`` (also under torchrun) runs the ``labelaug`` command line."""
from labelaug_core.cli import entry_point

entry_point()
