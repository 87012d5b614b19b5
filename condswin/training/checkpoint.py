"""Reading Lightning checkpoints of this package: the resume check and the network of a checkpoint.

A checkpoint is checked against the run before Lightning touches it: a checkpoint of another architecture
(or other channels) otherwise fails deep inside ``trainer.fit`` with a tensor-size ``RuntimeError``, after
data loaders and processes have started.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from condswin.errors import InputError, InputNotFoundError, ModelError
from condswin.training.modules.base import CHECKPOINT_KEY, TaskModule

__all__ = ["read_checkpoint", "check_checkpoint", "network_state"]

_NETWORK_PREFIX = "net."


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint on the CPU, tensors and plain values only (``weights_only``: no code is unpickled).

    Raises:
        InputNotFoundError: no such file.
        InputError: not a readable Lightning checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"{path}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle, zip and runtime errors alike for a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a readable checkpoint ({first})") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise InputError(f"{path}: not a Lightning checkpoint (no state_dict)")
    return checkpoint


def network_state(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The network's weights in a checkpoint (the module's ``net.`` entries, prefix removed)."""
    state = checkpoint["state_dict"]
    return {k[len(_NETWORK_PREFIX) :]: v for k, v in state.items() if k.startswith(_NETWORK_PREFIX)}


def check_checkpoint(path: str | os.PathLike, module: TaskModule) -> dict[str, Any]:
    """Refuse a checkpoint that cannot resume ``module``'s run, naming what differs.

    Args:
        path: the checkpoint to resume from.
        module: the freshly built module of the run.

    Returns:
        The loaded checkpoint.

    Raises:
        InputNotFoundError / InputError: a missing or unreadable file.
        ModelError: the checkpoint holds another task, architecture, model config or channel count, or
            weights whose names or shapes differ from the network's.
    """
    checkpoint = read_checkpoint(path)
    expected = module.describe()
    recorded = checkpoint.get(CHECKPOINT_KEY)
    if isinstance(recorded, dict):
        differences = [
            f"{key} {recorded.get(key)!r} (this run: {expected[key]!r})"
            for key in ("task", "architecture", "in_channels", "out_channels", "model_config")
            if recorded.get(key) != expected[key]
        ]
        if differences:
            raise ModelError(
                f"{path}: this checkpoint cannot resume the run of {module.config.source}: it holds "
                + "; ".join(differences)
            )
    ours = {k: tuple(v.shape) for k, v in module.net.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in network_state(checkpoint).items()}
    missing = sorted(set(ours) - set(theirs))
    unexpected = sorted(set(theirs) - set(ours))
    resized = sorted(k for k in set(ours) & set(theirs) if ours[k] != theirs[k])
    if missing or unexpected or resized:
        detail = (
            f"missing {missing[0]}"
            if missing
            else f"unexpected {unexpected[0]}"
            if unexpected
            else f"{resized[0]} has shape {theirs[resized[0]]}, the network {ours[resized[0]]}"
        )
        raise ModelError(
            f"{path}: the checkpoint's weights do not fit {module.config.model.name} as configured in "
            f"{module.config.source} ({len(missing)} missing, {len(unexpected)} unexpected, {len(resized)} of "
            f"another shape; first: {detail})"
        )
    return checkpoint
