"""Typed parameters of ConditionalSwinSeg and the one place that turns them into ``condswin segment`` arguments.

A plain dataclass (no Qt) so it is tested headless against the CLI's own parser; the panel copies its controls
into one of these and keeps it in the scene's parameter node (``condswin_slicer.parameters.ParameterStore``,
through ``parameterNodeWrapper`` inside Slicer).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from condswin_slicer.parameters import engine_arguments

from condswin.bundles.parse import MAX_SCORE_OFFSET
from condswin.cli.options import numbers

__all__ = ["ConditionalSwinSegParameters"]


@dataclass
class ConditionalSwinSegParameters:
    """What one segmentation asks of ``condswin segment`` (the panel mirrors these fields).

    Attributes:
        model: a model id from ``condswin models``, a bundle folder, or ``""`` for the default model.
        device: ``auto`` (CUDA, then MPS, then CPU), or a device name; ``cpu`` is "force CPU".
        batch_size, threads: slices per batch and CPU threads (``None``: the CLI's default).
        amp: mixed precision on CUDA.
        postprocess: the card's post-processing (for the liver model: the largest liver cut at its necks, holes filled).
        score_offsets: comma-separated class score offsets (background first) instead of the card's, or ``""``
            for the card's (``condswin segment --score-offsets``).
        surfaces: show 3-D surfaces of the segments (Slicer side only, not a CLI option).
    """

    model: str = ""
    device: str = "auto"
    batch_size: int | None = None
    threads: int | None = None
    amp: bool = True
    postprocess: bool = True
    score_offsets: str = ""
    surfaces: bool = True

    def __post_init__(self) -> None:
        engine_arguments(self.device, self.batch_size, self.threads, self.amp)  # checks the device and numbers
        self.score_offsets = self.score_offsets.replace(" ", "")
        if self.score_offsets:
            try:  # the command's own check, so the panel refuses exactly what the command refuses
                numbers(low=-MAX_SCORE_OFFSET, high=MAX_SCORE_OFFSET)(self.score_offsets)
            except argparse.ArgumentTypeError as err:
                raise ValueError(f"score_offsets: {err}") from None

    def arguments(self, source: str, output: str, *, report: str) -> list[str]:
        """``segment SOURCE OUTPUT --report REPORT ...`` (without ``--progress``, which the process runner adds).

        Args:
            source: the volume file written from the input node.
            output: the ``.seg.nrrd`` result in the run's temporary folder.
            report: the JSON report in the run's temporary folder.
        """
        args = ["segment", str(source), str(output), "--report", str(report)]
        args += engine_arguments(self.device, self.batch_size, self.threads, self.amp)
        if self.model:
            args += ["--model", self.model]
        if not self.postprocess:
            args.append("--no-postprocess")
        if self.score_offsets:
            args += ["--score-offsets", self.score_offsets]
        return args
