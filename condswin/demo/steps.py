"""The demo's three jobs, each with its baselines: outputs written to the staging folder, table rows, a figure.

Every step runs the jobs of :mod:`condswin.jobs` exactly as the command line does; a task whose model is
``None`` (none embedded) runs its baselines only and adds a ``not run`` row that says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from condswin.bundles import LoadedModel
from condswin.ct.report import liver_report
from condswin.evaluation.figures import (
    CT_DISPLAY_WINDOW,
    ERROR_CMAP,
    Panel,
    disagreement_legend,
    disagreement_overlay,
    draw_panels,
    label_legend,
    label_overlay,
    save_figure,
)
from condswin.evaluation.rows import MetricRow
from condswin.evaluation.scores import score_label_maps
from condswin.evaluation.slices import representative_slice
from condswin.inference.engine import InferenceOptions
from condswin.io.images import write_image
from condswin.jobs import denoise, reconstruct_file, segment
from condswin.lits import LITS_CLASSES
from condswin.metrics import reconstruction_metrics
from condswin.mri.masks import MaskSpec

__all__ = [
    "StepOutcome",
    "demo_row",
    "denoising_step",
    "missing_model_note",
    "reconstruction_step",
    "segmentation_step",
]

Progress = Callable[[str], None]
ACCELERATION = 4.0
SETTING = f"{ACCELERATION:g}x"
FIGURE_DPI = 90


def demo_row(
    job: str,
    case: str,
    method: str,
    kind: str,
    metrics: Mapping[str, Any] | None = None,
    *,
    setting: str = "",
    seconds: float | None = None,
    note: str = "",
) -> MetricRow:
    """A row of the demo's table: the evaluation's row, with the job, the kind of method, its time and a note.

    ``kind`` is ``input``, ``baseline``, ``model``, or ``not run`` (no model; no metrics then).
    """
    details = {"job": job, "kind": kind, "seconds": seconds, "note": note}
    return MetricRow(case, method, setting, dict(metrics or {}), details)


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
    return sitk.GetArrayFromImage(image)


def _write(image: sitk.Image, folder: Path, name: str, files: list[str]) -> None:
    write_image(image, folder / name, overwrite=True)
    files.append(name)


def segmentation_step(
    ct: sitk.Image,
    reference: sitk.Image,
    loaded: LoadedModel | None,
    options: InferenceOptions,
    out: Path,
    progress: Progress,
) -> StepOutcome:
    """Segment the phantom CT with the default model and score it against the reference labels (Dice, report)."""
    case = "phantom CT"
    low, high = CT_DISPLAY_WINDOW
    ref = _array(reference)
    z = representative_slice(ref, labels=True)
    ct_slice = _array(ct)[z]
    report: dict[str, Any] = {"input": case, "reference": liver_report(reference)}
    outcome = StepOutcome(rows=[], report=report)
    panels = [Panel("CT", ct_slice, vmin=low, vmax=high)]
    panels.append(Panel("reference labels", ct_slice, vmin=low, vmax=high, overlay=label_overlay(ref[z])))
    if loaded is None:
        note = missing_model_note("segmentation")
        progress(f"segmentation: {note}")
        outcome.rows.append(demo_row("segmentation", case, "default model", "not run", note=note))
        outcome.notes.append(f"segmentation: {note}; the report holds the reference labels' measurements only")
        report["model"] = None
    else:
        progress(f"segmentation: model {loaded.card.id} on the phantom CT {ct.GetSize()}")
        start = time.perf_counter()
        result = segment(ct, loaded, options)
        seconds = time.perf_counter() - start
        pred = _array(result.output)
        scores = score_label_maps(pred, ref, LITS_CLASSES, hd95=False)
        outcome.rows.append(
            demo_row(
                "segmentation",
                case,
                loaded.card.id,
                "model",
                scores,
                seconds=seconds,
                note="against the phantom's reference labels",
            )
        )
        report.update(model=result.report, dice={name: values["dice"] for name, values in scores.items()})
        _write(result.output, out, "segmentation_model.nii.gz", outcome.files)
        panels.append(Panel(f"model {loaded.card.id}", ct_slice, vmin=low, vmax=high, overlay=label_overlay(pred[z])))
        panels.append(
            Panel(
                "errors (model vs reference)",
                ct_slice,
                vmin=low,
                vmax=high,
                overlay=disagreement_overlay(pred[z], ref[z]),
            )
        )
    title = f"Segmentation: {case}, axial slice {z} ({label_legend(LITS_CLASSES)}; errors: {disagreement_legend()})"
    save_figure(draw_panels([panels], title), out / "segmentation.png", dpi=FIGURE_DPI)
    outcome.files.append("segmentation.png")
    return outcome


def reconstruction_step(
    kspace_file: Path, loaded: LoadedModel | None, options: InferenceOptions, out: Path, progress: Progress
) -> StepOutcome:
    """Reconstruct the simulated fastMRI file at 4× (fastMRI random mask, per-file seed): zero-filled vs model."""
    job, case = f"reconstruction {SETTING}", kspace_file.name
    outcome = StepOutcome(rows=[], report={"acceleration": ACCELERATION, "file": case})
    runs: dict[str, Any] = {}
    for name, model in (("zero-filled", None), ("model", loaded)):
        if name == "model" and model is None:
            note = missing_model_note("reconstruction")
            progress(f"reconstruction: {note}")
            outcome.rows.append(demo_row(job, case, "default model", "not run", setting=SETTING, note=note))
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
        outcome.rows.append(demo_row(job, case, label, kind, metrics, setting=SETTING, seconds=seconds))
        outcome.report[label] = result.report
        _write(
            result.output, out, f"reconstruction_{'zero_filled' if model is None else 'model'}.nii.gz", outcome.files
        )
    details = runs["zero-filled"].details
    z = representative_slice(details.target, labels=False)
    target = details.target[z]
    top = [Panel("target (fully sampled)", target, vmin=0, vmax=float(target.max()))]
    bottom: list[Panel | None] = [None]
    error_max = float(np.abs(details.zero_filled[z] - target).max()) or 1.0
    for name, result in runs.items():
        image = result.details.image[z]
        title = name if name == "zero-filled" or loaded is None else f"model {loaded.card.id}"
        top.append(Panel(f"{title} ({SETTING})", image, vmin=0, vmax=float(target.max())))
        bottom.append(
            Panel(f"|{title} - target|", np.abs(image - target), cmap=ERROR_CMAP, vmin=0, vmax=error_max, colorbar=True)
        )
    figure = draw_panels([top, bottom], f"Reconstruction at {SETTING}: {case}, slice {z}")
    save_figure(figure, out / "reconstruction.png", dpi=FIGURE_DPI)
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
    case = "MNI152 T1 crop"
    reference = _array(clean).astype(np.float32)
    noisy_array = _array(noisy).astype(np.float32)
    outcome = StepOutcome(rows=[], report={"noise": "rician", "baseline": baseline})
    outcome.rows.append(
        demo_row("denoising", case, "noisy input", "input", reconstruction_metrics(reference, noisy_array))
    )
    outputs: dict[str, np.ndarray] = {}
    for method in (baseline, loaded):
        if method is None:
            note = missing_model_note("denoising")
            progress(f"denoising: {note}")
            outcome.rows.append(demo_row("denoising", case, "default model", "not run", note=note))
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
        scores = reconstruction_metrics(reference, outputs[label])
        outcome.rows.append(demo_row("denoising", case, label, kind, scores, seconds=seconds))
        outcome.report[label] = result.report
        _write(result.output, out, f"denoised_{'model' if kind == 'model' else baseline}.nii.gz", outcome.files)
    z = representative_slice(reference, labels=False)
    vmax = float(np.percentile(reference, 99.9))
    error_max = float(np.percentile(np.abs(noisy_array - reference), 99.5)) or 1.0
    top = [
        Panel("clean reference", reference[z], vmin=0, vmax=vmax),
        Panel("noisy (Rician 5 %)", noisy_array[z], vmin=0, vmax=vmax),
    ]
    top += [Panel(label, array[z], vmin=0, vmax=vmax) for label, array in outputs.items()]
    bottom: list[Panel | None] = [None]
    for label, array in {"noisy": noisy_array, **outputs}.items():
        error = np.abs(array[z] - reference[z])
        bottom.append(Panel(f"|{label} - reference|", error, cmap=ERROR_CMAP, vmin=0, vmax=error_max, colorbar=True))
    save_figure(draw_panels([top, bottom], f"Denoising: {case}, slice {z}"), out / "denoising.png", dpi=FIGURE_DPI)
    outcome.files.append("denoising.png")
    return outcome


def _slice_progress(label: str, progress: Progress) -> InferenceOptions:
    """Options whose progress callback prints every fifth slice (a classical filter may take minutes)."""

    def report(done: int, total: int, message: str) -> None:
        if done and (done % 5 == 0 or done == total):
            progress(f"denoising: {label} {done}/{total} slices")

    return InferenceOptions(progress=report)
