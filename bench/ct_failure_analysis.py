"""Where the liver/tumour segmentation default fails on real CT, region by region, and how the phantom's HU compare.

Runs the installed default segmentation model (or ``--model``) on the real contrast-enhanced abdominal CT
``volume-1001`` of the shared data folder through the user's path, :func:`condswin.jobs.segment` (the card's
grid, HU window and liver post-processing), and compares it with the expert masks:

* the overall scores (liver and tumour Dice, volumes, tumour counts);
* every connected component (26-neighbour) of false-positive liver (model liver or tumour where the
  reference has no liver) and of false-positive tumour (model tumour where the reference has none): slice
  range, centroid in mm, volume, median HU, how much of it touches the true liver, and a coarse anatomical
  guess from its position in the body relative to the true liver; the largest false region is also split
  into the parts of the body it runs through;
* false negatives: every reference tumour (volume, diameter, median HU, how much of it the model calls
  tumour or liver) and the missed-liver components;
* per-tissue HU statistics of the real CT (from the expert masks and rough body masks) beside the same
  statistics of a phantom from :func:`condswin.ct.phantom.generate_phantom`, so the phantom's densities can
  be checked against real CT.

Volume 1001 is validation data only (its licence allows no derivatives): the script writes no derived image,
only the Markdown tables and an evaluation figure (three axial slices, reference and model contours,
window -160..240 HU).

    nice -n 19 python bench/ct_failure_analysis.py       # ~2 minutes on 2 CPU cores
    python bench/ct_failure_analysis.py --labels PRED.nii.gz   # analyse a labelmap saved earlier

Exits 0 without doing anything (and says so) when the shared data folder is absent.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a source checkout without installing the package
    sys.path.insert(0, str(ROOT))

from condswin.lits import LIVER, TUMOUR  # noqa: E402

CASE = "1001"
WINDOW = (-160.0, 240.0)
NEAR_LIVER_MM = 10.0  # a false region within this distance of the true liver "touches" it
TABLE_ROWS = 12  # components listed per table (the rest are summed in one line)
PHANTOM = {"seed": 0, "shape": (256, 256, 80), "spacing": (1.14, 1.14, 2.5), "phase": "portal"}


@dataclass
class Volume:
    """The CT, the reference and the model's labels as (z, y, x) arrays, with the grid's geometry."""

    hu: np.ndarray
    ref: np.ndarray
    pred: np.ndarray
    spacing: tuple[float, float, float]  # x, y, z mm
    origin: tuple[float, float, float]
    direction: np.ndarray  # 3x3, columns are the index axes in LPS

    @property
    def voxel_ml(self) -> float:
        return float(np.prod(self.spacing)) / 1000.0

    def physical(self, kji: np.ndarray) -> np.ndarray:
        """LPS mm of (n, 3) continuous (k, j, i) indices."""
        ijk = np.asarray(kji, dtype=np.float64)[..., ::-1] * np.asarray(self.spacing)
        return ijk @ self.direction.T + np.asarray(self.origin)


# ----------------------------------------------------------------------------------------------------- body frame


@dataclass
class BodyFrame:
    """Per-slice landmarks in LPS mm: the body's midline and front-back centre, the liver's lowest level."""

    mid_x: np.ndarray  # per slice
    mid_y: np.ndarray
    half_depth: np.ndarray  # half the body's front-back extent per slice
    body: np.ndarray  # boolean body mask
    liver_low_z: float
    liver_high_z: float
    liver_distance_mm: np.ndarray  # distance of every voxel to the true liver


def body_mask(hu: np.ndarray) -> np.ndarray:
    """The patient: the largest connected region above -500 HU, holes filled slice by slice (table removed)."""
    from scipy import ndimage

    dense = hu > -500
    dense = ndimage.binary_opening(dense, structure=np.ones((1, 5, 5), dtype=bool))  # cut the couch away
    components, count = ndimage.label(dense)
    if count == 0:
        return dense
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    body = components == int(np.argmax(sizes))
    for k in range(body.shape[0]):
        body[k] = ndimage.binary_fill_holes(body[k])
    return body


def body_frame(volume: Volume) -> BodyFrame:
    from scipy import ndimage

    body = body_mask(volume.hu)
    nz = body.shape[0]
    mid_x, mid_y, half_depth = np.zeros(nz), np.zeros(nz), np.ones(nz)
    for k in range(nz):
        points = np.argwhere(body[k])
        if points.size == 0:
            continue
        kji = np.column_stack([np.full(len(points), k), points])
        xyz = volume.physical(kji)
        mid_x[k], mid_y[k] = xyz[:, 0].mean(), xyz[:, 1].mean()
        half_depth[k] = max((xyz[:, 1].max() - xyz[:, 1].min()) / 2.0, 1.0)
    liver = volume.ref > 0
    liver_z = volume.physical(np.argwhere(liver))[:, 2]
    sampling = (volume.spacing[2], volume.spacing[1], volume.spacing[0])
    distance = ndimage.distance_transform_edt(~liver, sampling=sampling).astype(np.float32)
    return BodyFrame(mid_x, mid_y, half_depth, body, float(liver_z.min()), float(liver_z.max()), distance)


def region_guess(volume: Volume, frame: BodyFrame, kji: np.ndarray) -> np.ndarray:
    """A coarse anatomical guess for each voxel (n, 3 indices) from its place in the body and the true liver.

    LPS: +x is the patient's left, +y posterior, +z superior. The rules are what an abdominal CT shows at
    those places, not a segmentation of those organs.
    """
    xyz = volume.physical(kji)
    k = kji[:, 0].astype(int)
    dx = xyz[:, 0] - frame.mid_x[k]  # > 0: left of the midline
    dy = (xyz[:, 1] - frame.mid_y[k]) / frame.half_depth[k]  # > 0: posterior half
    near = frame.liver_distance_mm[tuple(kji.T.astype(int))] <= NEAR_LIVER_MM
    below = xyz[:, 2] < frame.liver_low_z
    upper = xyz[:, 2] > frame.liver_low_z + 0.75 * (frame.liver_high_z - frame.liver_low_z)
    guess = np.full(len(xyz), "other", dtype=object)
    rules = [
        (upper & (dy <= 0.2), (dx > -30.0) & (dx < 70.0), "heart / pericardium (upper, anterior, midline-left)"),
        (dy > 0.5, np.abs(dx) < 80.0, "paraspinal muscles / crura (posterior midline)"),
        (dy > 0.0, dx > 45.0, "spleen / left kidney (left, posterior)"),
        (dy <= 0.0, dx > 30.0, "stomach / left bowel (left, anterior)"),
        (dy > 0.0, dx < -45.0, "right kidney / posterior right (right, posterior)"),
        (dy <= 0.0, np.abs(dx) <= 30.0, "duodenum / pancreas / bowel (midline, anterior)"),
        (dy > 0.0, np.abs(dx) <= 45.0, "IVC / aorta / crura (midline, pre-vertebral)"),
        (dy <= 0.0, dx < -30.0, "hepatic flexure / right bowel (right, anterior)"),
    ]
    for a, b, name in reversed(rules):  # the first rule that holds wins
        guess[a & b] = name
    guess[below & (guess != "other")] = [f"{g}, below the liver" for g in guess[below & (guess != "other")]]
    guess[near] = "against the liver surface"
    guess[volume.ref[tuple(kji.T.astype(int))] > 0] = "inside the reference liver"
    return guess


# ----------------------------------------------------------------------------------------------------- components


@dataclass
class Component:
    """One connected false (or missed) region."""

    voxels: int
    ml: float
    slices: tuple[int, int]
    centroid_mm: tuple[float, float, float]
    median_hu: float
    touching_percent: float  # of its voxels within NEAR_LIVER_MM of the true liver
    guess: str
    in_liver_percent: float  # of its voxels inside the reference liver
    extent_mm: float  # largest bounding-box side


def components_of(mask: np.ndarray, volume: Volume, frame: BodyFrame) -> list[Component]:
    """Connected components of ``mask`` (26-neighbour), largest first, each described."""
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    if count == 0:
        return []
    objects = ndimage.find_objects(labels)
    out = []
    for index, box in enumerate(objects, start=1):
        local = labels[box] == index
        kji = np.argwhere(local) + np.array([s.start for s in box])
        where = tuple(kji.T)
        guesses = region_guess(volume, frame, kji)
        names, counts = np.unique(guesses, return_counts=True)
        extent = [(s.stop - s.start) * sp for s, sp in zip(box, volume.spacing[::-1], strict=True)]
        out.append(
            Component(
                voxels=len(kji),
                ml=len(kji) * volume.voxel_ml,
                slices=(int(kji[:, 0].min()), int(kji[:, 0].max())),
                centroid_mm=tuple(float(v) for v in volume.physical(kji.mean(axis=0, keepdims=True))[0]),
                median_hu=float(np.median(volume.hu[where])),
                touching_percent=100.0 * float(np.mean(frame.liver_distance_mm[where] <= NEAR_LIVER_MM)),
                guess=str(names[int(np.argmax(counts))]),
                in_liver_percent=100.0 * float(np.mean(volume.ref[where] > 0)),
                extent_mm=float(max(extent)),
            )
        )
    return sorted(out, key=lambda c: -c.voxels)


def component_table(components: list[Component], title: str, extra: str = "") -> str:
    """A Markdown table of the largest components and one line summing the rest."""
    if not components:
        return f"**{title}**: none.\n"
    total = sum(c.ml for c in components)
    lines = [
        f"**{title}**: {len(components)} components, {total:.1f} mL{extra}.\n",
        "| # | mL | % of all | slices | centroid x, y, z (mm) | median HU | touches liver (%) | guess (body part) |",
        "|---:|---:|---:|---|---|---:|---:|---|",
    ]
    for n, c in enumerate(components[:TABLE_ROWS], start=1):
        x, y, z = c.centroid_mm
        lines.append(
            f"| {n} | {c.ml:.1f} | {100 * c.ml / total:.1f} | {c.slices[0]}–{c.slices[1]} | {x:.0f}, {y:.0f}, {z:.0f} "
            f"| {c.median_hu:.0f} | {c.touching_percent:.0f} | {c.guess} |"
        )
    rest = components[TABLE_ROWS:]
    if rest:
        lines.append(
            f"| {len(rest)} more | {sum(c.ml for c in rest):.1f} | {100 * sum(c.ml for c in rest) / total:.1f} "
            f"| | | {np.median([c.median_hu for c in rest]):.0f} (median of medians) | | |"
        )
    return "\n".join(lines) + "\n"


def breakdown_table(mask: np.ndarray, volume: Volume, frame: BodyFrame, title: str) -> str:
    """Split a region by body part (the guess of each voxel): mL, share, median HU, slice range."""
    kji = np.argwhere(mask)
    guesses = region_guess(volume, frame, kji)
    hu = volume.hu[tuple(kji.T)]
    rows = []
    for name in np.unique(guesses):
        pick = guesses == name
        rows.append((int(pick.sum()), name, float(np.median(hu[pick])), kji[pick, 0].min(), kji[pick, 0].max()))
    rows.sort(reverse=True)
    lines = [f"**{title}** ({len(kji) * volume.voxel_ml:.0f} mL) by body part:\n"]
    lines += ["| body part (guess) | mL | % | median HU | slices |", "|---|---:|---:|---:|---|"]
    for count, name, median, low, high in rows:
        lines.append(
            f"| {name} | {count * volume.voxel_ml:.1f} | {100 * count / len(kji):.1f} | {median:.0f} | {low}–{high} |"
        )
    bins = [(-1024, -30), (-30, 40), (40, 90), (90, 140), (140, 3072)]
    shares = [100 * float(np.mean((hu >= lo) & (hu < hi))) for lo, hi in bins]
    lines.append(
        "\nHU of its voxels: " + ", ".join(f"[{lo}, {hi}) {s:.0f} %" for (lo, hi), s in zip(bins, shares, strict=True))
    )
    return "\n".join(lines) + "\n"


def tumour_table(volume: Volume) -> tuple[str, list[dict[str, Any]]]:
    """Every reference tumour: size, HU, what the model called it, where it lies."""
    from scipy import ndimage

    labels, count = ndimage.label(volume.ref == TUMOUR, structure=np.ones((3, 3, 3), dtype=bool))
    rows = []
    liver_hu = float(np.median(volume.hu[volume.ref == LIVER]))
    sampling = (volume.spacing[2], volume.spacing[1], volume.spacing[0])
    outside = volume.ref == 0
    surface_distance = ndimage.distance_transform_edt(~outside, sampling=sampling)
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        local = labels[box] == index
        where = tuple((np.argwhere(local) + np.array([s.start for s in box])).T)
        extent = [(s.stop - s.start) * sp for s, sp in zip(box, volume.spacing[::-1], strict=True)]
        pred = volume.pred[where]
        rows.append(
            {
                "ml": len(where[0]) * volume.voxel_ml,
                "diameter_mm": float(max(extent)),
                "slices": (int(where[0].min()), int(where[0].max())),
                "median_hu": float(np.median(volume.hu[where])),
                "contrast_hu": float(np.median(volume.hu[where])) - liver_hu,
                "as_tumour": 100.0 * float(np.mean(pred == TUMOUR)),
                "as_liver": 100.0 * float(np.mean(pred == LIVER)),
                "as_background": 100.0 * float(np.mean(pred == 0)),
                "to_surface_mm": float(surface_distance[where].min()),
                "centroid_mm": tuple(float(v) for v in volume.physical(np.mean(np.array(where).T, axis=0)[None])[0]),
            }
        )
    rows.sort(key=lambda r: -r["ml"])
    lines = [
        f"Reference liver median {liver_hu:.0f} HU. A tumour is **missed** when under 10 % of it is called tumour.\n",
        "| # | mL | size (mm) | slices | median HU (vs liver) | to liver surface (mm) | called tumour / liver / background (%) | |",
        "|---:|---:|---:|---|---|---:|---|---|",
    ]
    for n, r in enumerate(rows, start=1):
        missed = "**missed**" if r["as_tumour"] < 10 else "found"
        lines.append(
            f"| {n} | {r['ml']:.1f} | {r['diameter_mm']:.0f} | {r['slices'][0]}–{r['slices'][1]} "
            f"| {r['median_hu']:.0f} ({r['contrast_hu']:+.0f}) | {r['to_surface_mm']:.1f} "
            f"| {r['as_tumour']:.0f} / {r['as_liver']:.0f} / {r['as_background']:.0f} | {missed} |"
        )
    return "\n".join(lines) + "\n", rows


# ----------------------------------------------------------------------------------------------------- HU statistics


def hu_row(name: str, values: np.ndarray) -> str:
    if values.size == 0:
        return f"| {name} | 0 | | | | |"
    p5, p25, p50, p75, p95 = np.percentile(values, [5, 25, 50, 75, 95])
    return f"| {name} | {values.size} | {values.mean():.0f} ± {values.std():.0f} | {p50:.0f} | {p25:.0f}–{p75:.0f} | {p5:.0f}–{p95:.0f} |"


def local_noise(hu: np.ndarray, mask: np.ndarray) -> float:
    """Median standard deviation in 7×7 in-plane windows well inside ``mask``: the image noise there."""
    from scipy import ndimage

    inner = ndimage.binary_erosion(mask, structure=np.ones((1, 3, 3), dtype=bool), iterations=4)
    if not inner.any():
        return float("nan")
    values = hu.astype(np.float32)
    mean = ndimage.uniform_filter(values, (1, 7, 7))
    square = ndimage.uniform_filter(values * values, (1, 7, 7))
    return float(np.median(np.sqrt(np.maximum(square - mean * mean, 0.0))[inner]))


def rough_tissues(hu: np.ndarray, labels: np.ndarray, spacing: tuple[float, float, float]) -> dict[str, np.ndarray]:
    """Masks computed the same way on real and phantom CT: liver, tumour, body, fat, and other soft tissue.

    "Other soft tissue" is every body voxel between -30 and 250 HU more than 10 mm from the liver: muscle,
    bowel, spleen, kidneys, vessels — what the model must learn not to call liver.
    """
    from scipy import ndimage

    body = body_mask(hu)
    sampling = (spacing[2], spacing[1], spacing[0])
    far = ndimage.distance_transform_edt(labels == 0, sampling=sampling) > NEAR_LIVER_MM
    return {
        "liver (label 1)": labels == LIVER,
        "tumour (label 2)": labels == TUMOUR,
        "body": body,
        "fat (body, -200..-30 HU)": body & (hu >= -200) & (hu < -30),
        "other soft tissue (body, -30..250 HU, >10 mm from liver)": body & far & (hu >= -30) & (hu <= 250),
        "other soft tissue in the liver's HU range (liver p5–p95)": body
        & far
        & (hu >= np.percentile(hu[labels == LIVER], 5))
        & (hu <= np.percentile(hu[labels == LIVER], 95)),
    }


def hu_section(title: str, hu: np.ndarray, labels: np.ndarray, spacing: tuple[float, float, float], extra=None) -> str:
    lines = [f"**{title}** (noise: median local SD in the liver {local_noise(hu, labels == LIVER):.1f} HU)\n"]
    lines += ["| tissue | voxels | mean ± SD | median | IQR | p5–p95 |", "|---|---:|---:|---:|---|---|"]
    masks = rough_tissues(hu, labels, spacing)
    for name, mask in masks.items():
        lines.append(hu_row(name, hu[mask]))
    body_ml = float(masks["body"].sum()) * float(np.prod(spacing)) / 1000.0
    share = 100.0 * masks[list(masks)[-1]].sum() / max(masks["body"].sum(), 1)
    lines.append(
        f"\nBody {body_ml:.0f} mL in the field of view; {share:.1f} % of it is soft tissue away from the liver "
        "with liver-like HU."
    )
    if extra:
        lines.append("\nPer phantom tissue (from its tissue map, after blur and noise):\n")
        lines += ["| tissue | voxels | mean ± SD | median | IQR | p5–p95 |", "|---|---:|---:|---:|---|---|"]
        lines += [hu_row(name, values) for name, values in extra]
    return "\n".join(lines) + "\n"


def phantom_section() -> str:
    import SimpleITK as sitk

    from condswin.ct.phantom import generate_phantom
    from condswin.ct.phantom_canvas import Tissue

    case = generate_phantom(PHANTOM["seed"], PHANTOM["shape"], PHANTOM["spacing"], phase=PHANTOM["phase"])
    hu = sitk.GetArrayFromImage(case.ct).astype(np.float32)
    labels = sitk.GetArrayFromImage(case.labels)
    per_tissue = [
        (t.name.lower(), hu[case.tissue == t]) for t in Tissue if t != Tissue.AIR and np.any(case.tissue == t)
    ]
    title = (
        f"Phantom seed {PHANTOM['seed']}, {PHANTOM['phase']} phase, {PHANTOM['shape']} voxels of "
        f"{PHANTOM['spacing']} mm, noise {case.noise_hu:.1f} HU, {len(case.tumours)} tumours"
    )
    return hu_section(title, hu, labels, case.ct.GetSpacing(), per_tissue)


# ----------------------------------------------------------------------------------------------------- figure


def pick_slices(volume: Volume, fp_liver: np.ndarray, tumours: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """Three slices: the most false liver, the middle of the largest reference tumour, the most false tumour."""
    fp_area = fp_liver.sum(axis=(1, 2))
    picks = [(int(np.argmax(fp_area)), "most false liver")]
    if tumours:
        low, high = tumours[0]["slices"]
        area = (volume.ref[low : high + 1] == TUMOUR).sum(axis=(1, 2))
        picks.append((low + int(np.argmax(area)), f"largest tumour ({tumours[0]['diameter_mm']:.0f} mm)"))
    fp_tumour = ((volume.pred == TUMOUR) & (volume.ref != TUMOUR)).sum(axis=(1, 2))
    order = [k for k in np.argsort(-fp_tumour) if all(abs(int(k) - p) > 8 for p, _ in picks)]
    if order:
        picks.append((int(order[0]), "most false tumour"))
    return picks


def draw_figure(volume: Volume, picks: list[tuple[int, str]], path: Path, subtitle: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, len(picks), figsize=(5.2 * len(picks), 5.8), facecolor="black")
    axes = np.atleast_1d(axes)
    aspect = volume.spacing[1] / volume.spacing[0]
    for ax, (k, why) in zip(axes, picks, strict=True):
        ax.imshow(volume.hu[k], cmap="gray", vmin=WINDOW[0], vmax=WINDOW[1], aspect=aspect, interpolation="nearest")
        for mask, colour, style in (
            (volume.ref > 0, "#33ff33", "solid"),
            (volume.ref == TUMOUR, "#ffff00", "solid"),
            (volume.pred > 0, "#ff3333", "dashed"),
            (volume.pred == TUMOUR, "#ff44ff", "dashed"),
        ):
            if mask[k].any():
                ax.contour(mask[k], levels=[0.5], colors=colour, linewidths=0.9, linestyles=style)
        ax.set_title(f"slice {k}: {why}", color="white", fontsize=10)
        ax.axis("off")
    legend = [
        Line2D([], [], color="#33ff33", label="reference liver"),
        Line2D([], [], color="#ffff00", label="reference tumour"),
        Line2D([], [], color="#ff3333", linestyle="--", label="model liver"),
        Line2D([], [], color="#ff44ff", linestyle="--", label="model tumour"),
    ]
    fig.legend(handles=legend, loc="lower center", ncol=4, facecolor="black", labelcolor="white", frameon=False)
    fig.suptitle(
        f"Real CT volume-1001 (validation only), W400/L40; patient right on the left. {subtitle}",
        color="white",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, facecolor="black")
    plt.close(fig)


# ----------------------------------------------------------------------------------------------------- main


def load_volume(ct_dir: Path, model: str | None, labels_path: Path | None) -> tuple[Volume, str, float]:
    """Read the case, segment it with the model (or read ``labels_path``); returns the volume, model id, seconds."""
    import SimpleITK as sitk

    from condswin.io import read_image

    image = read_image(ct_dir / f"volume-{CASE}.nii.gz")
    reference = read_image(ct_dir / f"segmentation-{CASE}.nii.gz")
    seconds = 0.0
    if labels_path is not None:
        predicted, model_id = read_image(labels_path), f"labels from {labels_path.name}"
    else:
        from condswin.bundles import load_bundle, resolve_bundle
        from condswin.bundles.registry import default_bundle
        from condswin.jobs import segment

        bundle = default_bundle("segmentation") if model is None else resolve_bundle(model, task="segmentation")
        start = time.perf_counter()
        predicted = segment(image, load_bundle(bundle)).output
        seconds = time.perf_counter() - start
        model_id = bundle.card.id
    volume = Volume(
        hu=sitk.GetArrayFromImage(image).astype(np.float32),
        ref=sitk.GetArrayFromImage(reference).astype(np.uint8),
        pred=sitk.GetArrayFromImage(predicted).astype(np.uint8),
        spacing=tuple(float(v) for v in image.GetSpacing()),
        origin=tuple(float(v) for v in image.GetOrigin()),
        direction=np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3),
    )
    return volume, model_id, seconds


def summary_table(volume: Volume) -> str:
    from condswin.ct.report import liver_report
    from condswin.metrics import dice

    spacing = volume.spacing
    pred, ref = liver_report(volume.pred, spacing), liver_report(volume.ref, spacing)
    rows = [
        ("liver Dice (label 1)", f"{dice(volume.pred == LIVER, volume.ref == LIVER):.3f}", ""),
        ("whole-liver Dice (labels 1+2)", f"{dice(volume.pred > 0, volume.ref > 0):.3f}", ""),
        ("tumour Dice (label 2)", f"{dice(volume.pred == TUMOUR, volume.ref == TUMOUR):.3f}", ""),
        ("liver volume, labels 1+2 (mL)", f"{pred['liver_ml']:.0f}", f"{ref['liver_ml']:.0f}"),
        ("tumour volume (mL)", f"{pred['tumour_ml']:.1f}", f"{ref['tumour_ml']:.1f}"),
        ("tumours (26-connected components)", str(pred["tumour_count"]), str(ref["tumour_count"])),
        (
            "false liver voxels (model 1/2, reference 0)",
            f"{int(((volume.pred > 0) & (volume.ref == 0)).sum()):,}",
            "",
        ),
        ("missed liver voxels (model 0, reference 1/2)", f"{int(((volume.pred == 0) & (volume.ref > 0)).sum()):,}", ""),
    ]
    lines = ["| measure | model | reference |", "|---|---:|---:|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines) + "\n"


def analyse(volume: Volume) -> tuple[str, list[tuple[int, str]]]:
    """Every section of the report (Markdown) and the slices for the figure."""
    frame = body_frame(volume)
    fp_liver = (volume.pred > 0) & (volume.ref == 0)
    fp_tumour = (volume.pred == TUMOUR) & (volume.ref != TUMOUR)
    fn_liver = (volume.pred == 0) & (volume.ref > 0)
    fp_components = components_of(fp_liver, volume, frame)
    parts = [summary_table(volume)]
    parts.append(
        component_table(fp_components, "False-positive liver (model liver or tumour outside the reference liver)")
    )
    if fp_components:
        from scipy import ndimage

        labels, _ = ndimage.label(fp_liver, structure=np.ones((3, 3, 3), dtype=bool))
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        parts.append(
            breakdown_table(labels == int(np.argmax(sizes)), volume, frame, "The largest false-positive liver region")
        )
    tumour_fp = components_of(fp_tumour, volume, frame)
    outside = sum(c.ml for c in tumour_fp if c.in_liver_percent < 50)
    parts.append(
        component_table(
            tumour_fp,
            "False-positive tumour (model tumour where the reference has none)",
            f"; {sum(c.in_liver_percent < 50 for c in tumour_fp)} of them ({outside:.1f} mL) mostly outside the reference liver",
        )
    )
    if tumour_fp:
        parts.append(breakdown_table(fp_tumour, volume, frame, "All false-positive tumour"))
    text, tumours = tumour_table(volume)
    parts.append("**Reference tumours (false negatives)**\n\n" + text)
    parts.append(
        component_table(
            components_of(fn_liver, volume, frame), "Missed liver (reference liver the model calls background)"
        )
    )
    slices = np.nonzero(fp_liver.any(axis=(1, 2)))[0]
    liver_slices = np.nonzero((volume.ref > 0).any(axis=(1, 2)))[0]
    per_slice = fp_liver.sum(axis=(1, 2)) * volume.voxel_ml
    worst = np.argsort(-per_slice)[:5]
    parts.append(
        f"Slices: the reference liver spans {liver_slices.min()}–{liver_slices.max()} of {volume.hu.shape[0]}; false "
        f"liver lies on {slices.size} slices ({slices.min() if slices.size else '-'}–{slices.max() if slices.size else '-'}); "
        "most per slice: " + ", ".join(f"{k} ({per_slice[k]:.0f} mL)" for k in worst) + ".\n"
    )
    return "\n".join(parts), pick_slices(volume, fp_liver, tumours)


def build_parser() -> argparse.ArgumentParser:
    shared = ROOT.parent / "shared" / "data" / "ct"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ct-dir", type=Path, default=shared, help=f"real CT samples (default {shared})")
    parser.add_argument("--model", help="model id or bundle folder (default: the installed segmentation default)")
    parser.add_argument("--labels", type=Path, help="analyse this labelmap of volume-1001 instead of running a model")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "benchreport" / "ct_failure_analysis.md")
    parser.add_argument("--figure", type=Path, default=ROOT / "docs" / "ct_failure_volume1001.png")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not (args.ct_dir / f"volume-{CASE}.nii.gz").is_file():
        print(f"skipped: {args.ct_dir / f'volume-{CASE}.nii.gz'} is absent (the shared real CT data is not here)")
        return 0
    volume, model_id, seconds = load_volume(args.ct_dir, args.model, args.labels)
    report, picks = analyse(volume)
    phantom = phantom_section()
    real = hu_section("Real CT volume-1001 (expert masks)", volume.hu, volume.ref, volume.spacing)
    ran = f", segmentation {seconds:.0f} s" if seconds else ""
    text = (
        f"### `{model_id}` on real CT volume-{CASE}\n\n"
        f"Model `{model_id}` through `condswin.jobs.segment` (card grid, HU window, liver post-processing){ran}. "
        f"Grid {volume.hu.shape[::-1]} voxels of {tuple(round(s, 2) for s in volume.spacing)} mm; LPS millimetres "
        f"(+x patient left, +y posterior, +z superior); slices are z indices. Body-part guesses come from each "
        f"voxel's place relative to the body midline, its front-back centre and the true liver (within "
        f"{NEAR_LIVER_MM:.0f} mm: 'against the liver surface').\n\n"
        f"{report}\n#### HU of real CT and of the phantom\n\n{real}\n{phantom}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    draw_figure(volume, picks, args.figure, model_id)
    print(text)
    print(f"wrote {args.out} and {args.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
