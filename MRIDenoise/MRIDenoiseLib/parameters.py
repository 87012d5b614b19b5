"""Typed parameters of MRIDenoise and the one place that turns them into ``condswin denoise`` arguments.

A plain dataclass (no Qt) so it is tested headless against the CLI's own parser; the panel copies its controls
into one of these and keeps it in the scene's parameter node (``condswin_slicer.parameters.ParameterStore``,
through ``parameterNodeWrapper`` inside Slicer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from condswin_slicer.parameters import engine_arguments

# The classical methods need no model; any other method is a model id or bundle path.
from condswin.denoise_names import CLASSICAL_METHODS, NOISE_MODELS

__all__ = ["MRIDenoiseParameters", "NoiseParameters"]


@dataclass
class MRIDenoiseParameters:
    """What one denoising asks of ``condswin denoise``.

    Attributes:
        method: a classical method, or a denoising model id / bundle path (learned).
        noise: noise model of the input.
        sigma: noise standard deviation in the image's intensity units; None estimates it (the estimate is
            in the report and shown). Classical methods only.
        params: method parameters (``--param KEY=VALUE``). Classical methods only.
        device: ``auto`` (CUDA, then MPS, then CPU), or a device name; ``cpu`` is "force CPU".
        batch_size, threads: slices per batch and CPU threads of a learned model (``None``: the CLI's default).
        amp: mixed precision on CUDA.
    """

    method: str = "nlm"
    noise: str = "rician"
    sigma: float | None = None
    params: dict[str, float | int | str] = field(default_factory=dict)
    device: str = "auto"
    batch_size: int | None = None
    threads: int | None = None
    amp: bool = True

    @property
    def is_learned(self) -> bool:
        return self.method not in CLASSICAL_METHODS

    def arguments(self, source: str, output: str, *, reference: str | None = None) -> list[str]:
        """``denoise SOURCE OUTPUT ...`` (without ``--progress``, which the process runner adds)."""
        if not self.method:
            raise ValueError("choose a denoising method or model")
        if self.noise not in NOISE_MODELS:
            raise ValueError(f"unknown noise model {self.noise!r}; expected one of {', '.join(NOISE_MODELS)}")
        args = ["denoise", str(source), str(output), "--method", self.method, "--noise", self.noise]
        if not self.is_learned:  # a learned model estimates nothing and takes no parameters: the CLI refuses them
            if self.sigma is not None:
                args += ["--sigma", repr(float(self.sigma))]
            for key, value in self.params.items():
                args += ["--param", f"{key}={value}"]
        if reference is not None:
            args += ["--reference", str(reference)]
        args += engine_arguments(self.device, self.batch_size, self.threads, self.amp)
        return args


@dataclass
class NoiseParameters:
    """The "add noise" helper: a noisy copy of a volume (σ in the image's intensity units)."""

    model: str = "rician"
    sigma: float = 10.0
    seed: int | None = 0

    def check(self) -> None:
        if self.model not in NOISE_MODELS:
            raise ValueError(f"unknown noise model {self.model!r}; expected one of {', '.join(NOISE_MODELS)}")
        if not self.sigma > 0:
            raise ValueError("the noise sigma must be > 0")
