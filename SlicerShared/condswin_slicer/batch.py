"""Headless batch runs of the three modules over a folder, inside Slicer::

    Slicer --no-main-window --python-script <extension>/condswin_slicer/batch.py -- \\
        --task segment --in CT_DIR --out OUT_DIR [--model ID] [--device cpu]

The options are checked once, before any file is read, as the ``condswin`` command checks them (a bad
``--acceleration``, an unknown ``--method`` or device, a model that cannot be found). Each input file is then
read through condswin's own checks (the command's reader: a truncated, corrupt or 2-D file fails here, naming
it), loaded into the scene, the module's logic runs it (blocking, the same ``condswin`` process as Apply), the
result is saved (``<name>.seg.nrrd`` for segmentations, ``<name>_<task>.nrrd`` for volumes) and the scene is
cleared for the next file. A failure names the user's file, never the run's temporary copy. Files of the input
folder that are outputs of this batch (a previous run's, when ``--out`` is the input folder) are skipped.

Exit codes: 0 every file succeeded; 1 some failed (each failure is printed, the others were saved); 2 usage
error (bad options or option values, no such input, no input file); 4 the model cannot be used (not found, of
another task, no default model installed); 70 an internal error of the batch itself (traceback printed); 130
interrupted. Everything Slicer-specific sits in :class:`SlicerContext`, so the argument parsing and the
per-file loop run headless against slicer-core.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "TASKS",
    "BatchContext",
    "SlicerContext",
    "build_parser",
    "check_options",
    "input_files",
    "output_path",
    "run_batch",
]

TASKS = ("segment", "reconstruct", "denoise")
VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
OK, SOME_FAILED, USAGE, INTERNAL_ERROR, CANCELLED = 0, 1, 2, 70, 130


class BatchContext(Protocol):
    """What the loop needs from Slicer: load a volume, a module logic per task, save a node, clear the scene."""

    def load_volume(self, path: Path) -> Any: ...

    def logic(self, task: str) -> Any: ...

    def save(self, node: Any, path: Path) -> None: ...

    def clear(self) -> None: ...


def build_parser() -> argparse.ArgumentParser:
    # condswin is imported when the batch runs, as in the rest of the modules' code (not when Slicer loads them)
    from condswin.cli.options import number
    from condswin.mri.masks import MAX_ACCELERATION

    parser = argparse.ArgumentParser(prog="batch.py", description="Run a ConditionalSwin module over a folder.")
    parser.add_argument("--task", required=True, choices=TASKS)
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
    return next((s for s in (*VOLUME_SUFFIXES, ".h5") if name.endswith(s)), "")


def input_files(inputs: Path, task: str) -> list[Path]:
    """The files a task takes from a folder (volumes; also fastMRI ``.h5`` for reconstruct), sorted by name."""
    accepted = (*VOLUME_SUFFIXES, ".h5") if task == "reconstruct" else VOLUME_SUFFIXES
    files = [inputs] if inputs.is_file() else sorted(p for p in inputs.iterdir() if p.is_file())
    return [p for p in files if _suffix(p) in accepted and not p.name.endswith(".seg.nrrd")]


def output_path(out_dir: Path, source: Path, task: str) -> Path:
    stem = source.name[: -len(_suffix(source))] if _suffix(source) else source.stem
    return out_dir / (f"{stem}.seg.nrrd" if task == "segment" else f"{stem}_{task}.nrrd")


def outputs_of_the_batch(files: Sequence[Path], out_dir: Path, task: str) -> list[Path]:
    """The files that are the output of another file of the batch: a previous run's results when ``--out`` is
    the input folder (``a_denoise.nrrd`` beside ``a.nii.gz``, and its own ``a_denoise_denoise.nrrd``)."""
    outputs = {output_path(out_dir, source, task).resolve() for source in files}
    return [source for source in files if source.resolve() in outputs]


def check_options(args: argparse.Namespace) -> None:
    """Refuse, before any file is read, the options that every file would fail on, with the command's checks.

    Raises:
        UsageError: an unknown device, an acceleration the reconstruction's mask cannot honour, a denoising
            method that is neither classical nor an installed model (the message lists them).
        ModelError: a model that cannot be found or is of another task, or no default model for the task.
    """
    from condswin.bundles import resolve_bundle
    from condswin.bundles.registry import default_bundle
    from condswin.inference import resolve_device

    resolve_device(args.device)
    if args.task == "reconstruct":
        from MRIReconLib.parameters import CLASSICAL_METHODS, ReconParameters

        ReconParameters(acceleration=args.acceleration).mask_spec()  # the mask every file would be given
        if args.model and args.model not in CLASSICAL_METHODS:
            resolve_bundle(args.model, "reconstruction")
    elif args.task == "denoise":
        from condswin.cli.denoise import is_classical_method

        method = args.model or args.method
        if not is_classical_method(method):
            resolve_bundle(method, "denoising")
    elif args.model:
        resolve_bundle(args.model, "segmentation")
    else:
        default_bundle("segmentation")


def check_input(source: Path) -> None:
    """Read a volume file through condswin's own checks, as the ``condswin`` command reads its inputs (Slicer's
    reader fills a truncated file with zeros and accepts 2-D images).

    Raises:
        InputError: naming the file: missing, truncated, corrupt, not 3-D, NaN voxels, bad geometry, ...
    """
    from condswin.io.images import read_image

    read_image(source)


def _naming_the_source(error: BaseException, source: Path) -> str:
    """The message of a failed file, naming the user's file where the command named the run's temporary copy."""
    message = str(error) or type(error).__name__
    events = getattr(getattr(error, "result", None), "events", None) or []
    for copy in {event.file for event in events if getattr(event, "file", None)}:
        if copy != str(source):
            message = message.replace(copy, str(source))
    return message


def _process(task: str, source: Path, target: Path, args: argparse.Namespace, context: BatchContext) -> None:
    if _suffix(source) != ".h5":  # a fastMRI file goes to the command as it is, which reads it with its checks
        check_input(source)
    logic = context.logic(task)
    if task == "segment":
        from ConditionalSwinSegLib.parameters import SegmentationParameters

        parameters = SegmentationParameters(model=args.model, device=args.device, surfaces=False)
        context.save(logic.run(context.load_volume(source), parameters).segmentation_node, target)
    elif task == "reconstruct":
        from MRIReconLib.parameters import ZERO_FILLED, ReconParameters

        parameters = ReconParameters(
            model=args.model or ZERO_FILLED, acceleration=args.acceleration, show_zero_filled=False, device=args.device
        )
        if _suffix(source) == ".h5":
            outputs = logic.reconstruct_file(source, parameters)
        else:
            outputs = logic.reconstruct_volume(context.load_volume(source), parameters)
        context.save(outputs.volume, target)
    else:
        from MRIDenoiseLib.parameters import DenoiseParameters

        parameters = DenoiseParameters(method=args.model or args.method, device=args.device)
        context.save(logic.denoise(context.load_volume(source), parameters).volume, target)


def run_batch(argv: Sequence[str], context: BatchContext, echo: Callable[[str], None] = print) -> int:
    """Parse ``argv``, run the task on every input file; returns the exit code (0, 1 some failed, 2 usage)."""
    argv = list(argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return USAGE if exc.code else OK
    if not args.inputs.exists():
        echo(f"error: {args.inputs}: no such file or folder")
        return USAGE
    from condswin.cli.errors import exit_code_for
    from condswin.errors import CondswinError

    try:
        check_options(args)
    except CondswinError as error:  # the command's own code: 2 for an option, 4 for a model
        echo(f"error: {error}")
        return exit_code_for(error)
    files = input_files(args.inputs, args.task)
    skipped = outputs_of_the_batch(files, args.out, args.task)
    if skipped:
        echo(f"skipped {len(skipped)} file(s) that are outputs of this batch: {', '.join(p.name for p in skipped)}")
        files = [source for source in files if source not in skipped]
    if not files:
        echo(f"error: {args.inputs}: no input file for {args.task}")
        return USAGE
    args.out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for index, source in enumerate(files, 1):
        target = output_path(args.out, source, args.task)
        prefix = f"[{index}/{len(files)}] {source.name}"
        if target.exists() and not args.overwrite:
            echo(f"{prefix}: FAILED: {target} exists (pass --overwrite)")
            failures += 1
            continue
        try:
            _process(args.task, source, target, args, context)
            echo(f"{prefix} -> {target}")
        except Exception as error:  # noqa: BLE001 - one bad file must not stop the batch; each is reported
            echo(f"{prefix}: FAILED: {_naming_the_source(error, source)}")
            failures += 1
        finally:
            context.clear()
    echo(f"{len(files) - failures} of {len(files)} files done")
    return SOME_FAILED if failures else OK


class SlicerContext:
    """The real application: ``slicer.mrmlScene``, ``slicer.util`` loading and saving, the module logics."""

    def __init__(self):
        import slicer

        self.slicer = slicer
        self._logics: dict[str, Any] = {}

    def load_volume(self, path: Path) -> Any:
        return self.slicer.util.loadVolume(str(path))

    def logic(self, task: str) -> Any:
        if task not in self._logics:
            scene = self.slicer.mrmlScene
            if task == "segment":
                from ConditionalSwinSegLib.logic import SegmentationLogic

                self._logics[task] = SegmentationLogic(scene, self.slicer.modules.segmentations.logic())
            elif task == "reconstruct":
                from MRIReconLib.logic import MRIReconLogic

                self._logics[task] = MRIReconLogic(scene)
            else:
                from MRIDenoiseLib.logic import MRIDenoiseLogic

                self._logics[task] = MRIDenoiseLogic(scene)
        return self._logics[task]

    def save(self, node: Any, path: Path) -> None:
        if not self.slicer.util.saveNode(node, str(path)):
            raise OSError(f"{path}: could not be written")

    def clear(self) -> None:
        self.slicer.mrmlScene.Clear(0)


def main() -> None:
    import slicer

    try:
        code = run_batch(sys.argv[1:], SlicerContext())
    except KeyboardInterrupt:
        print("interrupted")
        code = CANCELLED
    except Exception:  # noqa: BLE001 - a bug of the batch itself: its traceback, and the documented code
        traceback.print_exc()
        code = INTERNAL_ERROR
    slicer.util.exit(code)


if __name__ == "__main__":
    main()
