"""Typed parameters of a segmentation run; they build their own ``condswin segment`` argument list."""

from __future__ import annotations

from dataclasses import dataclass

from condswin_slicer.parameters import DEVICES, engine_arguments

__all__ = ["SegmentationParameters"]


@dataclass
class SegmentationParameters:
    """What a user chooses in the module (the widget mirrors these fields).

    Args:
        model: a model id from ``condswin models``, a bundle folder, or ``""`` for the first installed one.
        device: ``auto`` (CUDA, then MPS, then CPU), or a device name; ``cpu`` is "force CPU".
        batch_size: slices per batch (``None``: the CLI's default).
        threads: CPU threads (``None``: the CLI's default).
        amp: mixed precision on CUDA.
        postprocess: largest-component / hole filling of the liver.
        surfaces: show 3-D surfaces of the segments (Slicer side only, not a CLI option).
    """

    model: str = ""
    device: str = "auto"
    batch_size: int | None = None
    threads: int | None = None
    amp: bool = True
    postprocess: bool = True
    surfaces: bool = True

    def __post_init__(self) -> None:
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be one of {', '.join(DEVICES)} or cuda:N, got {self.device!r}")
        engine_arguments(self.device, self.batch_size, self.threads, self.amp)  # checks the numbers

    def cli_args(self, input_path: str, output_path: str, report_path: str) -> list[str]:
        """``segment IN OUT --report R ...`` (without ``--progress``, which the process runner adds)."""
        args = ["segment", str(input_path), str(output_path), "--report", str(report_path)]
        args += engine_arguments(self.device, self.batch_size, self.threads, self.amp)
        if self.model:
            args += ["--model", self.model]
        if not self.postprocess:
            args.append("--no-postprocess")
        return args
