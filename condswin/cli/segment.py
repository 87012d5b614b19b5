"""``condswin segment IN OUT``: CT → LiTS labelmap (0 background, 1 liver, 2 tumour) + a JSON report."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from condswin.cli.batch import IMAGE_SUFFIXES, Job, StagedOutputs, collect_inputs, plan_jobs, run_jobs
from condswin.cli.common import add_model_options, add_run_options, apply_threads, inference_options, load_model
from condswin.cli.errors import UsageError
from condswin.cli.progress import Reporter

__all__ = ["add_parser", "run"]

_LITS_VOLUME = re.compile(r"^volume-(\d+)$")


def add_parser(subparsers: Any) -> None:
    """Register the ``segment`` subcommand."""
    parser = subparsers.add_parser(
        "segment",
        help="liver and liver-tumour segmentation of abdominal CT",
        description="Segment liver (1) and liver tumour (2) in CT volumes (NIfTI, NRRD, MHA or a DICOM series "
        "folder). Writes a labelmap on exactly the input's voxel grid and a JSON report (liver mL, "
        "tumour count and volumes, tumour burden). IN may be a folder (batch): OUT is then a folder.",
    )
    parser.add_argument("input", type=Path, metavar="IN", help="CT file, DICOM series folder, or a folder of them")
    parser.add_argument("output", type=Path, metavar="OUT", help="labelmap file (.nii.gz, .nii, .nrrd, .mha) or folder")
    parser.add_argument("--report", type=Path, default=None, help="report path (single input; default: OUT with .json)")
    parser.add_argument(
        "--format",
        dest="suffix",
        choices=(".nii.gz", ".nii", ".nrrd", ".mha"),
        default=".nii.gz",
        help="labelmap format inside an output folder (default: .nii.gz)",
    )
    parser.add_argument(
        "--no-postprocess",
        action="store_true",
        help="keep the raw network labels (no largest-component / hole filling)",
    )
    add_model_options(parser, "segmentation")
    add_run_options(parser)
    parser.set_defaults(run=run)


def _output_stem(stem: str) -> str:
    # LiTS names pair volume-N with segmentation-N; keep that pairing so `evaluate` can match folders.
    match = _LITS_VOLUME.match(stem)
    return f"segmentation-{match.group(1)}" if match else stem


def _label_volumes(labels: Any, card: dict[str, Any]) -> dict[str, Any]:
    """Volume in mL of every label of a non-LiTS card."""
    import numpy as np
    import SimpleITK as sitk

    array = sitk.GetArrayViewFromImage(labels)
    voxel_ml = float(np.prod(labels.GetSpacing())) / 1000.0
    counts = np.bincount(array.ravel(), minlength=256)
    return {
        "volumes_ml": {label["name"]: float(counts[label["value"]]) * voxel_ml for label in card["output"]["labels"]},
        "voxel_volume_ml": voxel_ml,
    }


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    """Run ``segment``; returns the exit code."""
    from condswin.inference import resolve_device

    try:
        resolve_device(args.device)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    inputs, is_batch = collect_inputs(args.input, IMAGE_SUFFIXES, datasets=True)
    jobs = plan_jobs(
        inputs,
        is_batch,
        args.output,
        default_suffix=args.suffix,
        report=args.report,
        rename=_output_stem,
        overwrite=args.overwrite,
    )
    apply_threads(args)
    loaded = load_model(args.model, "segmentation", reporter)

    def process(job: Job, staged: StagedOutputs) -> dict[str, Any]:
        from condswin.ct.report import liver_report
        from condswin.inference import is_lits_card, segment_image
        from condswin.inference.volumes import postprocess_for_card
        from condswin.io.images import read_image

        reporter.event("read", message=f"reading {job.input}", file=str(job.input))
        image = read_image(job.input)
        result = segment_image(
            image,
            loaded.model,
            loaded.card,
            inference_options(args, reporter, "infer", str(job.input)),
            postprocess=False,
        )
        del image  # the labelmap carries the geometry from here on; free the CT before post-processing
        for notice in result.info.messages:
            reporter.warning(notice, file=str(job.input))
        labels, postprocessed = result.labels, False
        if not args.no_postprocess:
            reporter.event("postprocess", message="post-processing the labelmap", file=str(job.input))
            labels, postprocessed = postprocess_for_card(labels, loaded.card)
        reporter.event("report", message="measuring volumes", file=str(job.input))
        measures = liver_report(labels) if is_lits_card(loaded.card) else _label_volumes(labels, loaded.card)
        report = {
            "input": str(job.input),
            "labelmap": str(job.outputs["image"]),
            "model": {
                "id": loaded.card["id"],
                "version": loaded.card["version"],
                "architecture": loaded.card["architecture"],
            },
            "labels": {str(label["value"]): label["name"] for label in loaded.card["output"]["labels"]},
            "postprocessed": postprocessed,
            "device": result.info.device,
            "inference_seconds": round(result.info.seconds, 3),
            "notices": result.info.messages,
            **measures,
        }
        staged.write_image(labels, job.outputs["image"])
        staged.write_json(report, job.outputs["report"])
        return measures

    def summarise(outcome: Any) -> str:
        s = outcome.summary
        if "liver_ml" in s:
            return (
                f"{outcome.job.input.name}: liver {s['liver_ml']:.1f} mL, {s['tumour_count']} tumour(s) "
                f"{s['tumour_ml']:.1f} mL, burden {s['tumour_burden_percent']:.2f} %"
            )
        return f"{outcome.job.input.name}: " + ", ".join(f"{k} {v:.1f} mL" for k, v in s["volumes_ml"].items())

    return run_jobs(jobs, process, reporter, is_batch=is_batch, summarise=summarise)
