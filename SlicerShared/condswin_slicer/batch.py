"""Batch runs of the modules over a folder: the options, the input files, the per-file loop and the exit codes.

The modules take part through :class:`BatchTask` objects (the batch script, ``condswin_batch/run.py``, gives the
three modules' tasks), so this package imports no module. The options are checked once, before any file is
read, as the ``condswin`` command checks them (the device here, the rest by the task: a bad ``--acceleration``,
an unknown ``--method``, a model that cannot be found). Each input file is then read through condswin's own
checks (the command's reader: a truncated, corrupt or 2-D file fails here, naming it), loaded into the scene, the
module's logic runs it (blocking, the same ``condswin`` process as Apply), the result is saved
(``<name>.seg.nrrd`` for segmentations, ``<name>_<task>.nrrd`` for volumes) and the scene is cleared for the
next file. A failure names the user's file, never the run's temporary copy. Files of the input folder that are
outputs of this batch (a previous run's, when ``--out`` is the input folder) are skipped.

Exit codes (the command's, :mod:`condswin.cli.errors`): 0 every file succeeded; 1 some failed (each failure is
printed, the others were saved); 2 usage error (bad options or option values, no such input, no input file); 4
the model cannot be used (not found, of another task, no default model installed); 70 an internal error of the
batch itself (traceback printed); 130 interrupted. Everything Slicer-specific sits in :class:`SlicerContext`, so
the argument parsing and the per-file loop run headless against slicer-core.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from condswin.cli.errors import CANCELLED, INTERNAL_ERROR, OK, SOME_FAILED, USAGE, exit_code_for
from condswin.cli.options import number
from condswin.errors import CondswinError
from condswin.io.formats import READABLE_SUFFIXES
from condswin.io.segmentation_file import SEGMENTATION_SUFFIX
from condswin.mri.masks import MAX_ACCELERATION

__all__ = [
    "BatchContext",
    "BatchTask",
    "SlicerContext",
    "build_parser",
    "check_options",
    "input_files",
    "main",
    "output_path",
    "run_batch",
]

KSPACE_SUFFIX = ".h5"  # fastMRI k-space files, which the reconstruction reads as they are


class BatchContext(Protocol):
    """What the loop needs from Slicer: load a volume, a module logic per task, save a node, clear the scene."""

    def load_volume(self, path: Path) -> Any: ...

    def logic(self, task: str) -> Any: ...

    def save(self, node: Any, path: Path) -> None: ...

    def clear(self) -> None: ...


class BatchTask(Protocol):
    """A module's part in the batch: its task name, what it reads, its checks of the options, its logic and the
    run of one file.

    Attributes:
        name: the ``--task`` value (``segment``, ``reconstruct``, ``denoise``); outputs are named after it.
        reads_kspace: whether fastMRI ``.h5`` files are inputs too (besides volumes).
    """

    name: str
    reads_kspace: bool

    def check(self, args: argparse.Namespace) -> None:
        """Refuse the options every file would fail on (a ``CondswinError``: usage 2, model 4)."""
        ...

    def make_logic(self, scene: Any) -> Any:
        """The module's logic on ``scene``."""
        ...

    def run(self, logic: Any, source: Path, context: BatchContext, args: argparse.Namespace) -> Any:
        """Run one input file with ``logic``; returns the node to save."""
        ...


