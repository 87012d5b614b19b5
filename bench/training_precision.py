"""Training precision and data loading of the three defaults' recipes: images/s in fp32 and bf16 mixed precision,
the share of step time spent waiting for data, and the validation metric after the same number of steps.

Each recipe of ``Training/campaign.yaml`` (the runs that continue the embedded defaults, on their real data)
is trained twice for ``--steps`` steps from the installed default's weights — once ``32-true``, once
``bf16-mixed`` — through the real training loop (data loaders, augmentation, Lightning, validation per volume).
A callback times each step: *data wait* is the time from the end of one step to the start of the next (the
loader's ``next()`` and Lightning's bookkeeping), *compute* the step itself. The first ``--warmup`` steps are
not counted. On a CPU without native bf16 (no AVX512-BF16/AMX) bf16 is emulated; it is measured anyway, to show
what ``trainer.precision: auto`` avoids there.

    python bench/training_precision.py                      # the three recipes, 40 steps each precision
    python bench/training_precision.py --tasks denoise --steps 20
    python bench/training_precision.py --out bench/benchreport/training_precision.md   # the section make bench includes

Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a source checkout without installing the package
    sys.path.insert(0, str(ROOT))

from lightning.pytorch.callbacks import Callback  # noqa: E402
from models import cpu_name  # noqa: E402  (bench/models.py, beside this script)

PRECISIONS = ("32-true", "bf16-mixed")


class StepTimer(Callback):
    """Per-step compute time and the wait before each step (see the module docstring)."""

    def __init__(self) -> None:
        self.compute: list[float] = []
        self.wait: list[float] = []
        self.images: list[int] = []
        self._end: float | None = None
        self._start = 0.0

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self._start = time.perf_counter()
        if self._end is not None:
            self.wait.append(self._start - self._end)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._end = time.perf_counter()
        self.compute.append(self._end - self._start)
        self.images.append(int(batch.image.shape[0]))

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        self._end = None  # validation is not data wait


def measure(name: str, recipe: Any, precision: str, steps: int, warmup: int, work: Path, data_root: Path) -> dict:
    """Train one recipe for ``steps`` steps in ``precision``; images/s, data-wait share, validation metric."""
    from condswin.training.campaign import prepare_recipe, start_bundle
    from condswin.training.config import load_config
    from condswin.training.run import train

    prepared = prepare_recipe(recipe, ROOT, data_root, work)
    out = work / f"{name}-{precision}"
    overrides = [
        *prepared.overrides,
        f"trainer.output_dir={out}",
        f"trainer.precision={precision}",
        f"trainer.max_steps={steps}",
        "trainer.max_epochs=1",
        f"trainer.limit_train_batches={steps}",
        "trainer.val_every=1",
        "trainer.time_budget_min=0",
        "trainer.checkpoint_every_min=0",
        "trainer.seed=0",
    ]
    config = load_config(prepared.config_path, overrides)
    timer = StepTimer()
    started = time.perf_counter()
    result = train(
        config, init_from=start_bundle(recipe.default, None, work / "start"), export=False, callbacks=[timer]
    )
    compute = sum(timer.compute[warmup:])
    wait = sum(timer.wait[max(warmup - 1, 0) :])
    images = sum(timer.images[warmup:])
    return {
        "images_s": images / (compute + wait) if compute + wait > 0 else float("nan"),
        "wait_share": wait / (compute + wait) if compute + wait > 0 else float("nan"),
        "steps": len(timer.compute),
        "batch": config.trainer.batch_size,
        "workers": config.data.workers,
        "size": list(config.data.size),
        "monitor": result.monitor,
        "score": result.metrics.get(result.monitor),
        "wall_s": time.perf_counter() - started,
    }


def markdown(rows: dict[str, dict[str, dict]], steps: int, warmup: int) -> str:
    """The section's table and a line on the machine."""
    from condswin.inference.device import cpu_has_native_bf16

    native = "native bf16 (AVX512-BF16/AMX)" if cpu_has_native_bf16() else "no native bf16: bf16 is emulated"
    lines = [
        f"Measured by `python bench/training_precision.py --steps {steps}` on {cpu_name()} ({os.cpu_count()} "
        f"logical CPUs, {native}); each recipe of `Training/campaign.yaml` trained {steps} steps per precision "
        f"from its installed default through the real training loop, the first {warmup} not timed; images/s "
        "over compute + data wait; the validation metric after those steps (same seed, same data).\n",
        "| recipe | slices | batch / workers | fp32 images/s | bf16 images/s | bf16 / fp32 | data wait fp32 / bf16 | "
        "validation fp32 / bf16 | `auto` here |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    from condswin.training.precision import resolve_precision

    for name, by_precision in rows.items():
        fp32, bf16 = by_precision.get("32-true"), by_precision.get("bf16-mixed")
        if not fp32 or not bf16:
            continue
        ratio = bf16["images_s"] / fp32["images_s"]
        lines.append(
            f"| {name} | {fp32['size'][0]}×{fp32['size'][1]} | {fp32['batch']} / {fp32['workers']} | "
            f"{fp32['images_s']:.1f} | {bf16['images_s']:.1f} | {ratio:.2f}× | "
            f"{100 * fp32['wait_share']:.0f} % / {100 * bf16['wait_share']:.0f} % | "
            f"{fp32['monitor']} {_score(fp32)} / {_score(bf16)} | {resolve_precision('auto', 'cpu')} |"
        )
    return "\n".join(lines) + "\n"


def _score(row: dict) -> str:
    return "–" if row["score"] is None else f"{row['score']:.4f}"


def main(argv: list[str] | None = None) -> int:
    """Measure and print (and with ``--out`` write) the Markdown section."""
    parser = argparse.ArgumentParser(prog="bench/training_precision.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="seg,recon,denoise", help="recipes to measure (comma-separated)")
    parser.add_argument("--steps", type=int, default=40, help="training steps per precision (default 40)")
    parser.add_argument("--warmup", type=int, default=5, help="first steps not timed (default 5)")
    parser.add_argument("--recipes", type=Path, default=ROOT / "Training" / "campaign.yaml")
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench_precision")
    parser.add_argument("--out", type=Path, default=None, help="also write the section to this file")
    args = parser.parse_args(argv)
    if args.steps <= args.warmup or args.warmup < 0:
        parser.error("--steps must exceed --warmup, and --warmup be >= 0")
    from condswin.training.campaign import load_recipes

    recipes = load_recipes(args.recipes)
    rows: dict[str, dict[str, dict]] = {}
    for name in [t.strip() for t in args.tasks.split(",") if t.strip()]:
        for precision in PRECISIONS:
            row = measure(name, recipes[name], precision, args.steps, args.warmup, args.work, args.data_root.resolve())
            rows.setdefault(name, {})[precision] = row
            print(f"{name} {precision}: {row}", file=sys.stderr, flush=True)
    text = markdown(rows, args.steps, args.warmup)
    print(text)
    if args.out is not None:
        from condswin.io.atomic import atomic_path

        with atomic_path(args.out) as tmp:
            Path(tmp).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
