"""Inputs, outputs and the batch loop shared by the commands.

* An input is a file or a folder. A folder that is itself one DICOM series is one input; any other folder
  is a batch over its image files and DICOM-series subfolders (for ``segment``, a LiTS or Decathlon
  dataset folder is a batch over its CT volumes).
* A single input writes to OUT (a file, or into OUT when it is an existing folder); a batch writes
  ``OUT/<name><suffix>`` plus ``OUT/<name>.json`` for each input.
* Every output of an input is written under a temporary name and renamed into place only when the whole input
  succeeded (:class:`StagedOutputs`), so a failure or a cancel leaves no partial or orphaned file.
* Every destination is checked before any work starts: existing outputs are refused unless ``--overwrite``,
  an output can never be an input (IN or any other input, such as ``--reference``; also through a symlink
  or a hard link), and an output whose place is taken by a folder, or whose folder is a file, is refused.
  :meth:`StagedOutputs.commit` checks them again before the first rename, so an input's outputs land all or
  none (:mod:`condswin.cli.outputs`).
* Warnings raised while an input is processed (:class:`condswin.errors.CondswinWarning`) are reported as ``warning``
  events naming the input (:mod:`condswin.cli.notices`).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from condswin.cli.errors import INTERNAL_ERROR, OK, SOME_FAILED, UsageError, exit_code_for
from condswin.cli.notices import reported_warnings
from condswin.cli.outputs import InputPlan, check_outputs, destination_problem
from condswin.cli.progress import Reporter
from condswin.cli.signals import critical_section, settle
from condswin.errors import InputNotFoundError
from condswin.io.atomic import StagedFiles
from condswin.io.formats import READABLE_SUFFIXES, WRITABLE_SUFFIXES

# `condswin --help` imports this module: what loads SimpleITK or scipy (image files, CT datasets) is imported where
# it is used (lazy).

if TYPE_CHECKING:
    from condswin.bundles.contract import Label

__all__ = [
    "StagedOutputs",
    "split_suffix",
    "collect_inputs",
    "plan_inputs",
    "run_inputs",
]


def split_suffix(path: Path) -> tuple[str, str]:
    """(stem, lower-case suffix), double suffixes such as ``.nii.gz`` kept together; folders have no suffix.

    Suffixes are matched case-insensitively (``CT.NII.GZ`` → ``("CT", ".nii.gz")``): the image readers and
    writers choose the format from the lower-cased suffix too.
    """
    name = path.name
    for suffix in (*READABLE_SUFFIXES, ".h5", ".json"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], suffix
    return (name, "") if path.is_dir() or "." not in name else (path.stem, path.suffix.lower())


def _is_dicom_series(folder: Path) -> bool:
    import SimpleITK as sitk  # lazy: SimpleITK (see top)

    return bool(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))


def _has_images(folder: Path, suffixes: Sequence[str]) -> bool:
    return any(p.is_file() and split_suffix(p)[1] in suffixes for p in folder.iterdir())


def collect_inputs(path: Path, suffixes: Sequence[str], *, datasets: bool = False) -> tuple[list[Path], bool]:
    """The inputs named by a command-line path and whether they form a batch.

    Args:
        path: a file or a folder.
        suffixes: file suffixes the command reads (``.nii.gz``, ``.h5``, ...).
        datasets: recognise LiTS/Decathlon dataset folders (CT volumes only, labels skipped).

    Returns:
        ``(inputs, is_batch)``.

    Raises:
        InputNotFoundError: the path does not exist.
        UsageError: a folder with nothing to read.
    """
    if not path.exists():
        raise InputNotFoundError(f"{path}: no such file or folder")
    if not path.is_dir():
        return [path], False  # a file, or a device or pipe that the image reader refuses with its own message
    if not _has_images(path, suffixes) and _is_dicom_series(path):
        return [path], False
    if datasets:
        from condswin.ct.datasets import find_cases  # lazy: SimpleITK, scipy (see top)
        from condswin.io.images import ImageFileError  # lazy: SimpleITK (see top)

        try:
            return [case.volume_path for case in find_cases(path)], True
        except ImageFileError:
            pass  # not a dataset layout: a plain folder of images
    inputs = []
    for child in sorted(path.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_file() and split_suffix(child)[1] in suffixes:
            inputs.append(child)
        elif child.is_dir() and _is_dicom_series(child):
            inputs.append(child)
    if not inputs:
        raise UsageError(
            f"{path}: no inputs found in this folder (looked for {', '.join(suffixes)} files and DICOM series)"
        )
    return inputs, True


def plan_inputs(
    inputs: list[Path],
    is_batch: bool,
    out: Path,
    *,
    default_suffix: str = ".nii.gz",
    report: Path | None = None,
    rename: Callable[[str], str] = lambda stem: stem,
    overwrite: bool = False,
    protected: Sequence[Path] = (),
) -> list[InputPlan]:
    """Decide every output path up front and refuse clashes, inputs as outputs, and existing files.

    Args:
        inputs: from :func:`collect_inputs`.
        is_batch: several inputs into the folder ``out``.
        out: the OUT argument.
        default_suffix: image suffix when OUT does not give one (batch, or OUT an existing folder).
        report: explicit report path (single input only).
        rename: maps an input stem to an output stem (``volume-3`` → ``segmentation-3``).
        overwrite: allow replacing existing outputs.
        protected: the command's other inputs (``--reference`` files or folders): never written either.

    Returns:
        One :class:`InputPlan` per input.

    Raises:
        UsageError: an output that is an input, two inputs writing one file, an unsupported format (exit 2).
        OutputError: an existing output without ``overwrite``, a folder in an output's place, or an output
            folder that is a file (exit 5).
    """
    plans: list[InputPlan] = []
    if is_batch:
        if out.exists() and not out.is_dir():
            raise UsageError(f"{out}: the input is a folder, so OUT must be a folder, but this is a file")
        if report is not None:
            raise UsageError("--report names one file; a batch writes <name>.json beside each output")
        for path in inputs:
            stem = rename(split_suffix(path)[0])
            plans.append(
                InputPlan(path, {"image": out / f"{stem}{default_suffix}", "report": out / f"{stem}.json"}, stem)
            )
    else:
        path = inputs[0]
        if out.is_dir():
            stem = rename(split_suffix(path)[0])
            image = out / f"{stem}{default_suffix}"
        else:
            image = out
            stem, suffix = split_suffix(out)
            if suffix not in WRITABLE_SUFFIXES:
                raise UsageError(
                    f"{out}: unsupported output format {suffix or '(none)'!r}; use one of {', '.join(WRITABLE_SUFFIXES)}"
                )
        plans.append(
            InputPlan(path, {"image": image, "report": report or image.parent / f"{split_suffix(image)[0]}.json"}, stem)
        )
    check_outputs(plans, overwrite, protected)
    return plans


class StagedOutputs(StagedFiles):
    """The files of one input (:class:`condswin.io.atomic.StagedFiles`), renamed into place together when its job
    succeeded; before the first rename every destination is checked again
    (:func:`condswin.cli.outputs.destination_problem`), and signals wait until the renames are done."""

    def write_image(self, image: Any, final: Path, *, segments: Sequence[Label] = ()) -> None:
        """Stage an image (:func:`condswin.io.images.write_image_to`: any format it writes, a Slicer segmentation
        file naming ``segments`` for a ``.seg.nrrd``), checked complete once written."""
        from condswin.io.images import write_image_to  # lazy: SimpleITK (see top)

        write_image_to(image, self.stage(final), name=final, segments=segments)

    def check_destination(self, final: Path) -> None:
        destination_problem(final)
        super().check_destination(final)

    def commit(self) -> None:
        with critical_section():
            super().commit()


@dataclass
class InputOutcome:
    """How the processing of one input ended."""

    plan: InputPlan
    code: int
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0


def run_inputs(
    plans: list[InputPlan],
    process: Callable[[InputPlan, StagedOutputs], dict[str, Any]],
    reporter: Reporter,
    *,
    is_batch: bool,
    summarise: Callable[[InputOutcome], str],
) -> int:
    """Process every input; in a batch a failed input is reported and the others still run.

    Args:
        plans: from :func:`plan_inputs`.
        process: runs the job of one input, staging its outputs, and returns a JSON-able summary of it.
        reporter: progress output.
        is_batch: several inputs (failures do not stop the run; the exit code is then 1).
        summarise: one line of text describing a successful outcome, for the summary table.

    Returns:
        The exit code: 0, 1 (batch with failures), or the failed single input's own code.
    """
    outcomes: list[InputOutcome] = []
    for index, plan in enumerate(plans):
        reporter.event("start", index, len(plans), f"{plan.input}", file=str(plan.input))
        started = time.perf_counter()
        try:

            def announce(final: Path, plan: InputPlan = plan) -> None:
                reporter.event("write", message=f"writing {final}", file=str(plan.input))

            with reported_warnings(reporter, str(plan.input)), StagedOutputs(on_stage=announce) as staged:
                summary = process(plan, staged)
                staged.commit()
        except Exception as exc:  # noqa: BLE001 - every failure of one input is reported, then classified
            code = exit_code_for(exc)
            if code == INTERNAL_ERROR:
                traceback.print_exc()
            outcome = InputOutcome(
                plan, code, error=str(exc) or type(exc).__name__, seconds=time.perf_counter() - started
            )
            outcomes.append(outcome)
            reporter.error(_naming(plan.input, outcome.error), file=str(plan.input), code=code)
            continue
        outcome = InputOutcome(plan, OK, summary, seconds=time.perf_counter() - started)
        outcomes.append(outcome)
        reporter.event("done", index + 1, len(plans), f"wrote {plan.outputs['image']}", file=str(plan.input))
        reporter.result(
            summarise(outcome),
            {"input": str(plan.input), "outputs": {k: str(v) for k, v in plan.outputs.items()}, **summary},
            file=str(plan.input),
        )
    settle()  # every input is finished or failed for good: a signal from here on changes nothing
    failed = [o for o in outcomes if o.code != OK]
    _print_summary(outcomes, reporter, is_batch)
    if failed and not is_batch:
        return failed[0].code
    return OK if not failed else SOME_FAILED


def _naming(path: Path, message: str) -> str:
    """``message`` starting with the input it is about, unless it names that input already (one path a message)."""
    return message if str(path) in message else f"{path}: {message}"


def _print_summary(outcomes: list[InputOutcome], reporter: Reporter, is_batch: bool) -> None:
    ok = sum(1 for o in outcomes if o.code == OK)
    message = f"{ok} of {len(outcomes)} input(s) processed" + (
        f", {len(outcomes) - ok} failed" if ok < len(outcomes) else ""
    )
    if reporter.is_json:
        rows = [
            {"input": str(o.plan.input), "code": o.code, "error": o.error, "seconds": round(o.seconds, 3)}
            for o in outcomes
        ]
        reporter.event("summary", ok, len(outcomes), message, results=rows)
        return
    if not is_batch:
        return
    reporter.close()
    lines = ["", "summary:"]
    for o in outcomes:
        status = "ok" if o.code == OK else f"FAILED (exit code {o.code}): {o.error}"
        lines.append(f"  {o.plan.input.name:<32} {o.seconds:7.1f} s  {status}")
    lines.append(message)
    reporter.out.write("\n".join(lines) + "\n")
    reporter.out.flush()
