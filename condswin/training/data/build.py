"""``build_datasets(config)``: the train / validation / test datasets of a run, every input checked first.

Which module builds which data kind (``config.DATA_KINDS``):

* segmentation — ``phantom`` (:mod:`.phantom_data`), ``lits`` / ``decathlon`` (:mod:`.ct_folders`);
* reconstruction — ``fastmri`` (:mod:`.fastmri_data`), ``mr_volumes`` (:mod:`.mr_reconstruction`);
* denoising — ``mr_volumes`` (:mod:`.mr_denoising`).

Every builder reads and checks all of its data (folders, image/label pairs, grids, label values, h5 schema)
before it returns, so a bad input fails with an :class:`~condswin.errors.InputError` naming the file before a
single training step. Config problems are :class:`~condswin.errors.UsageError`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from condswin.errors import UsageError
from condswin.training.config import DATA_KINDS, TrainConfig
from condswin.training.data.samples import DataSplits

__all__ = ["build_datasets", "BUILDERS"]

# (task, data kind) → "module:function" inside condswin.training.data; imported on use, so that building
# CT data never imports h5py and building fastMRI data never imports the phantom.
BUILDERS: dict[tuple[str, str], str] = {
    ("segmentation", "phantom"): "phantom_data:build_phantom",
    ("segmentation", "lits"): "ct_folders:build_ct_folder",
    ("segmentation", "decathlon"): "ct_folders:build_ct_folder",
    ("reconstruction", "fastmri"): "fastmri_data:build_fastmri",
    ("reconstruction", "mr_volumes"): "mr_reconstruction:build_mr_reconstruction",
    ("denoising", "mr_volumes"): "mr_denoising:build_mr_denoising",
}


def _builder(task: str, kind: str, source: str) -> Callable[[TrainConfig], DataSplits]:
    target = BUILDERS.get((task, kind))
    if target is None:
        raise UsageError(f"{source}: data.kind: a {task} run reads one of {', '.join(DATA_KINDS[task])}, got {kind!r}")
    module_name, function = target.split(":")
    module = importlib.import_module(f"condswin.training.data.{module_name}")
    return getattr(module, function)


def build_datasets(config: TrainConfig) -> DataSplits:
    """Build and check the datasets of a run.

    Args:
        config: the run's checked config (:func:`condswin.training.config.load_config`).

    Returns:
        :class:`DataSplits` with the datasets, channel counts, the card's input/output contract, a description
        of the data and its licences.

    Raises:
        InputError: a missing folder, a folder without image/label pairs, mismatched grids, labels outside
            {0, 1, 2}, an h5 file without a target, ... (the message names the file).
        UsageError: a data setting that cannot work with the data found (e.g. more held-out volumes than exist).
    """
    return _builder(config.task, config.data.kind, config.source)(config)
