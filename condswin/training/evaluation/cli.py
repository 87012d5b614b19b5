"""The command line of ``Training/evaluate.py``: options → :class:`EvaluationRequest` → :func:`run_evaluation`.

Exit codes are those of the ``condswin`` command (:func:`condswin.cli.errors.exit_code_for`): 0 done, 2 usage
(an option that does not fit the task, an unknown baseline), 3 bad or missing data, 4 an unknown model or one
of another task, 5 an output exists (without ``--overwrite``) or cannot be written, 70 internal error
(traceback printed), 130 interrupted.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from condswin.cli.errors import EXIT_CODES_HELP, report_script_failure

if TYPE_CHECKING:
    from condswin.training.evaluation.request import EvaluationRequest

__all__ = ["SCRIPT", "build_parser", "main"]

SCRIPT = "Training/evaluate.py"

_EXAMPLES = """examples:
  python Training/evaluate.py --task segmentation --data /data/LiTS --model lits-cswin-light-2l --model runs/x/bundle
  python Training/evaluate.py --task reconstruction --data /data/knee/singlecoil_val --model runs/r/bundle \\
      --baseline zero-filled --acceleration 4 8 --limit 20 --curves runs/r
  python Training/evaluate.py --task denoising --data /data/mr --model runs/d/bundle --baseline bm3d nlm tv \\
      --noise rician --sigma 0.05 0.10
  python Training/evaluate.py --curves runs/r --out runs/r/evaluation      # the training curves only
"""


def _default(name: str) -> object:
    from condswin.training.evaluation.request import EvaluationRequest

    return {f.name: f.default for f in fields(EvaluationRequest)}[name]


def build_parser() -> argparse.ArgumentParser:
    """The options (defaults are :class:`EvaluationRequest`'s)."""
    from condswin.training.evaluation.request import DEFAULT_ACCELERATIONS, DEFAULT_SIGMAS

    parser = argparse.ArgumentParser(
        prog=SCRIPT,
        description="Score model bundles and classical baselines on a dataset: per-volume metrics as CSV, the "
        "summary table (mean ± std over volumes) as markdown, a PNG montage, and the training curves.",
        epilog=_EXAMPLES + "\n" + EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--task", choices=("segmentation", "reconstruction", "denoising"))
    parser.add_argument("--data", type=Path, help="dataset folder (LiTS, Decathlon Task03, fastMRI .h5, MR volumes)")
    parser.add_argument(
        "--kind", choices=("lits", "decathlon", "fastmri", "mr_volumes"), help="data kind (default: from the folder)"
    )
    parser.add_argument(
        "--model", action="append", default=[], metavar="ID|PATH", help="a model bundle id or folder (repeatable)"
    )
    parser.add_argument(
        "--baseline",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME",
        help="zero-filled, cs-tv, cs-wavelet (reconstruction) or classical denoisers: bm3d nlm tv wavelet gaussian ... "
        "(denoising)",
    )
    parser.add_argument(
        "--acceleration",
        nargs="+",
        type=float,
        metavar="R",
        help=f"reconstruction accelerations (default: {' '.join(f'{a:g}' for a in DEFAULT_ACCELERATIONS)})",
    )
    parser.add_argument("--mask", default=_default("mask"), help="reconstruction mask kind (default: %(default)s)")
    parser.add_argument("--noise", choices=("gaussian", "rician"), help="denoising noise model (default: rician)")
    parser.add_argument(
        "--sigma",
        nargs="+",
        type=float,
        metavar="S",
        help=f"denoising σ relative to each volume's maximum (default: {' '.join(f'{s:g}' for s in DEFAULT_SIGMAS)})",
    )
    parser.add_argument("--seed", type=int, default=_default("seed"), help="base of the noise seeds (default: 0)")
    parser.add_argument("--out", type=Path, default=_default("out"), help="output folder (default: %(default)s)")
    parser.add_argument("--limit", type=int, help="score only the first N volumes")
    parser.add_argument("--curves", type=Path, metavar="RUN_DIR_OR_CSV", help="plot this run's training curves")
    parser.add_argument("--monitor", help="metric plotted beside the losses (default: val_dice or val_ssim)")
    parser.add_argument(
        "--montage-cases",
        type=int,
        default=_default("montage_cases"),
        metavar="N",
        help="volumes shown in the montage, 0 for none (default: %(default)s)",
    )
    parser.add_argument("--device", default=_default("device"), help="auto, cpu, cuda[:N], mps (default: %(default)s)")
    parser.add_argument("--no-hd95", action="store_true", help="skip the 95%% Hausdorff distance (segmentation)")
    parser.add_argument(
        "--baseline-cache",
        type=Path,
        metavar="DIR",
        help="denoising: keep classical methods' scores here and read them back when the same noisy volume is "
        "scored again (their speed is still measured, on a few slices)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace earlier outputs in --out")
    return parser


def _request(args: argparse.Namespace, command: str) -> EvaluationRequest:
    from condswin.training.evaluation.request import EvaluationRequest

    return EvaluationRequest(
        task=args.task,
        data=args.data,
        kind=args.kind,
        models=tuple(args.model),
        baselines=tuple(args.baseline),
        accelerations=None if args.acceleration is None else tuple(args.acceleration),
        mask=args.mask,
        noise=args.noise,
        sigmas=None if args.sigma is None else tuple(args.sigma),
        seed=args.seed,
        out=args.out,
        limit=args.limit,
        curves=args.curves,
        monitor=args.monitor,
        montage_cases=args.montage_cases,
        device=args.device,
        hd95=not args.no_hd95,
        baseline_cache=args.baseline_cache,
        overwrite=args.overwrite,
        command=command,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``evaluate.py`` with ``argv`` (default: the process's arguments); returns the exit code."""
    args_list = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(args_list)  # exits with code 2 on a malformed command line
    command = shlex.join(["python", SCRIPT, *args_list])
    try:
        from condswin.training.evaluation.runner import run_evaluation

        result = run_evaluation(_request(args, command), log=lambda line: print(line, file=sys.stderr))
    except BaseException as exc:  # mapped to the documented exit codes; a bug's traceback is printed (70)
        return report_script_failure(exc, SCRIPT)
    if result.summary:
        print(Path(result.written["markdown"]).read_text(encoding="utf-8"))
    for name, path in result.written.items():
        print(f"{name}: {path}")
    return 0
