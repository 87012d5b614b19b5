"""The training data pipeline: 2-D slices from volumes, prepared exactly as inference prepares them.

``build_datasets(config)`` returns :class:`DataSplits` (train / val / test datasets of :class:`SliceSample`,
channel counts, the model card's input/output contract, a description of the data and its licences).
Volumes are indexed once and read lazily (memory-mapped); whole volumes are held out for validation and test.

Modules: :mod:`.build` (data kind → builder), one module per data kind (:mod:`.ct_phantom`, :mod:`.ct_folders`,
:mod:`.mr_denoising`, :mod:`.mr_reconstruction`; :mod:`.mr_volumes` finds and reads the MR volume folders both
MR tasks use), and what they share: :mod:`.samples` (samples, the dataset base, splits, randomness),
:mod:`.prepare` (resize, crop, augmentation: slice to sample), :mod:`.store` (memory-mapped volumes and the
volume cache) and :mod:`.contract` (the card's input/output objects).
"""

from condswin.training.data.build import build_datasets
from condswin.training.data.samples import DataSplits, SliceSample

__all__ = ["DataSplits", "SliceSample", "build_datasets"]
