"""Continue training the default model of each task within a time budget; embed each result that beats it.

    python Training/campaign.py --hours 2                          # seg, recon and denoise, 40 minutes each
    python Training/campaign.py --hours 1 --tasks denoise          # one task, the whole hour
    python Training/campaign.py --hours 0.15 --export-to $OUT        # on a GPU machine (Training/gpu_prepare.py)
    python Training/campaign.py --hours 1 --embed-from DIR            # back here: embed what it exported

For each task in turn (one training process at a time, at low CPU priority): resume the recipe's run folder
under --runs when it holds a checkpoint, else start from the installed default's weights; train for the task's
share of --hours (a checkpoint at least every --checkpoint-every minutes and on SIGTERM); export the best
checkpoint; replace the default only when it scores higher on the recipe's held-out data. Recipes (config,
overrides, data files, held-out data): Training/campaign.yaml. See docs/training.md.

Exit codes: 0 done; 2 usage (--hours not a positive number, an unknown task, a bad recipe or config); 3 bad or
missing data; 4 a bad bundle; 5 the registry cannot be written; 143 stopped by SIGTERM (130 by SIGINT): the last
checkpoint is kept, nothing is embedded half-way; 70 an internal error (traceback printed).
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from condswin.cli.errors import report_script_failure  # noqa: E402
from condswin.errors import UsageError  # noqa: E402

SCRIPT = "Training/campaign.py"


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog=SCRIPT, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--hours", help="the whole campaign's budget in hours, shared by the tasks (not with --embed-from)"
    )
    parser.add_argument("--tasks", default="seg,recon,denoise", help="comma-separated: seg, recon, denoise")
    parser.add_argument("--recipes", type=Path, default=_ROOT / "Training" / "campaign.yaml", help="recipe file")
    parser.add_argument("--data-root", type=Path, default=_ROOT.parent / "shared" / "data", help="data folder")
    parser.add_argument("--runs", type=Path, default=_ROOT / "runs" / "campaign", help="run folders and the log")
    parser.add_argument("--models-dir", type=Path, default=None, help="registry to update (default: Resources/Models)")
    parser.add_argument(
        "--checkpoint-every", type=float, default=10.0, metavar="MIN", help="checkpoint interval (minutes)"
    )
    parser.add_argument("--no-nice", action="store_true", help="keep the normal CPU priority")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--export-to", type=Path, metavar="DIR", help="train and export each bundle to DIR/<task>/, embed nothing"
    )
    where.add_argument(
        "--embed-from", type=Path, metavar="DIR", help="embed bundles another machine exported to DIR/<task>/"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the campaign with ``argv`` (default: the process's arguments); returns the exit code."""
    args_list = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(args_list)
    from condswin.training.campaign import CampaignRequest, StopRequest, format_summary, load_recipes, parse_hours

    stop = StopRequest()
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if args.embed_from is None or args.hours is not None:
            hours = parse_hours(args.hours)
        else:
            hours = 0.0  # embedding only: nothing trains
        tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
        if not tasks:
            raise UsageError("--tasks: name at least one of seg, recon, denoise")
        if len(set(tasks)) != len(tasks):
            raise UsageError(f"--tasks: each task at most once, got {args.tasks!r}")
        if not args.checkpoint_every > 0:
            raise UsageError(f"--checkpoint-every: must be a positive number of minutes, got {args.checkpoint_every}")
        request = CampaignRequest(
            tasks=tasks,
            hours=hours,
            recipes=load_recipes(args.recipes),
            project_root=_ROOT,
            data_root=args.data_root.resolve(),
            runs=args.runs.resolve(),
            models_dir=args.models_dir.resolve() if args.models_dir else None,
            checkpoint_every_min=args.checkpoint_every,
            command=shlex.join(["python", SCRIPT, *args_list]),
            stop=stop,
            export_to=args.export_to.resolve() if args.export_to else None,
            embed_from=args.embed_from.resolve() if args.embed_from else None,
        )
        if not args.no_nice:
            os.nice(10)  # the machine stays usable for other work
        for signum in previous:
            signal.signal(signum, stop.handle)
        from condswin.training.campaign import run_campaign

        outcomes = run_campaign(request)
    except BaseException as exc:  # mapped to the documented exit codes; a bug's traceback is printed (70)
        if stop.requested:
            print(f"{SCRIPT}: stopped; the last checkpoints are kept, nothing was embedded half-way", file=sys.stderr)
            return 128 + (stop.signum or signal.SIGTERM)
        return report_script_failure(exc, SCRIPT)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(format_summary(outcomes))
    if stop.requested or any(o.status == "interrupted" for o in outcomes):
        print(f"{SCRIPT}: stopped; the last checkpoints are kept, nothing was embedded half-way", file=sys.stderr)
        return 128 + (stop.signum or signal.SIGTERM)
    return 0


if __name__ == "__main__":
    sys.exit(main())
