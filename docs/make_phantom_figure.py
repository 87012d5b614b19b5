"""Render docs/phantom_ct.png: axial slices of a few CT phantoms at a soft-tissue window, so a reader can
judge how realistic the segmentation training/demo data is.

Usage:
    python docs/make_phantom_figure.py [--out docs/phantom_ct.png] [--seeds 0 1 2]

Each row is one phantom (512 x 512 x 48, 0.8 mm pixels, 5 mm slices, one contrast phase per row): an
upper slice (liver dome, lung bases), the slice with the most tumour, a lower slice (kidneys, bowel), the
tumour slice with the liver (red) and tumour (yellow) label outlines, and a coronal reformat.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402

from condswin.ct.phantom import generate_phantom  # noqa: E402
from condswin.ct.phantom_canvas import Tissue  # noqa: E402

WINDOW = (-160.0, 240.0)  # W400 / L40
SHAPE = (512, 512, 48)
SPACING = (0.8, 0.8, 5.0)
PHASES = ("portal", "arterial", "native")


def _pick_slices(tissue: np.ndarray, labels: np.ndarray) -> tuple[int, int, int]:
    """Upper (small liver area near the dome), tumour (largest tumour area), lower (largest kidney area)."""
    liver_area = (labels > 0).sum(axis=(1, 2))
    tumour_area = (labels == 2).sum(axis=(1, 2))
    kidney_area = (tissue == Tissue.KIDNEY_CORTEX).sum(axis=(1, 2))
    middle = int(np.argmax(tumour_area)) if tumour_area.max() > 0 else int(np.argmax(liver_area))
    with_liver = np.nonzero(liver_area > 0.3 * liver_area.max())[0]
    upper = int(with_liver.max()) if with_liver.size else labels.shape[0] - 1
    lower = int(np.argmax(kidney_area)) if kidney_area.max() > 0 else 0
    return upper, middle, lower


def render(seeds: list[int], out: Path) -> None:
    """Generate the phantoms and save the figure.

    Args:
        seeds: one phantom (row) per seed.
        out: PNG path.
    """
    fig, axes = plt.subplots(len(seeds), 5, figsize=(20, 3.8 * len(seeds)), facecolor="black")
    axes = np.atleast_2d(axes)
    for row, seed in enumerate(seeds):
        phase = PHASES[row % len(PHASES)]
        case = generate_phantom(seed, shape=SHAPE, spacing=SPACING, phase=phase)
        hu = sitk.GetArrayFromImage(case.ct)
        labels = sitk.GetArrayFromImage(case.labels)
        upper, middle, lower = _pick_slices(case.tissue, labels)
        # numpy z runs from inferior to superior; the array's x runs towards the patient's left, so
        # imshow shows the usual radiological view (patient right on the image left, anterior up).
        # Show the body and the top of the couch, not the empty field of view around them.
        body = np.nonzero(np.any(~np.isin(case.tissue, [Tissue.AIR, Tissue.TABLE]), axis=0))
        rows = slice(max(body[0].min() - 12, 0), body[0].max() + 30)
        columns = slice(max(body[1].min() - 12, 0), body[1].max() + 13)
        crop = (rows, columns)
        panels = [(upper, "upper (dome)"), (middle, "most tumour"), (lower, "lower (kidneys)")]
        for col, (k, name) in enumerate(panels):
            axes[row, col].imshow(hu[k][crop], cmap="gray", vmin=WINDOW[0], vmax=WINDOW[1])
            axes[row, col].set_title(f"seed {seed}, {phase} phase: {name}, slice {k}", color="white", fontsize=10)
        axes[row, 3].imshow(hu[middle][crop], cmap="gray", vmin=WINDOW[0], vmax=WINDOW[1])
        axes[row, 3].contour(labels[middle][crop] > 0, [0.5], colors="red", linewidths=0.8)
        if (labels[middle] == 2).any():
            axes[row, 3].contour(labels[middle][crop] == 2, [0.5], colors="yellow", linewidths=0.8)
        kinds = ", ".join(t.kind for t in case.tumours) or "none"
        axes[row, 3].set_title(f"labels; tumours: {kinds}", color="white", fontsize=9)
        coronal = hu[::-1, :, crop[1]][:, int(np.argmax((labels > 0).sum(axis=(0, 2)))), :]
        axes[row, 4].imshow(coronal, cmap="gray", vmin=WINDOW[0], vmax=WINDOW[1], aspect=SPACING[2] / SPACING[0])
        axes[row, 4].set_title(f"coronal; noise {case.noise_hu:.0f} HU", color="white", fontsize=10)
        for ax in axes[row]:
            ax.axis("off")
    fig.suptitle("condswin.ct.phantom: procedural abdominal CT, W400/L40", color="white", fontsize=13)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".tmp-{out.name}")
    fig.savefig(tmp, dpi=72, facecolor="black", format="png")
    tmp.replace(out)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "phantom_ct.png")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    render(args.seeds, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
