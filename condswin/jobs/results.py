"""The one shape of a job's result: the output image, the JSON report, and the notices to show a user."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import SimpleITK as sitk

    from condswin.bundles.card import ModelCard
    from condswin.bundles.contract import Label
    from condswin.inference.engine import RunInfo
    from condswin.inference.reconstruction import ReconstructionResult

__all__ = [
    "JobResult",
    "SegmentationJobResult",
    "ReconstructionJobResult",
    "DenoisingJobResult",
    "StageCallback",
    "model_summary",
]

# ``on_stage(stage, message)``: a job announces the step it starts (``postprocess``, ``report``, ...).
StageCallback = Callable[[str, str], None]


@dataclass
class JobResult:
    """What every job returns.

    Attributes:
        output: the result image (labelmap or volume), on the input's grid for image inputs.
        report: JSON-serialisable description of the run; the command line writes it as the ``.json``
            report (adding the input and output paths first), so its keys are documented in ``docs/cli.md``.
        notices: things a user should see (e.g. an out-of-memory fallback); also in ``report["notices"]``
            where the report has that key.
        segments: the classes the values of a labelmap ``output`` stand for (names, colours, terminology: the
            card's labels), which a segmentation file names; empty for volumes.
    """

    output: sitk.Image
    report: dict[str, Any]
    notices: list[str] = field(default_factory=list)
    segments: tuple[Label, ...] = ()


@dataclass
class SegmentationJobResult(JobResult):
    """A segmentation: ``output`` is the uint8 labelmap; ``info`` the model run; ``postprocessed`` whether the
    card's post-processing ran."""

    info: RunInfo | None = None
    postprocessed: bool = False


@dataclass
class ReconstructionJobResult(JobResult):
    """A reconstruction: ``output`` the magnitude volume; ``details`` the arrays, mask and metrics."""

    details: ReconstructionResult | None = None


@dataclass
class DenoisingJobResult(JobResult):
    """A denoising run: ``output`` the denoised volume; ``sigma`` the noise level used (classical methods)."""

    sigma: float | None = None


def model_summary(card: ModelCard, *, architecture: bool = False) -> dict[str, str]:
    """The ``model`` entry of a report: id and version (and the architecture where a report has it)."""
    summary = {"id": card.id, "version": card.version}
    if architecture:
        summary["architecture"] = card.architecture
    return summary
