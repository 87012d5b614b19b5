"""What an evaluation is asked to do (:class:`EvaluationRequest`, defaults here only) and its settings.

A *setting* is one condition every method is scored under: an acceleration (reconstruction), a noise level
(denoising), or the single setting of segmentation. Options that belong to another task are refused rather
than ignored, so ``--sigma`` on a reconstruction run is a usage error, not a silent no-op.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from condswin.errors import UsageError
from condswin.mri.masks import MASK_KINDS, MAX_ACCELERATION
from condswin.training.config import TASKS

__all__ = ["EvaluationRequest", "Setting", "settings_of", "check_request", "DEFAULT_ACCELERATIONS", "DEFAULT_SIGMAS"]

DEFAULT_ACCELERATIONS = (4.0, 8.0)
DEFAULT_SIGMAS = (0.05, 0.10)
NOISE_KINDS = ("gaussian", "rician")  # condswin.mri.noise's models (training's data.noise accepts the same)


@dataclass(frozen=True)
class EvaluationRequest:
    """One evaluation run.

    Attributes:
        task: ``segmentation``, ``reconstruction`` or ``denoising``; None to only plot ``curves``.
        data: the dataset folder.
        kind: its data kind (``lits``, ``decathlon``, ``fastmri``, ``mr_volumes``); None: from task and folder.
        models: bundle ids or folders.
        baselines: ``zero-filled`` (reconstruction) or classical denoisers (denoising).
        accelerations: reconstruction accelerations (None: :data:`DEFAULT_ACCELERATIONS`); the centre fraction
            is fastMRI's for each (0.08 at 4x, 0.04 at 8x).
        mask: column mask kind (:mod:`condswin.mri.masks`); fastMRI files get their per-file seeded mask.
        noise: ``gaussian`` or ``rician`` (denoising; None: ``rician``).
        sigmas: noise σ relative to each volume's maximum (None: :data:`DEFAULT_SIGMAS`).
        seed: base of the per-case noise seeds.
        out: output folder.
        limit: score only the first N cases.
        curves: a run folder or its ``metrics.csv`` to plot.
        monitor: the metric plotted beside the losses (None: ``val_dice`` or ``val_ssim``, whichever was logged).
        montage_cases: cases shown in the montage.
        device: inference device (``auto``, ``cpu``, ``cuda[:N]``, ``mps``).
        hd95: compute the 95 % Hausdorff distance (segmentation; the slow metric).
        baseline_cache: a folder where classical denoisers' scores are kept and read back by their exact input
            (:mod:`condswin.training.evaluation.baseline_cache`); None: they always run.
        overwrite: replace earlier outputs in ``out``.
        command: the command line, recorded in the markdown.
    """

    task: str | None
    data: Path | None = None
    kind: str | None = None
    models: tuple[str, ...] = ()
    baselines: tuple[str, ...] = ()
    accelerations: tuple[float, ...] | None = None
    mask: str = "random"
    noise: str | None = None
    sigmas: tuple[float, ...] | None = None
    seed: int = 0
    out: Path = Path("runs/evaluation")  # beside the training runs (git-ignored)
    limit: int | None = None
    curves: Path | None = None
    monitor: str | None = None
    montage_cases: int = 3
    device: str = "auto"
    hd95: bool = True
    baseline_cache: Path | None = None
    overwrite: bool = False
    command: str = ""


@dataclass(frozen=True)
class Setting:
    """One condition of the comparison.

    Attributes:
        label: how tables name it (``""``, ``"4x"``, ``"rician σ=0.05"``).
        acceleration: reconstruction acceleration, else None.
        sigma: denoising σ relative to the volume maximum, else None.
    """

    label: str
    acceleration: float | None = None
    sigma: float | None = None


def settings_of(request: EvaluationRequest) -> list[Setting]:
    """The settings of a (checked) request, in the order given."""
    if request.task == "reconstruction":
        return [Setting(f"{a:g}x", acceleration=a) for a in request.accelerations or DEFAULT_ACCELERATIONS]
    if request.task == "denoising":
        noise = request.noise or "rician"
        return [Setting(f"{noise} sigma={s:g}", sigma=s) for s in request.sigmas or DEFAULT_SIGMAS]
    return [Setting("")]


def _refuse(request: EvaluationRequest, option: str, value: object, task: str) -> None:
    if value is not None and request.task != task:
        raise UsageError(f"{option} applies to {task} only, not to a {request.task} evaluation")


def check_request(request: EvaluationRequest) -> None:
    """Refuse options that do not fit the task or are out of range, before anything is read.

    Raises:
        UsageError: naming the option.
    """
    if request.task is None:
        if request.curves is None:
            raise UsageError("--task is required (or pass only --curves to plot a training log)")
        if request.models or request.baselines or request.data is not None:
            raise UsageError("--task is required to evaluate methods on --data")
        return
    if request.task not in TASKS:
        raise UsageError(f"--task must be one of {', '.join(TASKS)}, got {request.task!r}")
    if request.data is None:
        raise UsageError(f"--data is required: the dataset folder to evaluate the {request.task} methods on")
    _refuse(request, "--acceleration", request.accelerations, "reconstruction")
    _refuse(request, "--noise", request.noise, "denoising")
    _refuse(request, "--sigma", request.sigmas, "denoising")
    _refuse(request, "--baseline-cache", request.baseline_cache, "denoising")
    if request.task != "reconstruction" and request.mask != "random":
        raise UsageError(f"--mask applies to reconstruction only, not to a {request.task} evaluation")
    for value in request.accelerations or ():
        if not (math.isfinite(value) and 1 <= value <= MAX_ACCELERATION):
            raise UsageError(f"--acceleration must lie in [1, {MAX_ACCELERATION:g}], got {value:g}")
    if request.noise is not None and request.noise not in NOISE_KINDS:
        raise UsageError(f"--noise must be one of {', '.join(NOISE_KINDS)}, got {request.noise!r}")
    for value in request.sigmas or ():
        if not (math.isfinite(value) and 0 < value <= 1):
            raise UsageError(f"--sigma is relative to the volume maximum and must lie in (0, 1], got {value:g}")
    for option, values in (("--acceleration", request.accelerations), ("--sigma", request.sigmas)):
        if values is not None and len(set(values)) != len(values):
            raise UsageError(f"{option}: a value is given twice ({' '.join(f'{v:g}' for v in values)})")
    if request.montage_cases < 0:
        raise UsageError(f"--montage-cases must be >= 0, got {request.montage_cases}")
    if request.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {request.seed}")
    if request.mask not in MASK_KINDS:
        from condswin.lookup import unknown_name_message

        raise UsageError("--mask: " + unknown_name_message("mask kind", request.mask, MASK_KINDS))
