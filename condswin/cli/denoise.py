"""``condswin denoise IN OUT --method M``: MR denoising with a classical method or a learned model bundle."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from condswin.cli.batch import IMAGE_SUFFIXES, Job, StagedOutputs, collect_inputs, plan_jobs, run_jobs, split_suffix
from condswin.cli.common import add_model_options, add_run_options, apply_threads, inference_options, load_model
from condswin.cli.errors import UsageError
from condswin.cli.progress import Reporter
from condswin.errors import InputError, InputNotFoundError

__all__ = ["add_parser", "run", "parse_params", "NOISE_MODELS"]

# condswin.denoise.NOISE_MODELS, repeated so that `condswin --help` need not import scikit-image and scipy.signal.
NOISE_MODELS = ("gaussian", "rician")


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
    parser.add_argument(
        "input", type=Path, metavar="IN", help="MR volume file, DICOM series folder, or a folder of them"
    )
    parser.add_argument("output", type=Path, metavar="OUT", help="volume file (.nii.gz, .nii, .nrrd, .mha) or folder")
    parser.add_argument(
        "--method",
        required=True,
        metavar="NAME|ID|PATH",
        help="classical method name, or a denoising model id / bundle folder",
    )
    parser.add_argument("--noise", choices=NOISE_MODELS, default="rician", help="noise model (default: rician)")
    parser.add_argument(
        "--sigma",
        type=float,
        default=None,
        help="noise sigma in the image's intensity units (default: estimated; classical methods only)",
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
    parser.add_argument("--report", type=Path, default=None, help="report path (single input; default: OUT with .json)")
    parser.add_argument(
        "--format",
        dest="suffix",
        choices=(".nii.gz", ".nii", ".nrrd", ".mha"),
        default=".nii.gz",
        help="volume format inside an output folder (default: .nii.gz)",
    )
    add_model_options(parser, "denoising", with_model=False)
    add_run_options(parser)
    parser.set_defaults(run=run)


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["h_factor=0.8", "wavelet=db2"]`` → ``{"h_factor": 0.8, "wavelet": "db2"}`` (JSON values, else text)."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param expects KEY=VALUE, got {item!r}")
        try:
            params[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            params[key.strip()] = text
    return params


def _reference_for(job: Job, reference: Path | None, is_batch: bool) -> Path | None:
    if reference is None:
        return None
    if not is_batch:
        return reference
    stem = split_suffix(job.input)[0]
    matches = [p for p in reference.iterdir() if split_suffix(p)[0] == stem and not p.name.startswith(".")]
    if not matches:
        raise InputNotFoundError(f"{reference}: no reference named {stem}.* for {job.input.name}")
    return matches[0]


def _metrics(reference_path: Path, noisy: Any, denoised: Any) -> dict[str, Any]:
    import SimpleITK as sitk

    from condswin.io.images import grid_mismatch, read_image
    from condswin.metrics import reconstruction_metrics

    reference = read_image(reference_path)
    mismatch = grid_mismatch(reference, noisy)
    if mismatch:
        raise InputError(f"{reference_path}: reference grid differs from the input ({mismatch})")
    ref = sitk.GetArrayViewFromImage(reference)
    return {
        "reference": str(reference_path),
        "input": reconstruction_metrics(ref, sitk.GetArrayViewFromImage(noisy)),
        "denoised": reconstruction_metrics(ref, sitk.GetArrayViewFromImage(denoised)),
    }


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    """Run ``denoise``; returns the exit code."""
    from condswin.denoise import list_methods
    from condswin.inference import resolve_device

    classical = args.method in list_methods()
    params = parse_params(args.param)
    if not classical and (params or args.sigma is not None):
        raise UsageError("--param and --sigma apply to classical methods only; a learned model takes neither")
    if args.sigma is not None and not args.sigma > 0:
        raise UsageError(f"--sigma must be positive, got {args.sigma}")
    try:
        resolve_device(args.device)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if classical:
        from condswin.denoise.methods import check_parameters

        try:
            check_parameters(args.method, params)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    inputs, is_batch = collect_inputs(args.input, IMAGE_SUFFIXES)
    if args.reference is not None and is_batch and not args.reference.is_dir():
        raise UsageError("--reference must be a folder when IN is a folder")
    jobs = plan_jobs(
        inputs, is_batch, args.output, default_suffix=args.suffix, report=args.report, overwrite=args.overwrite
    )
    apply_threads(args)
    loaded = None if classical else load_model(args.method, "denoising", reporter)

    def process(job: Job, staged: StagedOutputs) -> dict[str, Any]:
        import numpy as np
        import SimpleITK as sitk

        from condswin.io.images import read_image

        reference = _reference_for(job, args.reference, is_batch)
        reporter.event("read", message=f"reading {job.input}", file=str(job.input))
        image = read_image(job.input)
        summary: dict[str, Any] = {"method": args.method, "noise": args.noise}
        if classical:
            from condswin.denoise import denoise, estimate_noise_sigma
            from condswin.denoise.methods import get_method

            volume = sitk.GetArrayViewFromImage(image)
            sigma = args.sigma
            if sigma is None and (get_method(args.method).uses_sigma or args.noise == "rician"):
                sigma = estimate_noise_sigma(volume, args.noise)  # once, so the report can say which sigma was used
            progress = reporter.callback("denoise", str(job.input))
            result = denoise(volume, args.method, args.noise, sigma, progress=lambda d, t: progress(d, t, ""), **params)
            output = sitk.GetImageFromArray(np.ascontiguousarray(result, dtype=np.float32))
            output.CopyInformation(image)
            summary.update(sigma=sigma, sigma_estimated=args.sigma is None and sigma is not None, params=params)
        else:
            from condswin.inference import denoise_image

            output, info = denoise_image(
                image, loaded.model, loaded.card, inference_options(args, reporter, "infer", str(job.input))
            )
            for notice in info.messages:
                reporter.warning(notice, file=str(job.input))
            summary.update(model={"id": loaded.card["id"], "version": loaded.card["version"]}, device=info.device)
        if reference is not None:
            summary["metrics"] = _metrics(reference, image, output)
        staged.write_image(output, job.outputs["image"])
        staged.write_json(
            {"input": str(job.input), "output": str(job.outputs["image"]), **summary}, job.outputs["report"]
        )
        return summary

    def summarise(outcome: Any) -> str:
        s = outcome.summary
        text = f"{outcome.job.input.name}: {s['method']} ({s['noise']} noise"
        text += f", sigma {s['sigma']:.4g})" if s.get("sigma") is not None else ")"
        if "metrics" in s:
            before, after = s["metrics"]["input"], s["metrics"]["denoised"]
            text += (
                f"  PSNR {before['psnr']:.2f} -> {after['psnr']:.2f} dB"
                f"  SSIM {before['ssim']:.4f} -> {after['ssim']:.4f}"
            )
        return text

    return run_jobs(jobs, process, reporter, is_batch=is_batch, summarise=summarise)
