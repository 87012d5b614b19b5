"""``build_datasets(config)``: the train / validation / test datasets of a run, every input checked first.

Which module builds which data kind (``config.DATA_KINDS``):

* segmentation — ``phantom`` (:mod:`.ct_phantom`), ``lits`` / ``decathlon`` (:mod:`.ct_folders`);
* reconstruction — ``fastmri`` and ``mr_volumes`` (:mod:`.mr_reconstruction`);
* denoising — ``mr_volumes`` (:mod:`.mr_denoising`).

Every builder reads and checks all of its data (folders, image/label pairs, grids, label values, h5 schema)
before it returns, so a bad input fails with an :class:`~condswin.errors.InputError` naming the file before a
single training step. Config problems are :class:`~condswin.errors.UsageError`.
"""

from __future__ import annotations

from collections.abc import Callable

from condswin.errors import UsageError
from condswin.training.config import DATA_KINDS, TrainConfig
from condswin.training.data.ct_folders import build_ct_folder
from condswin.training.data.ct_phantom import build_phantom
from condswin.training.data.mr_denoising import build_mr_denoising
from condswin.training.data.mr_reconstruction import build_fastmri, build_mr_reconstruction
from condswin.training.data.samples import DataSplits

__all__ = ["build_datasets", "BUILDERS"]

# (task, data kind) → the function that builds its datasets.
BUILDERS: dict[tuple[str, str], Callable[[TrainConfig], DataSplits]] = {
    ("segmentation", "phantom"): build_phantom,
    ("segmentation", "lits"): build_ct_folder,
    ("segmentation", "decathlon"): build_ct_folder,
    ("reconstruction", "fastmri"): build_fastmri,
    ("reconstruction", "mr_volumes"): build_mr_reconstruction,
    ("denoising", "mr_volumes"): build_mr_denoising,
}


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
        UsageError: a data setting that cannot work with the data found (e.g. more held-out volumes than exist),
            or a data kind the task does not read.
    """
    builder = BUILDERS.get((config.task, config.data.kind))
    if builder is None:
        raise UsageError(
            f"{config.source}: data.kind: a {config.task} run reads one of {', '.join(DATA_KINDS[config.task])}, "
            f"got {config.data.kind!r}"
        )
    return builder(config)
