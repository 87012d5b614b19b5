"""Headless batch runs of the three modules over a folder, inside Slicer::

    Slicer --no-main-window --python-script <extension>/condswin_slicer/batch.py -- \\
        --task segment --in CT_DIR --out OUT_DIR [--model ID] [--device cpu]

Each input file is loaded into the scene, the module's logic runs it (blocking, the same ``condswin`` process
as Apply), the result is saved (``<name>.seg.nrrd`` for segmentations, ``<name>_<task>.nrrd`` for volumes)
and the scene is cleared for the next file. The exit code is 0 when every file succeeded, 1 when some
failed (each failure is printed), 2 for a usage error. Everything Slicer-specific sits in
:class:`SlicerContext`, so the argument parsing and the per-file loop run headless against slicer-core.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

__all__ = ["TASKS", "BatchContext", "SlicerContext", "build_parser", "input_files", "output_path", "run_batch"]

TASKS = ("segment", "reconstruct", "denoise")
VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
OK, SOME_FAILED, USAGE = 0, 1, 2


class BatchContext(Protocol):
    """What the loop needs from Slicer: load a volume, a module logic per task, save a node, clear the scene."""

    def load_volume(self, path: Path) -> Any: ...

    def logic(self, task: str) -> Any: ...

    def save(self, node: Any, path: Path) -> None: ...

    def clear(self) -> None: ...


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batch.py", description="Run a ConditionalSwin module over a folder.")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--in", dest="inputs", required=True, type=Path, help="input folder (or one file)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (created if missing)")
    parser.add_argument("--model", default="", help="model id or bundle folder (default: the task's default model)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--acceleration", type=float, default=4.0, help="reconstruct: undersampling factor")
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


def _process(task: str, source: Path, target: Path, args: argparse.Namespace, context: BatchContext) -> None:
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
    files = input_files(args.inputs, args.task)
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
            echo(f"{prefix}: FAILED: {error}")
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

    code = run_batch(sys.argv[1:], SlicerContext())
    slicer.util.exit(code)


if __name__ == "__main__":
    main()
