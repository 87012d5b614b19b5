"""The model card's ``input`` / ``output`` objects a training run promises, and the normalisation they name.

The numbers come from :func:`condswin.bundles.card_template` (the one place card defaults live) and the
run's config; slices are then prepared with :class:`condswin.bundles.contract.Normalization`, the same object
inference builds from the card, so training and inference cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from condswin.bundles import card_template
from condswin.bundles.contract import Normalization
from condswin.training.config import TrainConfig

__all__ = ["input_contract", "output_contract", "normalization_of", "channels"]


def input_contract(config: TrainConfig) -> dict[str, Any]:
    """The card's ``input`` object for this run.

    CT segmentation: axial slices, the run's HU window, resized to ``data.size``. MR tasks: the stored slices
    (``axis: slice``) at their native grid (``size: null``; training crops or pads them to ``data.size`` only to
    batch them, which changes neither pixel size nor intensities), percentile scaling per volume.

    Args:
        config: the run's config.

    Returns:
        A plain dict (JSON-able).
    """
    template = card_template("training", config.task)["input"]
    if config.task == "segmentation":
        low, high = config.data.hu_window
        return {
            "modality": "CT",
            "axis": "axial",
            "normalization": {"kind": "hu_window", "low": float(low), "high": float(high)},
            "pixel_size_mm": None,
            "size": [int(config.data.size[0]), int(config.data.size[1])],
            "representation": "magnitude",
        }
    complex_input = config.task == "reconstruction" and config.data.complex_input
    return {
        "modality": "MR",
        "axis": "slice",
        "normalization": dict(template["normalization"]),
        "pixel_size_mm": None,
        "size": None,
        "representation": "complex" if complex_input else "magnitude",
    }


def output_contract(config: TrainConfig) -> dict[str, Any]:
    """The card's ``output`` object: LiTS labels with terminology and liver post-processing, or a magnitude."""
    output = card_template("training", config.task)["output"]
    if config.task == "segmentation":
        return {"labels": [dict(label) for label in output["labels"]], "postprocess": output.get("postprocess", "none")}
    return {"representation": "magnitude"}


def normalization_of(contract: dict[str, Any]) -> Normalization:
    """The :class:`~condswin.bundles.contract.Normalization` that inference builds from this ``input`` object."""
    spec = contract["normalization"]
    if spec["kind"] == "hu_window":
        return Normalization(kind="hu_window", low=float(spec["low"]), high=float(spec["high"]), clip=True)
    return Normalization(
        kind="percentile",
        lower=float(spec["lower"]),
        upper=float(spec["upper"]),
        scope=str(spec["scope"]),
        clip=bool(spec["clip"]),
    )


def channels(config: TrainConfig) -> tuple[int, int]:
    """(in_channels, out_channels) of the network this run trains."""
    if config.task == "segmentation":
        return 1, 3
    complex_input = config.task == "reconstruction" and config.data.complex_input
    return (2 if complex_input else 1), 1
