"""The denoising job: MR volume → denoised volume on its grid (classical method or learned model), with a report."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from condswin.errors import InputError, UsageError
from condswin.jobs.results import DenoisingJobResult, model_summary

# `condswin --help` and the Slicer modules import this module at start-up: what loads torch, SimpleITK or scipy
# is imported where it is used (lazy).

if TYPE_CHECKING:
    import SimpleITK as sitk

    from condswin.bundles.store import LoadedModel
    from condswin.inference.engine import InferenceOptions

__all__ = ["denoise", "reference_metrics"]


def reference_metrics(reference_path: str | os.PathLike, noisy: sitk.Image, denoised: sitk.Image) -> dict[str, Any]:
    """NMSE/PSNR/SSIM/MAE of the input and of the result against a clean reference volume.

    Raises:
        InputError: the reference cannot be read or lies on another grid than the input.
    """
    import SimpleITK as sitk  # lazy: SimpleITK (see top)

    from condswin.io.images import grid_mismatch, read_image  # lazy: SimpleITK (see top)
    from condswin.metrics import reconstruction_metrics  # lazy: scipy (see top)

    reference = read_image(reference_path)
    mismatch = grid_mismatch(reference, noisy)
    if mismatch:
        raise InputError(f"{reference_path}: reference grid differs from the input ({mismatch})")
    ref = sitk.GetArrayViewFromImage(reference)
    return {
        "reference": str(reference_path),
        "input": reconstruction_metrics(ref, sitk.GetArrayViewFromImage(noisy)),
        "denoised": reconstruction_metrics(ref, sitk.GetArrayViewFromImage(denoised)),
    }


def _classical(
    image: sitk.Image,
    method: str,
    noise: str,
    sigma: float | None,
    params: dict[str, Any],
    options: InferenceOptions | None,
) -> tuple[sitk.Image, dict[str, Any], float | None]:
    import numpy as np
    import SimpleITK as sitk  # lazy: SimpleITK (see top)

    from condswin.denoise import denoise as denoise_array  # lazy: scipy, scikit-image (see top)
    from condswin.denoise import estimate_noise_sigma  # lazy: scipy, scikit-image (see top)
    from condswin.denoise.methods import get_method  # lazy: scipy, scikit-image (see top)

    volume = sitk.GetArrayViewFromImage(image)
    used = sigma
    if used is None and (get_method(method).uses_sigma or noise == "rician"):
        used = estimate_noise_sigma(volume, noise)  # once, so the report can say which sigma was used
    report_progress = None if options is None else options.progress
    progress = None if report_progress is None else (lambda done, total: report_progress(done, total, ""))
    result = denoise_array(volume, method, noise, used, progress=progress, **params)
    output = sitk.GetImageFromArray(np.ascontiguousarray(result, dtype=np.float32))
    output.CopyInformation(image)
    return output, {"sigma": used, "sigma_estimated": sigma is None and used is not None, "params": params}, used


def denoise(
    image: sitk.Image,
    method: str | LoadedModel,
    options: InferenceOptions | None = None,
    *,
    noise: str = "rician",
    sigma: float | None = None,
    params: dict[str, Any] | None = None,
    reference: str | os.PathLike | None = None,
) -> DenoisingJobResult:
    """Denoise an MR volume with a classical method (by name) or a learned denoising model.

    The report holds ``method`` and ``noise``; for a classical method the ``sigma`` used, whether it was
    estimated, and the ``params``; for a model its ``model`` (id, version) and ``device``; and ``metrics``
    (of the input and of the result) when a ``reference`` is given.

    Args:
        image: scalar MR volume; not modified.
        method: a name from :func:`condswin.denoise.list_methods`, or a model from
            :func:`condswin.bundles.load_bundle`.
        options: device, batch size and cancel flag of a model; ``progress`` (slices done) for both kinds.
        noise: ``rician`` (magnitude MR: bias-corrected, σ from the air background) or ``gaussian``.
        sigma: noise σ in the image's intensity units (classical methods; None = estimated).
        params: method parameters (classical methods; see :func:`condswin.denoise.method_parameters`).
        reference: a clean reference volume on the same grid, for metrics.

    Returns:
        A :class:`DenoisingJobResult` whose ``output`` is a float32 volume on the input's grid.

    Raises:
        UsageError: sigma or parameters given to a learned model, or a bad classical parameter.
        ModelError: a model that is not a denoising model.
        InputError: an unusable image or reference, or slices smaller than
            :data:`condswin.inference.orientation.MIN_SLICE_SIZE`.
        JobCancelled: the cancel flag was set (learned models).
    """
    from condswin.inference.orientation import check_image_slices  # lazy: torch, SimpleITK (see top)

    params = dict(params or {})
    if not isinstance(method, str) and (params or sigma is not None):
        raise UsageError("sigma and method parameters apply to classical methods only; a learned model takes neither")
    check_image_slices(image, "slice" if isinstance(method, str) else method.card.contract.axis)
    if isinstance(method, str):
        output, details, used = _classical(image, method, noise, sigma, params, options)
        report: dict[str, Any] = {"method": method, "noise": noise, **details}
        notices: list[str] = []
    else:
        from condswin.inference.volumes import denoise_image  # lazy: torch, SimpleITK (see top)

        output, info = denoise_image(image, method.model, method.card, options)
        used, notices = None, list(info.messages)
        report = {"method": method.card.id, "noise": noise, "model": model_summary(method.card), "device": info.device}
    if reference is not None:
        report["metrics"] = reference_metrics(reference, image, output)
    return DenoisingJobResult(output=output, report=report, notices=notices, sigma=used)
