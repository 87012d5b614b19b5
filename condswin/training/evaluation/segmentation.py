"""Scoring segmentation models on one labelled CT case, through :func:`condswin.jobs.segment`.

Each model segments the whole volume exactly as ``condswin segment`` does (its card's HU window, grid and
post-processing); the labelmap is scored per class against the reference over the whole volume, with HD95
in mm from the CT spacing, and classes absent from both maps marked absent rather than perfect. Each row also
holds ``measures``: the report's liver volume and tumour count beside the reference's, the volume error, the
share of reference tumours detected and the whole-liver Dice (:func:`condswin.ct.report.measures_against_reference`),
and ``seconds_per_volume``: the wall time of the segmentation job (reading excluded; resampling, inference and
post-processing included), measured in one run on one machine, so models can be compared with each other.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import SimpleITK as sitk

from condswin.ct.report import measures_against_reference
from condswin.evaluation.rows import MetricRow, MontageRow
from condswin.evaluation.scores import score_label_maps
from condswin.evaluation.slices import representative_slice
from condswin.inference import InferenceOptions
from condswin.lits import LITS_CLASSES
from condswin.training.evaluation.cases import EvalCase
from condswin.training.evaluation.methods import Method
from condswin.training.evaluation.records import CaseOutcome, RowCallback

__all__ = ["score_segmentation_case"]


def score_segmentation_case(
    case: EvalCase,
    methods: Sequence[Method],
    options: InferenceOptions,
    *,
    hd95: bool = True,
    montage: bool = False,
    on_row: RowCallback | None = None,
) -> CaseOutcome:
    """Segment one case with every model and score each labelmap against the reference.

    Args:
        case: a labelled case.
        methods: segmentation models.
        options: device and batch size of inference.
        hd95: also compute the 95 % Hausdorff distance.
        montage: keep the representative slice of every result for the montage.
        on_row: told of every row as soon as it is scored.

    Returns:
        One row per model (setting ``""``) and, with ``montage``, one montage row.

    Raises:
        InputError: an unreadable case, a label map off the CT grid or with values outside {0, 1, 2}.
    """
    from condswin.ct.datasets import CTCase, load_case
    from condswin.jobs import segment

    ct, labels = load_case(CTCase(case.path, case.label_path, case.case_id))
    assert labels is not None  # segmentation cases are found with their label maps
    reference = sitk.GetArrayFromImage(labels)
    spacing = tuple(reversed(ct.GetSpacing()))  # numpy axis order, so HD95 is in mm
    outcome = CaseOutcome(on_row=on_row)
    shown: dict[str, np.ndarray] = {}
    index = representative_slice(reference, labels=True)
    for method in methods:
        assert method.loaded is not None  # segmentation compares models only
        started = time.perf_counter()
        result = segment(ct, method.loaded, options)
        seconds = time.perf_counter() - started
        predicted = sitk.GetArrayViewFromImage(result.output)
        # the reference label maps are LiTS's (0 background, 1 liver, 2 tumour) in both supported layouts
        scores: dict[str, Any] = score_label_maps(predicted, reference, LITS_CLASSES, spacing, hd95)
        scores["measures"] = {
            **measures_against_reference(predicted, reference, ct.GetSpacing()),
            "seconds_per_volume": seconds,
        }
        details = {"notices": "; ".join(result.notices)} if result.notices else {}
        outcome.add(MetricRow(case.case_id, method.name, "", scores, details))
        if montage:
            shown[method.name] = np.array(predicted[index])
    if montage:
        outcome.montage.append(
            MontageRow(
                title=f"{case.case_id} (slice {index})",
                labels=True,
                input=sitk.GetArrayViewFromImage(ct)[index].astype(np.float32),
                reference=reference[index],
                outputs=shown,
                input_name="CT",
            )
        )
    return outcome
