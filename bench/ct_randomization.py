"""The measured effect of CT domain randomisation: the same network and budget trained with and without it.

Two arms, identical but for ``data.randomize``: a small U-Net trained for a fixed number of steps on phantom
CT whose livers take the real LiTS liver shapes (``data.liver_shapes``), with the machinery of
``Training/train.py`` (:func:`condswin.training.config.load_config` on ``Training/configs/seg_phantom_unet.yaml``
plus overrides, then :func:`condswin.training.run.train`), same seeds, same phantoms, same slices. Each
exported bundle is then scored through the user's path, :func:`condswin.jobs.segment` (resize to the card's
grid, HU window, liver post-processing):

* on the real CT samples of ``--ct-dir`` (``volume-2002``, ``volume-3001`` with their liver labels): liver
  Dice of predicted liver ∪ tumour against the reference liver (these references hold no tumour label, and
  2002's is a TotalSegmentator pseudo-label, not a manual one);
* on the run's held-out test phantoms (their own rendering, liver shapes never seen in training): liver and
  tumour Dice per LiTS class (``label == 1`` / ``== 2``) and whole-liver Dice, mean over volumes (tumour
  over the volumes that have one in the reference or the prediction).

Run (about 20 minutes on 2 idle cores with the defaults; runs go under ``runs/``, which git ignores):

    python bench/ct_randomization.py                          # train both arms, score, print the table
    python bench/ct_randomization.py --steps 40 --train-volumes 8 --out runs/ct_rand_smoke   # a 2-minute check
    python bench/ct_randomization.py --score-only             # re-score the bundles of an earlier run

Prints a Markdown table and the exact ``Training/train.py`` command of each arm; writes ``results.json``
into ``--out``. Exit codes as ``condswin``: 2 bad option, 3 missing data, 5 the output folder exists.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a source checkout without installing the package
    sys.path.insert(0, str(ROOT))

from condswin.errors import CondswinError, InputNotFoundError, OutputExistsError, UsageError  # noqa: E402

BASE_CONFIG = ROOT / "Training" / "configs" / "seg_phantom_unet.yaml"
ARMS = {"randomized": True, "fixed": False}
REAL_CASES = ("2002", "3001")
REAL_NOTES = {
    "2002": "122×101×30 crop at 3 mm; liver label from TotalSegmentator (pseudo-label)",
    "3001": "3 axial slices, 512² at 0.81 mm, contrast CT; manual liver label",
}


def arm_overrides(args: argparse.Namespace, randomize: bool, output_dir: Path) -> list[str]:
    """The ``key=value`` overrides of one arm (everything but ``data.randomize`` and the folder is shared)."""
    size = args.size
    return [
        f"model.name={args.model}",
        f"model.overrides={{chans: {args.chans}}}" if args.model == "unet" else "model.overrides={}",
        f"data.size=[{size},{size}]",
        f"data.liver_shapes={args.shapes}",
        f"data.randomize={'true' if randomize else 'false'}",
        f"data.train_volumes={args.train_volumes}",
        f"data.val_volumes={args.val_volumes}",
        f"data.test_volumes={args.test_volumes}",
        f"data.slices_per_volume={args.slices}",
        f"data.workers={args.workers}",
        f"data.cache_dir={args.out / 'data_cache'}",  # both arms read the same generated phantoms
        f"optim.lr={args.lr}",
        f"trainer.max_steps={args.steps}",
        "trainer.max_epochs=10000",  # the step budget ends the run
        f"trainer.batch_size={args.batch}",
        f"trainer.seed={args.seed}",
        "trainer.log_every=20",
        f"trainer.output_dir={output_dir}",
        f"export.id=ct-randomization-{'on' if randomize else 'off'}",
    ]


def check_inputs(args: argparse.Namespace) -> None:
    """Every file the experiment reads, before any training step.

    Raises:
        InputNotFoundError: a missing CT sample, reference label or liver-shape folder (named).
        UsageError: a budget that cannot train.
    """
    needed = [Path(args.shapes)] + [
        args.ct_dir / f"{kind}-{case}.nii.gz" for case in REAL_CASES for kind in ("volume", "segmentation")
    ]
    for path in needed:
        if not path.exists():
            raise InputNotFoundError(f"{path}: not found (the real CT samples and liver shapes of ../shared/data/ct)")
    if args.steps < 1 or args.batch < 1 or args.chans < 1:
        raise UsageError(f"--steps, --batch and --chans must be >= 1, got {args.steps}, {args.batch}, {args.chans}")


def arm_config(args: argparse.Namespace, arm: str) -> tuple[Any, str]:
    """The checked config of one arm and its equivalent ``Training/train.py`` command.

    Raises:
        UsageError: an override the config refuses (e.g. an unknown model name), naming the key.
    """
    from condswin.training.config import load_config

    overrides = arm_overrides(args, ARMS[arm], args.out / arm)
    command = shlex.join(["python", "Training/train.py", "--config", str(BASE_CONFIG.relative_to(ROOT)), *overrides])
    return load_config(BASE_CONFIG, overrides), command


def train_arm(config: Any, command: str) -> dict[str, Any]:
    """Train one arm; returns its command, wall time, steps, run metrics and bundle folder."""
    from condswin.training.run import train

    start = time.perf_counter()
    result = train(config, command=command)
    wall = time.perf_counter() - start
    if result.bundle is None:
        raise RuntimeError(f"{config.trainer.output_dir}: the run exported no bundle")
    return {
        "command": command,
        "wall_s": wall,
        "steps": config.trainer.max_steps,
        "metrics": result.metrics,
        "bundle": str(result.bundle.parent),
    }


def heldout_phantoms(config: Any) -> list[tuple[str, Any, Any]]:
    """The run's test-split phantoms, regenerated exactly as the data pipeline makes them (same seeds, grid and
    held-out liver shapes, undeformed): ``[(name, ct, labels)]``.

    Args:
        config: either arm's :class:`~condswin.training.config.TrainConfig` (the arms share their data).
    """
    from condswin.ct.phantom import generate_phantom
    from condswin.training.data.ct_phantom import PHANTOM_SLICES, find_liver_shapes, read_shape
    from condswin.training.data.samples import phantom_seeds, split_volumes

    data = config.data
    shapes = find_liver_shapes(data.liver_shapes, config.source)
    _, _, test_shapes = split_volumes(shapes, data.val_volumes, data.test_volumes, data.split_seed, config.source)
    _, _, seeds = phantom_seeds(data.split_seed, data.train_volumes, data.val_volumes, data.test_volumes)
    grid = (int(data.size[1]), int(data.size[0]), PHANTOM_SLICES)
    cases = []
    for i, seed in enumerate(seeds):
        shape = test_shapes[i % len(test_shapes)]
        case = generate_phantom(seed, grid, liver_mask=read_shape(shape))
        cases.append((f"phantom-{seed} ({Path(shape).name.split('.')[0]}, {case.phase})", case.ct, case.labels))
    return cases


def real_cases(ct_dir: Path) -> list[tuple[str, Any, Any]]:
    """The real CT samples with their liver references: ``[(name, ct, labels)]``."""
    from condswin.io import read_image

    return [
        (f"volume-{c}", read_image(ct_dir / f"volume-{c}.nii.gz"), read_image(ct_dir / f"segmentation-{c}.nii.gz"))
        for c in REAL_CASES
    ]


def score_bundle(bundle_dir: str, phantoms: list, reals: list) -> dict[str, Any]:
    """Segment every case with the bundle (:func:`condswin.jobs.segment`) and score it.

    Returns:
        ``{"real": {name: {"liver_dice", "pred_ml", "ref_ml"}}, "phantom": {name: {...}}, "phantom_mean": {...}}``.
    """
    import numpy as np
    import SimpleITK as sitk

    from condswin.bundles import load_bundle, read_bundle
    from condswin.jobs import segment
    from condswin.metrics import dice, mark_absent, segmentation_metrics

    loaded = load_bundle(read_bundle(bundle_dir))
    out: dict[str, Any] = {"real": {}, "phantom": {}}
    for name, image, ref_image in reals:
        pred = sitk.GetArrayFromImage(segment(image, loaded).output)
        ref = sitk.GetArrayViewFromImage(ref_image) > 0
        voxel_ml = float(np.prod(image.GetSpacing())) / 1000.0
        out["real"][name] = {
            "liver_dice": dice(pred > 0, ref),  # the reference liver includes any lesion
            "pred_ml": float(np.count_nonzero(pred)) * voxel_ml,
            "ref_ml": float(np.count_nonzero(ref)) * voxel_ml,
        }
    for name, image, ref_image in phantoms:
        pred = sitk.GetArrayFromImage(segment(image, loaded).output)
        ref = sitk.GetArrayFromImage(ref_image)
        per_class = mark_absent(segmentation_metrics(pred, ref, with_hd95=False))
        out["phantom"][name] = {
            "liver_dice": per_class["liver"]["dice"],
            "tumour_dice": per_class["tumour"]["dice"],
            "whole_liver_dice": dice(pred > 0, ref > 0),
        }
    means = {}
    for key in ("liver_dice", "tumour_dice", "whole_liver_dice"):
        values = [v[key] for v in out["phantom"].values() if v[key] is not None]
        means[key] = float(np.mean(values)) if values else None
        means[f"{key}_n"] = len(values)
    out["phantom_mean"] = means
    return out


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def print_report(results: dict[str, Any]) -> None:
    """The Markdown table of both arms, the per-volume phantom scores and the exact commands."""
    arms = [a for a in ARMS if a in results["arms"]]
    print(f"\n{results['machine']}\n")
    header = "| | " + " | ".join(f"`data.randomize={str(ARMS[a]).lower()}`" for a in arms) + " |"
    print(header)
    print("|---|" + "---:|" * len(arms))
    rows = [
        ("training steps (batch × steps)", lambda r: f"{r['train']['steps']} × {results['batch']}"),
        ("training wall time (min)", lambda r: f"{r['train']['wall_s'] / 60:.1f}"),
        (
            f"phantom validation ({results.get('val_volumes', '?')} volumes), best checkpoint: liver / tumour Dice",
            lambda r: (
                f"{_fmt(r['train']['metrics'].get('val_dice_liver'))} / "
                f"{_fmt(r['train']['metrics'].get('val_dice_tumour'))}"
            ),
        ),
        (
            "held-out phantoms, training's own test (slices, no post-processing): liver / tumour Dice",
            lambda r: (
                f"{_fmt(r['train']['metrics'].get('test_dice_liver'))} / "
                f"{_fmt(r['train']['metrics'].get('test_dice_tumour'))}"
            ),
        ),
    ]
    for case in REAL_CASES:
        name = f"volume-{case}"
        rows.append(
            (
                f"**real CT {name}** liver Dice ({REAL_NOTES[case]})",
                lambda r, n=name: _fmt(r["score"]["real"][n]["liver_dice"]),
            )
        )
        rows.append(
            (
                f"{name}: predicted / reference liver volume (mL)",
                lambda r, n=name: f"{r['score']['real'][n]['pred_ml']:.0f} / {r['score']['real'][n]['ref_ml']:.0f}",
            )
        )
    for key, label in (
        ("liver_dice", "liver (label 1) Dice"),
        ("tumour_dice", "tumour Dice"),
        ("whole_liver_dice", "whole-liver Dice"),
    ):
        rows.append(
            (
                f"held-out phantoms ({results['test_volumes']}), `condswin.jobs.segment`: {label}",
                lambda r, k=key: f"{_fmt(r['score']['phantom_mean'][k])} (n={r['score']['phantom_mean'][k + '_n']})",
            )
        )
    for label, fn in rows:
        print(f"| {label} | " + " | ".join(fn(results["arms"][a]) for a in arms) + " |")
    print("\nHeld-out phantoms, per volume (liver / tumour / whole liver Dice):\n")
    print("| volume | " + " | ".join(arms) + " |")
    print("|---|" + "---|" * len(arms))
    for name in results["arms"][arms[0]]["score"]["phantom"]:
        cells = []
        for a in arms:
            v = results["arms"][a]["score"]["phantom"][name]
            cells.append(f"{_fmt(v['liver_dice'])} / {_fmt(v['tumour_dice'])} / {_fmt(v['whole_liver_dice'])}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nCommands (the equivalent `Training/train.py` call of each arm):\n")
    for a in arms:
        print(f"    {results['arms'][a]['train']['command']}")


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="bench/ct_randomization.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    shared = ROOT.parent / "shared" / "data" / "ct"
    parser.add_argument("--out", type=Path, default=Path("runs/ct_randomization"), help="run folder (must not exist)")
    parser.add_argument("--ct-dir", type=Path, default=shared, help=f"real CT samples (default {shared})")
    parser.add_argument("--shapes", default=str(shared / "lits_liver_masks"), help="real liver shapes folder")
    parser.add_argument("--model", default="unet", help="registry name (default unet)")
    parser.add_argument("--chans", type=int, default=8, help="unet channels (default 8: 0.48 M parameters)")
    parser.add_argument("--size", type=int, default=128, help="training slice size (default 128)")
    parser.add_argument("--steps", type=int, default=400, help="optimiser steps per arm (default 400)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3: a short budget)")
    parser.add_argument("--train-volumes", type=int, default=48)
    parser.add_argument("--val-volumes", type=int, default=2)
    parser.add_argument("--test-volumes", type=int, default=4)
    parser.add_argument("--slices", type=int, default=24, help="slices per phantom volume")
    parser.add_argument("--workers", type=int, default=1, help="DataLoader workers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--score-only", action="store_true", help="score the bundles of an earlier run in --out")
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train (unless ``--score-only``), score and return the results (also written to ``--out/results.json``)."""
    import json
    import os

    import torch

    from condswin.io import write_json_atomic

    check_inputs(args)
    configs = {arm: arm_config(args, arm) for arm in ARMS}  # both checked before either trains
    results_path = args.out / "results.json"
    if args.score_only:
        if not results_path.is_file():
            raise InputNotFoundError(f"{results_path}: no earlier run to score")
        results = json.loads(results_path.read_text())
        results.setdefault("val_volumes", args.val_volumes)  # (runs written before this key existed)
    else:
        for config, _ in configs.values():  # a second run into a folder would mix checkpoints
            if Path(config.trainer.output_dir).exists():
                raise OutputExistsError(f"{config.trainer.output_dir}: exists; remove it or give another --out")
        results = {
            "machine": f"{os.cpu_count()} CPU threads, torch {torch.__version__}, load average before "
            f"{os.getloadavg()[0]:.1f}",
            "batch": args.batch,
            "val_volumes": args.val_volumes,
            "test_volumes": args.test_volumes,
            "arms": {},
        }
        for arm, (config, command) in configs.items():
            results["arms"][arm] = {"train": train_arm(config, command)}
            write_json_atomic(results, results_path)  # a crash in scoring keeps the training record
    phantoms = heldout_phantoms(configs["randomized"][0])  # the arms share their data
    reals = real_cases(args.ct_dir)
    for entry in results["arms"].values():
        entry["score"] = score_bundle(entry["train"]["bundle"], phantoms, reals)
    write_json_atomic(results, results_path)
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the experiment; returns the exit code (``condswin``'s codes for bad options, data and outputs)."""
    from condswin.cli.errors import exit_code_for

    args = build_parser().parse_args(argv)
    try:
        results = run(args)
    except CondswinError as exc:
        print(f"bench/ct_randomization.py: error: {exc}", file=sys.stderr)
        return exit_code_for(exc)
    print_report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
