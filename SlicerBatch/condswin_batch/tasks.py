"""Each module's part in a batch run (:class:`condswin_slicer.batch.BatchTask`): the checks of the options every
file would fail on, the module's logic, and the run of one input file with the module's own parameters."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ConditionalSwinSegLib.logic import ConditionalSwinSegLogic
from ConditionalSwinSegLib.parameters import ConditionalSwinSegParameters
from condswin_slicer.batch import BatchContext, BatchTask
from MRIDenoiseLib.logic import MRIDenoiseLogic
from MRIDenoiseLib.parameters import MRIDenoiseParameters
from MRIReconLib.logic import MRIReconLogic
from MRIReconLib.parameters import MRIReconParameters

from condswin.jobs.reconstruction import CLASSICAL_METHODS as CLASSICAL_RECONSTRUCTIONS
from condswin.jobs.reconstruction import ZERO_FILLED

__all__ = ["DenoiseTask", "ReconstructTask", "SegmentTask", "TASKS"]


class SegmentTask:
    """ConditionalSwinSeg: a CT volume → ``<name>.seg.nrrd`` (no surfaces: nothing is shown)."""

    name = "segment"
    reads_kspace = False

    def check(self, args: argparse.Namespace) -> None:
        from condswin.bundles import resolve_bundle
        from condswin.bundles.registry import default_bundle

        if args.model:
            resolve_bundle(args.model, "segmentation")
        else:
            default_bundle("segmentation")

    def make_logic(self, scene: Any) -> ConditionalSwinSegLogic:
        return ConditionalSwinSegLogic(scene)

    def run(self, logic: Any, source: Path, context: BatchContext, args: argparse.Namespace) -> Any:
        parameters = ConditionalSwinSegParameters(model=args.model, device=args.device, surfaces=False)
        return logic.run(context.load_volume(source), parameters).segmentation


class ReconstructTask:
    """MRIRecon: a fastMRI ``.h5`` file (as it is) or an MR volume → ``<name>_reconstruct.nrrd`` (zero-filled
    unless ``--model`` names a model or another classical method; no zero-filled companion)."""

    name = "reconstruct"
    reads_kspace = True

    def check(self, args: argparse.Namespace) -> None:
        from condswin.bundles import resolve_bundle

        MRIReconParameters(acceleration=args.acceleration).mask_spec()  # the mask every file would be given
        if args.model and args.model not in CLASSICAL_RECONSTRUCTIONS:
            resolve_bundle(args.model, "reconstruction")

    def make_logic(self, scene: Any) -> MRIReconLogic:
        return MRIReconLogic(scene)

    def run(self, logic: Any, source: Path, context: BatchContext, args: argparse.Namespace) -> Any:
        parameters = MRIReconParameters(
            model=args.model or ZERO_FILLED, acceleration=args.acceleration, show_zero_filled=False, device=args.device
        )
        if source.name.lower().endswith(".h5"):
            return logic.run_file(source, parameters).volume
        return logic.run(context.load_volume(source), parameters).volume


class DenoiseTask:
    """MRIDenoise: an MR volume → ``<name>_denoise.nrrd`` with ``--method`` (``--model`` stands for it)."""

    name = "denoise"
    reads_kspace = False

    def check(self, args: argparse.Namespace) -> None:
        from condswin.bundles import resolve_bundle
        from condswin.cli.denoise import is_classical_method

        method = args.model or args.method
        if not is_classical_method(method):
            resolve_bundle(method, "denoising")

    def make_logic(self, scene: Any) -> MRIDenoiseLogic:
        return MRIDenoiseLogic(scene)

    def run(self, logic: Any, source: Path, context: BatchContext, args: argparse.Namespace) -> Any:
        parameters = MRIDenoiseParameters(method=args.model or args.method, device=args.device)
        return logic.run(context.load_volume(source), parameters).volume


TASKS: dict[str, BatchTask] = {task.name: task for task in (SegmentTask(), ReconstructTask(), DenoiseTask())}
