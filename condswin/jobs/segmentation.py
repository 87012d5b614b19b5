"""The segmentation job: CT volume → labelmap on its grid, post-processed, with volume measurements."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from condswin.jobs.results import SegmentationJobResult, StageCallback, model_summary

# `condswin --help` and the Slicer modules import this module at start-up: what loads torch, SimpleITK or scipy
# is imported where it is used (lazy).

if TYPE_CHECKING:
    import SimpleITK as sitk

    from condswin.bundles.card import ModelCard
    from condswin.bundles.store import LoadedModel
    from condswin.inference.engine import InferenceOptions

__all__ = ["segment", "label_volumes", "postprocess_for_card"]


def label_volumes(labels: sitk.Image, card: ModelCard) -> dict[str, Any]:
    """Volume in mL of every label of the card (the measurements of a card that is not LiTS's)."""
    import numpy as np
    import SimpleITK as sitk  # lazy: SimpleITK (see top)

    array = sitk.GetArrayViewFromImage(labels)
    voxel_ml = float(np.prod(labels.GetSpacing())) / 1000.0
    counts = np.bincount(array.ravel(), minlength=256)
    return {
        "volumes_ml": {label.name: float(counts[label.value]) * voxel_ml for label in card.labels},
        "voxel_volume_ml": voxel_ml,
    }


def postprocess_for_card(labels: sitk.Image, card: ModelCard) -> tuple[sitk.Image, bool]:
    """Apply the card's ``output.postprocess`` to a labelmap; returns ``(labels, whether anything ran)``.

    ``liver``: :func:`condswin.ct.postprocess.postprocess_labels` (the largest liver with its tumours, cut at
    necks narrower than twice :data:`condswin.ct.postprocess.LIVER_DETACH_MM`, 3-D holes filled; tumours whose
    surroundings are less than :data:`condswin.ct.postprocess.TUMOUR_MIN_ENCLOSURE` liver dropped, a failing
    one only in the network's slices where it fails, and those under :data:`condswin.ct.postprocess.MIN_TUMOUR_ML`
    made liver).
    """
    if card.contract.postprocess != "liver":
        return labels, False
    from condswin.ct import postprocess as clean  # lazy: SimpleITK, scipy (see top)
    from condswin.inference.orientation import SliceLayout  # lazy: torch, SimpleITK (see top)

    cleaned = clean.postprocess_labels(
        labels,
        detach_mm=clean.LIVER_DETACH_MM,
        min_tumour_enclosure=clean.TUMOUR_MIN_ENCLOSURE,
        min_tumour_ml=clean.MIN_TUMOUR_ML,
        slice_axis=SliceLayout.from_image(labels, card.contract.axis).axes[0],  # the network's slices
    )
    return cleaned, True


def segment(
    image: sitk.Image,
    loaded: LoadedModel,
    options: InferenceOptions | None = None,
    *,
    postprocess: bool = True,
    on_stage: StageCallback | None = None,
) -> SegmentationJobResult:
    """Segment a volume and measure the result.

    The report holds the model (id, version, architecture), the label names, whether post-processing ran, the
    card's class score offsets where it has them, the device and inference time, the notices, and the
    measurements: for a LiTS card (liver and tumour labels) those of :func:`condswin.ct.report.liver_report` (and
    a notice when the liver found is implausibly small: :func:`condswin.ct.report.liver_notices`), otherwise the
    volume of every label.

    Args:
        image: scalar 3-D image in the card's modality (HU for CT); not modified. Pass it without keeping
            another reference if memory is tight: the job drops its own before post-processing.
        loaded: a segmentation model from :func:`condswin.bundles.load_bundle`.
        options: device, batch size, progress, cancel flag.
        postprocess: apply the card's post-processing (``liver``: largest liver with its tumours, cut at thin
            necks, holes filled, tumours the liver does not enclose dropped, the smallest made liver).
        on_stage: told ``("postprocess" | "report", message)`` as those steps start.

    Returns:
        A :class:`SegmentationJobResult` whose ``output`` is the uint8 labelmap on the input's grid.

    Raises:
        ModelError: not a segmentation model.
        InputError: not a scalar 3-D image, slices smaller than
            :data:`condswin.inference.orientation.MIN_SLICE_SIZE`, or a spacing the model's grid cannot take.
        JobCancelled: the cancel flag was set.
    """
    from condswin.ct.report import liver_notices, liver_report  # lazy: SimpleITK, scipy (see top)
    from condswin.inference.orientation import check_image_slices  # lazy: torch, SimpleITK (see top)
    from condswin.inference.volumes import segment_image  # lazy: torch, SimpleITK (see top)

    card = loaded.card
    check_image_slices(image, card.contract.axis)
    stage = on_stage or (lambda name, message: None)
    labels, info = segment_image(image, loaded.model, card, options)
    del image  # the labelmap carries the geometry from here on; free the CT (if the caller holds no other ref)
    postprocessed = False
    if postprocess:
        stage("postprocess", "post-processing the labelmap")
        labels, postprocessed = postprocess_for_card(labels, card)
    stage("report", "measuring volumes")
    measures = liver_report(labels) if card.contract.is_lits else label_volumes(labels, card)
    notices = list(info.messages) + (liver_notices(measures) if card.contract.is_lits else [])
    report = {
        "model": model_summary(card, architecture=True),
        "labels": {str(label.value): label.name for label in card.labels},
        "postprocessed": postprocessed,
        **({"score_offsets": list(card.contract.score_offsets)} if card.contract.score_offsets else {}),
        "device": info.device,
        "inference_seconds": round(info.seconds, 3),
        "notices": notices,
        **measures,
    }
    return SegmentationJobResult(
        output=labels,
        report=report,
        notices=notices,
        segments=tuple(card.labels),
        info=info,
        postprocessed=postprocessed,
    )
