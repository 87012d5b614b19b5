"""Train a model of one of the three jobs and export it as a model bundle.

    python Training/train.py --config Training/configs/seg_lits_cswin_light_2l.yaml data.root=/data/LiTS
    python Training/train.py --config CONFIG trainer.devices=4                  # DDP on 4 GPUs
    torchrun --nnodes 2 --nproc_per_node 4 ... Training/train.py --config CONFIG trainer.devices=4 trainer.num_nodes=2
    python Training/train.py --config CONFIG --resume runs/NAME/checkpoints/last.ckpt
    python Training/train.py --config CONFIG --init-from liver-ct-cswin-light-1l     # fine-tune an installed model
    python Training/train.py --config CONFIG --export bundles/my-model          # bundle folder of the best checkpoint

A thin script in the spirit of fastMRI's ``train_unet_demo.py``: it builds the config
(:func:`condswin.training.config.load_config`) and calls :func:`condswin.training.run.train`. See
``docs/training.md``.

Exit codes (as the ``condswin`` command): 0 done; 2 config or usage error (unknown key, bad value);
3 bad or missing data, config file or checkpoint; 4 a checkpoint of another network, or an ``--init-from``
bundle that is missing or fails its checksum (a bundle whose network or contract differs from the config is
2, naming the field); 5 the export folder exists; 70 an internal error (traceback printed); 130 interrupted
before training, 1 during training (Lightning's graceful shutdown). A run that fails removes the data cache it
made (``trainer.output_dir/data_cache``) and keeps its checkpoints, to resume from.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

# Run from a source checkout without installing the package.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from condswin.cli.errors import report_script_failure  # noqa: E402

SCRIPT = "Training/train.py"


def build_parser() -> argparse.ArgumentParser:
    """The command line: a config, ``key=value`` overrides, and where to resume from / export to."""
    parser = argparse.ArgumentParser(
        prog=SCRIPT,
        description="Train a segmentation, reconstruction or denoising model and export it as a model bundle.",
        epilog="Overrides take the config's dotted keys, values read as YAML: trainer.max_epochs=2 "
        "data.size=[128,128] model.overrides.dropout=0.1. Exit codes: 2 config error, 3 data error, "
        "4 checkpoint of another network, 5 export folder exists, 70 internal error, 130 interrupted "
        "(1 when Lightning stopped the training after the interruption).",
    )
    parser.add_argument("--config", required=True, help="YAML run config (see Training/configs/)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. data.root=/data/LiTS")
    parser.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint of this run (e.g. last.ckpt)")
    parser.add_argument(
        "--init-from",
        metavar="BUNDLE_OR_ID",
        help="start from the weights of a model bundle (an installed id or a folder) with a fresh optimiser; "
        "the config must describe the same network and contract; the card keeps the weights' lineage",
    )
    parser.add_argument(
        "--extend",
        action="store_true",
        help="with --init-from: the config's network may add layers to the bundle's (e.g. "
        "model.overrides.air_gate=true); every bundle tensor must load unchanged, added layers start untrained",
    )
    parser.add_argument(
        "--reinit",
        action="append",
        default=[],
        metavar="PREFIX",
        help="with --init-from: tensors whose names start with PREFIX (e.g. net.head) keep their initialisation "
        "instead of the bundle's weights (repeatable)",
    )
    parser.add_argument(
        "--export", metavar="DIR", help="write the bundle of the best checkpoint here (default: OUTPUT_DIR/bundle)"
    )
    parser.add_argument("--no-export", action="store_true", help="do not write a model bundle")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``train.py`` with ``argv`` (default: the process's arguments); returns the exit code."""
    args_list = sys.argv[1:] if argv is None else list(argv)
    # intermixed: overrides may come before and after the options; exits with code 2 on a usage error
    args = build_parser().parse_intermixed_args(args_list)
    command = shlex.join(["python", sys.argv[0] if argv is None else SCRIPT, *args_list])
    try:
        from condswin.training.config import load_config
        from condswin.training.run import train

        config = load_config(args.config, args.overrides)
        result = train(
            config,
            resume=args.resume,
            init_from=args.init_from,
            extend=args.extend,
            reinit=tuple(args.reinit),
            export_dir=args.export,
            export=not args.no_export,
            command=command,
        )
    except BaseException as exc:  # mapped to the documented exit codes; a bug's traceback is printed (70)
        return report_script_failure(exc, SCRIPT)
    if result.global_rank == 0 and result.best_checkpoint is not None:
        metric = "" if result.best_score is None else f" ({result.monitor} {result.best_score:.4f})"
        print(f"best checkpoint: {result.best_checkpoint}{metric}")
        if result.bundle is not None:
            print(f"model bundle: {result.bundle.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
