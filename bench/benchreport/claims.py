"""The claims of the works the models come from (docs/architecture.md, "Sources"), checked at equal training
budget: every arm trained with the same data, steps, batch, learning rate and seed (only the network differs),
then scored on the same held-out data.

* the Conditional Swin U-Net notebook: light routers vs iterative routers vs the plain Swin U-Net
  (segmentation Dice on held-out phantoms; latency at batch 1, 4, 8);
* LinTUNet: LinTUNet vs U-Net (segmentation F1 / IoU / precision; ms per image);
* UNet-DCTD-A: UNet-DCTD-A vs CDAE vs classical filters (denoising SSIM / PSNR on held-out real MR).

Arms are 1-layer Swin variants at 128² so a CPU can afford them; the budget (``steps``) is printed with
every table, and the conclusion is about *this* budget, not about converged models. An arm whose bundle an
earlier run of the very same command left in ``--work`` is reused instead of trained again (the document
says which were).
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SEG_ARMS = {"conditional_swin": ("cswin_light_1l", "cswin_iter_1l", "swin_unet_1l"), "lintunet": ("lintunet", "unet")}
DENOISE_ARMS = ("unet_dctd_a", "cdae")
LATENCY_PAIRS = (
    ("swin_unet_1l", "cswin_light_1l", "cswin_iter_1l"),
    ("swin_unet_2l", "cswin_light_2l", "cswin_iter_2l"),
)


def _trained_before(out: Path, command: str) -> dict[str, Any] | None:
    """The arm's bundle in ``out`` when an earlier run of this very command left it there (same data, steps,
    seed and machine: training it again would repeat the same work), else None."""
    card_path = out / "bundle" / "model_card.json"
    if not card_path.is_file():
        return None
    card = json.loads(card_path.read_text(encoding="utf-8"))
    if card.get("training", {}).get("command") != command:
        return None
    return {"command": command, "wall_s": None, "bundle": str(card_path.parent), "metrics": card.get("metrics", {})}


def _train(config_name: str, overrides: list[str], log: Any) -> dict[str, Any]:
    from condswin.training.config import load_config
    from condswin.training.run import train

    config_path = ROOT / "Training" / "configs" / config_name
    command = shlex.join(["python", "Training/train.py", "--config", f"Training/configs/{config_name}", *overrides])
    config = load_config(config_path, overrides)
    earlier = _trained_before(Path(config.trainer.output_dir), command)
    if earlier is not None:
        log(f"claims: reused (trained by an earlier run of the same command): {command}")
        return {**earlier, "reused": True}
    log(f"claims: {command}")
    start = time.perf_counter()
    result = train(config, command=command)
    return {
        "command": command,
        "wall_s": time.perf_counter() - start,
        "bundle": str(result.bundle.parent),
        "metrics": result.metrics,
    }


def _common(steps: int, precision: str, out: Path) -> list[str]:
    return [
        f"trainer.max_steps={steps}",
        "trainer.max_epochs=100000",
        "trainer.batch_size=8",
        f"trainer.precision={precision}",
        "trainer.seed=0",
        "trainer.log_every=25",
        "data.workers=1",
        f"trainer.output_dir={out}",
    ]


def train_segmentation_arms(work: Path, steps: int, precision: str, shapes: Path | None, log: Any) -> dict[str, Any]:
    """Every segmentation arm (Conditional Swin U-Net, LinTUNet), same phantoms (cached once), same budget."""
    arms: dict[str, Any] = {}
    for model in dict.fromkeys(m for group in SEG_ARMS.values() for m in group):
        overrides = [
            f"model.name={model}",
            "model.overrides={image_size: 128}" if model == "lintunet" else "model.overrides={}",
            "data.size=[128,128]",
            "data.train_volumes=24",
            "data.val_volumes=2",
            "data.test_volumes=0",
            f"data.liver_shapes={shapes if shapes else 'null'}",
            f"data.cache_dir={work / 'phantom_cache'}",
            "optim.lr=3.0e-4",
            f"export.id=claim-seg-{model.replace('_', '-')}",
            *_common(steps, precision, work / f"seg_{model}"),
        ]
        arms[model] = _train("seg_phantom_unet.yaml", overrides, log)
    return arms


def train_denoising_arms(work: Path, steps: int, precision: str, mr_train: Path, log: Any) -> dict[str, Any]:
    """UNet-DCTD-A and CDAE on the same MR volumes and noise (Rician, σ 1-13 %), same budget."""
    arms: dict[str, Any] = {}
    for model in DENOISE_ARMS:
        overrides = [
            f"data.root={mr_train}",
            "data.val_volumes=1",
            "data.size=[128,128]",
            "optim.lr=3.0e-4",
            f"export.id=claim-denoise-{model.replace('_', '-')}",
            *_common(steps, precision, work / f"den_{model}"),
        ]
        arms[model] = _train(f"denoise_rician_{model}.yaml", overrides, log)
    return arms


def latency(repeats: int, threads: int, log: Any) -> dict[str, Any]:
    """Interleaved latency (bench/models.py) of the Swin family at equal depth, batch 1, 4 and 8, at 256²."""
    from models import interleaved_latency  # bench/models.py

    out = {}
    for names in LATENCY_PAIRS:
        for batch in (1, 4, 8):
            log(f"claims: latency {', '.join(names)} batch {batch}")
            out[f"{names[0]}|{batch}"] = interleaved_latency(list(names), batch, 256, repeats, threads)
    return out
