"""Embed a trained bundle into Resources/Models, measured on held-out data (see condswin.training.embedding).

    python Training/embed.py runs/embed/seg/bundle --held-out runs/embed/seg_test:lits:"6 held-out phantoms" \
        --limits "trained on phantoms only ..." --default --default-reason "..." --fp16

With --default the bundle replaces the task's current default only when it scores higher on the held-out data
(key metric: Dice for segmentation, SSIM otherwise; mean over every volume and setting; the current default is
scored in the same run); both numbers and the decision go on its card. When it does not, nothing is registered
and the registry is unchanged; --force REASON replaces the default anyway and writes the reason on the card.

Exit codes: 0 registered, or kept the current default (said on stderr); 2 usage, 3 bad data, 4 bad bundle,
5 registry not writable; 70 an internal error (traceback printed); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from condswin.cli.errors import report_script_failure  # noqa: E402
from condswin.errors import UsageError  # noqa: E402
from condswin.training.embedding import EmbedRequest, HeldOut, embed_trained_bundle  # noqa: E402

SCRIPT = "Training/embed.py"


def _held_out(text: str) -> HeldOut:
    parts = text.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise UsageError(f"--held-out takes FOLDER:KIND:DESCRIPTION, got {text!r}")
    return HeldOut(Path(parts[0]), parts[1], parts[2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=SCRIPT, description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path, help="the trained bundle folder (Training/train.py's export)")
    parser.add_argument("--held-out", action="append", default=[], metavar="FOLDER:KIND:DESCRIPTION", required=True)
    parser.add_argument("--limits", required=True, help="what the model must not be used for (goes on the card)")
    parser.add_argument("--default", action="store_true", help="make it the default model of its task")
    parser.add_argument("--default-reason", default="", help="why it is the default (measured)")
    parser.add_argument(
        "--force",
        metavar="REASON",
        default="",
        help="with --default: replace the current default even if the new bundle scores lower (REASON goes on the card)",
    )
    parser.add_argument("--fp16", action="store_true", help="store fp16 weights if the key metric holds")
    parser.add_argument("--tolerance", type=float, default=0.002, help="largest accepted change of the key metric")
    parser.add_argument("--acceleration", type=float, nargs="+", default=[4.0, 8.0])
    parser.add_argument("--sigma", type=float, nargs="+", default=[0.05, 0.10])
    parser.add_argument("--noise", default="rician")
    parser.add_argument("--baseline", action="append", default=[], help="further baselines scored beside it")
    parser.add_argument("--models-dir", type=Path, default=None, help="registry folder (default: Resources/Models)")
    args = parser.parse_args(argv)
    try:
        request = EmbedRequest(
            bundle=args.bundle,
            held_out=tuple(_held_out(t) for t in args.held_out),
            limits=args.limits,
            default_reason=args.default_reason,
            default=args.default,
            fp16=args.fp16,
            tolerance=args.tolerance,
            accelerations=tuple(args.acceleration),
            sigmas=tuple(args.sigma),
            noise=args.noise,
            models_dir=args.models_dir,
            extra_baselines=tuple(args.baseline),
            force_reason=args.force,
        )
        if args.force and not args.default:
            raise UsageError("--force only applies with --default (it overrides the default decision)")
        outcome = embed_trained_bundle(request)
    except BaseException as exc:  # mapped to the documented exit codes; a bug's traceback is printed (70)
        return report_script_failure(exc, SCRIPT)
    if outcome.registry is None and outcome.decision is not None:
        print(f"not embedded: the current default stays ({outcome.decision['reason']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
