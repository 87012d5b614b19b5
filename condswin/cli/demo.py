"""``condswin demo``: the three jobs on the embedded sample data, with their baselines, into one folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from condswin.cli.progress import Reporter

# `condswin --help` imports this module: the demo, which loads scipy, torch and SimpleITK, is imported where it
# runs (lazy).

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Register the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="run the three jobs on the embedded sample data (figures, metrics table, report)",
        description="Segment the phantom CT, reconstruct the simulated fastMRI file at 4x and denoise the "
        "Rician-noisy MNI152 crop (Resources/SampleData) with the default model of each task and its baselines "
        "(zero-filled; BM3D). Writes NIfTI outputs, one PNG per job, metrics.md/metrics.csv and "
        "segmentation_report.json into --out, replaced only when the whole run succeeds. A task without an "
        "embedded model runs its baselines only and says so.",
    )
    parser.add_argument("--out", type=Path, default=Path("demo_output"), help="output folder (default: demo_output)")
    parser.add_argument(
        "--quick", action="store_true", help="a few slices per volume and non-local means instead of BM3D (seconds)"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    """Run ``demo``; returns the exit code."""
    from condswin.demo import run_demo  # lazy: scipy, then torch and SimpleITK (see top)

    run_demo(args.out, quick=args.quick, device=args.device, echo=lambda line: print(line, flush=True))
    return 0
