"""The embedded sample data (``Resources/SampleData``): a phantom CT with LiTS labels, a crop of the MNI152
T1 template with a Rician-noisy copy, and a fastMRI-schema single-coil file simulated from that crop.

- :mod:`condswin.samples.generate` makes them reproducibly from a seed (``python -m condswin.samples``);
- :mod:`condswin.samples.catalog` finds them and checks them against ``samples.json`` (sha256 and size).

The demo (:mod:`condswin.demo`) and the Slicer SampleData registration read the catalog; nothing here
needs ``../shared/data`` except regenerating the MR files (the MNI template is read from there).
"""

from condswin.samples.catalog import (
    CATALOG_FILENAME,
    SampleFile,
    SampleSet,
    read_catalog,
    sample_data_dir,
    verify_samples,
)
from condswin.samples.generate import SampleSettings, make_samples

__all__ = [
    "CATALOG_FILENAME",
    "SampleFile",
    "SampleSet",
    "SampleSettings",
    "make_samples",
    "read_catalog",
    "sample_data_dir",
    "verify_samples",
]
