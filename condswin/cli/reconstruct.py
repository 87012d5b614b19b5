"""``condswin reconstruct IN OUT``: undersampled k-space (fastMRI ``.h5``, or simulated from an MR volume) →
reconstructed magnitude volume, with fastMRI metrics whenever a target exists."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from condswin.cli.batch import IMAGE_SUFFIXES, Job, StagedOutputs, collect_inputs, plan_jobs, run_jobs
from condswin.cli.common import add_model_options, add_run_options, apply_threads, inference_options, load_model
from condswin.cli.errors import UsageError
from condswin.cli.progress import Reporter

__all__ = ["add_parser", "run", "ZERO_FILLED"]

ZERO_FILLED = "zero-filled"


def add_parser(subparsers: Any) -> None:
    """Register the ``reconstruct`` subcommand."""
    from condswin.mri.masks import MASK_KINDS

    parser = subparsers.add_parser(
        "reconstruct",
        help="MRI reconstruction from undersampled k-space",
        description="Reconstruct fastMRI .h5 files (single- or multi-coil; test files are used with their own mask, "
        "fully sampled files are undersampled with --mask/--acceleration/--center-fraction and a "
        "per-file seed) or MR volumes (k-space simulated with a smooth random phase, then undersampled). "
        "Writes the magnitude volume with the header's pixel spacing (or the input's geometry) and a JSON "
        "report with NMSE/PSNR/SSIM/MAE of the model and of zero-filling when a target exists.",
    )
    parser.add_argument("input", type=Path, metavar="IN", help="fastMRI .h5, MR volume file, or a folder of them")
    parser.add_argument("output", type=Path, metavar="OUT", help="volume file (.nii.gz, .nii, .nrrd, .mha) or folder")
    parser.add_argument(
        "--mask",
        dest="mask_kind",
        choices=MASK_KINDS,
        default="random",
        help="column mask for fully sampled inputs (default: random, as fastMRI)",
    )
    parser.add_argument("--acceleration", type=float, default=4.0, help="undersampling factor (default: 4)")
    parser.add_argument(
        "--center-fraction",
        type=float,
        default=None,
        help="fully sampled centre fraction (default: fastMRI's 0.08 at 4x, 0.04 at 8x)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="mask (and simulated phase) seed; default: derived from the file name, as fastMRI does",
    )
    parser.add_argument("--report", type=Path, default=None, help="report path (single input; default: OUT with .json)")
    parser.add_argument(
        "--format",
        dest="suffix",
        choices=(".nii.gz", ".nii", ".nrrd", ".mha"),
        default=".nii.gz",
        help="volume format inside an output folder (default: .nii.gz)",
    )
    add_model_options(
        parser,
        "reconstruction",
        model_help=f"reconstruction model: a bundle folder, a model_card.json, a model id, or "
        f"'{ZERO_FILLED}' for the zero-filled baseline (default: the first installed model)",
    )
    add_run_options(parser)
    parser.set_defaults(run=run)


def _fastmri_image(result: Any) -> Any:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(result.image)
    slice_mm, row_mm, col_mm = result.spacing
    image.SetSpacing((col_mm, row_mm, slice_mm))  # SimpleITK (x, y, z) = (columns, rows, slices)
    return image


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    """Run ``reconstruct``; returns the exit code."""
    from condswin.inference import resolve_device

    try:
        resolve_device(args.device)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not args.acceleration >= 1:
        raise UsageError(f"--acceleration must be >= 1, got {args.acceleration}")
    inputs, is_batch = collect_inputs(args.input, (*IMAGE_SUFFIXES, ".h5"))
    jobs = plan_jobs(
        inputs, is_batch, args.output, default_suffix=args.suffix, report=args.report, overwrite=args.overwrite
    )
    apply_threads(args)
    loaded = None if args.model == ZERO_FILLED else load_model(args.model, "reconstruction", reporter)
    model, card = (None, None) if loaded is None else (loaded.model, loaded.card)

    def process(job: Job, staged: StagedOutputs) -> dict[str, Any]:
        from condswin.inference import reconstruct_fastmri, reconstruct_mr_image, volume_seed
        from condswin.mri.masks import fastmri_seed

        reporter.event("read", message=f"reading {job.input}", file=str(job.input))
        options = inference_options(args, reporter, "infer", str(job.input))
        mask_args = dict(mask_kind=args.mask_kind, acceleration=args.acceleration, center_fraction=args.center_fraction)
        if job.input.suffix.lower() == ".h5":
            result = reconstruct_fastmri(job.input, model, card, seed=args.seed, options=options, **mask_args)
            image = _fastmri_image(result)
        else:
            from condswin.io.images import read_image

            source = read_image(job.input)
            seed = fastmri_seed(job.input.name) if args.seed is None else args.seed
            phase_seed = volume_seed(job.input) if args.seed is None else args.seed
            result = reconstruct_mr_image(
                source, model, card, seed=seed, phase_seed=phase_seed, options=options, **mask_args
            )
            image = result.output
        if result.info is not None:
            for notice in result.info.messages:
                reporter.warning(notice, file=str(job.input))
        summary = result.summary()
        summary["model"] = ZERO_FILLED if card is None else {"id": card["id"], "version": card["version"]}
        summary["mask_kind"] = "from file" if result.from_file_mask else args.mask_kind
        staged.write_image(image, job.outputs["image"])
        staged.write_json(
            {"input": str(job.input), "output": str(job.outputs["image"]), **summary}, job.outputs["report"]
        )
        return summary

    def summarise(outcome: Any) -> str:
        s = outcome.summary
        text = f"{outcome.job.input.name}: {s['acceleration']:.2f}x ({s['mask_kind']} mask)"
        if s["metrics"]:
            m, z = s["metrics"]["model"], s["metrics"]["zero_filled"]
            text += (
                f"  PSNR {m['psnr']:.2f} dB  SSIM {m['ssim']:.4f}  NMSE {m['nmse']:.4f}"
                f"  (zero-filled: PSNR {z['psnr']:.2f}, SSIM {z['ssim']:.4f})"
            )
        return text

    return run_jobs(jobs, process, reporter, is_batch=is_batch, summarise=summarise)
