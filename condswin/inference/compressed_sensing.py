"""Compressed-sensing reconstruction of a volume of undersampled single-coil k-space, slice by slice, with the
inference options (device, progress, cancel) of a model run; the solvers are :mod:`condswin.mri.compressed_sensing`.

The k-space is divided by the largest zero-filled magnitude of the whole volume before solving, and the
images multiplied back after: ``lam`` is then relative to the data, the same default works for files of any
intensity scale, and every slice of a volume gets the same absolute weight (noise is a property of the
acquisition, not of the slice). Slices are solved one at a time on the device of the options: progress is
reported after each slice and the cancel flag checked before each one.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from condswin.inference.device import resolve_device
from condswin.inference.engine import InferenceCancelled, InferenceOptions, RunInfo
from condswin.mri.compressed_sensing.methods import get_method, resolve_parameters
from condswin.mri.compressed_sensing.solvers import MeasuredKSpace, solve
from condswin.mri.fft import ifft2c

__all__ = ["reconstruct_volume"]


def reconstruct_volume(
    kspace: np.ndarray,
    columns: np.ndarray,
    method: str,
    params: dict[str, Any] | None = None,
    options: InferenceOptions | None = None,
) -> tuple[np.ndarray, RunInfo]:
    """Reconstruct every slice of undersampled single-coil k-space with a compressed-sensing method.

    Args:
        kspace: complex (slices, H, W), zero on the columns not sampled; not modified.
        columns: boolean (W,) sampled-column mask.
        method: ``cs-tv`` or ``cs-wavelet``.
        params: ``lam`` and/or ``iterations`` (the method's defaults for those not given).
        options: device, progress (``progress(done_slices, total_slices, "")``), cancel flag.

    Returns:
        ``(images, info)``: complex64 (slices, H, W) images on the k-space grid, and the run's device and time.

    Raises:
        UsageError: an unknown method or a bad parameter.
        InferenceCancelled: the cancel flag was set before a slice; nothing is returned.
    """
    started = time.perf_counter()
    spec = get_method(method)
    resolved = resolve_parameters(method, params)
    options = options or InferenceOptions()
    device = resolve_device(options.device)
    if kspace.ndim != 3 or columns.shape != (kspace.shape[-1],):
        raise ValueError(f"expected (slices, H, W) k-space and a (W,) mask, got {kspace.shape} and {columns.shape}")
    scale = float(np.abs(ifft2c(kspace)).max())
    images = np.zeros(kspace.shape, dtype=np.complex64)
    mask = torch.as_tensor(columns, dtype=torch.float32, device=device)
    total = kspace.shape[0]
    for index in range(total):
        if options.cancelled():
            raise InferenceCancelled(f"cancelled after {index} of {total} slices")
        if scale > 0:  # all-zero k-space: the zero image is the only consistent one
            measured = torch.as_tensor(kspace[index : index + 1] / scale, dtype=torch.complex64, device=device)
            solved = solve(MeasuredKSpace(measured, mask), spec.regulariser, resolved["lam"], resolved["iterations"])
            images[index] = solved[0].cpu().numpy() * scale
        if options.progress is not None:
            options.progress(index + 1, total, "")
    return images, RunInfo(str(device), 1, time.perf_counter() - started)
