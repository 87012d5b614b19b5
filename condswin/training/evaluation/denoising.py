"""Scoring denoisers (learned and classical) on one MR volume at several noise levels, through
:func:`condswin.jobs.denoise`.

For each σ the clean volume gets Gaussian or Rician noise of σ × its maximum, from a generator seeded by
(seed, case id, σ) alone, so every method sees the very same noisy volume and a rerun (or a run with
``--limit``) sees the same noise. Classical methods get no σ: the job estimates it as a user's run would
(from the air background for Rician noise) and applies the Rician bias correction. The noisy input itself
is scored as the ``noisy input`` row, the bar every method must clear.

Each method's row also holds ``seconds_per_slice``: the wall time of its denoising job (σ estimation, bias
correction and, for a model, normalisation included) divided by the slices — speeds measured in one run on
one machine, so they can be compared with each other. A learned model first denoises one slice untimed, so its
one-off start-up costs do not land on whichever case comes first.

With a :class:`~condswin.training.evaluation.baseline_cache.BaselineCache`, a classical method's scores are read
back when its exact input was scored before; it then runs on :data:`~.baseline_cache.TIMED_SLICES` slices only,
to measure its speed in this run (the row says ``scores_from_cache`` and ``timed_slices``).
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
from condswin.training.evaluation.baseline_cache import TIMED_SLICES, BaselineCache
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
    cache: BaselineCache | None = None,
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
        cache: where classical methods' scores are kept and read back (module docstring); None: always run.

    Returns:
        Per setting, a ``noisy input`` row and one row per method; with ``montage`` one montage row each.

    Raises:
        InputError: an unreadable volume, negative intensities, or an all-zero volume.
    """
    from condswin.io.images import read_image
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
            row, picture = _score_method(
                method, case.case_id, setting.label, noisy_image, clean, truth, index, options, noise, cache
            )
            outcome.add(row)
            if montage and picture is not None:
                shown[method.name] = picture
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


def _score_method(
    method: Method,
    case_id: str,
    setting: str,
    noisy_image: sitk.Image,
    clean: np.ndarray,
    truth: dict[str, Any],
    index: int,
    options: InferenceOptions,
    noise: str,
    cache: BaselineCache | None,
) -> tuple[MetricRow, np.ndarray | None]:
    """One method's row on one noisy volume, and its output's slice ``index`` (from the cache when it holds
    a classical method's scores of this very input)."""
    from condswin.jobs import denoise
    from condswin.metrics import reconstruction_metrics

    runs = method.loaded if method.loaded is not None else method.baseline
    assert runs is not None  # a method is a model or a baseline
    noisy = sitk.GetArrayViewFromImage(noisy_image)
    key = None if cache is None or method.baseline is None else cache.key(method.baseline, noise, noisy, clean)
    kept = None if key is None or cache is None else cache.get(key)
    if kept is not None:
        sigma = kept.details.get("sigma_used")  # the whole volume's: the timed slices may hold no air
        seconds_per_slice, timed = _time_on_a_few_slices(noisy_image, runs, options, noise, sigma)
        scores = {**kept.metrics, "seconds_per_slice": seconds_per_slice}
        details = {**kept.details, "scores_from_cache": True, "timed_slices": timed}
        return MetricRow(case_id, method.name, setting, scores, details), kept.shown
    if method.is_model:
        _warm_up(noisy_image, runs, options, noise)
    started = time.perf_counter()
    result = denoise(noisy_image, runs, options, noise=noise)
    seconds_per_slice = (time.perf_counter() - started) / noisy.shape[0]
    denoised = sitk.GetArrayViewFromImage(result.output)
    details = dict(truth)
    if result.sigma is not None:
        details["sigma_used"] = result.sigma
    if result.notices:
        details["notices"] = "; ".join(result.notices)
    metrics = reconstruction_metrics(clean, denoised)
    picture = np.array(denoised[index])
    if key is not None and cache is not None:
        cache.put(key, metrics, details, picture)
    return MetricRow(
        case_id, method.name, setting, {**metrics, "seconds_per_slice": seconds_per_slice}, details
    ), picture


def _warm_up(image: sitk.Image, method: Any, options: InferenceOptions, noise: str) -> None:
    """One untimed slice through a learned model before its timed run.

    A model's first call on a slice size pays one-off costs (oneDNN picks and caches its kernels, the allocator
    grows its pools): measured on the 384×512 T2 volume, 0.148 s per slice when that cost fell into the first
    case's timing against 0.096 s warm. A user's volume pays it once too, but spread over the whole volume; a
    table of seconds per slice must not depend on which case ran first.
    """
    from condswin.jobs import denoise

    middle = image.GetSize()[2] // 2
    denoise(image[:, :, middle : middle + 1], method, options, noise=noise)


def _time_on_a_few_slices(
    image: sitk.Image, method: Any, options: InferenceOptions, noise: str, sigma: float | None
) -> tuple[float, int]:
    """Seconds per slice of ``method`` on :data:`TIMED_SLICES` slices around the middle of ``image``, and how
    many slices that was (all of a thinner volume). ``sigma``: the σ the whole-volume run used (None: the method
    needs none), given so that a few slices without air need no estimate of their own."""
    from condswin.jobs import denoise

    depth = image.GetSize()[2]
    count = min(TIMED_SLICES, depth)
    first = (depth - count) // 2
    part = image[:, :, first : first + count]
    started = time.perf_counter()
    denoise(part, method, options, noise=noise, sigma=sigma)
    return (time.perf_counter() - started) / count, count
