"""Model inference on SimpleITK volumes: CT segmentation and learned MR denoising, geometry kept exactly.

Every function returns an image on the input's voxel grid (``CopyInformation``: same size, spacing, origin
and direction) and never changes the input image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk

from condswin.inference.contract import ModelContract
from condswin.inference.engine import InferenceOptions, RunInfo, SliceEngine
from condswin.inference.orientation import SliceLayout

__all__ = [
    "predict_volume",
    "segment_image",
    "denoise_image",
    "postprocess_for_card",
    "SegmentationResult",
    "is_lits_card",
]


@dataclass
class SegmentationResult:
    """A labelmap on the input's grid, the run's :class:`RunInfo`, and whether post-processing ran."""

    labels: sitk.Image
    info: RunInfo
    postprocessed: bool


def _check_volume(image: sitk.Image, what: str) -> None:
    if not isinstance(image, sitk.Image):
        raise TypeError(f"{what} expects a SimpleITK.Image, got {type(image).__name__}")
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(
            f"{what} needs a scalar 3-D image, got {image.GetDimension()}-D with "
            f"{image.GetNumberOfComponentsPerPixel()} component(s) per voxel"
        )


def predict_volume(
    image: sitk.Image, model: Any, card: dict[str, Any], options: InferenceOptions | None = None
) -> tuple[np.ndarray, RunInfo]:
    """Run a model slice by slice over a volume and return the result in the image's (k, j, i) array order.

    Args:
        image: scalar 3-D image (not modified; read through a no-copy array view).
        model: the network of ``card``.
        card: its validated model card.
        options: device, batch size, progress, cancel flag.

    Returns:
        ``(array, info)``: uint8 labels (segmentation) or a float32 image (other tasks), shaped like the image
        array, and the run's :class:`RunInfo`.
    """
    _check_volume(image, "predict_volume")
    contract = ModelContract.from_card(card)
    layout = SliceLayout.from_image(image, contract.axis)
    volume = sitk.GetArrayViewFromImage(image)
    if np.iscomplexobj(volume):
        raise ValueError("predict_volume: complex voxel types are not supported; pass a magnitude image")
    out = np.zeros(volume.shape, dtype=np.uint8 if contract.task == "segmentation" else np.float32)
    fitted = contract.normalization.fit(volume, contract.input_representation == "complex")
    engine = SliceEngine(model, contract, options)
    info = engine.run(layout.slices(volume), layout.slices(out), layout.spacing, fitted)
    return out, info


def is_lits_card(card: dict[str, Any]) -> bool:
    """True when label 1 is coded as liver (SCT 10200004) and any label 2 as a neoplasm (SCT 108369006)."""
    codes = {
        int(label["value"]): label["terminology"]["type"]["codeValue"] for label in card["output"].get("labels", [])
    }
    return codes.get(1) == "10200004" and codes.get(2, "108369006") == "108369006"


def segment_image(
    image: sitk.Image,
    model: Any,
    card: dict[str, Any],
    options: InferenceOptions | None = None,
    *,
    postprocess: bool = True,
) -> SegmentationResult:
    """Segment a CT (or any) volume with a segmentation model.

    Args:
        image: scalar 3-D image in the card's modality (HU for CT); not modified.
        model: the network of ``card``.
        card: a validated segmentation card.
        options: device, batch size, progress, cancel flag.
        postprocess: apply the card's post-processing (``liver``: largest liver with its tumours, holes
            filled; see :func:`condswin.ct.postprocess_labels`).

    Returns:
        A :class:`SegmentationResult` whose ``labels`` is a uint8 image on exactly the input's grid.
    """
    if card["task"] != "segmentation":
        raise ValueError(f"model '{card['id']}' is a {card['task']} model, not a segmentation model")
    labels, info = predict_volume(image, model, card, options)
    result = sitk.GetImageFromArray(labels)
    del labels
    result.CopyInformation(image)
    ran = False
    if postprocess:
        result, ran = postprocess_for_card(result, card)
    return SegmentationResult(labels=result, info=info, postprocessed=ran)


def postprocess_for_card(labels: sitk.Image, card: dict[str, Any]) -> tuple[sitk.Image, bool]:
    """Apply the card's ``output.postprocess`` to a labelmap; returns ``(labels, whether anything ran)``.

    ``liver``: :func:`condswin.ct.postprocess_labels` (largest liver with its tumours, 3-D holes filled).
    """
    if card["output"].get("postprocess", "none") != "liver":
        return labels, False
    from condswin.ct.postprocess import postprocess_labels

    return postprocess_labels(labels), True


def denoise_image(
    image: sitk.Image, model: Any, card: dict[str, Any], options: InferenceOptions | None = None
) -> tuple[sitk.Image, RunInfo]:
    """Denoise an MR volume with a learned denoising model.

    Returns:
        ``(image, info)``: a float32 image on exactly the input's grid, and the :class:`RunInfo`.
    """
    if card["task"] != "denoising":
        raise ValueError(f"model '{card['id']}' is a {card['task']} model, not a denoising model")
    array, info = predict_volume(image, model, card, options)
    result = sitk.GetImageFromArray(array)
    result.CopyInformation(image)
    return result, info
