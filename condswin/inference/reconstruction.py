"""MRI reconstruction from undersampled k-space: fastMRI files and MR volumes (k-space simulated).

Pipeline: k-space → (column mask) → zero-filled image (centred inverse FFT, centre crop to the
reconstruction size, RSS over coils) → model (or none: the zero-filled baseline), or a compressed-sensing
method (:mod:`condswin.mri.compressed_sensing`, single-coil only) → magnitude volume.

Masks follow fastMRI: a file that carries a ``mask`` (test/challenge files) is already undersampled and is
used as it is; a fully sampled file is undersampled with the mask its :class:`condswin.mri.masks.MaskSpec`
asks for, seeded by the file name (``fastmri_seed``) unless the spec gives a seed, so every slice shares one
mask and a rerun gives the same result. Metrics
(fastMRI NMSE/PSNR/SSIM and MAE over the volume) are computed when a target exists: the file's
``reconstruction_esc``/``reconstruction_rss``, or the input magnitude itself for MR volumes.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import SimpleITK as sitk

from condswin.errors import CondswinWarning, InputError
from condswin.inference.compressed_sensing import reconstruct_volume
from condswin.inference.engine import InferenceOptions, RunInfo, SliceEngine
from condswin.inference.orientation import SliceLayout, check_slice_size
from condswin.inference.volumes import check_task, check_volume
from condswin.models.data_consistency import MaskBound, is_data_consistent
from condswin.mri import fastmri
from condswin.mri.fastmri import FastMRIVolume
from condswin.mri.fft import ifft2c
from condswin.mri.kspace import apply_mask, center_crop, rss, simulate_singlecoil_kspace
from condswin.mri.masks import MaskSpec
from condswin.seeding import text_seed

if TYPE_CHECKING:
    from torch import nn

    from condswin.bundles.card import ModelCard

# Imported where it is used: the metrics (scipy, needed only with a target).

__all__ = ["ReconstructionResult", "reconstruct_kspace", "reconstruct_fastmri", "reconstruct_mr_image", "volume_seed"]


@dataclass
class ReconstructionResult:
    """Result of a reconstruction.

    Attributes:
        image: float32 reconstruction (slices, h, w); for MR volumes in the model's slice layout.
        zero_filled: float32 zero-filled magnitude of the same shape.
        target: the reference (slices, h, w), or None (test files).
        mask: the boolean column mask used.
        from_file_mask: the mask came from the file (already undersampled k-space).
        num_low_frequencies: size of the fully sampled centre block (None for a file's own mask).
        spacing: (slice, row, column) mm of ``image``.
        metrics: ``{"model": {...}, "zero_filled": {...}}`` with nmse/psnr/ssim/mae, empty without target.
        info: the model or compressed-sensing run (None for the zero-filled baseline).
        output: for MR volumes, the reconstruction as an image on the input's grid.
    """

    image: np.ndarray
    zero_filled: np.ndarray
    target: np.ndarray | None
    mask: np.ndarray
    from_file_mask: bool
    num_low_frequencies: int | None
    spacing: tuple[float, float, float]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    info: RunInfo | None = None
    output: sitk.Image | None = None

    @property
    def acceleration(self) -> float:
        """Columns / sampled columns of the mask actually used."""
        return float(self.mask.size) / max(int(self.mask.sum()), 1)

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable description for reports."""
        return {
            "acceleration": round(self.acceleration, 4),
            "sampled_columns": int(self.mask.sum()),
            "columns": int(self.mask.size),
            "mask_from_file": self.from_file_mask,
            "num_low_frequencies": self.num_low_frequencies,
            "shape": list(self.image.shape),
            "spacing_mm": list(self.spacing),
            "metrics": self.metrics,
            "device": None if self.info is None else self.info.device,
            "notices": [] if self.info is None else list(self.info.messages),
        }


# Fully sampled inputs without a mask request: fastMRI's random mask at 4x (frozen, so one instance serves all).
_DEFAULT_MASK = MaskSpec()


def volume_seed(path: str | os.PathLike) -> int:
    """A stable integer from a file's base name (for the simulated phase of MR volumes)."""
    return text_seed(Path(path).name)


def reconstruct_kspace(
    kspace: np.ndarray,
    crop: tuple[int, int],
    spacing_rc: tuple[float, float],
    model: nn.Module | None = None,
    card: ModelCard | None = None,
    mask: np.ndarray | None = None,
    options: InferenceOptions | None = None,
    measured: np.ndarray | None = None,
    cs_method: str | None = None,
    cs_params: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, RunInfo | None]:
    """Zero-filled reconstruction of (masked) k-space, then the model or the compressed-sensing method if given.

    Args:
        kspace: complex (slices, H, W) or (slices, coils, H, W); not modified.
        crop: (h, w) centre crop of the image (fastMRI's reconstruction size), clipped to the image size.
        spacing_rc: (row, column) pixel size in mm of the cropped image.
        model: network of ``card``, or None for the zero-filled baseline.
        card: the model's reconstruction card (required with a model).
        mask: column mask to apply first (None: ``kspace`` is already undersampled).
        options: device, batch size, progress, cancel flag.
        measured: the sampled columns of already undersampled k-space (a file's own mask), for a
            data-consistency model or compressed sensing when ``mask`` is None; else the columns holding any
            non-zero value.
        cs_method: ``cs-tv`` or ``cs-wavelet`` instead of a model (see
            :func:`condswin.inference.compressed_sensing.reconstruct_volume`).
        cs_params: the compressed-sensing method's parameters (``lam``, ``iterations``).

    Returns:
        ``(reconstruction, zero_filled, info)``: float32 (slices, h, w) arrays and the model run (or None).

    Raises:
        ModelError: the card is not a reconstruction card.
        InputError: multi-coil k-space for a model that takes a complex single-coil image, or for compressed
            sensing.
        UsageError: an unknown compressed-sensing method or a bad parameter.
        JobCancelled: the cancel flag was set.

    A data-consistency model (:mod:`condswin.models.data_consistency`) runs on the complex image on the full
    k-space grid (not cropped, not resampled: DC needs the Fourier relation to the measured columns) with the
    volume's column mask; its magnitude is then centre-cropped like the zero-filled image.
    """
    if mask is not None:
        kspace = apply_mask(kspace, mask)
    full_image = ifft2c(kspace)
    h = min(int(crop[0]), full_image.shape[-2])
    w = min(int(crop[1]), full_image.shape[-1])
    image = center_crop(full_image, (h, w))
    multicoil = image.ndim == 4
    zero_filled = (rss(image, axis=1) if multicoil else np.abs(image)).astype(np.float32)
    if cs_method is not None:
        if multicoil:
            raise InputError(_single_coil_only(cs_method, kspace.shape[1], "this k-space"))
        columns = _sampled_columns(kspace, mask if mask is not None else measured)
        images, info = reconstruct_volume(kspace, columns, cs_method, cs_params, options)
        return np.abs(center_crop(images, (h, w))).astype(np.float32), zero_filled, info
    if model is None:
        return zero_filled.copy(), zero_filled, None
    if card is None:
        raise TypeError("reconstruct_kspace: a model needs its card")
    check_task(card, "reconstruction")
    contract = card.contract
    if contract.input_representation == "complex" and multicoil:
        raise InputError(
            f"model '{card.id}' takes a complex single-coil image; multi-coil k-space is combined by RSS "
            "into a magnitude image, which this model cannot use"
        )
    source = image.astype(np.complex64) if contract.input_representation == "complex" else zero_filled
    fitted = contract.normalization.fit(source, contract.input_representation == "complex")
    if is_data_consistent(model):
        columns = _sampled_columns(kspace, mask if mask is not None else measured)
        full = np.zeros(full_image.shape, dtype=np.float32)
        # native grid whatever the card says: resampling would break the image's relation to its k-space
        native = dataclasses.replace(contract, size=None, pixel_size_mm=None)
        bound = MaskBound(model, columns)  # type: ignore[arg-type]  # is_data_consistent(model) said it is one
        info = SliceEngine(bound, native, options).run(full_image.astype(np.complex64), full, spacing_rc, fitted)
        return np.ascontiguousarray(center_crop(full, (h, w))), zero_filled, info
    out = np.zeros(zero_filled.shape, dtype=np.float32)
    info = SliceEngine(model, contract, options).run(source, out, spacing_rc, fitted)
    return out, zero_filled, info


def _single_coil_only(cs_method: str, coils: int, holder: str) -> str:
    return (
        f"{cs_method} reconstructs single-coil k-space, but {holder} holds {coils} coils; combine them into one "
        "(virtual) coil first, or use --model zero-filled (root-sum-of-squares over the coils)"
    )


def _sampled_columns(kspace: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The (W,) boolean sampled-column mask: the given one, else the columns with any non-zero value."""
    if mask is not None:
        columns = np.asarray(mask, dtype=bool).reshape(-1)
        if columns.size != kspace.shape[-1]:
            raise InputError(
                f"a column mask of {columns.size} entries does not fit k-space {kspace.shape[-1]} columns wide"
            )
        return columns
    return np.any(kspace != 0, axis=tuple(range(kspace.ndim - 1)))


def _metrics(target: np.ndarray | None, recon: np.ndarray, zero_filled: np.ndarray) -> dict[str, dict[str, float]]:
    if target is None:
        return {}
    from condswin.metrics import reconstruction_metrics  # lazy: scipy (see top)

    if target.shape != recon.shape:
        raise ValueError(f"target shape {target.shape} differs from the reconstruction {recon.shape}")
    baseline = reconstruction_metrics(target, zero_filled)
    same = recon is zero_filled or np.array_equal(recon, zero_filled)  # the zero-filled baseline itself
    return {"model": dict(baseline) if same else reconstruction_metrics(target, recon), "zero_filled": baseline}


def reconstruct_fastmri(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    card: ModelCard | None = None,
    *,
    mask: MaskSpec = _DEFAULT_MASK,
    options: InferenceOptions | None = None,
    cs_method: str | None = None,
    cs_params: dict[str, Any] | None = None,
) -> ReconstructionResult:
    """Reconstruct a fastMRI ``.h5`` file (single- or multi-coil; compressed sensing: single-coil only).

    Args:
        path: the file (read with :func:`condswin.mri.fastmri.read`; errors name it).
        model / card: a reconstruction network and its card, or None for the zero-filled baseline.
        mask: the mask for fully sampled files (ignored when the file carries its own mask); without a seed,
            fastMRI's per-file seed (the file name's character codes).
        options: device, batch size, progress, cancel flag.
        cs_method / cs_params: a compressed-sensing method and its parameters instead of a model.

    Returns:
        A :class:`ReconstructionResult` at the file's reconstruction size and header pixel spacing.

    Raises:
        InputError: an unreadable file (see :func:`condswin.mri.fastmri.read`), a target larger than the
            k-space image, a header that describes another k-space (see :func:`_reconstruction_grid`), or a
            reconstruction smaller than :data:`condswin.inference.orientation.MIN_SLICE_SIZE` a side, or
            multi-coil k-space for compressed sensing (naming the file).
        ModelError: the card is not a reconstruction card.
    """
    volume = fastmri.read(path)
    if cs_method is not None and volume.is_multicoil:  # refused before any mask or FFT
        raise InputError(f"{path}: {_single_coil_only(cs_method, volume.kspace.shape[1], 'this file')}")
    crop, spacing = _reconstruction_grid(volume)
    check_slice_size(*crop, str(path))
    num_cols = volume.kspace.shape[-1]
    if volume.mask is not None:
        columns, num_low, from_file = volume.mask, None, True
        kspace_mask = None  # the k-space is already undersampled
    else:
        columns, num_low = mask.create(num_cols, Path(path).name)
        kspace_mask, from_file = columns, False
    recon, zero_filled, info = reconstruct_kspace(
        volume.kspace,
        crop,
        (spacing[1], spacing[2]),
        model,
        card,
        kspace_mask,
        options,
        measured=None if volume.mask is None else np.asarray(volume.mask, dtype=bool),
        cs_method=cs_method,
        cs_params=cs_params,
    )
    target = None if volume.target is None else volume.target.astype(np.float32)
    if target is not None and target.shape != recon.shape:
        raise InputError(f"{path}: target {target.shape} and reconstruction {recon.shape} differ in shape")
    return ReconstructionResult(
        image=recon,
        zero_filled=zero_filled,
        target=target,
        mask=np.asarray(columns, dtype=bool),
        from_file_mask=from_file,
        num_low_frequencies=num_low,
        spacing=spacing,
        metrics=_metrics(target, recon, zero_filled),
        info=info,
    )


def _reconstruction_grid(volume: FastMRIVolume) -> tuple[tuple[int, int], tuple[float, float, float]]:
    """The (h, w) centre crop and the (slice, row, column) spacing in mm of a file's reconstruction, with the
    header checked against the data it describes.

    As fastMRI does, the crop is the target's shape, else the header's reconstruction matrix, else the whole
    k-space image, and the spacing is the header's reconstruction field of view over its matrix. A header
    matrix larger than the k-space image does not describe it: the crop is clipped to the image and the
    spacing taken from the encoded space (the k-space grid itself), with a warning; when the encoded matrix
    does not match the k-space either, the file is refused. A target whose shape differs from the header's
    matrix is used at its own size, with a warning: its metrics compare centre crops of that size.

    Raises:
        InputError: a target larger than the k-space image, or a header that matches the k-space nowhere.
    """
    source = str(volume.path)
    image = (int(volume.kspace.shape[-2]), int(volume.kspace.shape[-1]))
    geometry = volume.geometry
    header = None if geometry is None else (geometry.recon_matrix[0], geometry.recon_matrix[1])
    if volume.target is not None:
        crop = (int(volume.target.shape[-2]), int(volume.target.shape[-1]))
        if crop[0] > image[0] or crop[1] > image[1]:
            raise InputError(
                f"{source}: {volume.target_key} is {_size(crop)}, larger than the {_size(image)} image of the "
                "k-space; the target does not belong to this k-space"
            )
        if header is not None and crop != header:
            warnings.warn(
                f"{source}: {volume.target_key} is {_size(crop)} but the header's reconstruction matrix is "
                f"{_size(header)}; reconstructing and scoring at the target's size",
                CondswinWarning,
                stacklevel=3,
            )
    else:
        crop = header or image
    if geometry is None:
        return crop, volume.spacing
    assert header is not None  # read from the geometry
    if header[0] <= image[0] and header[1] <= image[1]:
        return crop, geometry.recon_spacing
    encoded = (geometry.encoded_matrix[0], geometry.encoded_matrix[1])
    if encoded != image:
        raise InputError(
            f"{source}: the header describes another k-space: its reconstruction matrix is {_size(header)} and "
            f"its encoded matrix {_size(encoded)}, but the k-space image is {_size(image)}"
        )
    warnings.warn(
        f"{source}: the header's reconstruction matrix {_size(header)} is larger than the {_size(image)} k-space "
        f"image; reconstructing at {_size((min(crop[0], image[0]), min(crop[1], image[1])))} with the encoded "
        "space's pixel spacing",
        CondswinWarning,
        stacklevel=3,
    )
    return (min(crop[0], image[0]), min(crop[1], image[1])), geometry.encoded_spacing


def _size(shape: tuple[int, int]) -> str:
    return f"{shape[0]}×{shape[1]}"


def reconstruct_mr_image(
    image: sitk.Image,
    model: nn.Module | None = None,
    card: ModelCard | None = None,
    *,
    mask: MaskSpec = _DEFAULT_MASK,
    phase_seed: Any = 0,
    options: InferenceOptions | None = None,
    cs_method: str | None = None,
    cs_params: dict[str, Any] | None = None,
) -> ReconstructionResult:
    """Simulate single-coil k-space from an MR magnitude volume, undersample it and reconstruct it.

    Slices are taken along the card's axis (``slice``, the stored third axis, without a model); the mask
    acts on their columns. The input is the target of the metrics.

    Args:
        image: scalar 3-D non-negative magnitude image; not modified.
        model / card: a reconstruction network and its card, or None for the zero-filled baseline.
        mask: the column mask (same seed, same mask; without a seed, seed 0: an image has no file name).
        phase_seed: seed of the smooth random phase of the simulated k-space.
        options: device, batch size, progress, cancel flag.
        cs_method / cs_params: a compressed-sensing method and its parameters instead of a model.

    Returns:
        A :class:`ReconstructionResult`; ``output`` is the reconstruction on exactly the input's grid.

    Raises:
        InputError: not a scalar 3-D image, or negative intensities (not a magnitude image).
        ModelError: the card is not a reconstruction card.
    """
    check_volume(image, "MR reconstruction")
    if card is not None:
        check_task(card, "reconstruction")
    axis = card.contract.axis if card is not None else "slice"
    layout = SliceLayout.from_image(image, axis)
    volume = sitk.GetArrayViewFromImage(image)
    magnitude = np.ascontiguousarray(layout.slices(volume), dtype=np.float32)
    if magnitude.min() < 0:
        raise InputError(
            f"an MR magnitude volume cannot be negative (minimum {magnitude.min():g}); "
            "k-space can only be simulated from a magnitude image"
        )
    kspace = simulate_singlecoil_kspace(magnitude, seed=phase_seed)
    columns, num_low = mask.create(kspace.shape[-1])
    recon, zero_filled, info = reconstruct_kspace(
        kspace,
        magnitude.shape[-2:],
        layout.spacing,
        model,
        card,
        columns,
        options,
        cs_method=cs_method,
        cs_params=cs_params,
    )
    out = np.zeros(volume.shape, dtype=np.float32)
    layout.slices(out)[...] = recon
    output = sitk.GetImageFromArray(out)
    output.CopyInformation(image)
    slice_spacing = float(image.GetSpacing()[2 - layout.axes[0]])
    return ReconstructionResult(
        image=recon,
        zero_filled=zero_filled,
        target=magnitude,
        mask=columns,
        from_file_mask=False,
        num_low_frequencies=num_low,
        spacing=(slice_spacing, *layout.spacing),
        metrics=_metrics(magnitude, recon, zero_filled),
        info=info,
        output=output,
    )
