"""The segmentation default on its held-out real CT: a table per volume, the targets met or missed, a figure.

The held-out data are those of the ``seg`` recipe of ``Training/campaign.yaml`` (its ``held_out`` folder: real
abdominal CT volume-1001 with expert liver and tumour masks — validation only, never trained on —, volume-2002
with a pseudo-label, volume-3001 with three manually labelled slices); a file the recipe also trains on is
refused. The installed default is scored by the evaluation runner — what ``Training/evaluate.py --task
segmentation --model <default>`` runs — in one run on this machine: per whole volume, Dice and HD95 (mm) of
liver (label 1) and tumour (label 2), the report's liver volume (liver and tumours) and tumour count beside the
reference's, the reference tumours the model touches, the whole-liver Dice (liver and tumour labels together)
and the wall seconds of each segmentation job (``condswin.jobs.segment``, what ``condswin segment`` runs:
segmentation, post-processing and the report, without reading the file). The figure's label map of volume-1001
comes from one more run of that job.

    python bench/seg_heldout.py --out bench/benchreport/seg_heldout.md --figure docs/seg_heldout.png
    python bench/seg_heldout.py --out bench/benchreport/seg_heldout.md --from-json   # re-render, no measuring

The measured rows are cached beside the section (``--json``, default ``--out`` with ``.json``), so ``--from-json``
rebuilds the section without ../shared/data; the figure is drawn only when measuring. Without ../shared/data the
script says so and writes nothing. Prints Markdown.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "bench"):  # run from a source checkout without installing; bench's own modules
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from benchreport import heldout  # noqa: E402  (bench/ on the path above)
from benchreport.heldout import log  # noqa: E402

RECIPE = "seg"
TASK = "segmentation"
# The volume with expert liver and tumour masks: the targets that need tumours are checked on it, and the figure
# shows it.
EXPERT_CASE = "1001"
# The targets.
EXPERT_LIVER_DICE = 0.92
EXPERT_TUMOUR_DICE = 0.50
LIVER_VOLUME_ERROR_PERCENT = 10.0
TUMOUR_COUNT_FACTOR = 2.0
OTHER_LIVER_DICE = 0.90
WHOLE_CT_SECONDS = 30.0
# Figure colours: the references solid, the model dashed (as bench/ct_failure_analysis.py draws them).
CONTOURS = (
    ("reference liver", "ref", "liver", "#33ff33", "solid"),
    ("reference tumour", "ref", "tumour", "#ffff00", "solid"),
    ("model liver", "model", "liver", "#ff3333", "dashed"),
    ("model tumour", "model", "tumour", "#ff44ff", "dashed"),
)


# --------------------------------------------------------------------------------------------- the data


def held_out_sets(shared: Path, work: Path) -> list[Any]:
    """The recipe's held-out data, linked from ``shared`` into ``work`` (:func:`benchreport.heldout.held_out_sets`)."""
    return heldout.held_out_sets(RECIPE, shared, work)


def ct_grid(path: Path) -> list[int]:
    """(x, y, z) voxels of a CT volume, from its header."""
    from condswin.io.images import read_image_header

    return [int(n) for n in read_image_header(path).GetSize()]


# --------------------------------------------------------------------------------------------- measuring


def finite(value: Any) -> Any:
    """``value`` with every NaN (an HD95 where one map is empty) as None, so the cache is plain JSON."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def result_row(row: Any) -> dict[str, Any]:
    """A runner's row (:class:`condswin.evaluation.rows.MetricRow`) as the JSON cache keeps it: its metrics, and the
    whole-liver Dice and the job's seconds, which the tables show in columns of their own."""
    measures = row.metrics["measures"]
    return {
        "case": row.case,
        "method": row.method,
        "metrics": dict(row.metrics),
        "organ_dice": measures["organ_dice"],
        "seconds": measures["seconds_per_volume"],
    }


