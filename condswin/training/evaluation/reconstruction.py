"""Scoring reconstruction models and the classical baselines (zero-filled, compressed sensing) on one volume,
through :mod:`condswin.jobs`.

* fastMRI ``.h5``: :func:`condswin.jobs.reconstruct_file` with fastMRI's per-file seeded mask (every slice
  the same mask, the same mask for every method), scored against the file's target at its reconstruction size.
* MR volumes: :func:`condswin.jobs.reconstruct_image`, k-space simulated with a smooth phase seeded by the
  file name and undersampled with the per-file seeded mask, exactly as ``condswin reconstruct`` does for an
  image file; scored against the volume itself.

Metrics are fastMRI's over the whole volume (:func:`condswin.metrics.reconstruction_metrics`). Each row also
holds ``seconds_per_slice``: the wall time of its reconstruction job (k-space simulation or reading, masking and,
for a model, normalisation included) divided by the slices — speeds measured in one run on one machine, so they
can be compared with each other.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import SimpleITK as sitk

from condswin.evaluation.rows import MetricRow, MontageRow
from condswin.evaluation.slices import representative_slice
from condswin.inference import InferenceOptions
from condswin.jobs.reconstruction import ZERO_FILLED
from condswin.training.evaluation.cases import EvalCase
from condswin.training.evaluation.methods import Method
from condswin.training.evaluation.records import CaseOutcome, RowCallback
from condswin.training.evaluation.request import Setting

__all__ = ["score_reconstruction_case"]


class _Runner:
    """Runs the reconstruction job for one case, from a fastMRI file or from an MR volume read once."""

    def __init__(self, case: EvalCase, kind: str, mask: str, options: InferenceOptions):
        self.case, self.mask, self.options = case, mask, options
        self.image: sitk.Image | None = None
        if kind == "mr_volumes":
            from condswin.io.images import read_image

            self.image = read_image(case.path)

    def run(self, method: Method | None, acceleration: float) -> Any:
        """The job's result for ``method`` (None: zero-filled) at ``acceleration``."""
        from condswin.jobs import reconstruct_file, reconstruct_image
        from condswin.mri.masks import MaskSpec

        loaded = None if method is None else (method.loaded if method.is_model else method.baseline)
        mask = MaskSpec(self.mask, acceleration)
        if self.image is None:
            return reconstruct_file(self.case.path, loaded, self.options, mask=mask)
        # seeded from the file's name, as `condswin reconstruct` seeds an image file
        return reconstruct_image(self.image, loaded, self.options, mask=mask, name=self.case.path.name)

    def shown(self, result: Any) -> np.ndarray:
        """The volume a figure shows: the file's reconstruction grid, or the MR volume's own grid."""
        if self.image is None:
            return result.details.image
        return sitk.GetArrayViewFromImage(result.output)

    def reference(self, result: Any) -> np.ndarray:
        """The reference on the grid of :meth:`shown`."""
        if self.image is None:
            return result.details.target
        return sitk.GetArrayViewFromImage(self.image)


def score_reconstruction_case(
    case: EvalCase,
    kind: str,
    methods: Sequence[Method],
    settings: Sequence[Setting],
    options: InferenceOptions,
    *,
    mask: str = "random",
    montage: bool = False,
    on_row: RowCallback | None = None,
) -> CaseOutcome:
    """Reconstruct one case with every method at every acceleration and score each volume.

    Args:
        case: a fastMRI file with a target, or an MR volume.
        kind: ``fastmri`` or ``mr_volumes``.
        methods: reconstruction models and/or the classical baselines (zero-filled, cs-tv, cs-wavelet).
        settings: one per acceleration.
        options: device and batch size of inference.
        mask: the mask kind for fully sampled k-space (a file's own mask wins).
        montage: keep the representative slice (input, reference, every result) of each setting.
        on_row: told of every row as soon as it is scored.

    Returns:
        One row per setting and method; with ``montage`` one montage row per setting.

    Raises:
        InputError: an unreadable file, or a mask that samples no column.
    """
    from condswin.metrics import reconstruction_metrics

    runner = _Runner(case, kind, mask, options)
    outcome = CaseOutcome(on_row=on_row)
    for setting in settings:
        assert setting.acceleration is not None  # reconstruction settings always carry one
        shown: dict[str, np.ndarray] = {}
        zero_filled = reference = None
        index = 0
        for method in methods:
            started = time.perf_counter()
            result = runner.run(method, setting.acceleration)
            details = result.details
            seconds_per_slice = (time.perf_counter() - started) / details.image.shape[0]
            scores = {**reconstruction_metrics(details.target, details.image), "seconds_per_slice": seconds_per_slice}
            described = {"acceleration_used": round(details.acceleration, 4), "mask_from_file": details.from_file_mask}
            if result.notices:
                described["notices"] = "; ".join(result.notices)
            outcome.add(MetricRow(case.case_id, method.name, setting.label, scores, described))
            if montage:
                if reference is None:  # the same for every method: keep one slice of each result only
                    reference = np.asarray(runner.reference(result))
                    index = representative_slice(reference, labels=False)
                shown[method.name] = np.array(runner.shown(result)[index])
                if method.baseline == ZERO_FILLED:
                    zero_filled = shown[method.name]
        if montage and reference is not None:
            if zero_filled is None:  # the montage's input column: the zero-filled image on the shown grid
                zero_filled = np.array(runner.shown(runner.run(None, setting.acceleration))[index])
            outcome.montage.append(
                MontageRow(
                    title=f"{case.case_id} {setting.label} (slice {index})",
                    labels=False,
                    input=zero_filled,
                    reference=np.array(reference[index]),
                    outputs=shown,
                    input_name="zero-filled input",
                )
            )
    return outcome
