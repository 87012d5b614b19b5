"""A trained network → a model bundle that ``condswin segment/reconstruct/denoise --model DIR`` loads as is.

The card starts from :func:`condswin.bundles.card_template` (the task's usual contract), takes the input and
output contract of the data the model was trained on (``DataSplits.input_contract`` / ``output_contract``:
normalisation, slice size, representations, labels), and records how it was made: the exact command, the
whole run config, the data description and licences, and the validation metrics measured on the exported
weights, under the names the CSV log uses (``val_dice``, ``val_ssim``, ...).
"""

from __future__ import annotations

import copy
import math
import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from torch import nn

from condswin.bundles import card_template, parse_card, save_bundle
from condswin.io.jsonvalues import plain
from condswin.training.config import TrainConfig, config_to_dict

__all__ = ["DataDescription", "training_command", "bundle_id", "build_card", "check_card", "export_bundle"]


class DataDescription(Protocol):
    """What a card needs to know about the training data (a :class:`condswin.training.data.DataSplits`)."""

    @property
    def input_contract(self) -> Mapping[str, Any]: ...
    @property
    def output_contract(self) -> Mapping[str, Any]: ...
    @property
    def description(self) -> str: ...
    @property
    def licences(self) -> Sequence[str]: ...


def training_command(argv: Sequence[str] | None = None) -> str:
    """The command line of this process, quoted so a shell runs it again unchanged (``python`` + argv)."""
    args = list(sys.argv if argv is None else argv)
    return shlex.join(["python", *args])


def bundle_id(config: TrainConfig) -> str:
    """``export.id``, else ``<task>-<model>-<data kind>`` (characters a card id accepts only)."""
    if config.export.id:
        return config.export.id
    return re.sub(r"[^A-Za-z0-9._-]", "-", f"{config.task}-{config.model.name}-{config.data.kind}")


def _finite(metrics: Mapping[str, float]) -> dict[str, float | None]:
    # JSON has no NaN or infinity (a PSNR of identical images is inf): those become null
    return {k: (float(v) if math.isfinite(float(v)) else None) for k, v in sorted(metrics.items())}


def build_card(
    config: TrainConfig,
    data: DataDescription,
    metrics: Mapping[str, float],
    command: str,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The card of a trained model (without architecture, channels, weights: :func:`save_bundle` adds them).

    Args:
        config: the run's configuration (recorded whole under ``training.config``).
        data: the data's contract, description and licences.
        metrics: validation metrics of the exported weights (names as logged, e.g. ``val_dice``).
        command: the exact training command.
        details: further ``training`` fields (epochs, steps, checkpoint, ...).

    Returns:
        A card dict for :func:`condswin.bundles.save_bundle`.
    """
    card = card_template(bundle_id(config), config.task, training_data=data.description, training_command=command)
    card["input"] = {**card["input"], **dict(data.input_contract)}
    card["output"] = {**card["output"], **dict(data.output_contract)}
    card["description"] = config.export.description or (
        f"{config.model.name} trained for {config.task} on {data.description}"
    )
    card["training"] = {
        **card["training"],
        "licences": list(data.licences),
        "seed": config.trainer.seed,
        "config": config_to_dict(config),
        **dict(details or {}),
    }
    card["metrics"] = _finite(metrics)
    card["version"] = config.export.version
    card["license"] = config.export.license
    return card


def check_card(config: TrainConfig, data: DataDescription, net: nn.Module, command: str) -> None:
    """Check, before training, that the run's card will be valid (id, contract, labels against channels).

    The card is built as :func:`export_bundle` will build it, with the network's description and no metrics
    yet, and parsed by :func:`condswin.bundles.parse_card` — so a bad ``export.id`` or a contract the
    inference side would refuse fails now instead of after hours of training.

    Raises:
        BundleError: the first problem, naming the card field.
    """
    card = build_card(config, data, {}, command)
    net_config: Any = net.config  # the config dataclass build_model gives every network
    card.update(
        architecture=config.model.name,
        config=plain(config.model.overrides),
        in_channels=int(net_config.in_channels),
        out_channels=int(net_config.out_channels),
    )
    parse_card(card, f"{config.source} (model card of the export)", require_weights=False)


def export_bundle(
    net: nn.Module,
    config: TrainConfig,
    data: DataDescription,
    metrics: Mapping[str, float],
    out_dir: str | os.PathLike,
    *,
    command: str | None = None,
    details: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the bundle of a trained network (safetensors weights, sha256, card).

    Args:
        net: the trained network (from :func:`condswin.models.build_model`), on any device.
        config: the run's configuration.
        data: the data's contract, description and licences.
        metrics: validation metrics of exactly these weights.
        out_dir: the bundle folder.
        command: the training command (default: this process's command line).
        details: further ``training`` fields of the card.
        overwrite: replace an existing bundle folder.

    Returns:
        Path of the written ``model_card.json``.

    Raises:
        BundleError: the card is invalid, or ``out_dir`` exists and ``overwrite`` is false.
    """
    card = build_card(config, data, metrics, command or training_command(), details)
    # a CPU copy in eval mode: the caller's network stays where and as it is (it may still be training)
    snapshot = copy.deepcopy(net).cpu().eval()
    return save_bundle(snapshot, card, out_dir, overwrite=overwrite)
