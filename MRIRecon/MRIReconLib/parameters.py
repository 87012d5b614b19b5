"""Typed parameters of MRIRecon and the one place that turns them into ``condswin reconstruct`` arguments.

A plain dataclass (no Qt) so it is tested headless against the CLI's own parser; the panel copies its controls
into one of these and keeps it in the scene's parameter node (``condswin_slicer.parameters.ParameterStore``,
through ``parameterNodeWrapper`` inside Slicer).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from condswin_slicer.parameters import engine_arguments

if TYPE_CHECKING:
    from condswin.mri.masks import MaskSpec

from condswin.jobs.reconstruction import ZERO_FILLED

__all__ = ["MRIReconParameters"]


@dataclass
class MRIReconParameters:
    """What one reconstruction asks of ``condswin reconstruct``.

    Attributes:
        model: a bundle id or path, or a classical method (``zero-filled``, ``cs-tv``, ``cs-wavelet``, at their
            default parameters); empty means the default model.
        acceleration: undersampling factor (fully sampled inputs; fastMRI test files keep their own mask).
        mask: column mask kind.
        center_fraction: fully sampled centre fraction, or None for fastMRI's default.
        seed: mask seed, or None for the per-file seed.
        show_zero_filled: also produce the zero-filled reconstruction beside the model's (or compressed sensing's).
        device: ``auto`` (CUDA, then MPS, then CPU), or a device name; ``cpu`` is "force CPU".
        batch_size, threads: slices per batch and CPU threads of a learned model (``None``: the CLI's default).
        amp: mixed precision on CUDA.
        cs_lam, cs_iterations: compressed sensing's regularisation weight (relative to the largest zero-filled
            magnitude) and iteration count; ``None``: the method's default. Passed only to ``cs-tv`` and
            ``cs-wavelet``.
    """

    model: str = ZERO_FILLED
    acceleration: float = 4.0
    mask: str = "random"
    center_fraction: float | None = None
    seed: int | None = None
    show_zero_filled: bool = True
    device: str = "auto"
    batch_size: int | None = None
    threads: int | None = None
    amp: bool = True
    cs_lam: float | None = None
    cs_iterations: int | None = None

    @property
    def is_zero_filled(self) -> bool:
        return self.model == ZERO_FILLED

    def mask_spec(self) -> MaskSpec:
        """The mask these parameters ask for (:class:`condswin.mri.masks.MaskSpec`, checked as the command checks it).

        Raises:
            UsageError: an unknown mask kind, a value out of its range, or options no mask can honour.
        """
        from condswin.mri.masks import MaskSpec  # condswin is imported when a run starts, not when Slicer loads

        return MaskSpec(self.mask, self.acceleration, self.center_fraction, self.seed)

    def cs_parameters(self, model: str) -> list[str]:
        """``KEY=VALUE`` items of ``--param`` for ``model``: the compressed-sensing settings given, else none.

        Raises:
            UsageError: a value the command refuses (``lam`` outside (0, 1], ``iterations`` outside its range),
                with the command's message.
        """
        from condswin.cli.reconstruct import check_method_params  # at run time (see mask_spec)
        from condswin.mri.compressed_sensing import list_methods

        if model not in list_methods():
            return []
        given = (("lam", self.cs_lam), ("iterations", self.cs_iterations))
        items = [f"{key}={json.dumps(value)}" for key, value in given if value is not None]  # the CLI parses JSON
        check_method_params(model, items)
        return items

    def arguments(self, source: str, output: str, *, model: str | None = None) -> list[str]:
        """``reconstruct SOURCE OUTPUT ...`` (without ``--progress``, which the process runner adds).

        Args:
            source: the ``.h5`` file or the volume file written from the input node.
            output: the result file in the run's temporary folder.
            model: override of :attr:`model` (the zero-filled companion run).
        """
        self.mask_spec()  # what the command would refuse is refused here, with its message
        args = [
            "reconstruct",
            str(source),
            str(output),
            "--mask",
            self.mask,
            "--acceleration",
            f"{self.acceleration:g}",
        ]
        chosen = self.model if model is None else model
        if chosen:
            args += ["--model", chosen]
            for item in self.cs_parameters(chosen):
                args += ["--param", item]
        if self.center_fraction is not None:
            args += ["--center-fraction", f"{self.center_fraction:g}"]
        if self.seed is not None:
            args += ["--seed", str(int(self.seed))]
        args += engine_arguments(self.device, self.batch_size, self.threads, self.amp)
        return args
