"""The default lam of the compressed-sensing reconstructions, chosen on training volumes only.

For each method and each lam of a small grid, four slices of each training MR volume (``bench/cs_slices.py``)
are reconstructed through :func:`condswin.jobs.reconstruct_image` exactly as ``condswin reconstruct`` would
reconstruct that file (k-space simulated with a smooth phase, fastMRI random mask with the file's seed, centre
fractions 0.08 at 4x and 0.04 at 8x), and scored with fastMRI's volume PSNR and SSIM against the slices
themselves. The default is the largest lam whose mean PSNR over the volumes and both accelerations is within
0.05 dB of the best: where PSNR plateaus (TV at small lam, where the solution tends to the image of least total
variation that fits the data exactly), the stronger regularisation is preferred, because simulated k-space
holds only the noise of the image it was made from, and real acquisitions hold more. lam is relative to the
largest zero-filled magnitude of the reconstructed slices.

    python bench/cs_lambda.py --shared ../shared/data
    python bench/cs_lambda.py --shared ../shared/data --out bench/benchreport/cs_lambda.md   # the section make bench includes

Prints Markdown.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a source checkout without installing the package
    sys.path.insert(0, str(ROOT))

from cs_slices import SLICE_FRACTIONS, TRAINING_VOLUMES, training_slices  # noqa: E402  (beside this script)

METHODS = ("cs-tv", "cs-wavelet")
LAMBDAS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
ACCELERATIONS = (4.0, 8.0)
# PSNR differences below this are a plateau, not a preference (see the module docstring).
PLATEAU_DB = 0.05


def sweep(shared: Path, lambdas: tuple[float, ...], iterations: int) -> dict[tuple[str, float, str, float], dict]:
    """``{(method, lam, volume, acceleration): metrics}``, with ``("zero-filled", 0, ...)`` rows too."""
    from condswin.inference import InferenceOptions
    from condswin.jobs import reconstruct_image
    from condswin.mri.masks import MaskSpec

    results = {}
    options = InferenceOptions(device="cpu")
    for slices in training_slices(shared):
        for acceleration in ACCELERATIONS:
            # the seeds condswin reconstruct derives from the file's name
            mask = {"mask": MaskSpec(acceleration=acceleration), "name": slices.name}
            zero_filled = reconstruct_image(slices.image, "zero-filled", options, **mask)
            results["zero-filled", 0.0, slices.name, acceleration] = zero_filled.report["metrics"]["model"]
            for method in METHODS:
                for lam in lambdas:
                    params = {"lam": lam, "iterations": iterations}
                    started = time.perf_counter()
                    job = reconstruct_image(slices.image, method, options, params=params, **mask)
                    metrics = dict(job.report["metrics"]["model"])
                    metrics["seconds_per_slice"] = (time.perf_counter() - started) / slices.image.GetSize()[2]
                    results[method, lam, slices.name, acceleration] = metrics
                    print(
                        f"{slices.name} {acceleration:g}x {method} lam={lam:g}: PSNR {metrics['psnr']:.2f} "
                        f"SSIM {metrics['ssim']:.4f}",
                        file=sys.stderr,
                    )
    return results


def chosen_lambda(results: dict, method: str, lambdas: tuple[float, ...]) -> float:
    """The largest lam whose mean PSNR over volumes and accelerations is within :data:`PLATEAU_DB` of the best."""
    scores = {lam: _mean(results, method, lam, "psnr") for lam in lambdas}
    best = max(scores.values())
    return max(lam for lam, score in scores.items() if score >= best - PLATEAU_DB)


def _mean(results: dict, method: str, lam: float, key: str, acceleration: float | None = None) -> float:
    return mean(
        metrics[key]
        for (m, value, _, acc), metrics in results.items()
        if m == method and value == lam and (acceleration is None or acc == acceleration)
    )


def markdown(results: dict, lambdas: tuple[float, ...], iterations: int) -> str:
    """The sweep table (mean over the training volumes per acceleration) and the per-volume best lam."""
    head = ["Method", "lam", *(f"PSNR {a:g}x (dB)" for a in ACCELERATIONS), *(f"SSIM {a:g}x" for a in ACCELERATIONS)]
    head.append("mean PSNR (dB)")
    lines = [
        f"Training volumes {', '.join(TRAINING_VOLUMES)}; slices at {', '.join(f'{f:.0%}' for f in SLICE_FRACTIONS)} "
        f"of each volume's slice axis, {iterations} iterations; fastMRI volume metrics, mean over the volumes. "
        f"**Bold**: the default (the largest lam within {PLATEAU_DB:g} dB of the best mean PSNR over both "
        "accelerations).\n",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]

    def row(method: str, lam: float, bold: bool) -> str:
        psnr = [f"{_mean(results, method, lam, 'psnr', a):.2f}" for a in ACCELERATIONS]
        ssim = [f"{_mean(results, method, lam, 'ssim', a):.4f}" for a in ACCELERATIONS]
        overall = f"{_mean(results, method, lam, 'psnr'):.2f}"
        cells = [method, "—" if method == "zero-filled" else f"{lam:g}", *psnr, *ssim, overall]
        if bold:
            cells = [f"**{cell}**" for cell in cells]
        return "| " + " | ".join(cells) + " |"

    lines.append(row("zero-filled", 0.0, False))
    for method in METHODS:
        best = chosen_lambda(results, method, lambdas)
        lines += [row(method, lam, lam == best) for lam in lambdas]
    volumes = sorted({name for (_, _, name, _) in results})
    lines += ["", "Best lam per training volume and acceleration (PSNR):", ""]
    lines += ["| Method | " + " | ".join(f"{v} {a:g}x" for v in volumes for a in ACCELERATIONS) + " |"]
    lines.append("|" + "---|" * (1 + len(volumes) * len(ACCELERATIONS)))
    for method in METHODS:
        cells = []
        for volume in volumes:
            for acceleration in ACCELERATIONS:
                scores = {lam: results[method, lam, volume, acceleration]["psnr"] for lam in lambdas}
                cells.append(f"{max(scores, key=scores.get):g}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the sweep and print (and with ``--out`` write) the Markdown section."""
    parser = argparse.ArgumentParser(prog="bench/cs_lambda.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder")
    parser.add_argument("--lambdas", type=float, nargs="+", default=list(LAMBDAS), help="the lam grid")
    parser.add_argument("--iterations", type=int, default=100, help="solver iterations (default: 100)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--out", type=Path, default=None, help="also write the section to this file")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    lambdas = tuple(sorted(args.lambdas))
    text = markdown(sweep(args.shared, lambdas, args.iterations), lambdas, args.iterations)
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
