"""The lineage of a model's weights: every training run they went through, so hours of training add up.

A run that starts from a bundle's weights (``--init-from``) or resumes a checkpoint continues that history
instead of starting a new one. Each entry is one training process::

    {"command": "python Training/train.py ...", "steps": 1200, "images_seen": 19200,
     "data": "...", "wall_s": 512.3, "started": "2026-12-06T05:40:00+00:00",
     "device": "cpu", "precision": "32-true", "init_from": "mr-denoise-residual-unet"}

``steps`` and ``images_seen`` count what the exported weights saw in that process (a checkpoint records
the lineage as of its own step, so the best checkpoint's lineage is the history of exactly its weights).
The card keeps ``training.lineage = {"runs": [...], "totals": {...}}``. A card written before lineages
existed gets one entry derived from its ``training`` section, with an unknown wall time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from condswin.bundles.card import ModelCard
from condswin.io.jsonvalues import plain

__all__ = ["run_entry", "lineage_of", "lineage_record", "totals", "images_per_step"]


def images_per_step(trainer_config: Mapping[str, Any], world_size: int = 1) -> int:
    """Training images per optimiser step: batch size × gradient accumulation × processes."""
    return int(trainer_config.get("batch_size", 1)) * int(trainer_config.get("accumulate", 1)) * int(world_size)


def run_entry(
    *,
    command: str,
    steps: int,
    images_seen: int,
    data: str,
    wall_s: float | None,
    started: str | None = None,
    device: str | None = None,
    precision: str | None = None,
    init_from: str | None = None,
) -> dict[str, Any]:
    """One lineage entry (see the module docstring); ``None`` fields are left out."""
    entry: dict[str, Any] = {
        "command": command,
        "steps": int(steps),
        "images_seen": int(images_seen),
        "data": data,
        "wall_s": None if wall_s is None else round(float(wall_s), 3),
    }
    optional = {"started": started, "device": device, "precision": precision, "init_from": init_from}
    entry.update({k: v for k, v in optional.items() if v is not None})
    return entry


def _derived_entry(card: ModelCard) -> dict[str, Any]:
    """The one run a card without a lineage describes: its command, the steps of its exported checkpoint."""
    details = card.training.details
    config = details.get("config") or {}
    trainer = config.get("trainer") or {} if isinstance(config, Mapping) else {}
    step = details.get("checkpoint_step")
    steps = int(step) if isinstance(step, int) and step >= 0 else int(details.get("steps") or 0)
    devices = details.get("devices")
    per_step = images_per_step(trainer, devices if isinstance(devices, int) and devices > 0 else 1)
    return run_entry(
        command=card.training.command,
        steps=steps,
        images_seen=steps * per_step,
        data=card.training.data,
        wall_s=None,
        precision=trainer.get("precision") if isinstance(trainer, Mapping) else None,
    )


def lineage_of(card: ModelCard) -> list[dict[str, Any]]:
    """The runs behind a bundle's weights, oldest first (a card without a lineage gives one derived entry)."""
    recorded = card.training.details.get("lineage")
    if isinstance(recorded, Mapping) and isinstance(recorded.get("runs"), Sequence):
        return [plain(run) for run in recorded["runs"]]
    return [_derived_entry(card)]


def totals(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Sums over the runs; ``wall_s`` counts the known wall times, ``runs_without_wall_time`` the others."""
    walls = [r.get("wall_s") for r in runs]
    known = [float(w) for w in walls if isinstance(w, (int, float)) and math.isfinite(float(w))]
    return {
        "runs": len(runs),
        "steps": sum(int(r.get("steps", 0)) for r in runs),
        "images_seen": sum(int(r.get("images_seen", 0)) for r in runs),
        "wall_s": round(sum(known), 3),
        "runs_without_wall_time": len(walls) - len(known),
    }


def lineage_record(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The card's ``training.lineage`` value: the runs and their totals."""
    # cards hold read-only mappings and tuples; a lineage is written back as plain JSON values
    written = [plain(run) for run in runs]
    return {"runs": written, "totals": totals(written)}
