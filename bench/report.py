"""Regenerate ``docs/benchmarks.md``: targets, embedded models, quality on held-out data, the claims of the
works the models come from at equal training budget, and speed — every table from this one run on this machine.

    make bench                                  # = python bench/report.py; about 1.5 h on 2 CPU cores
    python bench/report.py --quick              # a check that everything runs (minutes; numbers not comparable)
    python bench/report.py --skip claims        # leave out the training arms (the slowest part)
    python bench/report.py --from-cache         # re-assemble the document from runs/bench/results.json

Held-out data (see :mod:`benchreport.data`): fresh phantoms are generated; the real samples come from
``../shared/data`` (``--shared``) and are left out, with a line saying so, where absent. Results are cached in
``--work`` (``results.json``) so the document can be rebuilt without measuring again.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):  # run from a source checkout without installing; bench's own modules
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

SECTIONS = ("quality", "claims", "speed")


def log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md", help="the document to write")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench", help="data, runs and results.json")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data", help="real samples folder")
    parser.add_argument("--quick", action="store_true", help="small budgets and fewer settings (a smoke run)")
    parser.add_argument(
        "--claims-steps", type=int, default=None, help="training steps per arm (default 300; quick 10; 0: latency only)"
    )
    parser.add_argument("--skip", choices=SECTIONS, action="append", default=[], help="leave a section out")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--from-cache", action="store_true", help="only re-assemble the document from results.json")
    args = parser.parse_args(argv)
    if args.claims_steps is not None and args.claims_steps < 0:
        parser.error(f"--claims-steps must be >= 0, got {args.claims_steps}")
    return args


def prepare_data(args: argparse.Namespace) -> tuple[dict[str, Path], list[str]]:
    from benchreport import data
    from benchreport.quality import models_of

    folders = {"phantoms": data.fresh_phantoms(args.work / "phantoms", 2 if args.quick else 6)}
    seg_models = models_of("segmentation")
    if seg_models:
        from condswin.bundles import resolve_bundle

        split = data.test_split_phantoms(args.work / "phantoms_test_split", resolve_bundle(seg_models[0]).card)
        if split is not None:
            folders["phantoms_test_split"] = split
    folders.update(data.shared_folders(args.work, args.shared))
    wanted = ("real_ct", "mr_heldout", "kspace")
    missing = [f"{name} ({args.shared})" for name in wanted if name not in folders]
    return folders, missing


def run_claims(args: argparse.Namespace, folders: dict[str, Path], precision: str) -> dict[str, Any]:
    from benchreport import claims, quality
    from benchreport.data import mr_training_folder

    steps = args.claims_steps if args.claims_steps is not None else (10 if args.quick else 300)
    work = args.work / "claims"
    shapes = args.shared / "ct" / "lits_liver_masks"
    out: dict[str, Any] = {"steps": steps, "precision": precision}
    if steps == 0:  # the timing claims only: no training arms
        from models import interleaved_latency  # bench/models.py

        out["lintunet_ms"] = interleaved_latency(["unet", "lintunet"], 8, 128, 3 if args.quick else 7, args.threads)[
            "ms"
        ]
        out["latency"] = claims.latency(3 if args.quick else 7, args.threads, log)
        return out
    out["seg"] = claims.train_segmentation_arms(work, steps, precision, shapes if shapes.is_dir() else None, log)
    plan = [quality.Evaluation("claims_seg", "segmentation arms", "segmentation", folders["phantoms"], kind="lits")]
    out["seg_eval"] = quality.run(
        plan, work / "eval", log, models={"segmentation": [a["bundle"] for a in out["seg"].values()]}
    )["claims_seg"]
    from models import interleaved_latency  # bench/models.py

    timing = interleaved_latency(["unet", "lintunet"], 8, 128, 3 if args.quick else 7, args.threads)
    out["lintunet_ms"] = timing["ms"]
    mr_train = mr_training_folder(args.work, args.shared)
    if mr_train is not None and "mr_heldout" in folders:
        out["denoise"] = claims.train_denoising_arms(work, steps, precision, mr_train, log)
        baselines = ("gaussian", "tv") if args.quick else ("gaussian", "nlm", "tv", "wavelet", "bm3d")
        plan = [
            quality.Evaluation(
                "claims_den",
                "denoising arms",
                "denoising",
                folders["mr_heldout"],
                kind="mr_volumes",
                baselines=baselines,
                sigmas=(0.05,),
                noise="rician",
            )
        ]
        models = {"denoising": [a["bundle"] for a in out["denoise"].values()]}
        out["denoise_eval"] = quality.run(plan, work / "eval", log, models=models)["claims_den"]
    out["latency"] = claims.latency(3 if args.quick else 7, args.threads, log)
    return out


def registry_entries() -> list[dict[str, Any]]:
    from condswin.bundles import embedded_models_dir

    path = embedded_models_dir() / "models.json"
    return json.loads(path.read_text())["models"] if path.is_file() else []


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cache = args.work / "results.json"
    if args.from_cache:
        results = json.loads(cache.read_text())
    else:
        import torch
        from benchreport import machine, quality, speed

        from condswin.inference.device import cpu_has_native_bf16

        threads = args.threads or len(os.sched_getaffinity(0))
        args.threads = threads
        torch.set_num_threads(threads)
        args.work.mkdir(parents=True, exist_ok=True)
        command = shlex.join(["python", "bench/report.py", *(argv if argv is not None else sys.argv[1:])])
        results: dict[str, Any] = {"machine": machine.describe(ROOT, threads), "command": command}
        folders, results["missing"] = prepare_data(args)
        if "quality" not in args.skip:
            results["quality"] = quality.run(quality.evaluations(folders, args.quick), args.work / "quality", log)
        if "claims" not in args.skip:
            precision = "bf16-mixed" if cpu_has_native_bf16() else "32-true"
            results["claims"] = run_claims(args, folders, precision)
        if "speed" not in args.skip:
            results["speed"] = speed.run(args.quick, log)
        cache.write_text(json.dumps(results, indent=1, default=str))
    from benchreport.document import build

    from condswin.io.atomic import write_text_atomic

    write_text_atomic(build(results, registry_entries()), args.out)
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
