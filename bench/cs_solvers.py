"""Which solver and which wavelet the compressed-sensing reconstructions use: measured on training slices.

Total variation, ``min_x 1/2 ||M F x - y||^2 + lam TV(x)``: three ways to solve it, each for 100 iterations
from the zero-filled image, against a reference minimiser (ADMM, 3000 iterations):

* ADMM with the split ``z = grad x`` (what ``cs-tv`` runs): an exact image update in k-space (two FFTs),
  for a few penalties ``rho = c lam``;
* FISTA with the TV proximal step solved approximately by 10 iterations of the fast gradient projection on its
  dual, warm-started ("Fast Gradient-Based Algorithms for Constrained Total Variation Image Denoising and
  Deblurring Problems", Beck & Teboulle);
* the primal-dual algorithm of Chambolle and Pock ("A first-order primal-dual algorithm for convex problems
  with applications to imaging") with the data term's proximal step in closed form, for a few step ratios.

Wavelet ℓ1: FISTA (what ``cs-wavelet`` runs) with Haar, db2 and db4 (4 levels), on a fixed wavelet grid and
on one shifted at random every iteration, and Haar with 3 and 5 levels. Columns: the relative objective gap (TV), PSNR against the slice,
milliseconds per iteration (one thread).

    python bench/cs_solvers.py --shared ../shared/data
    python bench/cs_solvers.py --shared ../shared/data --out bench/benchreport/cs_solvers.md   # the section make bench includes

Prints Markdown.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from statistics import mean

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a source checkout without installing the package
    sys.path.insert(0, str(ROOT))

from cs_slices import training_slices, undersampled_kspace  # noqa: E402  (beside this script)

from condswin.metrics.reconstruction import psnr  # noqa: E402
from condswin.mri.compressed_sensing.finite_differences import gradient, gradient_adjoint  # noqa: E402
from condswin.mri.compressed_sensing.solvers import (  # noqa: E402
    MeasuredKSpace,
    _shrink_details,
    total_variation,
    total_variation_admm,
    wavelet_fista,
)
from condswin.mri.compressed_sensing.wavelets import WaveletTransform, padded_size  # noqa: E402
from condswin.mri.fft import fft2c, ifft2c  # noqa: E402

ITERATIONS = 100
# the volumes and slice (index into bench/cs_slices.py's four) measured: two contrasts, the middle of the head
VOLUMES = ("colin27_t1_brain.nii.gz", "adi_brain_t1_memprage.nii.gz")
SLICE = 1


def _project(p: torch.Tensor, radius: float) -> torch.Tensor:
    """Each pixel's (2 directions x complex) vector projected onto the ball of ``radius``."""
    norm = p.abs().pow(2).sum(dim=0, keepdim=True).sqrt()
    return p / torch.clamp(norm / radius, min=1.0)


def tv_fista(data: MeasuredKSpace, lam: float, iterations: int, inner: int = 10) -> torch.Tensor:
    """FISTA with step 1; the TV proximal step by ``inner`` fast gradient projection steps on its dual."""
    current = data.zero_filled()
    momentum_point, step = current, 1.0
    dual = torch.zeros_like(gradient(current))
    for _ in range(iterations):
        v = data.consistent(momentum_point)
        # prox of lam TV at v: x = v - lam grad^H p with p maximising the dual over |p| <= 1 (step 1/(8 lam^2))
        p, q, t = dual, dual, 1.0
        for _ in range(inner):
            p_next = _project(q + gradient(v - lam * gradient_adjoint(q)) / (8 * lam), 1.0)
            t_next = (1 + (1 + 4 * t * t) ** 0.5) / 2
            q = p_next + ((t - 1) / t_next) * (p_next - p)
            p, t = p_next, t_next
        dual = p
        following = v - lam * gradient_adjoint(p)
        next_step = (1 + (1 + 4 * step * step) ** 0.5) / 2
        momentum_point = following + ((step - 1) / next_step) * (following - current)
        current, step = following, next_step
    return current


def tv_primal_dual(data: MeasuredKSpace, lam: float, iterations: int, ratio: float = 1.0) -> torch.Tensor:
    """Chambolle-Pock with tau = ratio / sqrt(8), sigma = 1 / (ratio sqrt(8)) (tau sigma ||grad||^2 <= 1)."""
    tau, sigma = ratio / 8**0.5, 1 / (ratio * 8**0.5)
    x = data.zero_filled()
    extrapolated = x
    dual = torch.zeros_like(gradient(x))
    for _ in range(iterations):
        dual = _project(dual + sigma * gradient(extrapolated), lam)
        w = x - tau * gradient_adjoint(dual)
        following = ifft2c((fft2c(w) + tau * data.kspace) / (1 + tau * data.mask))
        extrapolated = 2 * following - x
        x = following
    return x


def wavelet_fixed_grid(data: MeasuredKSpace, lam: float, iterations: int, transform: WaveletTransform) -> torch.Tensor:
    """FISTA for wavelet l1 on one fixed grid (no shifts)."""
    start = data.zero_filled()
    height, width = start.shape[-2:]
    current = start.new_zeros(
        start.shape[:-2] + (padded_size(height, transform.levels), padded_size(width, transform.levels))
    )
    current[..., :height, :width] = start
    momentum_point, step = current, 1.0
    for _ in range(iterations):
        gradient_step = momentum_point.clone()
        gradient_step[..., :height, :width] = data.consistent(momentum_point[..., :height, :width])
        following = transform.inverse(_shrink_details(transform.forward(gradient_step), lam))
        next_step = (1 + (1 + 4 * step * step) ** 0.5) / 2
        momentum_point = following + ((step - 1) / next_step) * (following - current)
        current, step = following, next_step
    return current[..., :height, :width]


