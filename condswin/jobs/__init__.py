"""The three jobs of the toolkit, each returning a result of one shape (output image, report, notices).

- :func:`segment` — CT volume → labelmap with the card's post-processing and volume measurements.
- :func:`reconstruct_file` / :func:`reconstruct_image` — fastMRI ``.h5`` file or MR volume → reconstruction,
  with fastMRI metrics where a target exists (a model, or ``None`` for the zero-filled baseline).
- :func:`denoise` — MR volume → denoised volume with a classical method or a learned model, with metrics
  against an optional clean reference.

The command line runs them per input file (read → job → stage outputs); training and the Slicer modules
reuse them. Arrows run downward: cli → jobs → inference / bundles / denoise → models / mri / ct / metrics.

Typical use::

    from condswin.bundles import load_bundle, resolve_bundle
    from condswin.jobs import segment
    loaded = load_bundle(resolve_bundle("my-liver-model", task="segmentation"))
    result = segment(ct_image, loaded)          # result.output (labelmap), result.report, result.notices
"""

from condswin.jobs.denoising import denoise
from condswin.jobs.reconstruction import reconstruct_file, reconstruct_image
from condswin.jobs.results import (
    DenoisingJobResult,
    JobResult,
    ReconstructionJobResult,
    SegmentationJobResult,
    StageCallback,
)
from condswin.jobs.segmentation import segment

__all__ = [
    "DenoisingJobResult",
    "JobResult",
    "ReconstructionJobResult",
    "SegmentationJobResult",
    "StageCallback",
    "denoise",
    "reconstruct_file",
    "reconstruct_image",
    "segment",
]
