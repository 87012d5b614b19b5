"""Evaluation metrics: fastMRI-compatible reconstruction metrics, per-class segmentation metrics, and their
aggregation over the cases of a data set (``aggregate``: mean, std and counts per metric and class).

numpy/scipy only (torch tensors are accepted and moved to the CPU), so evaluation scripts and the Slicer
modules can use them without a GPU stack.
"""

from condswin.metrics.aggregate import MetricStats, aggregate, mark_absent, means, summarise
from condswin.metrics.reconstruction import mae, mse, nmse, psnr, reconstruction_metrics, ssim
from condswin.metrics.segmentation import dice, f1, hd95, iou, precision, recall, segmentation_metrics

__all__ = [
    "mse",
    "nmse",
    "psnr",
    "ssim",
    "mae",
    "reconstruction_metrics",
    "dice",
    "iou",
    "precision",
    "recall",
    "f1",
    "hd95",
    "segmentation_metrics",
    "MetricStats",
    "summarise",
    "aggregate",
    "means",
    "mark_absent",
]
