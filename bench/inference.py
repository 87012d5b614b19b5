"""End-to-end inference benchmark of the ``condswin`` command line: seconds and peak memory.

Cases (each run as a separate ``condswin`` process, so the time includes start-up, reading, inference,
post-processing and writing, and the peak memory is that process's maximum resident set):

* ``segment``: a 512×512×N abdominal CT phantom (N = 200 by default) → LiTS labelmap + report.
* ``reconstruct``: a fastMRI-sized single-coil file (35 slices of 640×368 k-space, 320×320 target) →
  reconstruction + metrics, and the zero-filled baseline.

No trained model exists yet, so each model is a freshly initialised network of the architecture and
in-plane grid its card will have (the timing does not depend on the weights); the table says so.

Usage::

    python bench/inference.py --threads 2                      # the defaults (several minutes on 2 cores)
    python bench/inference.py --seg-models cswin_light_2l:256,unet:256 --slices 200 --output results.json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


_BENCH_TRAINING = {"data": "none: freshly initialised (benchmark of speed only)", "command": "bench/inference.py"}


def _seg_card(size: int) -> dict[str, Any]:
    """The segmentation template (HU window, LiTS labels, liver post-processing) at ``size``² slices."""
    from condswin.bundles import card_template

    card = card_template("bench-seg", "segmentation")
    card["input"]["size"] = [size, size]
    return {**card, "training": _BENCH_TRAINING, "version": "0"}


def _recon_card() -> dict[str, Any]:
    """The reconstruction template (percentiles from 0, stored slices, native grid)."""
    from condswin.bundles import card_template

    return {**card_template("bench-recon", "reconstruction"), "training": _BENCH_TRAINING, "version": "0"}


def _make_fastmri_file(path: Path, slices: int = 35) -> None:
    """A fastMRI-schema single-coil file: 640×368 k-space from a smooth 320×320 MR-like magnitude."""
    from scipy import ndimage

    from condswin.mri.fastmri import write
    from condswin.mri.fft import ifft2c
    from condswin.mri.kspace import center_crop, simulate_singlecoil_kspace

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[-1:1:320j, -1:1:320j]
    base = ((xx / 0.8) ** 2 + (yy / 0.9) ** 2 < 1).astype(np.float32)
    volume = np.stack(
        [ndimage.gaussian_filter(base * (0.6 + 0.4 * rng.random((320, 320))), 2.0) for _ in range(slices)]
    )
    kspace = simulate_singlecoil_kspace(volume, seed=0, kspace_shape=(640, 368))
    target = np.abs(center_crop(ifft2c(kspace), (320, 320))).astype(np.float32)
    write(path, kspace, target=target, spacing=(3.0, 0.5, 0.5))


# The child reports its own peak resident memory (VmHWM) when it exits. The parent cannot use wait4's
# ru_maxrss: Linux records the pre-exec (forked parent's) memory there, so every child would report at least
# this benchmark's own size.
_CHILD = (
    "import atexit, sys\n"
    "def _peak():\n"
    "    try:\n"
    "        line = next(l for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
    "        sys.stderr.write('PEAK_KIB ' + line.split()[1] + '\\n')\n"
    "    except OSError:\n"
    "        pass\n"
    "atexit.register(_peak)\n"
    "from condswin.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _run(command: list[str]) -> dict[str, Any]:
    """Run one condswin process; wall seconds, its peak RSS (MiB), and when each JSON progress stage began."""
    started = time.perf_counter()
    err_file = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a chatty stderr cannot block the child
    process = subprocess.Popen(
        [sys.executable, "-c", _CHILD, *command], stdout=subprocess.PIPE, stderr=err_file, text=True
    )
    stage_start: dict[str, float] = {}
    assert process.stdout is not None
    for line in process.stdout:
        try:
            stage = json.loads(line)["stage"]
        except (json.JSONDecodeError, KeyError):
            continue
        stage_start.setdefault(stage, time.perf_counter() - started)
    process.wait()
    err_file.seek(0)
    stderr = err_file.read()
    err_file.close()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"condswin {' '.join(command)} failed with exit code {process.returncode}:\n{stderr}")
    peaks = [int(line.split()[1]) for line in stderr.splitlines() if line.startswith("PEAK_KIB ")]
    peak_mib = round(peaks[-1] / 1024.0, 1) if peaks else None
    return {
        "seconds": round(seconds, 2),
        "peak_mib": peak_mib,
        "stages_s": {k: round(v, 2) for k, v in stage_start.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--slices", type=int, default=200, help="CT slices (default: 200)")
    parser.add_argument(
        "--seg-models",
        default="cswin_light_2l:256",
        help="comma-separated ARCH:IN_PLANE_SIZE segmentation candidates (default: cswin_light_2l:256)",
    )
    parser.add_argument("--recon-models", default="cswin_light_2l", help="comma-separated reconstruction architectures")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--output", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()

    import torch

    from condswin.bundles import save_bundle
    from condswin.ct.phantom import make_phantom
    from condswin.io.images import write_image
    from condswin.models import build_model

    torch.manual_seed(0)
    cli: list[str] = []
    common = [
        "--device",
        args.device,
        "--threads",
        str(args.threads),
        "--batch-size",
        str(args.batch_size),
        "--progress",
        "json",
    ]
    results: dict[str, Any] = {
        "machine": {
            "cpu_threads": args.threads,
            "device": args.device,
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
        },
        "cases": [],
    }
    with tempfile.TemporaryDirectory(prefix="condswin-bench-") as tmp_name:
        tmp = Path(tmp_name)
        ct, _ = make_phantom(0, shape=(512, 512, args.slices), spacing=(0.78, 0.78, 2.5), num_tumours=3)
        write_image(ct, tmp / "ct.nii.gz")
        for spec in filter(None, args.seg_models.split(",")):
            arch, _, size = spec.partition(":")
            name = f"seg-{arch}-{size or 256}"
            save_bundle(build_model(arch, 1, 3), _seg_card(int(size or 256)), tmp / name)
            run = _run(
                [
                    *cli,
                    "segment",
                    str(tmp / "ct.nii.gz"),
                    str(tmp / f"{name}.nii.gz"),
                    "--model",
                    str(tmp / name),
                    *common,
                ]
            )
            results["cases"].append(
                {"case": f"segment 512x512x{args.slices} CT", "model": f"{arch} at {size or 256}^2 (untrained)", **run}
            )
            print(json.dumps(results["cases"][-1]), flush=True)

        _make_fastmri_file(tmp / "knee.h5")
        for arch in ["zero-filled", *filter(None, args.recon_models.split(","))]:
            model_arg = arch
            if arch != "zero-filled":
                save_bundle(build_model(arch, 1, 1), _recon_card(), tmp / f"rec-{arch}")
                model_arg = str(tmp / f"rec-{arch}")
            run = _run(
                [
                    *cli,
                    "reconstruct",
                    str(tmp / "knee.h5"),
                    str(tmp / f"rec-{arch}.nii.gz"),
                    "--model",
                    model_arg,
                    *common,
                ]
            )
            label = "zero-filled baseline" if arch == "zero-filled" else f"{arch} at 320^2 (untrained)"
            results["cases"].append({"case": "reconstruct 35x640x368 single-coil", "model": label, **run})
            print(json.dumps(results["cases"][-1]), flush=True)

    print("\n| case | model | seconds | peak memory (MiB) |\n|---|---|---|---|")
    for case in results["cases"]:
        peak = "n/a" if case["peak_mib"] is None else f"{case['peak_mib']:.0f}"
        print(f"| {case['case']} | {case['model']} | {case['seconds']:.1f} | {peak} |")
    if args.output is not None:
        args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
