"""``condswin denoise IN OUT --method M``: MR denoising with a classical method or a learned model bundle."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from condswin.bundles import discover_bundles
from condswin.cli.batch import InputOutcome, StagedOutputs, run_inputs, split_suffix
from condswin.cli.common import (
    add_io_options,
    add_model_options,
    add_run_options,
    inference_options,
    open_run,
    read_input,
    stage_result,
)
from condswin.cli.errors import UsageError
from condswin.cli.options import number, parse_params
from condswin.cli.outputs import InputPlan
from condswin.cli.progress import Reporter
from condswin.denoise_names import CLASSICAL_METHODS, NOISE_MODELS
from condswin.errors import InputNotFoundError
from condswin.io.formats import READABLE_SUFFIXES
from condswin.jobs import denoise
from condswin.lookup import look_up

# `condswin --help` imports this module: the denoising methods (scipy, scikit-image) are imported where they are
# used (lazy).

__all__ = ["add_parser", "run", "is_classical_method", "MAX_SIGMA"]

# The Rician correction computes u^2 - 2 sigma^2 in float32 (largest value 3.4e38): a larger sigma overflows.
MAX_SIGMA = 1e18


def add_parser(subparsers: Any) -> None:
    """Register the ``denoise`` subcommand."""
    parser = subparsers.add_parser(
        "denoise",
        help="MR denoising (classical filters, BM3D, or a learned model)",
        description="Denoise MR volumes slice by slice. --method is a classical method (mean, gaussian, median, "
        "wiener, bilateral, tv, wavelet, wavelet_cycle_spinning, nlm, bm3d, clahe: `condswin models` "
        "lists them) or a learned denoising model (bundle id or folder). "
        "Rician noise (magnitude MR) gets the bias correction sqrt(max(u^2 - 2 sigma^2, 0)) for every "
        "classical method, with sigma estimated from the air background unless --sigma is given. "
        "With --reference, NMSE/PSNR/SSIM/MAE of the input and of the result are reported.",
    )
    add_io_options(parser, input_help="MR volume file, DICOM series folder, or a folder of them", output_noun="volume")
    parser.add_argument(
        "--method",
        required=True,
        metavar="NAME|ID|PATH",
        help="classical method name, or a denoising model id / bundle folder",
    )
    parser.add_argument("--noise", choices=NOISE_MODELS, default="rician", help="noise model (default: rician)")
    parser.add_argument(
        "--sigma",
        type=number(above=0, high=MAX_SIGMA),
        default=None,
        help="noise sigma (> 0) in the image's intensity units (default: estimated; classical methods only)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method parameter, repeatable, e.g. --param h_factor=0.8 (see `condswin models`)",
    )
    parser.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="clean reference volume (or, for a folder input, a folder of same-named references)",
    )
    add_model_options(parser, "denoising", with_model=False)
    add_run_options(parser)
    parser.set_defaults(run=run)


def _reference_for(plan: InputPlan, reference: Path | None, is_batch: bool) -> Path | None:
    if reference is None:
        return None
    if not is_batch:
        return reference
    stem = split_suffix(plan.input)[0]
    matches = [p for p in reference.iterdir() if split_suffix(p)[0] == stem and not p.name.startswith(".")]
    if not matches:
        raise InputNotFoundError(f"{reference}: no reference named {stem}.* for {plan.input.name}")
    return matches[0]


def is_classical_method(method: str) -> bool:
    """Whether ``--method`` names a classical method (else a model bundle).

    Raises:
        UsageError: a name that is neither a classical method, nor an existing path, nor the id of an installed
            bundle; the message lists the classical methods and the installed denoising models.
    """
    if method in CLASSICAL_METHODS:
        return True
    if Path(method).exists():
        return False  # a bundle folder or card: checked when it is loaded
    bundles, _ = discover_bundles()
    if any(bundle.id == method for bundle in bundles):
        return False  # another task's model is refused, naming its task, when it is loaded
    denoisers = [bundle.id for bundle in bundles if bundle.task == "denoising"]
    look_up("denoising method or model", method, dict.fromkeys([*CLASSICAL_METHODS, *denoisers]))
    return False  # not reached: look_up raised


def _check_reference(reference: Path | None, is_batch: bool) -> None:
    if reference is None:
        return
    if not reference.exists():
        raise InputNotFoundError(f"{reference}: no such file or folder (--reference)")
    if is_batch and not reference.is_dir():
        raise UsageError(f"{reference}: --reference must be a folder of same-named references when IN is a folder")
    if not is_batch and reference.is_dir():
        # a DICOM series folder is one reference; a folder of image files is a batch's references
        if any(split_suffix(child)[1] in READABLE_SUFFIXES for child in reference.iterdir()):
            raise UsageError(f"{reference}: --reference must be one image when IN is one image, not a folder of them")


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    """Run ``denoise``; returns the exit code."""
    classical = is_classical_method(args.method)
    params = parse_params(args.param)
    if not classical and (params or args.sigma is not None):
        raise UsageError("--param and --sigma apply to classical methods only; a learned model takes neither")
    if classical:
        from condswin.denoise.methods import check_parameters  # lazy: scipy, scikit-image (see top)

        check_parameters(args.method, params)
    opening = open_run(
        args,
        reporter,
        "denoising",
        model=args.method,
        load=not classical,
        protected=() if args.reference is None else (args.reference,),
        check_inputs=lambda is_batch: _check_reference(args.reference, is_batch),
    )
    loaded, is_batch = opening.loaded, opening.is_batch

    def process(plan: InputPlan, staged: StagedOutputs) -> dict[str, Any]:
        file = str(plan.input)
        reference = _reference_for(plan, args.reference, is_batch)
        result = denoise(
            read_input(plan, reporter, "an MR image"),
            args.method if loaded is None else loaded,
            inference_options(args, opening.device, reporter, "denoise" if loaded is None else "infer", file),
            noise=args.noise,
            sigma=args.sigma,
            params=params,
            reference=reference,
        )
        return stage_result(plan, result, staged, reporter)

    def summarise(outcome: InputOutcome) -> str:
        s = outcome.summary
        text = f"{outcome.plan.input.name}: {s['method']} ({s['noise']} noise"
        text += f", sigma {s['sigma']:.4g})" if s.get("sigma") is not None else ")"
        if "metrics" in s:
            before, after = s["metrics"]["input"], s["metrics"]["denoised"]
            text += (
                f"  PSNR {before['psnr']:.2f} -> {after['psnr']:.2f} dB"
                f"  SSIM {before['ssim']:.4f} -> {after['ssim']:.4f}"
            )
        return text

    return run_inputs(opening.plans, process, reporter, is_batch=is_batch, summarise=summarise)
