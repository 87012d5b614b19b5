"""Scoring denoisers (learned and classical) on one MR volume at several noise levels, through
:func:`condswin.jobs.denoise`.

For each σ the clean volume gets Gaussian or Rician noise of σ × its maximum, from a generator seeded by
(seed, case id, σ) alone, so every method sees the very same noisy volume and a rerun (or a run with
``--limit``) sees the same noise. Classical methods get no σ: the job estimates it as a user's run would
(from the air background for Rician noise) and applies the Rician bias correction. The noisy input itself
is scored as the ``noisy input`` row, the bar every method must clear.

Each method's row also holds ``seconds_per_slice``: the wall time of its denoising job (σ estimation, bias
correction and, for a model, normalisation included) divided by the slices — speeds measured in one run on
one machine, so they can be compared with each other.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import SimpleITK as sitk

from condswin.errors import InputError
from condswin.evaluation.rows import MetricRow, MontageRow
from condswin.evaluation.slices import representative_slice
from condswin.inference import InferenceOptions
from condswin.training.evaluation.cases import EvalCase
from condswin.training.evaluation.methods import Method
from condswin.training.evaluation.records import CaseOutcome, RowCallback
from condswin.training.evaluation.request import Setting

__all__ = ["NOISY_INPUT", "noisy_volume", "score_denoising_case"]

NOISY_INPUT = "noisy input"


def noisy_volume(clean: np.ndarray, noise: str, sigma: float, seed: int, case_id: str) -> np.ndarray:
    """The noisy version of a clean volume that every method of an evaluation is given.

    Args:
        clean: (slices, H, W) non-negative volume.
        noise: ``gaussian`` or ``rician``.
        sigma: σ relative to ``clean.max()``.
        seed: the evaluation's base seed.
        case_id: the case's id (part of the seed, so the noise does not depend on the case order).

    Returns:
        A float32 volume of ``clean``'s shape.
    """
    from condswin.training.data.mr_denoising import add_noise
    from condswin.training.data.samples import evaluation_rng

    rng = evaluation_rng(seed, case_id, f"sigma={sigma!r}")
    return add_noise(clean, noise, sigma, float(clean.max()), rng).astype(np.float32)


def score_denoising_case(
    case: EvalCase,
    methods: Sequence[Method],
    settings: Sequence[Setting],
    options: InferenceOptions,
    *,
    noise: str,
    seed: int = 0,
    montage: bool = False,
    on_row: RowCallback | None = None,
) -> CaseOutcome:
    """Add noise at every σ, denoise with every method, and score each volume against the clean one.

    Args:
        case: an MR volume (the clean reference).
        methods: denoising models and/or classical methods.
        settings: one per σ.
        options: device and batch size of the models.
        noise: ``gaussian`` or ``rician``.
        seed: base of the per-case noise seed.
        montage: keep the representative slice of each setting.
        on_row: told of every row as soon as it is scored.

    Returns:
        Per setting, a ``noisy input`` row and one row per method; with ``montage`` one montage row each.

    Raises:
        InputError: an unreadable volume, negative intensities, or an all-zero volume.
    """
    from condswin.io.images import read_image
    from condswin.jobs import denoise
    from condswin.metrics import reconstruction_metrics

    image = read_image(case.path)
    clean = sitk.GetArrayFromImage(image).astype(np.float32)
    if clean.min() < 0:
        raise InputError(f"{case.path}: holds negative values (minimum {clean.min():g}); not a magnitude MR volume")
    if not clean.max() > 0:
        raise InputError(f"{case.path}: the volume is all zero; noise relative to its maximum is undefined")
    index = representative_slice(clean, labels=False)
    outcome = CaseOutcome(on_row=on_row)
    for setting in settings:
        assert setting.sigma is not None  # denoising settings always carry one
        noisy = noisy_volume(clean, noise, setting.sigma, seed, case.case_id)
        noisy_image = sitk.GetImageFromArray(noisy)
        noisy_image.CopyInformation(image)
        truth = {"sigma_abs": setting.sigma * float(clean.max())}
        outcome.add(MetricRow(case.case_id, NOISY_INPUT, setting.label, reconstruction_metrics(clean, noisy), truth))
        shown: dict[str, np.ndarray] = {}
        for method in methods:
            started = time.perf_counter()
            runs = method.loaded if method.loaded is not None else method.baseline
            assert runs is not None  # a method is a model or a baseline
            result = denoise(noisy_image, runs, options, noise=noise)
            seconds_per_slice = (time.perf_counter() - started) / noisy.shape[0]
            denoised = sitk.GetArrayViewFromImage(result.output)
            details: dict[str, Any] = dict(truth)
            if result.sigma is not None:
                details["sigma_used"] = result.sigma
            if result.notices:
                details["notices"] = "; ".join(result.notices)
            scores = {**reconstruction_metrics(clean, denoised), "seconds_per_slice": seconds_per_slice}
            outcome.add(MetricRow(case.case_id, method.name, setting.label, scores, details))
            if montage:
                shown[method.name] = np.array(denoised[index])
        if montage:
            outcome.montage.append(
                MontageRow(
                    title=f"{case.case_id} {setting.label} (slice {index})",
                    labels=False,
                    input=noisy[index],
                    reference=clean[index],
                    outputs=shown,
                    input_name="noisy input",
                )
            )
    return outcome
