"""``condswin models [ID|PATH]``: list the installed model bundles, or describe (and verify) one."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from condswin import denoise_names
from condswin.bundles import (
    MODEL_PATH_ENV,
    Bundle,
    BundleNotFoundError,
    discover_bundles,
    embedded_models_dir,
    resolve_bundle,
    verify_weights,
)
from condswin.bundles.card import thaw
from condswin.cli.errors import OK
from condswin.cli.progress import Reporter
from condswin.jobs.reconstruction import CLASSICAL_METHODS
from condswin.mri.compressed_sensing import get_method
from condswin.mri.compressed_sensing import list_methods as list_cs_methods

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Register the ``models`` subcommand."""
    parser = subparsers.add_parser(
        "models",
        help="list or describe model bundles",
        description="Without an argument: list every model bundle found (CONDSWIN_MODEL_PATH folders first, then the "
        "embedded Resources/Models/models.json) and the classical denoising methods. With an id or a "
        "bundle path: print its model card.",
    )
    parser.add_argument(
        "bundle", nargs="?", default=None, metavar="ID|PATH", help="a model id or bundle folder to describe"
    )
    parser.add_argument(
        "--model-path",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="also search this folder (repeatable; searched before CONDSWIN_MODEL_PATH)",
    )
    parser.add_argument("--verify", action="store_true", help="check the weights' sha256 (exit code 4 on a mismatch)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(run=run)


def _describe(bundle: Bundle) -> str:
    card = bundle.card
    contract = card.contract
    lines = [
        f"{card.id}  ({card.task}, version {card.version}, licence {card.license})",
        f"  {card.title}".rstrip(),
        f"  architecture: {card.architecture} {json.dumps(card.build_kwargs())}, "
        f"{card.in_channels} -> {card.out_channels} channels",
        f"  input: {contract.modality}, {contract.axis} slices, {contract.normalization.describe()}, "
        f"pixel size {contract.pixel_size_mm}, size {contract.size}",
    ]
    for label in card.labels:
        code = label.terminology.type
        lines.append(f"  label {label.value}: {label.name} ({code.meaning}, {code.scheme} {code.value})")
    lines += [
        f"  trained on: {card.training.data}",
        f"  command: {card.training.command}",
        f"  metrics: {json.dumps(thaw(card.metrics))}",
        f"  weights: {bundle.weights_path} (sha256 {card.sha256})",
        f"  card: {bundle.source}",
    ]
    return "\n".join(line for line in lines if line.strip())


def run(args: argparse.Namespace, reporter: Reporter) -> int:
    """Run ``models``; returns the exit code."""
    if args.bundle is not None:
        bundle = resolve_bundle(args.bundle) if not args.model_path else _find(args.bundle, args.model_path)
        if args.verify:
            verify_weights(bundle)
        if args.json:
            reporter.out.write(
                json.dumps(
                    {**bundle.card.to_dict(), "source": str(bundle.source), "verified": bool(args.verify)}, indent=2
                )
                + "\n"
            )
        else:
            reporter.out.write(_describe(bundle) + ("\n  sha256 verified" if args.verify else "") + "\n")
        return OK
    bundles, problems = discover_bundles(args.model_path)
    if args.verify:
        for bundle in bundles:
            verify_weights(bundle)
    for problem in problems:
        reporter.warning(problem)
    if args.json:
        listing = {
            "models": [{**b.card.to_dict(), "source": str(b.source)} for b in bundles],
            "classical_denoising": list(denoise_names.CLASSICAL_METHODS),
            "classical_reconstruction": list(CLASSICAL_METHODS),
            "problems": problems,
        }
        reporter.out.write(json.dumps(listing, indent=2) + "\n")
        return OK
    reporter.out.write(_table(bundles) + "\n")
    return OK


def _find(spec: str, folders: list[Path]) -> Bundle:
    bundles, _ = discover_bundles(folders)
    for bundle in bundles:
        if bundle.id == spec:
            return bundle
    try:
        return resolve_bundle(spec)
    except BundleNotFoundError:
        raise BundleNotFoundError(
            f"no model bundle with id or path {spec!r} (searched {', '.join(map(str, folders))} too)"
        ) from None


def _table(bundles: list[Bundle]) -> str:
    lines = []
    if bundles:
        lines.append(f"{'id':<32} {'task':<15} {'architecture':<16} {'version':<9} source")
        lines += [f"{b.id:<32} {b.task:<15} {b.card.architecture:<16} {b.card.version:<9} {b.source}" for b in bundles]
    else:
        lines.append(
            f"No model bundles found: no trained models are embedded in {embedded_models_dir()} yet. Pass --model PATH "
            f"to segment/reconstruct, or list bundle folders in {MODEL_PATH_ENV}."
        )
    lines.append(f"Classical denoising methods (no model needed): {', '.join(denoise_names.CLASSICAL_METHODS)}")
    lines.append("Reconstruction baselines (no model needed): --model zero-filled, and compressed sensing")
    lines += [f"  --model {name:<11} {_cs_summary(name)}" for name in list_cs_methods()]
    return "\n".join(lines)


def _cs_summary(name: str) -> str:
    """``"total-variation compressed sensing (ADMM), ...; --param lam=0.001 iterations=100"``."""
    method = get_method(name)
    defaults = " ".join(f"{key}={value:g}" for key, value in method.defaults.items())
    return f"{method.summary}; defaults --param {defaults}"