def build_parser(tasks: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batch", description="Run a ConditionalSwin module over a folder.")
    parser.add_argument("--task", required=True, choices=list(tasks))
    parser.add_argument("--in", dest="inputs", required=True, type=Path, help="input folder (or one file)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (created if missing)")
    parser.add_argument("--model", default="", help="model id or bundle folder (default: the task's default model)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument(
        "--acceleration",
        type=number(low=1, high=MAX_ACCELERATION),
        default=4.0,
        help=f"reconstruct: undersampling factor, 1 to {MAX_ACCELERATION:g}",
    )
    parser.add_argument("--method", default="nlm", help="denoise: classical method or denoising model id")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    return parser


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return next((s for s in (*READABLE_SUFFIXES, KSPACE_SUFFIX) if name.endswith(s)), "")


def input_files(inputs: Path, reads_kspace: bool) -> list[Path]:
    """The files a task takes from a folder (volumes; also fastMRI ``.h5`` with ``reads_kspace``), by name."""
    accepted = (*READABLE_SUFFIXES, KSPACE_SUFFIX) if reads_kspace else READABLE_SUFFIXES
    files = [inputs] if inputs.is_file() else sorted(p for p in inputs.iterdir() if p.is_file())
    return [p for p in files if _suffix(p) in accepted and not p.name.lower().endswith(SEGMENTATION_SUFFIX)]


def output_path(out_dir: Path, source: Path, task: str) -> Path:
    stem = source.name[: -len(_suffix(source))] if _suffix(source) else source.stem
    return out_dir / (f"{stem}{SEGMENTATION_SUFFIX}" if task == "segment" else f"{stem}_{task}.nrrd")


def outputs_of_the_batch(files: Sequence[Path], out_dir: Path, task: str) -> list[Path]:
    """The files that are the output of another file of the batch: a previous run's results when ``--out`` is
    the input folder (``a_denoise.nrrd`` beside ``a.nii.gz``, and its own ``a_denoise_denoise.nrrd``)."""
    outputs = {output_path(out_dir, source, task).resolve() for source in files}
    return [source for source in files if source.resolve() in outputs]


def check_options(args: argparse.Namespace, task: BatchTask) -> None:
    """Refuse, before any file is read, the options that every file would fail on, with the command's checks.

    Raises:
        UsageError: an unknown device, or what the task refuses (an acceleration the reconstruction's mask
            cannot honour, a denoising method that is neither classical nor an installed model).
        ModelError: a model that cannot be found or is of another task, or no default model for the task.
    """
    from condswin.inference import resolve_device  # imports torch: only once a batch runs

    resolve_device(args.device)
    task.check(args)


def check_input(source: Path) -> None:
    """Read a volume file through condswin's own checks, as the ``condswin`` command reads its inputs (Slicer's
    reader fills a truncated file with zeros and accepts 2-D images).

    Raises:
        InputError: naming the file: missing, truncated, corrupt, not 3-D, NaN voxels, bad geometry, ...
    """
    from condswin.io.images import read_image  # imports SimpleITK and numpy: only once a batch runs

    read_image(source)


def _naming_the_source(error: BaseException, source: Path) -> str:
    """The message of a failed file, naming the user's file where the command named the run's temporary copy."""
    message = str(error) or type(error).__name__
    events = getattr(getattr(error, "result", None), "events", None) or []
    for copy in {event.file for event in events if getattr(event, "file", None)}:
        if copy != str(source):
            message = message.replace(copy, str(source))
    return message


def _process(task: BatchTask, source: Path, target: Path, args: argparse.Namespace, context: BatchContext) -> None:
    if _suffix(source) != KSPACE_SUFFIX:  # a fastMRI file goes to the command as it is, which reads it with its checks
        check_input(source)
    context.save(task.run(context.logic(task.name), source, context, args), target)


def run_batch(
    argv: Sequence[str], context: BatchContext, tasks: Mapping[str, BatchTask], echo: Callable[[str], None] = print
) -> int:
    """Parse ``argv``, run the task on every input file; returns the exit code (0, 1 some failed, 2 usage, 4)."""
    argv = list(argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    try:
        args = build_parser(list(tasks)).parse_args(argv)
    except SystemExit as exc:
        return USAGE if exc.code else OK
    if not args.inputs.exists():
        echo(f"error: {args.inputs}: no such file or folder")
        return USAGE
    task = tasks[args.task]
    try:
        check_options(args, task)
    except CondswinError as error:  # the command's own code: 2 for an option, 4 for a model
        echo(f"error: {error}")
        return exit_code_for(error)
    files = input_files(args.inputs, task.reads_kspace)
    skipped = outputs_of_the_batch(files, args.out, task.name)
    if skipped:
        echo(f"skipped {len(skipped)} file(s) that are outputs of this batch: {', '.join(p.name for p in skipped)}")
        files = [source for source in files if source not in skipped]
    if not files:
        echo(f"error: {args.inputs}: no input file for {task.name}")
        return USAGE
    args.out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for index, source in enumerate(files, 1):
        target = output_path(args.out, source, task.name)
        prefix = f"[{index}/{len(files)}] {source.name}"
        if target.exists() and not args.overwrite:
            echo(f"{prefix}: FAILED: {target} exists (pass --overwrite)")
            failures += 1
            continue
        try:
            _process(task, source, target, args, context)
            echo(f"{prefix} -> {target}")
        except Exception as error:  # noqa: BLE001 - one bad file must not stop the batch; each is reported
            echo(f"{prefix}: FAILED: {_naming_the_source(error, source)}")
            failures += 1
        finally:
            context.clear()
    echo(f"{len(files) - failures} of {len(files)} files done")
    return SOME_FAILED if failures else OK


class SlicerContext:
    """The real application: ``slicer.mrmlScene``, ``slicer.util`` loading and saving, each task's logic (made
    once, on first use)."""

    def __init__(self, tasks: Mapping[str, BatchTask]):
        import slicer

        self.slicer = slicer
        self.tasks = tasks
        self._logics: dict[str, Any] = {}

    def load_volume(self, path: Path) -> Any:
        return self.slicer.util.loadVolume(str(path))

    def logic(self, task: str) -> Any:
        if task not in self._logics:
            self._logics[task] = self.tasks[task].make_logic(self.slicer.mrmlScene)
        return self._logics[task]

    def save(self, node: Any, path: Path) -> None:
        if not self.slicer.util.saveNode(node, str(path)):
            raise OSError(f"{path}: could not be written")

    def clear(self) -> None:
        self.slicer.mrmlScene.Clear(0)


def main(tasks: Mapping[str, BatchTask], make_context: Callable[[], BatchContext] | None = None) -> None:
    """The batch script inside Slicer: run ``sys.argv`` and exit Slicer with the batch's code (130 interrupted,
    70 with the traceback for a failure of the batch itself)."""
    import slicer

    try:
        context = make_context() if make_context is not None else SlicerContext(tasks)
        code = run_batch(sys.argv[1:], context, tasks)
    except KeyboardInterrupt:
        print("interrupted")
        code = CANCELLED
    except Exception:  # noqa: BLE001 - a bug of the batch itself: its traceback, and the documented code
        traceback.print_exc()
        code = INTERNAL_ERROR
    slicer.util.exit(code)
