"""Run the demo: check the destination, read and verify the samples, pick the models, run the three steps in a
staging folder, write the tables and reports, then publish the folder in one rename.

The staging folder sits beside the destination (:func:`condswin.io.atomic.atomic_path`), so an existing
``demo_output/`` is replaced only when the whole run succeeded, and a failure or Ctrl-C leaves neither a partial
folder nor a stray temporary one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from condswin.bundles import LoadedModel, load_bundle
from condswin.bundles.registry import BundleNotFoundError, default_bundle
from condswin.demo import steps
from condswin.errors import OutputError
from condswin.evaluation.rows import MetricRow
from condswin.evaluation.slices import representative_slice
from condswin.evaluation.tables import Column, column, csv_text, rows_markdown
from condswin.inference.engine import InferenceOptions
from condswin.io.atomic import atomic_path, write_json_atomic, write_text_atomic
from condswin.io.images import read_image
from condswin.lits import LITS_CLASSES
from condswin.samples.catalog import SampleSet, read_catalog, verify_samples

__all__ = ["DemoResult", "run_demo", "QUICK_CT_SLICES", "QUICK_MR_SLICES"]

# Quick mode (the default test suite): a few slices of each volume and a fast classical baseline.
QUICK_CT_SLICES = 6
QUICK_MR_SLICES = 4
BASELINE_DENOISER = {False: "bm3d", True: "nlm"}
TASKS = ("segmentation", "reconstruction", "denoising")
# The metrics table: one row per method of each job (condswin.demo.steps.demo_row), "–" where a metric does not apply.
TABLE_COLUMNS: tuple[Column, ...] = (
    ("job", "job", ""),
    ("method", "method", ""),
    ("kind", "kind", ""),
    *(column(f"{name}_dice", "dice", f"Dice {name}") for name in LITS_CLASSES.values()),
    column("psnr"),
    column("ssim"),
    column("nmse"),
    ("seconds", "time s", ".1f"),
    ("note", "note", ""),
)


@dataclass(frozen=True)
class DemoResult:
    """The published folder, the table rows, the notes, the files written and the run time."""

    out: Path
    rows: list[MetricRow]
    notes: list[str]
    files: list[str]
    seconds: float


class _Progress:
    """A line per step with the time elapsed since the start (plain prints: readable in logs and CI)."""

    def __init__(self, echo: Callable[[str], None]):
        self.echo = echo
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        self.echo(f"[{time.perf_counter() - self.start:6.1f} s] {message}")

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def _check_destination(out: Path) -> None:
    """Refuse before any work: a file where the folder goes, or a folder the user made read-only."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: is a file; the demo writes a folder there")
    if out.is_dir() and not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: the output folder is read-only; the demo does not replace it")


def _default_model(task: str, progress: _Progress) -> LoadedModel | None:
    """The task's default model, loaded after its checksum is verified; None when no model is available."""
    try:
        bundle = default_bundle(task)
    except BundleNotFoundError:
        return None  # the step says so when it runs
    loaded = load_bundle(bundle)  # a tampered or broken embedded model stops the demo (exit 4), never hidden
    progress(f"{task}: model {bundle.id} ({bundle.card.architecture}, version {bundle.card.version})")
    return loaded


def _central(image: Any, count: int, centre: int | None = None) -> Any:
    depth = image.GetSize()[2]
    centre = depth // 2 if centre is None else centre
    first = min(max(0, centre - count // 2), max(0, depth - count))
    return image[:, :, first : first + count]  # SimpleITK slicing keeps the geometry of the kept voxels


def _inputs(samples: SampleSet, quick: bool) -> dict[str, Any]:
    images = {key: read_image(samples[key].path) for key in ("ct", "ct_labels", "mr", "mr_noisy")}
    if quick:
        centre = representative_slice(sitk.GetArrayViewFromImage(images["ct_labels"]), labels=True)
        images["ct"] = _central(images["ct"], QUICK_CT_SLICES, centre)
        images["ct_labels"] = _central(images["ct_labels"], QUICK_CT_SLICES, centre)
        images["mr"] = _central(images["mr"], QUICK_MR_SLICES)
        images["mr_noisy"] = _central(images["mr_noisy"], QUICK_MR_SLICES)
    return images


def run_demo(
    out: str | os.PathLike = "demo_output",
    *,
    quick: bool = False,
    samples_dir: str | os.PathLike | None = None,
    device: str = "auto",
    echo: Callable[[str], None] = print,
) -> DemoResult:
    """Run the three jobs on the embedded samples and publish ``out`` (replacing it only on success).

    Args:
        out: destination folder.
        quick: a few slices per volume and non-local means instead of BM3D (seconds instead of minutes).
        samples_dir: the sample folder (default ``Resources/SampleData``).
        device: where models run (``auto``, ``cpu``, ``cuda``...).
        echo: where progress lines go.

    Raises:
        OutputError: the destination is a file, read-only, or cannot be written (nothing is left behind).
        SampleDataError: a sample file is missing or differs from ``samples.json``.
        BundleError: a default model fails its checksum or does not load.
    """

    out = Path(out)
    progress = _Progress(echo)
    progress(f"ConditionalSwin demo{' (quick)' if quick else ''} -> {out}")
    _check_destination(out)
    with atomic_path(out) as stage:
        stage.mkdir()
        samples = read_catalog(samples_dir)
        verify_samples(samples)
        progress(f"samples: {len(samples.files)} files in {samples.folder} match samples.json (sha256)")
        models = {task: _default_model(task, progress) for task in TASKS}
        images = _inputs(samples, quick)
        options = InferenceOptions(device=device)
        outcomes = [
            steps.segmentation_step(
                images["ct"], images["ct_labels"], models["segmentation"], options, stage, progress
            ),
            steps.reconstruction_step(samples["kspace"].path, models["reconstruction"], options, stage, progress),
            steps.denoising_step(
                images["mr"],
                images["mr_noisy"],
                BASELINE_DENOISER[quick],
                models["denoising"],
                options,
                stage,
                progress,
            ),
        ]
        rows = [row for step in outcomes for row in step.rows]
        notes = [note for step in outcomes for note in step.notes]
        notes.append(str(samples.info.get("note", "")))
        if quick:
            notes.append(
                f"quick mode: {QUICK_CT_SLICES} CT slices, {QUICK_MR_SLICES} MR slices, "
                f"{BASELINE_DENOISER[True]} instead of {BASELINE_DENOISER[False]}"
            )
        files = [name for step in outcomes for name in step.files]
        write_text_atomic(_markdown(rows, notes), stage / "metrics.md")
        write_text_atomic(csv_text(rows), stage / "metrics.csv")
        write_json_atomic(outcomes[0].report, stage / "segmentation_report.json")
        write_json_atomic(
            {"quick": quick, "reconstruction": outcomes[1].report, "denoising": outcomes[2].report, "notes": notes},
            stage / "run_report.json",
        )
        files += ["metrics.md", "metrics.csv", "segmentation_report.json", "run_report.json"]
        progress(f"writing {len(files)} files")
    progress(f"done: {out}/ (metrics.md, {', '.join(f for f in files if f.endswith('.png'))})")
    return DemoResult(out=out, rows=rows, notes=notes, files=files, seconds=progress.elapsed)


def _markdown(rows: list[MetricRow], notes: list[str]) -> str:
    """The metrics table as markdown, followed by the notes."""
    table = rows_markdown(rows, TABLE_COLUMNS)
    return "# ConditionalSwin demo: metrics\n\n" + table + "\n" + "".join(f"- {n}\n" for n in notes)
