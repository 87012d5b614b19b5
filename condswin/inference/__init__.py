"""Inference: volume → 2-D slices along the model's axis → normalise → model grid → batched forward →
native grid → labels or image → an image with exactly the input's geometry.

- :mod:`condswin.inference.engine` — :class:`SliceEngine` (batches, AMP on CUDA, channels-last, OOM
  fallback, progress callback and cancel flag) and :class:`InferenceOptions`.
- :mod:`condswin.inference.orientation` — :class:`SliceLayout` (slicing axis and reorientation as views).
- :mod:`condswin.inference.volumes` — ``segment_image``, ``denoise_image``, ``predict_volume``.
- :mod:`condswin.inference.reconstruction` — ``reconstruct_fastmri``, ``reconstruct_mr_image``.

The model's contract (normalisation, in-plane grid, labels) is part of its typed card:
:class:`condswin.bundles.ModelCard` and :mod:`condswin.bundles.contract`, which training shares. The three
jobs with reports (:mod:`condswin.jobs`) are built on these functions.

Typical use::

    from condswin.bundles import load_bundle, resolve_bundle
    loaded = load_bundle(resolve_bundle("my-liver-model", task="segmentation"))
    labels, info = segment_image(ct_image, loaded.model, loaded.card, InferenceOptions(device="auto"))
"""

from condswin.inference.device import resolve_device
from condswin.inference.engine import InferenceCancelled, InferenceOptions, RunInfo, SliceEngine
from condswin.inference.orientation import SliceLayout
from condswin.inference.reconstruction import (
    ReconstructionResult,
    reconstruct_fastmri,
    reconstruct_kspace,
    reconstruct_mr_image,
    volume_seed,
)
from condswin.inference.volumes import denoise_image, predict_volume, segment_image

__all__ = [
    "InferenceCancelled",
    "InferenceOptions",
    "ReconstructionResult",
    "RunInfo",
    "SliceEngine",
    "SliceLayout",
    "denoise_image",
    "predict_volume",
    "reconstruct_fastmri",
    "reconstruct_kspace",
    "reconstruct_mr_image",
    "resolve_device",
    "segment_image",
    "volume_seed",
]
