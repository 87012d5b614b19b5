"""``condswin segment IN OUT``: CT → LiTS labelmap (0 background, 1 liver, 2 tumour) + a JSON report."""

from __future__ import annotations

import argparse
import re
from typing import Any

from condswin.bundles.parse import MAX_SCORE_OFFSET
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
from condswin.cli.options import numbers
from condswin.cli.outputs import InputPlan
from condswin.cli.progress import Reporter
from condswin.errors import UsageError
from condswin.jobs import segment

__all__ = ["add_parser", "run"]

_LITS_VOLUME = re.compile(r"^volume-(\d+)$")


def add_parser(subparsers: Any) -> None:
    """Register the ``segment`` subcommand."""
    parser = subparsers.add_parser(
        "segment",
        help="liver and liver-tumour segmentation of abdominal CT",
        description="Segment liver (1) and liver tumour (2) in CT volumes (NIfTI, NRRD, MHA or a DICOM series "
        "folder). Writes a labelmap on exactly the input's voxel grid and a JSON report (liver mL, "
        "tumour count and volumes, tumour burden). An OUT ending in .seg.nrrd is written as 3D Slicer's "
        "segmentation file (named, coloured segments with terminology codes). IN may be a folder (batch): OUT "
        "is then a folder.",
    )
    add_io_options(parser, input_help="CT file, DICOM series folder, or a folder of them", output_noun="labelmap")
    parser.add_argument(
        "--no-postprocess",
        action="store_true",
        help="keep the raw network labels (no neck cut, largest component, hole filling or tumour clean-up)",
    )
    parser.add_argument(
        "--score-offsets",
        type=numbers(low=-MAX_SCORE_OFFSET, high=MAX_SCORE_OFFSET),
        default=None,
        metavar="B,L,T",
        help="added to the model's class scores (logits) before the argmax, one per output channel, background "
        "first: a higher tumour offset finds more tumour, and more false tumour (default: the card's "
        "output.score_offsets; 0,0,0 turns them off)",
    )
    add_model_options(parser, "segmentation")
    add_run_options(parser)
    parser.set_defaults(run=run)


def _output_stem(stem: str) -> str:
    # LiTS names pair volume-N with segmentation-N; keep that pairing so `evaluate` can match folders.
    match = _LITS_VOLUME.match(stem)
    return f"segmentation-{match.group(1)}" if match else stem


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    """Run ``segment``; returns the exit code."""
    opening = open_run(args, reporter, "segmentation", model=args.model, datasets=True, rename=_output_stem)
    loaded = opening.loaded
    assert loaded is not None  # segmentation always runs a model
    if args.score_offsets is not None:
        try:
            loaded = loaded.with_score_offsets(args.score_offsets)
        except ValueError as err:
            raise UsageError(f"--score-offsets: {err}") from None

    def process(plan: InputPlan, staged: StagedOutputs) -> dict[str, Any]:
        file = str(plan.input)
        result = segment(  # the image is not kept here, so the job can free it before post-processing
            read_input(plan, reporter, "a CT image"),
            loaded,
            inference_options(args, opening.device, reporter, "infer", file),
            postprocess=not args.no_postprocess,
            on_stage=lambda stage, message: reporter.event(stage, message=message, file=file),
        )
        # an OUT ending in .seg.nrrd becomes Slicer's segmentation file naming the result's segments
        return stage_result(plan, result, staged, reporter, output_key="labelmap")

    def summarise(outcome: InputOutcome) -> str:
        s = outcome.summary
        if "liver_ml" in s:
            return (
                f"{outcome.plan.input.name}: liver {s['liver_ml']:.1f} mL, {s['tumour_count']} tumour(s) "
                f"{s['tumour_ml']:.1f} mL, burden {s['tumour_burden_percent']:.2f} %"
            )
        return f"{outcome.plan.input.name}: " + ", ".join(f"{k} {v:.1f} mL" for k, v in s["volumes_ml"].items())

    return run_inputs(opening.plans, process, reporter, is_batch=opening.is_batch, summarise=summarise)
