"""A rule measured and left out of the segmentation job: tumours thinner than t mm across the network's slices
made liver, after the job's own clean-up.

The network decides each slice alone, and most false tumours it leaves on real CT span only a few thin slices;
a real small tumour on thick slices is one slice thin too. This measures both sides on the data of
``bench/seg_tumour_cleanup.py`` (volumes 1001 and 2002, ``--phantoms`` phantoms whose slices are 1–5 mm):

    nice -n 19 python bench/seg_thin_tumours.py --out bench/benchreport/seg_thin_tumours.md   # ~3 min, 2 cores

Exits 0 without doing anything (and says so) when the shared data folder is absent. Prints Markdown.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the clean-up bench beside this file

import seg_tumour_cleanup as cleanup  # noqa: E402

from condswin.ct import postprocess as clean  # noqa: E402
from condswin.lits import LIVER, TUMOUR  # noqa: E402

THICKNESSES_MM = (0.0, 2.0, 3.0, 4.0, 5.0)


def job_cleaned(case: cleanup.Case) -> np.ndarray:
    return cleanup.cleaned(case, clean.TUMOUR_MIN_ENCLOSURE, clean.MIN_TUMOUR_ML, True)


def without_thin_tumours(labels: np.ndarray, case: cleanup.Case, thickness_mm: float) -> np.ndarray:
    """``labels`` with every tumour component thinner than ``thickness_mm`` across the slices made liver."""
    _, _, spacing, axis = case
    slice_mm = tuple(reversed(spacing))[axis]  # spacing is (x, y, z); the array's axes run the other way
    components, _ = ndimage.label(labels == TUMOUR, structure=np.ones((3,) * labels.ndim, dtype=bool))  # as the job
    out = labels.copy()
    for index, box in enumerate(ndimage.find_objects(components), start=1):
        if box is not None and (box[axis].stop - box[axis].start) * slice_mm < thickness_mm:
            out[box][components[box] == index] = LIVER
    return out


def main(argv: list[str] | None = None) -> int:
    args = cleanup.build_parser().parse_args(argv)
    if not (args.ct_dir / "volume-1001.nii.gz").is_file():
        print(f"skipped: {args.ct_dir / 'volume-1001.nii.gz'} is absent (the shared real CT data is not here)")
        return 0
    from condswin.bundles import load_bundle, resolve_bundle
    from condswin.bundles.registry import default_bundle

    bundle = default_bundle("segmentation") if args.model is None else resolve_bundle(args.model, task="segmentation")
    loaded = load_bundle(bundle)
    real = {name: cleanup.real_case(args.ct_dir, name, loaded) for name in ("1001", "2002")}
    phantoms = cleanup.phantom_cases(args.ct_dir, loaded, args.phantoms)
    lines = [
        f"Model `{loaded.card.id}` (sha256 {loaded.card.sha256[:12]}); every row after the job's clean-up.",
        "",
        "| thinner than t made liver | 1001: tumour Dice / found (expert) / touched | 2002: false tumours "
        f"| {args.phantoms} phantoms: tumour Dice / found (phantoms') / touched |",
        "|---|---|---|---|",
    ]
    for thickness in THICKNESSES_MM:
        one = cleanup.counts(without_thin_tumours(job_cleaned(real["1001"]), real["1001"], thickness), real["1001"])
        two = cleanup.counts(without_thin_tumours(job_cleaned(real["2002"]), real["2002"], thickness), real["2002"])
        total: dict[str, int] = {}
        for case in phantoms:
            measured = cleanup.counts(without_thin_tumours(job_cleaned(case), case, thickness), case)
            for key in (
                "tumour_count",
                "reference_tumour_count",
                "tumours_detected",
                "tumour_tp",
                "tumour_fp",
                "tumour_fn",
            ):
                total[key] = total.get(key, 0) + int(measured[key])
        name = f"{thickness:g} mm" if thickness else "nothing (the job)"
        lines.append(
            f"| {name} | {cleanup.dice_of(one, 'tumour'):.3f} / {one['tumour_count']} ({one['reference_tumour_count']}) "
            f"/ {one['tumours_detected']} | {two['tumour_count']} | {cleanup.dice_of(total, 'tumour'):.3f} / "
            f"{total['tumour_count']} ({total['reference_tumour_count']}) / {total['tumours_detected']} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
