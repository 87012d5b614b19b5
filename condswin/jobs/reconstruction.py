"""The reconstruction job: fastMRI file or MR volume → magnitude volume, with fastMRI metrics and a report."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

from condswin.errors import UsageError
from condswin.jobs.results import ReconstructionJobResult, model_summary
from condswin.mri.compressed_sensing import resolve_parameters
from condswin.mri.masks import MaskSpec

# `condswin --help` and the Slicer modules import this module at start-up: what loads torch, SimpleITK or scipy
# is imported where it is used (lazy).

if TYPE_CHECKING:
    import SimpleITK as sitk

    from condswin.bundles.store import LoadedModel
    from condswin.inference.engine import InferenceOptions
    from condswin.inference.reconstruction import ReconstructionResult

__all__ = ["ZERO_FILLED", "CLASSICAL_METHODS", "reconstruct_file", "reconstruct_image"]

# What a report names as the model of the zero-filled baseline (also the CLI's ``--model`` value for it).
ZERO_FILLED = "zero-filled"
# The reconstructions that need no model (``--model`` values): zero-filling and compressed sensing
# (condswin.mri.compressed_sensing.list_methods(), repeated so that naming them imports no torch).
CLASSICAL_METHODS = (ZERO_FILLED, "cs-tv", "cs-wavelet")
# fastMRI's random mask at 4x, seeded per file (a frozen spec: one instance serves every call).
_DEFAULT_MASK = MaskSpec()


def _split(method: LoadedModel | str | None, params: dict[str, Any] | None) -> tuple[Any, Any, str | None, Any]:
    """``(model, card, cs_method, cs_params)`` for the inference functions, the parameters checked.

    Raises:
        UsageError: an unknown method name, parameters for a method that takes none, or a bad parameter.
    """
    if method is None or method == ZERO_FILLED:
        if params:
            raise UsageError(f"{ZERO_FILLED} takes no parameters; compressed sensing (cs-tv, cs-wavelet) does")
        return None, None, None, None
    if isinstance(method, str):
        return None, None, method, resolve_parameters(method, params)  # an unknown name is refused here
    if params:
        raise UsageError("method parameters apply to compressed sensing (cs-tv, cs-wavelet) only, not to a model")
    return method.model, method.card, None, None


def _result(
    details: ReconstructionResult,
    image: sitk.Image,
    method: LoadedModel | str | None,
    mask: MaskSpec,
    cs_params: dict[str, Any] | None,
) -> ReconstructionJobResult:
    report = details.summary()
    if method is None or isinstance(method, str):
        report["model"] = method or ZERO_FILLED
    else:
        report["model"] = model_summary(method.card)
    if cs_params is not None:
        report["params"] = cs_params
    report["mask_kind"] = "from file" if details.from_file_mask else mask.kind
    return ReconstructionJobResult(output=image, report=report, notices=list(report["notices"]), details=details)


def reconstruct_file(
    path: str | os.PathLike,
    loaded: LoadedModel | str | None,
    options: InferenceOptions | None = None,
    *,
    mask: MaskSpec = _DEFAULT_MASK,
    params: dict[str, Any] | None = None,
) -> ReconstructionJobResult:
    """Reconstruct a fastMRI ``.h5`` file with a model, a compressed-sensing method, or zero-filling.

    The report holds the acceleration actually used, sampled and total columns, whether the mask came from
    the file, the centre size, shape and spacing, the metrics (the method's as ``model``, and zero-filled's,
    when the file has a target), device, notices, the model (id and version, or the method's name:
    ``"zero-filled"``, ``"cs-tv"``, ``"cs-wavelet"``), the compressed-sensing ``params`` used (with their
    defaults) and the mask kind.

    Args:
        path: the file (errors name it).
        loaded: a reconstruction model from :func:`condswin.bundles.load_bundle`, a name from
            :data:`CLASSICAL_METHODS`, or None (zero-filled).
        options: device, batch size, progress, cancel flag.
        mask: the mask for fully sampled files (a file's own mask wins); without a seed, fastMRI's per-file seed
            (from the file name).
        params: compressed-sensing parameters (``lam``, ``iterations``); other methods take none.

    Returns:
        A :class:`ReconstructionJobResult`; ``output`` has the header's pixel spacing (x = columns).

    Raises:
        UsageError: an unknown method name or a bad parameter (before the file is read).
        InputError: an unreadable file, a mask that samples nothing, or multi-coil k-space for compressed
            sensing.
        ModelError: not a reconstruction model.
        JobCancelled: the cancel flag was set.
    """
    import SimpleITK as sitk  # lazy: SimpleITK (see top)

    from condswin.inference.reconstruction import reconstruct_fastmri  # lazy: torch, SimpleITK (see top)

    model, card, cs_method, cs_params = _split(loaded, params)
    details = reconstruct_fastmri(
        path,
        model,
        card,
        mask=mask,
        options=options,
        cs_method=cs_method,
        cs_params=cs_params,
    )
    image = sitk.GetImageFromArray(details.image)
    slice_mm, row_mm, col_mm = details.spacing
    image.SetSpacing((col_mm, row_mm, slice_mm))  # SimpleITK (x, y, z) = (columns, rows, slices)
    return _result(details, image, loaded, mask, cs_params)


def reconstruct_image(
    image: sitk.Image,
    loaded: LoadedModel | str | None,
    options: InferenceOptions | None = None,
    *,
    mask: MaskSpec = _DEFAULT_MASK,
    name: str | None = None,
    phase_seed: Any = None,
    params: dict[str, Any] | None = None,
) -> ReconstructionJobResult:
    """Simulate k-space from an MR magnitude volume, undersample it and reconstruct it (the input is the target).

    The seeds are those ``condswin reconstruct`` uses for a volume file: the mask's seed, else fastMRI's per-file
    seed of ``name`` (:meth:`MaskSpec.seed_for`); the phase's ``phase_seed``, else the mask's seed, else
    :func:`condswin.inference.volume_seed` of ``name``; 0 for each without any of these.

    Args:
        image: scalar 3-D non-negative magnitude image; not modified.
        loaded: a reconstruction model, a name from :data:`CLASSICAL_METHODS`, or None (zero-filled).
        options: device, batch size, progress, cancel flag.
        mask: the column mask.
        name: the image file's base name, which seeds the mask and the phase when no seed is given.
        phase_seed: seed of the simulated smooth phase.
        params: compressed-sensing parameters (``lam``, ``iterations``); other methods take none.

    Returns:
        A :class:`ReconstructionJobResult` whose ``output`` lies on exactly the input's grid; the report has
        the keys of :func:`reconstruct_file`.

    Raises:
        UsageError: an unknown method name or a bad parameter.
        InputError: not a scalar 3-D image, negative intensities, or slices smaller than
            :data:`condswin.inference.orientation.MIN_SLICE_SIZE`.
        ModelError: not a reconstruction model.
        JobCancelled: the cancel flag was set.
    """
    from condswin.inference.orientation import check_image_slices  # lazy: torch, SimpleITK (see top)
    from condswin.inference.reconstruction import reconstruct_mr_image, volume_seed  # lazy: torch, SimpleITK (see top)

    model, card, cs_method, cs_params = _split(loaded, params)
    check_image_slices(image, "slice" if card is None else card.contract.axis)
    if phase_seed is None:
        phase_seed = mask.seed if mask.seed is not None else volume_seed(name) if name else 0
    details = reconstruct_mr_image(
        image,
        model,
        card,
        mask=dataclasses.replace(mask, seed=mask.seed_for(name)),
        phase_seed=phase_seed,
        options=options,
        cs_method=cs_method,
        cs_params=cs_params,
    )
    assert details.output is not None  # reconstruct_mr_image always puts the result on the input's grid
    return _result(details, details.output, loaded, mask, cs_params)
