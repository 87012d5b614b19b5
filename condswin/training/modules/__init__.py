"""One Lightning module per task over a shared base (fastMRI's ``pl_modules`` layout).

- :mod:`.base` — :class:`TaskModule`: network from the registry, Adam + StepLR, logging, per-volume scoring.
- :mod:`.segmentation`, :mod:`.reconstruction`, :mod:`.denoising` — loss, units and metrics of each task.
- :mod:`.volumes` — buffering validation slices by volume and gathering scores across ranks.

Typical use::

    module = build_module(config, splits.in_channels, splits.out_channels)
"""

from __future__ import annotations

from condswin.training.config import TrainConfig
from condswin.training.modules.base import CHECKPOINT_KEY, TaskModule
from condswin.training.modules.denoising import DenoisingModule
from condswin.training.modules.reconstruction import ReconstructionModule
from condswin.training.modules.segmentation import SegmentationModule

__all__ = [
    "CHECKPOINT_KEY",
    "MODULES",
    "DenoisingModule",
    "ReconstructionModule",
    "SegmentationModule",
    "TaskModule",
    "build_module",
]

MODULES: dict[str, type[TaskModule]] = {
    "segmentation": SegmentationModule,
    "reconstruction": ReconstructionModule,
    "denoising": DenoisingModule,
}


def build_module(config: TrainConfig, in_channels: int, out_channels: int) -> TaskModule:
    """The task module of ``config.task`` with a freshly initialised network.

    Raises:
        UsageError: a loss the task does not train with, or a model config the architecture refuses.
    """
    return MODULES[config.task](config, in_channels, out_channels)
