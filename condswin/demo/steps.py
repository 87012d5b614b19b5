"""The demo's three jobs, each with its baselines: outputs written to the staging folder, table rows, a figure.

Every step runs the jobs of :mod:`condswin.jobs` exactly as the command line does; a task whose model is
``None`` (none embedded) runs its baselines only and adds a ``not run`` row that says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from condswin.demo.figures import Panel, save_figure
from condswin.demo.tables import MetricRow

if TYPE_CHECKING:
    import SimpleITK as sitk

    from condswin.bundles.store import LoadedModel
    from condswin.inference.engine import InferenceOptions

__all__ = ["StepOutcome", "denoising_step", "reconstruction_step", "segmentation_step", "missing_model_note"]

Progress = Callable[[str], None]
CT_DISPLAY_WINDOW = (-160.0, 240.0)  # abdominal soft-tissue window (centre 40 HU, width 400 HU)
ACCELERATION = 4.0


@dataclass
class StepOutcome:
    """What a step produced: table rows, a JSON-able report, notes for the table, files written."""

    rows: list[MetricRow]
    report: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def missing_model_note(task: str) -> str:
    return f"no trained {task} model is embedded (Resources/Models) or installed: baselines only"


def _array(image: sitk.Image) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(image)


def _write(image: sitk.Image, folder: Path, name: str, files: list[str]) -> None:
    from condswin.io.images import write_image

    write_image(image, folder / name, overwrite=True)
    files.append(name)


def _image_metrics(reference: np.ndarray, output: np.ndarray) -> dict[str, float]:
    from condswin.metrics import reconstruction_metrics

    values = reconstruction_metrics(reference, output)
    return {"psnr_db": float(values["psnr"]), "ssim": float(values["ssim"]), "nmse": float(values["nmse"])}


def _row_from(metrics: dict[str, float], **kwargs: Any) -> MetricRow:
    return MetricRow(psnr_db=metrics.get("psnr"), ssim=metrics.get("ssim"), nmse=metrics.get("nmse"), **kwargs)


def most_tumour_slice(labels: np.ndarray) -> int:
    """The axial index (numpy axis 0) with the most tumour voxels, else the most liver voxels."""
    tumour = (labels == 2).sum(axis=(1, 2))
    return int(np.argmax(tumour if tumour.any() else (labels > 0).sum(axis=(1, 2))))


def segmentation_step(
    ct: sitk.Image,
    reference: sitk.Image,
    loaded: LoadedModel | None,
    options: InferenceOptions,
    out: Path,
    progress: Progress,
) -> StepOutcome:
    """Segment the phantom CT with the default model and score it against the reference labels (Dice, report)."""
    from condswin.ct.report import liver_report
    from condswin.jobs import segment
    from condswin.metrics import segmentation_metrics

    ref = _array(reference)
    z = most_tumour_slice(ref)
    ct_slice = _array(ct)[z]
    report: dict[str, Any] = {"input": "phantom CT", "reference": liver_report(reference)}
    outcome = StepOutcome(rows=[], report=report)
    panels = [Panel("CT", ct_slice, vmin=CT_DISPLAY_WINDOW[0], vmax=CT_DISPLAY_WINDOW[1])]
    panels.append(
        Panel("reference labels", ct_slice, vmin=CT_DISPLAY_WINDOW[0], vmax=CT_DISPLAY_WINDOW[1], overlay=ref[z])
    )
    if loaded is None:
        note = missing_model_note("segmentation")
        progress(f"segmentation: {note}")
        outcome.rows.append(MetricRow("segmentation", "default model", "not run", note=note))
        outcome.notes.append(f"segmentation: {note}; the report holds the reference labels' measurements only")
        report["model"] = None
    else:
        progress(f"segmentation: model {loaded.card.id} on the phantom CT {ct.GetSize()}")
        start = time.perf_counter()
        result = segment(ct, loaded, options)
        seconds = time.perf_counter() - start
        pred = _array(result.output)
        scores = segmentation_metrics(pred, ref, with_hd95=False)
        outcome.rows.append(
            MetricRow(
                "segmentation",
                loaded.card.id,
                "model",
                dice_liver=scores["liver"]["dice"],
                dice_tumour=scores["tumour"]["dice"],
                seconds=seconds,
                note="against the phantom's reference labels",
            )
        )
        report.update(model=result.report, dice={name: values["dice"] for name, values in scores.items()})
        _write(result.output, out, "segmentation_model.nii.gz", outcome.files)
        panels.append(
            Panel(
                f"model {loaded.card.id}",
                ct_slice,
                vmin=CT_DISPLAY_WINDOW[0],
                vmax=CT_DISPLAY_WINDOW[1],
                overlay=pred[z],
            )
        )
        panels.append(
            Panel(
                "disagreement (model vs reference)",
                (pred[z] != ref[z]).astype(np.float32),
                cmap="magma",
                vmin=0,
                vmax=1,
            )
        )
    save_figure(
        out / "segmentation.png", [panels], f"Segmentation: phantom CT, axial slice {z} (green liver, red tumour)"
    )
    outcome.files.append("segmentation.png")
    return outcome


def reconstruction_step(
    kspace_file: Path, loaded: LoadedModel | None, options: InferenceOptions, out: Path, progress: Progress
) -> StepOutcome:
    """Reconstruct the simulated fastMRI file at 4× (fastMRI random mask, per-file seed): zero-filled vs model."""
    from condswin.jobs import reconstruct_file
    from condswin.mri.masks import MaskSpec

    outcome = StepOutcome(rows=[], report={"acceleration": ACCELERATION, "file": kspace_file.name})
    runs: dict[str, Any] = {}
    for name, model in (("zero-filled", None), ("model", loaded)):
        if name == "model" and model is None:
            note = missing_model_note("reconstruction")
            progress(f"reconstruction: {note}")
            outcome.rows.append(MetricRow("reconstruction 4x", "default model", "not run", note=note))
            outcome.notes.append(f"reconstruction: {note}")
            continue
        label = name if model is None else model.card.id
        progress(f"reconstruction: {label} at {ACCELERATION:g}x of {kspace_file.name}")
        start = time.perf_counter()
        result = reconstruct_file(
            kspace_file, model, options if model is not None else None, mask=MaskSpec(acceleration=ACCELERATION)
        )
        seconds = time.perf_counter() - start
        runs[name] = result
        metrics = result.report["metrics"]["zero_filled" if model is None else "model"]
        kind = "baseline" if model is None else "model"
        outcome.rows.append(_row_from(metrics, job="reconstruction 4x", method=label, kind=kind, seconds=seconds))
        outcome.report[label] = result.report
        _write(
            result.output, out, f"reconstruction_{'zero_filled' if model is None else 'model'}.nii.gz", outcome.files
        )
    details = runs["zero-filled"].details
    z = details.target.shape[0] // 2
    target = details.target[z]
    top = [Panel("target (fully sampled)", target, vmin=0, vmax=float(target.max()))]
    bottom: list[Panel | None] = [None]
    error_max = float(np.abs(details.zero_filled[z] - target).max()) or 1.0
    for name, result in runs.items():
        image = result.details.image[z]
        title = name if name == "zero-filled" else f"model {loaded.card.id}"
        top.append(Panel(f"{title} (4x)", image, vmin=0, vmax=float(target.max())))
        bottom.append(Panel(f"|{title} - target|", np.abs(image - target), cmap="inferno", vmin=0, vmax=error_max))
    save_figure(out / "reconstruction.png", [top, bottom], f"Reconstruction at 4x: {kspace_file.name}, slice {z}")
    outcome.files.append("reconstruction.png")
    return outcome


def denoising_step(
    clean: sitk.Image,
    noisy: sitk.Image,
    baseline: str,
    loaded: LoadedModel | None,
    options: InferenceOptions,
    out: Path,
    progress: Progress,
) -> StepOutcome:
    """Denoise the Rician-noisy MR with a classical baseline (σ estimated, bias-corrected) and the default model."""
    from condswin.jobs import denoise

    reference = _array(clean).astype(np.float32)
    noisy_array = _array(noisy).astype(np.float32)
    outcome = StepOutcome(rows=[], report={"noise": "rician", "baseline": baseline})
    outcome.rows.append(_row_from_image(reference, noisy_array, "noisy input", "input"))
    outputs: dict[str, np.ndarray] = {}
    for method in (baseline, loaded):
        if method is None:
            note = missing_model_note("denoising")
            progress(f"denoising: {note}")
            outcome.rows.append(MetricRow("denoising", "default model", "not run", note=note))
            outcome.notes.append(f"denoising: {note}")
            continue
        label = method if isinstance(method, str) else method.card.id
        progress(f"denoising: {label} on {noisy.GetSize()[2]} slices (Rician noise)")
        start = time.perf_counter()
        result = denoise(
            noisy, method, options if not isinstance(method, str) else _slice_progress(label, progress), noise="rician"
        )
        seconds = time.perf_counter() - start
        outputs[label] = _array(result.output).astype(np.float32)
        kind = "baseline" if isinstance(method, str) else "model"
        outcome.rows.append(_row_from_image(reference, outputs[label], label, kind, seconds))
        outcome.report[label] = result.report
        _write(result.output, out, f"denoised_{'model' if kind == 'model' else baseline}.nii.gz", outcome.files)
    z = reference.shape[0] // 2
    vmax = float(np.percentile(reference, 99.9))
    error_max = float(np.percentile(np.abs(noisy_array - reference), 99.5)) or 1.0
    top = [
        Panel("clean reference", reference[z], vmin=0, vmax=vmax),
        Panel("noisy (Rician 5 %)", noisy_array[z], vmin=0, vmax=vmax),
    ]
    bottom: list[Panel | None] = [None]
    bottom.append(
        Panel("|noisy - reference|", np.abs(noisy_array[z] - reference[z]), cmap="inferno", vmin=0, vmax=error_max)
    )
    for label, array in outputs.items():
        top.append(Panel(label, array[z], vmin=0, vmax=vmax))
        bottom.append(
            Panel(f"|{label} - reference|", np.abs(array[z] - reference[z]), cmap="inferno", vmin=0, vmax=error_max)
        )
    save_figure(out / "denoising.png", [top, bottom], f"Denoising: MNI152 T1 crop, slice {z}")
    outcome.files.append("denoising.png")
    return outcome


def _slice_progress(label: str, progress: Progress) -> InferenceOptions:
    """Options whose progress callback prints every fifth slice (a classical filter may take minutes)."""
    from condswin.inference.engine import InferenceOptions

    def report(done: int, total: int, message: str) -> None:
        if done and (done % 5 == 0 or done == total):
            progress(f"denoising: {label} {done}/{total} slices")

    return InferenceOptions(progress=report)


def _row_from_image(
    reference: np.ndarray, output: np.ndarray, method: str, kind: str, seconds: float | None = None
) -> MetricRow:
    metrics = _image_metrics(reference, output)
    return MetricRow("denoising", method, kind, seconds=seconds, **metrics)
