"""Where a denoiser's error lies on real MR: air, flat tissue, textured tissue and edges, beside BM3D's.

For each held-out volume of the ``denoise`` recipe of ``Training/campaign.yaml`` and each σ, Rician noise is
added exactly as the evaluation runner adds it (:func:`condswin.training.evaluation.denoising.noisy_volume`,
seed 0), and three slices around the middle are denoised by the installed default (or ``--model``) and by
BM3D (with the σ estimated from the whole noisy volume's air, and the Rician bias correction, as the job does).
The tissue (clean value at least 2 % of the volume's maximum) is split by the clean image's Sobel gradient
magnitude: the flattest half, the next 40 % and the steepest 10 % ("edges"). Each cell is the RMS error in % of
the volume's maximum, noisy input / model / BM3D; the bias is the mean signed error over the tissue.

    nice -n 19 python bench/denoise_error_regions.py            # about a minute on 2 CPU cores
    python bench/denoise_error_regions.py --sigmas 0.025 0.05 0.1

Prints the Markdown table (``--out`` also writes it). Exits 0 without doing anything (and says so) when the
shared data folder is absent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "bench"):  # run from a source checkout without installing; bench's own modules
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from benchreport.heldout import RECIPES  # noqa: E402  (bench/ on the path above)

RECIPE = "denoise"
AIR_FRACTION = 0.02  # clean values below this fraction of the maximum are air
SLICE_OFFSETS = (-3, 0, 3)  # slices around the middle
REGIONS = ("air", "flat tissue", "textured tissue", "edges")


def held_out_files(shared: Path) -> list[Path]:
    """The recipe's held-out MR volumes under ``shared`` (those present)."""
    from condswin.training.campaign import load_recipes

    recipe = load_recipes(RECIPES)[RECIPE]
    names = [name for entry in recipe.held_out for name in recipe.folders[str(entry.folder)]]
    return [shared / name for name in names if (shared / name).is_file()]


def region_masks(clean: np.ndarray) -> dict[str, np.ndarray]:
    """Air, and the tissue split by gradient magnitude into its flattest half, the next 40 % and the top 10 %."""
    from scipy import ndimage

    gradient = np.stack([np.hypot(ndimage.sobel(s, 0), ndimage.sobel(s, 1)) for s in clean])
    air = clean < AIR_FRACTION * clean.max()
    tissue = ~air
    median, top = np.percentile(gradient[tissue], (50, 90))
    return {
        "air": air,
        "flat tissue": tissue & (gradient < median),
        "textured tissue": tissue & (gradient >= median) & (gradient < top),
        "edges": tissue & (gradient >= top),
    }


def rms_percent(result: np.ndarray, clean: np.ndarray, mask: np.ndarray, maximum: float) -> float:
    return float(100.0 * np.sqrt(np.mean((result - clean)[mask] ** 2)) / maximum)


def measure(path: Path, sigma: float, loaded: Any) -> dict[str, Any]:
    """The table row of one volume at one σ."""
    import SimpleITK as sitk

    from condswin.inference import InferenceOptions
    from condswin.io.images import read_image
    from condswin.jobs import denoise
    from condswin.metrics.reconstruction import psnr
    from condswin.mri.noise import estimate_rician_sigma
    from condswin.training.evaluation.denoising import noisy_volume

    image = read_image(path)
    clean = sitk.GetArrayFromImage(image).astype(np.float32)
    middle = clean.shape[0] // 2
    picked = [min(max(middle + k, 0), clean.shape[0] - 1) for k in SLICE_OFFSETS]
    noisy = noisy_volume(clean, "rician", sigma, 0, path.name)
    part = sitk.GetImageFromArray(noisy[picked])
    options = InferenceOptions(device="cpu")
    model = sitk.GetArrayFromImage(denoise(part, loaded, options, noise="rician").output)
    estimated = estimate_rician_sigma(noisy)  # from the whole volume's air, as the job estimates it
    bm3d = sitk.GetArrayFromImage(denoise(part, "bm3d", options, noise="rician", sigma=estimated).output)
    reference, maximum = clean[picked], float(clean.max())
    masks = region_masks(reference)
    tissue = ~masks["air"]
    return {
        "volume": path.name.split(".")[0],
        "sigma": sigma,
        "regions": {
            name: [rms_percent(x, reference, masks[name], maximum) for x in (noisy[picked], model, bm3d)]
            for name in REGIONS
        },
        "bias": [float(100.0 * np.mean((x - reference)[tissue]) / maximum) for x in (model, bm3d)],
        "psnr": [psnr(reference, x, maximum) for x in (model, bm3d)],
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = ["volume", "σ", *REGIONS, "tissue bias, model / BM3D", "PSNR (dB), model / BM3D"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["volume"], f"{row['sigma']:.1%}"]
        cells += [" / ".join(f"{v:.2f}" for v in row["regions"][name]) for name in REGIONS]
        cells.append(" / ".join(f"{v:+.2f}" for v in row["bias"]))
        cells.append(" / ".join(f"{v:.2f}" for v in row["psnr"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/denoise_error_regions.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder")
    parser.add_argument("--model", default=None, help="a denoising model id or bundle (default: the installed one)")
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.025, 0.05], help="Rician σ, of the maximum")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    files = held_out_files(args.shared) if args.shared.is_dir() else []
    if not files:
        print(f"skipped: no held-out MR volume of the {RECIPE} recipe under {args.shared}")
        return 0
    from condswin.bundles import load_bundle, resolve_bundle
    from condswin.training.embedding import current_default

    bundle = resolve_bundle(args.model, "denoising") if args.model else current_default("denoising", None)
    if bundle is None:
        print("no denoising default is installed")
        return 1
    loaded = load_bundle(bundle)
    rows = [measure(path, sigma, loaded) for path in files for sigma in args.sigmas]
    text = (
        f"`{bundle.id}`: RMS error in % of each volume's maximum, noisy input / model / BM3D, on slices "
        f"{', '.join(f'middle{k:+d}' if k else 'middle' for k in SLICE_OFFSETS)} (Rician noise, seed 0)\n\n"
        + table(rows)
    )
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