def measure(bundle: Any, sets: Sequence[Any], work: Path, command: str) -> dict[str, Any]:
    """Score the default ``bundle`` (a registry entry) on every held-out set: the results for the JSON."""
    import torch
    from benchreport.machine import describe

    from condswin.training.evaluation import EvaluationRequest, run_evaluation
    from condswin.training.evaluation.cases import find_eval_cases

    model_id = bundle.id
    results: dict[str, Any] = {
        "model": model_id,
        "sha256": bundle.card.sha256,
        "machine": describe(ROOT, torch.get_num_threads()),
        "command": command,
        "data": [data.description for data in sets],
        "grids": {},
        "rows": [],
        "notices": [],
    }
    started = time.perf_counter()
    for n, data in enumerate(sets):
        cases = find_eval_cases(TASK, data.folder, data.kind).cases
        results["grids"].update({case.case_id: ct_grid(case.path) for case in cases})
        request = EvaluationRequest(
            task=TASK,
            data=data.folder,
            kind=data.kind,
            models=(model_id,),
            out=work / f"evaluation{n}",
            montage_cases=0,  # the figure is drawn here, three slices of one volume
            hd95=True,
            overwrite=True,
            device="cpu",
        )
        result = run_evaluation(request, log=log)
        results["rows"] += [result_row(row) for row in result.rows]
        # the notices name the linked files by their path on this machine; the file name says enough
        results["notices"] += [notice.replace(f"{data.folder}{os.sep}", "") for notice in result.notices]
    results["wall_seconds"] = time.perf_counter() - started
    results["load_average_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return finite(results)


# --------------------------------------------------------------------------------------------- the section


def _number(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _bold_if(text: str, met: bool) -> str:
    return f"**{text}**" if met else text


def met(margin: float | None) -> bool:
    """Whether a target holds, from the margin by which it is met (the table's bold and the verdicts share it)."""
    return margin is not None and margin >= 0


def dice_margin(value: float | None, target: float) -> float | None:
    return None if value is None else value - target


def volume_margin(error_percent: float | None) -> float | None:
    """Percentage points to spare within the allowed liver volume error, either way."""
    return None if error_percent is None else LIVER_VOLUME_ERROR_PERCENT - abs(error_percent)


def speed_margin(seconds: float) -> float:
    return WHOLE_CT_SECONDS - seconds


def count_ratio(found: int, reference: int) -> float | None:
    """The model's tumour count over the reference's (None without reference tumours)."""
    return found / reference if reference else None


def count_met(ratio: float | None) -> bool:
    return ratio is not None and 1 / TUMOUR_COUNT_FACTOR <= ratio <= TUMOUR_COUNT_FACTOR


def case_row(row: dict[str, Any], grid: str) -> str:
    """One volume's table row; a value that meets its target in bold (on the volumes where the target applies)."""
    liver, tumour, m = row["metrics"]["liver"], row["metrics"]["tumour"], row["metrics"]["measures"]
    expert = row["case"] == EXPERT_CASE
    liver_target = EXPERT_LIVER_DICE if expert else OTHER_LIVER_DICE
    ratio = count_ratio(m["tumour_count"], m["reference_tumour_count"])
    detected = (
        f"{m['tumours_detected']} / {m['reference_tumour_count']} ({m['tumour_detection_rate']:.0%})"
        if m["tumour_detection_rate"] is not None
        else "—"
    )
    cells = [
        row["case"],
        grid,
        _bold_if(_number(liver["dice"], ".4f"), met(dice_margin(liver["dice"], liver_target))),
        _number(row.get("organ_dice"), ".4f"),
        _number(liver.get("hd95"), ".1f"),
        _bold_if(_number(tumour["dice"], ".4f"), expert and met(dice_margin(tumour["dice"], EXPERT_TUMOUR_DICE))),
        _number(tumour.get("hd95"), ".1f"),
        f"{m['liver_ml']:.0f} / {m['reference_liver_ml']:.0f}",
        _bold_if(
            _number(m["liver_volume_error_percent"], "+.1f"),
            expert and met(volume_margin(m["liver_volume_error_percent"])),
        ),
        _bold_if(f"{m['tumour_count']} / {m['reference_tumour_count']}", expert and count_met(ratio)),
        detected,
        _bold_if(f"{row['seconds']:.1f}", expert and met(speed_margin(row["seconds"]))),
    ]
    return "| " + " | ".join(cells) + " |"


TABLE_HEAD = (
    "Volume",
    "Grid (x×y×z)",
    "Liver Dice",
    "Liver+tumour Dice",
    "Liver HD95 (mm)",
    "Tumour Dice",
    "Tumour HD95 (mm)",
    "Liver mL (model / ref.)",
    "Volume error %",
    "Tumours (model / ref.)",
    "Ref. tumours detected",
    "s/volume",
)


def case_table(results: dict[str, Any]) -> str:
    """A row per held-out volume, in the runner's order."""
    grids = results.get("grids", {})
    lines = ["| " + " | ".join(TABLE_HEAD) + " |", "|---|" + "---|" * (len(TABLE_HEAD) - 1)]
    for row in results["rows"]:
        lines.append(case_row(row, "×".join(map(str, grids.get(row["case"], []))) or "?"))
    return "\n".join(lines) + "\n"


def _verdict(margin: float, unit: str, fmt: str) -> str:
    """``met`` for a margin of zero or more, else by how much the target is missed."""
    return "met" if met(margin) else f"missed by {-margin:{fmt}}{unit}"


def _dice_check(case: str, key: str, value: float | None, target: float) -> tuple[str, str]:
    margin = dice_margin(value, target)
    measured = "none scored" if margin is None else f"{value:.4f}: " + _verdict(margin, "", ".4f")
    return f"{case}: {key} Dice ≥ {target:.2f}", measured


def _volume_check(case: str, m: dict[str, Any]) -> tuple[str, str]:
    error = m["liver_volume_error_percent"]
    target = f"{case}: liver volume within {LIVER_VOLUME_ERROR_PERCENT:g} % of the reference"
    margin = volume_margin(error)
    if margin is None:
        return target, "no reference liver"
    volumes = f"{error:+.1f} % ({m['liver_ml']:.0f} vs {m['reference_liver_ml']:.0f} mL): "
    return target, volumes + _verdict(margin, " points", ".1f")


def _count_check(case: str, m: dict[str, Any]) -> tuple[str, str]:
    found, reference = m["tumour_count"], m["reference_tumour_count"]
    target = f"{case}: tumour count within a factor of {TUMOUR_COUNT_FACTOR:g} of the reference"
    ratio = count_ratio(found, reference)
    if ratio is None:
        return target, f"{found} vs none in the reference"
    measured = f"{found} vs {reference} ({ratio:.2f}×): "
    if count_met(ratio):
        return target, measured + "met"
    if ratio == 0:
        return target, measured + "missed (no tumour found)"
    beyond = ratio / TUMOUR_COUNT_FACTOR if ratio > 1 else 1 / (ratio * TUMOUR_COUNT_FACTOR)
    return target, measured + f"missed by a factor of {beyond:.2f}"


def _speed_check(row: dict[str, Any], grid: str, cores: Any) -> tuple[str, str]:
    target = f"{row['case']}: the whole CT ({grid}) segmented in ≤ {WHOLE_CT_SECONDS:g} s on 2 cores"
    seconds = row["seconds"]
    return target, f"{seconds:.1f} s on {cores} cores: " + _verdict(speed_margin(seconds), " s", ".1f")


def target_checks(results: dict[str, Any]) -> list[tuple[str, str]]:
    """(target, what was measured and whether it holds): the expert volume's liver and tumour targets and speed,
    and the liver Dice of every other volume with a reference liver."""
    checks = []
    grids = results.get("grids", {})
    for row in results["rows"]:
        case, m = row["case"], row["metrics"]["measures"]
        if case == EXPERT_CASE:
            grid = "×".join(map(str, grids.get(case, []))) or "?"
            checks += [
                _dice_check(case, "liver", row["metrics"]["liver"]["dice"], EXPERT_LIVER_DICE),
                _dice_check(case, "tumour", row["metrics"]["tumour"]["dice"], EXPERT_TUMOUR_DICE),
                _volume_check(case, m),
                _count_check(case, m),
                _speed_check(row, grid, results["machine"]["cores"]),
            ]
        elif m["reference_liver_ml"] > 0:
            checks.append(_dice_check(case, "liver", row["metrics"]["liver"]["dice"], OTHER_LIVER_DICE))
    return checks


def section(results: dict[str, Any], figure: str | None) -> str:
    """The Markdown section: provenance, the targets met or missed, the table, notices, the figure."""
    from benchreport.machine import markdown as machine_markdown

    parts = [
        f"The default `{results['model']}` (sha256 {results['sha256'][:12]}) on the held-out data of the "
        "segmentation recipe (`Training/campaign.yaml`), never trained on: " + "; ".join(results["data"]) + ". "
        "Scored by the evaluation runner (`Training/evaluate.py --task segmentation`) per whole volume: liver Dice "
        "and HD95 of label 1 (the runner's; a tumour voxel called liver counts against it), liver+tumour Dice of "
        "the whole organ (labels 1 and 2, as LiTS scores the liver), tumour Dice and HD95 of label 2, the report's "
        "liver volume (liver and tumours) and tumour count (26-connected) beside the reference's, and the "
        "reference tumours the model touches; s/volume: wall seconds of the segmentation job (what `condswin "
        "segment` runs, file reading excluded); all in this one run (load average "
        f"{results['load_average_end']:.1f} at its end, {results['wall_seconds']:.0f} s in all, HD95 included). "
        "A value in bold meets its target.\n\n",
        machine_markdown(results["machine"]),
        f"\nCommand: `{results['command']}`\n",
        "\n| target | measured |\n|---|---|\n",
        "".join(f"| {a} | {b} |\n" for a, b in target_checks(results)),
        "\n" + case_table(results),
    ]
    if results.get("notices"):
        parts.append("\nNotices of the run:\n\n" + "".join(f"- {notice}\n" for notice in results["notices"]))
    if figure:
        slices = ", ".join(f"{k} ({why})" for k, why in results.get("figure_slices", []))
        parts.append(
            f"\n![reference and model contours on three axial slices of volume-{EXPERT_CASE}]({figure})\n\n"
            f"Volume-{EXPERT_CASE} (validation only), axial slices {slices}: the slices where the reference liver "
            "and the reference tumours are largest and the slice midway between them, in a soft-tissue window "
            "(-160 to 240 HU); the reference's liver (liver and tumours) green and tumours yellow, solid; the "
            "model's liver red and tumours magenta, dashed.\n"
        )
    return "".join(parts)


# --------------------------------------------------------------------------------------------- the figure


def figure_slices(reference: Any) -> list[tuple[int, str]]:
    """The axial slices (z index, why) the figure shows, in slice order: the largest reference liver (liver and
    tumours), the largest reference tumour and the slice midway between the two (where both are in view)."""
    import numpy as np

    from condswin.lits import TUMOUR

    liver_area = (reference > 0).sum(axis=(1, 2))
    tumour_area = (reference == TUMOUR).sum(axis=(1, 2))
    picks = {int(np.argmax(liver_area)): "largest reference liver"}
    if tumour_area.any():
        tumour = int(np.argmax(tumour_area))
        picks.setdefault(tumour, "largest reference tumour")
        picks.setdefault((min(picks) + max(picks)) // 2, "midway")
    return sorted(picks.items())


def draw_figure(
    ct: Any, reference: Any, predicted: Any, spacing: Sequence[float], picks: Sequence[tuple[int, str]], out: Path
) -> None:
    """One panel per picked slice: the CT in a soft-tissue window, reference and model contours, one legend."""
    from matplotlib.lines import Line2D

    from condswin.evaluation.figures import CT_DISPLAY_WINDOW, new_figure, save_figure
    from condswin.lits import TUMOUR

    masks: dict[tuple[str, str], Callable[[int], Any]] = {
        ("ref", "liver"): lambda k: reference[k] > 0,
        ("ref", "tumour"): lambda k: reference[k] == TUMOUR,
        ("model", "liver"): lambda k: predicted[k] > 0,
        ("model", "tumour"): lambda k: predicted[k] == TUMOUR,
    }
    figure, axes = new_figure(1, len(picks), (3.2, 3.4))
    for ax, (k, why) in zip(axes[0], picks, strict=True):
        low, high = CT_DISPLAY_WINDOW
        ax.imshow(ct[k], cmap="gray", vmin=low, vmax=high, aspect=spacing[1] / spacing[0], interpolation="nearest")
        for _, source, label, colour, style in CONTOURS:
            mask = masks[source, label](k)
            if mask.any():
                ax.contour(mask, levels=[0.5], colors=colour, linewidths=0.8, linestyles=style)
        ax.set_title(f"slice {k}: {why}", fontsize=8)
        ax.axis("off")
    handles = [Line2D([], [], color=c, linestyle="--" if s == "dashed" else "-", label=n) for n, _, _, c, s in CONTOURS]
    figure.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=7, frameon=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_figure(figure, out, dpi=90)


def draw_expert_figure(bundle: Any, sets: Sequence[Any], out: Path) -> list[tuple[int, str]] | None:
    """The figure of the expert volume, segmented by ``bundle`` as the runner did (the runner keeps no label map);
    returns the slices it shows, or None when no held-out set holds the expert volume."""
    import SimpleITK as sitk

    from condswin.bundles import load_bundle
    from condswin.ct.datasets import CTCase, load_case
    from condswin.inference import InferenceOptions
    from condswin.jobs import segment
    from condswin.training.evaluation.cases import find_eval_cases

    cases = [
        c for data in sets for c in find_eval_cases(TASK, data.folder, data.kind).cases if c.case_id == EXPERT_CASE
    ]
    if not cases:
        return None
    case = cases[0]
    ct, labels = load_case(CTCase(case.path, case.label_path, case.case_id))
    assert labels is not None  # segmentation cases are found with their label maps
    predicted = sitk.GetArrayFromImage(segment(ct, load_bundle(bundle), InferenceOptions(device="cpu")).output)
    reference = sitk.GetArrayFromImage(labels)
    picks = figure_slices(reference)
    draw_figure(sitk.GetArrayFromImage(ct), reference, predicted, ct.GetSpacing(), picks, out)
    return picks


# --------------------------------------------------------------------------------------------- the command


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return heldout.parse_section_args("bench/seg_heldout.py", __doc__.split("\n\n")[0], "seg_heldout", argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def measure_and_draw(bundle: Any, command: str) -> dict[str, Any]:
        sets = held_out_sets(args.shared, args.work)
        results = measure(bundle, sets, args.work, command)
        picks = None if args.figure is None else draw_expert_figure(bundle, sets, args.figure)
        if picks is not None:
            results["figure_slices"] = picks
            results["figure"] = os.path.relpath(args.figure.resolve(), ROOT / "docs")  # as docs/benchmarks.md sees it
        return results

    return heldout.run_section(args, argv, "bench/seg_heldout.py", TASK, measure_and_draw, section)


if __name__ == "__main__":
    sys.exit(main())
