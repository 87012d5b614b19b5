"""Options and helpers shared by the commands: run options, model choice and loading, inference options."""

from __future__ import annotations

import argparse
from typing import Any

from condswin.cli.progress import PROGRESS_MODES, Reporter

__all__ = ["add_run_options", "add_model_options", "default_bundle", "load_model", "inference_options", "apply_threads"]


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--progress`` and ``--overwrite``: every command that writes files has them."""
    parser.add_argument(
        "--progress",
        choices=PROGRESS_MODES,
        default="auto",
        help="progress output: a tqdm bar on stderr (bar), one JSON object a line on stdout (json), "
        "or none; auto = bar on a terminal, else none (default: auto)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (never the inputs)")


def add_model_options(
    parser: argparse.ArgumentParser, task: str, *, model_help: str | None = None, with_model: bool = True
) -> None:
    """``--model`` (unless ``with_model`` is false), ``--device``, ``--batch-size``, ``--threads``, ``--no-amp``."""
    if with_model:
        parser.add_argument(
            "--model",
            metavar="ID|PATH",
            default=None,
            help=model_help
            or f"{task} model: a bundle folder, a model_card.json, or a model id from "
            "`condswin models` (default: the first installed model for this task)",
        )
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=8,
        metavar="N",
        help="slices per forward pass; halved automatically on out-of-memory (default: 8)",
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        metavar="N",
        help="CPU threads for torch (default: torch's choice)",
    )
    parser.add_argument("--no-amp", action="store_true", help="run in float32 on CUDA (no mixed precision)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def default_bundle(task: str) -> Any:
    """The first installed bundle for ``task`` (search order of :mod:`condswin.bundles.registry`)."""
    from condswin.bundles import MODEL_PATH_ENV, BundleNotFoundError, discover_bundles

    bundles, problems = discover_bundles()
    for bundle in bundles:
        if bundle.task == task:
            return bundle
    extra = f" (problems while searching: {'; '.join(problems)})" if problems else ""
    raise BundleNotFoundError(
        f"no {task} model is available: no trained {task} model is embedded in Resources/Models yet and none was "
        f"found in {MODEL_PATH_ENV}; pass --model PATH (a bundle folder made by condswin.bundles.save_bundle){extra}"
    )


def load_model(spec: str | None, task: str, reporter: Reporter) -> Any:
    """Resolve (by path or id, or the default) and load a bundle; its checksum is verified first."""
    from condswin.bundles import load_bundle, resolve_bundle

    bundle = default_bundle(task) if spec is None else resolve_bundle(spec, task=task)
    reporter.event(
        "model",
        message=f"model {bundle.id} ({bundle.card['architecture']}, version {bundle.card['version']}) from {bundle.source}",
    )
    return load_bundle(bundle, device="cpu")


def apply_threads(args: argparse.Namespace) -> None:
    """Set torch's CPU thread count when ``--threads`` was given."""
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(int(args.threads))


def inference_options(args: argparse.Namespace, reporter: Reporter, stage: str, file: str) -> Any:
    """:class:`condswin.inference.InferenceOptions` from the command line, reporting to ``reporter``."""
    from condswin.inference import InferenceOptions

    return InferenceOptions(
        device=args.device,
        batch_size=args.batch_size,
        amp=not args.no_amp,
        progress=reporter.callback(stage, file),
    )