def _cases(shared: Path) -> list[tuple[str, np.ndarray, MeasuredKSpace]]:
    """(label, reference / scale, measurement / scale) of one slice per volume and acceleration."""
    cases = []
    for slices in training_slices(shared):
        if slices.name not in VOLUMES:
            continue
        for acceleration in (4.0, 8.0):
            magnitude, kspace, mask = undersampled_kspace(slices, acceleration)
            measured = kspace[SLICE : SLICE + 1]
            scale = float(np.abs(ifft2c(measured)).max())
            data = MeasuredKSpace(
                torch.from_numpy(measured / scale).to(torch.complex64), torch.from_numpy(mask.astype(np.float32))
            )
            cases.append((f"{slices.name} {acceleration:g}x", magnitude[SLICE : SLICE + 1] / scale, data))
    return cases


def _psnr(reference: np.ndarray, image: torch.Tensor) -> float:
    return float(psnr(reference, image.abs().numpy()))


def _timed(solve: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, float]:
    started = time.perf_counter()
    image = solve()
    return image, (time.perf_counter() - started) * 1000 / ITERATIONS


def tv_table(cases: list, lam: float) -> str:
    solvers: dict[str, Callable[[MeasuredKSpace], torch.Tensor]] = {}
    for penalty in (4.0, 16.0, 32.0, 64.0):
        solvers[f"ADMM, rho = {penalty:g} lam"] = lambda d, c=penalty: total_variation_admm(
            d, lam, ITERATIONS, penalty=c
        )
    solvers["FISTA, 10 inner FGP steps"] = lambda d: tv_fista(d, lam, ITERATIONS)
    for ratio in (1.0, 10.0, 100.0):
        solvers[f"primal-dual, tau/sigma = {ratio * ratio:g}"] = lambda d, r=ratio: tv_primal_dual(
            d, lam, ITERATIONS, r
        )
    gaps: dict[str, list[float]] = {name: [] for name in solvers}
    psnrs: dict[str, list[float]] = {name: [] for name in solvers}
    times: dict[str, list[float]] = {name: [] for name in solvers}
    reference_psnr = []
    for _, truth, data in cases:

        def objective(x: torch.Tensor, data: MeasuredKSpace = data) -> float:
            return float(data.data_term(x) + lam * total_variation(x))

        reference = total_variation_admm(data, lam, 3000)
        best = objective(reference)
        reference_psnr.append(_psnr(truth, reference))
        for name, solve in solvers.items():
            image, ms = _timed(lambda solve=solve, data=data: solve(data))
            gaps[name].append((objective(image) - best) / best)
            psnrs[name].append(_psnr(truth, image))
            times[name].append(ms)
    lines = [
        f"Total variation, lam = {lam:g}, {ITERATIONS} iterations; mean over {len(cases)} slices "
        f"(the reference minimiser's PSNR: {mean(reference_psnr):.2f} dB).\n",
        "| solver | objective gap | PSNR (dB) | ms / iteration |",
        "|---|---|---|---|",
    ]
    for name in solvers:
        lines.append(f"| {name} | {mean(gaps[name]):.1e} | {mean(psnrs[name]):.2f} | {mean(times[name]):.1f} |")
    return "\n".join(lines) + "\n"


def wavelet_table(cases: list, lam: float) -> str:
    lines = [
        f"Wavelet ℓ1, FISTA, lam = {lam:g}, {ITERATIONS} iterations; mean over {len(cases)} slices "
        f"(zero-filled: {mean(_psnr(truth, data.zero_filled()) for _, truth, data in cases):.2f} dB).\n",
        "| wavelet | levels | grid | PSNR (dB) | ms / iteration |",
        "|---|---|---|---|---|",
    ]
    variants = [(name, 4, grid) for name in ("haar", "db2", "db4") for grid in ("fixed", "random shift")]
    variants += [("haar", 3, "random shift"), ("haar", 5, "random shift")]
    for name, levels, grid in variants:
        transform = WaveletTransform(name, levels)
        solve = wavelet_fixed_grid if grid == "fixed" else wavelet_fista
        results = [_timed(lambda d=data, s=solve, t=transform: s(d, lam, ITERATIONS, t)) for _, _, data in cases]
        psnr = mean(_psnr(truth, image) for (_, truth, _), (image, _) in zip(cases, results, strict=True))
        lines.append(f"| {name} | {levels} | {grid} | {psnr:.2f} | {mean(ms for _, ms in results):.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure and print (and with ``--out`` write) the Markdown section."""
    parser = argparse.ArgumentParser(prog="bench/cs_solvers.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder")
    parser.add_argument("--tv-lam", type=float, default=None, help="lam of the TV table (default: cs-tv's)")
    parser.add_argument(
        "--wavelet-lam", type=float, default=None, help="lam of the wavelet table (default: cs-wavelet's)"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the section to this file")
    args = parser.parse_args(argv)
    from condswin.mri.compressed_sensing import get_method

    torch.set_num_threads(1)
    cases = _cases(args.shared)
    text = (
        f"Slices: {', '.join(label for label, _, _ in cases)} (slice {SLICE} of `bench/cs_slices.py`).\n\n"
        + tv_table(cases, args.tv_lam or get_method("cs-tv").lam)
        + "\n"
        + wavelet_table(cases, args.wavelet_lam or get_method("cs-wavelet").lam)
    )
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
