"""The reconstruction job: fastMRI file or MR volume → magnitude volume, with fastMRI metrics and a report."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from condswin.jobs.results import ReconstructionJobResult, model_summary

if TYPE_CHECKING:
    import SimpleITK as sitk

    from condswin.bundles.store import LoadedModel
    from condswin.inference.engine import InferenceOptions
    from condswin.inference.reconstruction import ReconstructionResult

__all__ = ["ZERO_FILLED", "reconstruct_file", "reconstruct_image"]

# What a report names as the model of the zero-filled baseline (also the CLI's ``--model`` value for it).
ZERO_FILLED = "zero-filled"


def _result(
    details: ReconstructionResult, image: sitk.Image, loaded: LoadedModel | None, mask_kind: str
) -> ReconstructionJobResult:
    report = details.summary()
    report["model"] = ZERO_FILLED if loaded is None else model_summary(loaded.card)
    report["mask_kind"] = "from file" if details.from_file_mask else mask_kind
    return ReconstructionJobResult(output=image, report=report, notices=list(report["notices"]), details=details)


def reconstruct_file(
    path: str | os.PathLike,
    loaded: LoadedModel | None,
    options: InferenceOptions | None = None,
    *,
    mask_kind: str = "random",
    acceleration: float = 4.0,
    center_fraction: float | None = None,
    seed: Any = None,
) -> ReconstructionJobResult:
    """Reconstruct a fastMRI ``.h5`` file with a model, or with zero-filling when ``loaded`` is None.

    The report holds the acceleration actually used, sampled and total columns, whether the mask came from
    the file, the centre size, shape and spacing, the metrics (model and zero-filled, when the file has a
    target), device, notices, the model (id and version, or ``"zero-filled"``) and the mask kind.

    Args:
        path: the file (errors name it).
        loaded: a reconstruction model from :func:`condswin.bundles.load_bundle`, or None.
        options: device, batch size, progress, cancel flag.
        mask_kind / acceleration / center_fraction: the mask for fully sampled files (a file's own mask wins).
        seed: mask seed; None uses fastMRI's per-file seed (from the file name).

    Returns:
        A :class:`ReconstructionJobResult`; ``output`` has the header's pixel spacing (x = columns).

    Raises:
        InputError: an unreadable file or a mask that samples nothing.
        ModelError: not a reconstruction model.
        JobCancelled: the cancel flag was set.
    """
    import SimpleITK as sitk

    from condswin.inference.reconstruction import reconstruct_fastmri

    model, card = (None, None) if loaded is None else (loaded.model, loaded.card)
    details = reconstruct_fastmri(
        path,
        model,
        card,
        mask_kind=mask_kind,
        acceleration=acceleration,
        center_fraction=center_fraction,
        seed=seed,
        options=options,
    )
    image = sitk.GetImageFromArray(details.image)
    slice_mm, row_mm, col_mm = details.spacing
    image.SetSpacing((col_mm, row_mm, slice_mm))  # SimpleITK (x, y, z) = (columns, rows, slices)
    return _result(details, image, loaded, mask_kind)


def reconstruct_image(
    image: sitk.Image,
    loaded: LoadedModel | None,
    options: InferenceOptions | None = None,
    *,
    mask_kind: str = "random",
    acceleration: float = 4.0,
    center_fraction: float | None = None,
    seed: Any = 0,
    phase_seed: Any = 0,
) -> ReconstructionJobResult:
    """Simulate k-space from an MR magnitude volume, undersample it and reconstruct it (the input is the target).

    Args:
        image: scalar 3-D non-negative magnitude image; not modified.
        loaded: a reconstruction model, or None for the zero-filled baseline.
        options: device, batch size, progress, cancel flag.
        mask_kind / acceleration / center_fraction: the column mask.
        seed: mask seed; phase_seed: seed of the simulated smooth phase.

    Returns:
        A :class:`ReconstructionJobResult` whose ``output`` lies on exactly the input's grid; the report has
        the keys of :func:`reconstruct_file`.

    Raises:
        InputError: not a scalar 3-D image, negative intensities, or slices smaller than
            :data:`condswin.inference.orientation.MIN_SLICE_SIZE`.
        ModelError: not a reconstruction model.
        JobCancelled: the cancel flag was set.
    """
    from condswin.inference.orientation import check_image_slices
    from condswin.inference.reconstruction import reconstruct_mr_image

    model, card = (None, None) if loaded is None else (loaded.model, loaded.card)
    check_image_slices(image, "slice" if card is None else card.contract.axis)
    details = reconstruct_mr_image(
        image,
        model,
        card,
        mask_kind=mask_kind,
        acceleration=acceleration,
        center_fraction=center_fraction,
        seed=seed,
        phase_seed=phase_seed,
        options=options,
    )
    assert details.output is not None  # reconstruct_mr_image always puts the result on the input's grid
    return _result(details, details.output, loaded, mask_kind)
