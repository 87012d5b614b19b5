"""The training data pipeline: 2-D slices from volumes, prepared exactly as inference prepares them.

``build_datasets(config)`` returns :class:`DataSplits` (train / val / test datasets of :class:`SliceSample`,
channel counts, the model card's input/output contract, a description of the data and its licences).
Volumes are indexed once and read lazily (memory-mapped); whole volumes are held out for validation and test.
"""

from condswin.training.data.build import build_datasets
from condswin.training.data.samples import DataSplits, SliceSample

__all__ = ["DataSplits", "SliceSample", "build_datasets"]
