"""Seconds per slice of the compressed-sensing reconstructions at their defaults, on 1 and 2 CPU threads.

Three slices of a training volume (``bench/cs_slices.py``) are zero-padded to the k-space grid (320 x 320, and
fastMRI knee's 640 x 368), given a smooth phase, undersampled 4x and reconstructed by
:func:`condswin.inference.compressed_sensing.reconstruct_volume` — the code ``condswin reconstruct``
runs — with the default lam and iterations; wall time over the slices, the best of ``--repeats`` runs (the
least disturbed by other work on the machine). The load average at the start is printed with the table.

    python bench/cs_speed.py --shared ../shared/data
    python bench/cs_speed.py --shared ../shared/data --out bench/benchreport/cs_speed.md   # the section make bench includes

Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a source checkout without installing the package
    sys.path.insert(0, str(ROOT))

from cs_slices import training_slices  # noqa: E402  (beside this script)
from models import cpu_name  # noqa: E402  (bench/models.py, beside this script)

GRIDS = ((320, 320), (640, 368))
THREADS = (1, 2)
VOLUME = "mni152_t1_1mm.nii.gz"


def kspace_on_grid(shared: Path, grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(masked k-space, column mask) of three training slices on ``grid``, 4x fastMRI random mask."""
    from condswin.mri.kspace import apply_mask, simulate_singlecoil_kspace
    from condswin.mri.masks import create_mask

    slices = next(s for s in training_slices(shared) if s.name == VOLUME)
    magnitude = sitk.GetArrayFromImage(slices.image)[:3].astype(np.float32)
    kspace = simulate_singlecoil_kspace(magnitude, seed=0, kspace_shape=grid)
    mask, _ = create_mask("random", grid[1], 4.0, None, seed=0)
    return apply_mask(kspace, mask), mask


def seconds_per_slice(kspace: np.ndarray, mask: np.ndarray, method: str, threads: int, repeats: int) -> float:
    from condswin.inference.compressed_sensing import reconstruct_volume

    torch.set_num_threads(threads)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        reconstruct_volume(kspace, mask, method)
        best = min(best, (time.perf_counter() - started) / kspace.shape[0])
    return best


def main(argv: list[str] | None = None) -> int:
    """Measure and print (and with ``--out`` write) the Markdown section."""
    parser = argparse.ArgumentParser(prog="bench/cs_speed.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder")
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting; the fastest counts (default: 3)")
    parser.add_argument("--out", type=Path, default=None, help="also write the section to this file")
    args = parser.parse_args(argv)
    from condswin.mri.compressed_sensing import get_method, list_methods

    load = os.getloadavg()[0]
    lines = [
        f"{cpu_name()}, {os.cpu_count()} logical CPUs, load average {load:.1f} at the start; torch "
        f"{torch.__version__}. Default parameters ("
        + "; ".join(f"{m}: lam {get_method(m).lam:g}, {get_method(m).iterations} iterations" for m in list_methods())
        + f"), 4x random mask, best of {args.repeats} runs of 3 slices.\n",
        "| method | k-space grid | " + " | ".join(f"s/slice, {t} thread{'s' * (t > 1)}" for t in THREADS) + " |",
        "|---|---|" + "---|" * len(THREADS),
    ]
    for grid in GRIDS:
        kspace, mask = kspace_on_grid(args.shared, grid)
        for method in list_methods():
            cells = [f"{seconds_per_slice(kspace, mask, method, t, args.repeats):.2f}" for t in THREADS]
            lines.append(f"| {method} | {grid[0]}×{grid[1]} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
