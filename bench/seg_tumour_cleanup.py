"""How the segmentation job's tumour clean-up trades false tumours against real ones, on real CT and on phantoms.

The installed default segmentation model (or ``--model``) labels each volume once, through
:func:`condswin.jobs.segment` without post-processing (the card's grid, HU window and score offsets); each
setting of the tumour clean-up then post-processes that same label map with
:func:`condswin.ct.postprocess.postprocess_labels` — the job's 6 mm neck cut, then tumours enclosed by less than
a fraction f of liver dropped (``min_tumour_enclosure``), then tumours under v mL made liver
(``min_tumour_ml``); "slices": a failing component looked at again in the network's slices
(``slice_axis``). The job's own setting is marked. Measured:

* real CT volume-1001 (expert liver and tumour masks; validation only, never trained on): liver and tumour Dice,
  tumours found against the expert's 8, expert tumours touched, liver volume error;
* real CT volume-2002 (liver pseudo-label, no tumour label): the false tumours found, liver volume error;
* ``--phantoms`` abdominal CT phantoms (seeds from 9100, 256 × 256 × 48, the real liver shapes of
  ``--ct-dir``/lits_liver_masks; phantom tumours are the only ones whose every outline is known): tumour Dice
  over all of them, tumours found and phantom tumours touched.

    nice -n 19 python bench/seg_tumour_cleanup.py --out bench/benchreport/seg_tumour_cleanup.md   # ~3 min, 2 cores

Exits 0 without doing anything (and says so) when the shared data folder is absent. Prints Markdown.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a source checkout without installing
    sys.path.insert(0, str(ROOT))

from condswin.ct import postprocess as clean  # noqa: E402
from condswin.lits import LIVER, TUMOUR  # noqa: E402

# (min_tumour_enclosure, min_tumour_ml, whether a failing component is looked at again slice by slice): each knob
# alone, then together around the job's setting.
SETTINGS = (
    (0.0, 0.0, False),
    (0.0, 0.1, False),
    (0.0, 0.5, False),
    (0.6, 0.1, False),
    (0.5, 0.1, True),
    (0.6, 0.0, True),
    (0.6, 0.1, True),
    (0.6, 0.25, True),
    (2.0 / 3.0, 0.1, True),
    (0.75, 0.1, True),
)
PHANTOM_SEED = 9100

Case = tuple[np.ndarray, np.ndarray, tuple[float, ...], int]  # raw labels, reference, spacing (x, y, z), slice axis
_OVERLAPS = tuple(f"{name}_{kind}" for name in ("tumour", "organ") for kind in ("tp", "fp", "fn"))


def counts(predicted: np.ndarray, case: Case) -> dict[str, Any]:
    """The report's measures beside the reference (:func:`condswin.ct.report.measures_against_reference`: tumours
    found, reference tumours, those touched, liver volume error), and the voxel overlaps of tumour and of the whole
    organ (to pool Dice over several volumes)."""
    from condswin.ct.report import measures_against_reference

    _, reference, spacing, _ = case
    result: dict[str, Any] = measures_against_reference(predicted, reference, spacing)
    for name, a, b in (("tumour", predicted == TUMOUR, reference == TUMOUR), ("organ", predicted > 0, reference > 0)):
        result[f"{name}_tp"] = int((a & b).sum())
        result[f"{name}_fp"] = int((a & ~b).sum())
        result[f"{name}_fn"] = int((~a & b).sum())
    return result


def dice_of(total: dict[str, Any], name: str) -> float:
    tp, fp, fn = total[f"{name}_tp"], total[f"{name}_fp"], total[f"{name}_fn"]
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")


def cleaned(case: Case, enclosure: float, smallest_ml: float, by_slice: bool) -> np.ndarray:
    raw, _, spacing, slice_axis = case
    return clean.postprocess_labels(
        raw,
        spacing,
        detach_mm=clean.LIVER_DETACH_MM,
        min_tumour_enclosure=enclosure,
        min_tumour_ml=smallest_ml,
        slice_axis=slice_axis if by_slice else None,
    )


def setting_name(enclosure: float, smallest_ml: float, by_slice: bool) -> str:
    job = (
        np.isclose(enclosure, clean.TUMOUR_MIN_ENCLOSURE) and np.isclose(smallest_ml, clean.MIN_TUMOUR_ML) and by_slice
    )
    text = f"{enclosure:.2f} / {smallest_ml:g}" + (" / slices" if by_slice and enclosure > 0 else "")
    return f"**{text}** (the job)" if job else text


def labelled(image: Any, reference: np.ndarray, loaded: Any) -> Case:
    """The model's raw label map of an image, with its reference, spacing and the network's slicing axis."""
    import SimpleITK as sitk

    from condswin.inference.orientation import SliceLayout
    from condswin.jobs import segment

    raw = sitk.GetArrayFromImage(segment(image, loaded, postprocess=False).output)
    axis = SliceLayout.from_image(image, loaded.card.contract.axis).axes[0]
    return raw, reference, tuple(image.GetSpacing()), axis


def real_case(ct_dir: Path, case: str, loaded: Any) -> Case:
    import SimpleITK as sitk

    image = sitk.ReadImage(str(ct_dir / f"volume-{case}.nii.gz"))
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(ct_dir / f"segmentation-{case}.nii.gz")))
    return labelled(image, reference, loaded)


def phantom_cases(ct_dir: Path, loaded: Any, number: int) -> list[Case]:
    import SimpleITK as sitk

    from condswin.ct.phantom import make_phantom

    shapes = sorted((ct_dir / "lits_liver_masks").glob("*.nii.gz"))
    cases = []
    for index in range(number):
        options = {"liver_mask": sitk.ReadImage(str(shapes[index * 7 % len(shapes)]))} if shapes else {}
        ct, labels = make_phantom(PHANTOM_SEED + index, (256, 256, 48), **options)
        cases.append(labelled(ct, sitk.GetArrayFromImage(labels), loaded))
    return cases


def real_table(case: Case, with_tumours: bool) -> list[str]:
    from condswin.metrics.segmentation import dice

    if with_tumours:
        rows = [
            "| enclosure / smallest tumour (mL) / pieces | liver Dice | tumour Dice | tumours found (expert) "
            "| expert tumours touched | liver volume error |",
            "|---|---:|---:|---:|---:|---:|",
        ]
    else:
        rows = ["| enclosure / smallest tumour (mL) / pieces | liver Dice | false tumours found | liver volume error |"]
        rows.append("|---|---:|---:|---:|")
    reference = case[1]
    for enclosure, smallest_ml, by_slice in SETTINGS:
        out = cleaned(case, enclosure, smallest_ml, by_slice)
        c = counts(out, case)
        liver = dice(out == LIVER, reference == LIVER)
        found, error = c["tumour_count"], c["liver_volume_error_percent"]
        name = setting_name(enclosure, smallest_ml, by_slice)
        if with_tumours:
            rows.append(
                f"| {name} | {liver:.3f} | {dice_of(c, 'tumour'):.3f} | {found} ({c['reference_tumour_count']}) "
                f"| {c['tumours_detected']} | {error:+.1f} % |"
            )
        else:
            rows.append(f"| {name} | {liver:.3f} | {found} | {error:+.1f} % |")
    return rows


def phantom_table(cases: Sequence[Case]) -> list[str]:
    rows = [
        "| enclosure / smallest tumour (mL) / pieces | tumour Dice (all voxels) | organ Dice | tumours found (phantoms') "
        "| phantom tumours touched |",
        "|---|---:|---:|---:|---:|",
    ]
    for enclosure, smallest_ml, by_slice in SETTINGS:
        total: dict[str, int] = {}
        for case in cases:
            measured = counts(cleaned(case, enclosure, smallest_ml, by_slice), case)
            for key in ("tumour_count", "reference_tumour_count", "tumours_detected", *_OVERLAPS):
                total[key] = total.get(key, 0) + int(measured[key])
        rows.append(
            f"| {setting_name(enclosure, smallest_ml, by_slice)} | {dice_of(total, 'tumour'):.3f} | {dice_of(total, 'organ'):.3f} "
            f"| {total['tumour_count']} ({total['reference_tumour_count']}) | {total['tumours_detected']} |"
        )
    return rows


def build_parser() -> argparse.ArgumentParser:
    shared = ROOT.parent / "shared" / "data" / "ct"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ct-dir", type=Path, default=shared, help=f"real CT samples (default {shared})")
    parser.add_argument("--model", help="model id or bundle folder (default: the installed segmentation default)")
    parser.add_argument("--phantoms", type=int, default=12, help="phantom volumes (default 12)")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not (args.ct_dir / "volume-1001.nii.gz").is_file():
        print(f"skipped: {args.ct_dir / 'volume-1001.nii.gz'} is absent (the shared real CT data is not here)")
        return 0
    from condswin.bundles import load_bundle, resolve_bundle
    from condswin.bundles.registry import default_bundle

    bundle = default_bundle("segmentation") if args.model is None else resolve_bundle(args.model, task="segmentation")
    loaded = load_bundle(bundle)
    lines = [
        f"Model `{loaded.card.id}` (sha256 {loaded.card.sha256[:12]}), score offsets "
        f"{list(loaded.card.contract.score_offsets) or 'none'}; every row after the job's 6 mm neck cut.",
        "",
        "Volume 1001 (expert masks, validation only):",
        "",
        *real_table(real_case(args.ct_dir, "1001", loaded), with_tumours=True),
        "",
        "Volume 2002 (liver pseudo-label, no tumour label: every tumour found is false):",
        "",
    ]
    lines += [*real_table(real_case(args.ct_dir, "2002", loaded), with_tumours=False), ""]
    lines += [f"{args.phantoms} phantoms (seeds {PHANTOM_SEED}–{PHANTOM_SEED + args.phantoms - 1}):", ""]
    lines += phantom_table(phantom_cases(args.ct_dir, loaded, args.phantoms))
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
