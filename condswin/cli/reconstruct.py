"""``condswin reconstruct IN OUT``: undersampled k-space (fastMRI ``.h5``, or simulated from an MR volume) →
reconstructed magnitude volume, with fastMRI metrics whenever a target exists."""

from __future__ import annotations

import argparse
from typing import Any

from condswin.cli.batch import InputOutcome, StagedOutputs, run_inputs
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
from condswin.cli.options import integer, number, parse_params
from condswin.cli.outputs import InputPlan
from condswin.cli.progress import Reporter
from condswin.io.formats import READABLE_SUFFIXES
from condswin.jobs import reconstruct_file, reconstruct_image
from condswin.jobs.reconstruction import CLASSICAL_METHODS, ZERO_FILLED
from condswin.mri.compressed_sensing import list_methods, resolve_parameters
from condswin.mri.masks import MASK_KINDS, MAX_ACCELERATION, MAX_SEED, MaskSpec

__all__ = ["add_parser", "run", "mask_spec", "check_method_params", "ZERO_FILLED"]


def add_parser(subparsers: Any) -> None:
    """Register the ``reconstruct`` subcommand."""
    parser = subparsers.add_parser(
        "reconstruct",
        help="MRI reconstruction from undersampled k-space",
        description="Reconstruct fastMRI .h5 files (single- or multi-coil; test files are used with their own mask, "
        "fully sampled files are undersampled with --mask/--acceleration/--center-fraction and a "
        "per-file seed) or MR volumes (k-space simulated with a smooth random phase, then undersampled). "
        "Writes the magnitude volume with the header's pixel spacing (or the input's geometry) and a JSON "
        "report with NMSE/PSNR/SSIM/MAE of the model and of zero-filling when a target exists. "
        "--model cs-tv / cs-wavelet reconstruct single-coil k-space by compressed sensing (total variation / "
        "Haar-wavelet l1), with --param lam=... (relative to the largest zero-filled magnitude) and "
        "--param iterations=...",
    )
    add_io_options(parser, input_help="fastMRI .h5, MR volume file, or a folder of them", output_noun="volume")
    parser.add_argument(
        "--mask",
        dest="mask_kind",
        choices=MASK_KINDS,
        default="random",
        help="column mask for fully sampled inputs (default: random, as fastMRI)",
    )
    parser.add_argument(
        "--acceleration",
        type=number(low=1, high=MAX_ACCELERATION),
        default=4.0,
        help=f"undersampling factor, 1 to {MAX_ACCELERATION:g} (default: 4)",
    )
    parser.add_argument(
        "--center-fraction",
        type=number(low=0, high=1),
        default=None,
        help="fully sampled centre fraction, 0 to 1 (default: fastMRI's 0.08 at 4x, 0.04 at 8x)",
    )
    parser.add_argument(
        "--seed",
        type=integer(low=0, high=MAX_SEED),
        default=None,
        help="mask (and simulated phase) seed, 0 to 2^32-1; default: derived from the file name, as fastMRI does",
    )
    add_model_options(
        parser,
        "reconstruction",
        model_help=f"reconstruction model: a bundle folder, a model_card.json, a model id, "
        f"'{ZERO_FILLED}' for the zero-filled baseline, or cs-tv / cs-wavelet for compressed sensing "
        "(default: the default reconstruction model)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="compressed-sensing parameter, repeatable: lam (relative weight, > 0, at most 1) and iterations "
        "(1 to 10000); defaults: see `condswin models`",
    )
    add_run_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    """Run ``reconstruct``; returns the exit code."""
    mask = mask_spec(args)
    params = check_method_params(args.model, args.param)
    classical = args.model in CLASSICAL_METHODS
    opening = open_run(
        args,
        reporter,
        "reconstruction",
        model=args.model,
        load=not classical,
        readable=(*READABLE_SUFFIXES, ".h5"),
    )
    method = args.model if classical else opening.loaded

    def process(plan: InputPlan, staged: StagedOutputs) -> dict[str, Any]:
        file = str(plan.input)
        options = inference_options(args, opening.device, reporter, "infer", file)
        if plan.input.suffix.lower() == ".h5":
            reporter.event("read", message=f"reading {plan.input}", file=file)
            result = reconstruct_file(plan.input, method, options, mask=mask, params=params)
        else:
            image = read_input(plan, reporter, "an MR image")
            result = reconstruct_image(image, method, options, mask=mask, name=plan.input.name, params=params)
        return stage_result(plan, result, staged, reporter)

    def summarise(outcome: InputOutcome) -> str:
        s = outcome.summary
        text = f"{outcome.plan.input.name}: {s['acceleration']:.2f}x ({s['mask_kind']} mask)"
        if s["metrics"]:
            m, z = s["metrics"]["model"], s["metrics"]["zero_filled"]
            text += (
                f"  PSNR {m['psnr']:.2f} dB  SSIM {m['ssim']:.4f}  NMSE {m['nmse']:.4f}"
                f"  (zero-filled: PSNR {z['psnr']:.2f}, SSIM {z['ssim']:.4f})"
            )
        return text

    return run_inputs(opening.plans, process, reporter, is_batch=opening.is_batch, summarise=summarise)


def mask_spec(args: argparse.Namespace) -> MaskSpec:
    """The mask that ``--mask``, ``--acceleration``, ``--center-fraction`` and ``--seed`` ask for, checked before
    any work (argparse has checked each value alone; :class:`MaskSpec` checks how they combine).

    Raises:
        UsageError: an ``equispaced`` mask at a fractional acceleration, or a centre block (``random``,
            ``equispaced_fraction``) that alone samples more columns than the acceleration allows.
    """
    return MaskSpec(args.mask_kind, args.acceleration, args.center_fraction, args.seed)


def check_method_params(model: str | None, items: list[str]) -> dict[str, object] | None:
    """The ``--param`` values of a compressed-sensing ``--model``, checked before any work.

    Returns:
        The parameters given (the job adds the defaults), or None for a method that takes none.

    Raises:
        UsageError: a ``--param`` that is not KEY=VALUE or is repeated, an unknown parameter, a value of the wrong
            type or out of its range (lam = -1, nan or abc; iterations 0 or 10^9), or parameters for a
            model or zero-filling, which take none.
    """
    params = parse_params(items)
    if model in list_methods():
        resolve_parameters(model, params)
        return params
    if params:
        taker = "the zero-filled baseline" if model == ZERO_FILLED else "a learned model"
        raise UsageError(f"--param applies to compressed sensing (--model cs-tv or cs-wavelet); {taker} takes none")
    return None
