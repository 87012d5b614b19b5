"""The held-out segmentation section of the benchmark report: its targets, table, cache, figure and held-out data."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import SimpleITK as sitk
from benchreport.heldout import RECIPES
from seg_heldout import (
    RECIPE,
    draw_figure,
    figure_slices,
    finite,
    held_out_sets,
    main,
    result_row,
    section,
    target_checks,
)

import condswin.jobs
from condswin.errors import InputNotFoundError
from condswin.inference import InferenceOptions
from condswin.training.campaign import load_recipes
from condswin.training.evaluation.cases import EvalCase
from condswin.training.evaluation.methods import Method
from condswin.training.evaluation.segmentation import score_segmentation_case


def _row(case: str, liver: float, tumour: float, liver_ml: float, reference_ml: float, count: int, reference: int):
    detected = min(count, reference)
    return {
        "case": case,
        "method": "m",
        "metrics": {
            "liver": {"dice": liver, "hd95": 7.25},
            "tumour": {"dice": tumour, "hd95": None if reference == 0 else 12.5},
            "measures": {
                "liver_ml": liver_ml,
                "reference_liver_ml": reference_ml,
                "liver_volume_error_percent": 100 * (liver_ml - reference_ml) / reference_ml if reference_ml else None,
                "tumour_count": count,
                "reference_tumour_count": reference,
                "tumours_detected": detected,
                "tumour_detection_rate": detected / reference if reference else None,
            },
        },
        "organ_dice": liver + 0.01,
        "seconds": 0.0,
    }


def _results(liver=0.95, tumour=0.60, liver_ml=1050.0, count=5, seconds=20.0, other=0.93) -> dict:
    expert = _row("1001", liver, tumour, liver_ml, 1000.0, count, 4)
    expert["seconds"] = seconds
    pseudo = _row("2002", other, 0.0, 520.0, 500.0, 1, 0)
    pseudo["seconds"] = 1.5
    unlabelled = _row("4004", 0.0, 0.0, 0.0, 0.0, 0, 0)  # no reference liver: no liver target
    return {
        "model": "m",
        "sha256": "0123456789abcdef",
        "machine": {
            "cpu": "cpu",
            "cores": 2,
            "threads": 2,
            "native_bf16": False,
            "torch": "2",
            "python": "3",
            "gpu": None,
            "commit": "abc",
            "date": "today",
            "load_average_start": 1.0,
        },
        "command": "python bench/seg_heldout.py",
        "data": ["real CT: three volumes"],
        "grids": {"1001": [512, 512, 129], "2002": [122, 101, 30], "4004": [64, 64, 8]},
        "rows": [expert, pseudo, unlabelled],
        "notices": ["4004: no liver was found"],
        "wall_seconds": 120.0,
        "load_average_end": 1.5,
        "figure_slices": [[63, "largest reference tumour"], [79, "midway"], [96, "largest reference liver"]],
    }


def test_every_target_is_checked_on_its_volumes_and_a_miss_says_by_how_much():
    met = dict(target_checks(_results()))
    assert met["1001: liver Dice ≥ 0.92"] == "0.9500: met"
    assert met["1001: tumour Dice ≥ 0.50"] == "0.6000: met"
    assert met["1001: liver volume within 10 % of the reference"] == "+5.0 % (1050 vs 1000 mL): met"
    assert met["1001: tumour count within a factor of 2 of the reference"] == "5 vs 4 (1.25×): met"
    speed = "1001: the whole CT (512×512×129) segmented in ≤ 30 s on 2 cores"
    assert met[speed] == "20.0 s on 2 cores: met"
    assert met["2002: liver Dice ≥ 0.90"] == "0.9300: met"
    assert not any(target.startswith("4004") for target in met)  # no reference liver there
    assert not any("2002: tumour" in target for target in met)  # the tumour targets are the expert volume's
    on_the_line = dict(target_checks(_results(liver=0.92, liver_ml=900.0, count=8, seconds=30.0)))
    assert on_the_line["1001: liver Dice ≥ 0.92"] == "0.9200: met"
    assert on_the_line["1001: liver volume within 10 % of the reference"] == "-10.0 % (900 vs 1000 mL): met"
    assert on_the_line["1001: tumour count within a factor of 2 of the reference"] == "8 vs 4 (2.00×): met"
    assert on_the_line[speed] == "30.0 s on 2 cores: met"

    missed = dict(target_checks(_results(0.85, 0.2, 1250.0, 12, 41.5, 0.88)))
    assert missed["1001: liver Dice ≥ 0.92"] == "0.8500: missed by 0.0700"
    assert missed["1001: tumour Dice ≥ 0.50"] == "0.2000: missed by 0.3000"
    assert (
        missed["1001: liver volume within 10 % of the reference"] == "+25.0 % (1250 vs 1000 mL): missed by 15.0 points"
    )
    assert (
        missed["1001: tumour count within a factor of 2 of the reference"]
        == "12 vs 4 (3.00×): missed by a factor of 1.50"
    )
    assert missed[speed] == "41.5 s on 2 cores: missed by 11.5 s"
    assert missed["2002: liver Dice ≥ 0.90"] == "0.8800: missed by 0.0200"
    too_few = dict(target_checks(_results(count=1)))["1001: tumour count within a factor of 2 of the reference"]
    assert too_few == "1 vs 4 (0.25×): missed by a factor of 2.00"
    none = dict(target_checks(_results(count=0)))["1001: tumour count within a factor of 2 of the reference"]
    assert none == "0 vs 4 (0.00×): missed (no tumour found)"


def test_the_table_has_a_row_per_volume_in_the_runners_order_with_the_values_that_meet_a_target_in_bold():
    text = section(_results(), "seg_heldout.png")
    assert (
        "| 1001 | 512×512×129 | **0.9500** | 0.9600 | 7.2 | **0.6000** | 12.5 | 1050 / 1000 | **+5.0** | **5 / 4** "
        "| 4 / 4 (100%) | **20.0** |" in text
    )
    assert "| 2002 | 122×101×30 | **0.9300** | 0.9400 | 7.2 | 0.0000 | — | 520 / 500 | +4.0 | 1 / 0 | — | 1.5 |" in text
    assert text.index("| 1001 |") < text.index("| 2002 |") < text.index("| 4004 |")
    missed = section(_results(0.85, 0.2, 1250.0, 12, 41.5, 0.88), None)
    assert (
        "| 1001 | 512×512×129 | 0.8500 | 0.8600 | 7.2 | 0.2000 | 12.5 | 1250 / 1000 | +25.0 | 12 / 4 | 4 / 4 (100%) "
        "| 41.5 |" in missed
    )
    assert "| 2002 | 122×101×30 | 0.8800 |" in missed
    below = section(_results(liver_ml=750.0, count=9), None)  # 25 % too small, 2.25× the tumours
    assert "| 750 / 1000 | -25.0 | 9 / 4 |" in below
    assert "| 1001: liver Dice ≥ 0.92 | 0.9500: met |" in text
    assert "- 4004: no liver was found" in text
    assert "(seg_heldout.png)" in text and "63 (largest reference tumour), 79 (midway)" in text
    assert "![" not in missed


def test_the_section_is_rendered_from_the_cached_rows_and_a_missing_shared_folder_is_skipped(tmp_path: Path, capsys):
    cache = tmp_path / "seg_heldout.json"
    cache.write_text(json.dumps({**_results(), "figure": "seg_heldout.png"}))
    out = tmp_path / "seg_heldout.md"
    assert main(["--out", str(out), "--from-json"]) == 0
    assert out.read_text() == section(_results(), "seg_heldout.png")

    elsewhere = tmp_path / "other.md"
    figure = tmp_path / "other.png"
    assert main(["--out", str(elsewhere), "--figure", str(figure), "--shared", str(tmp_path / "absent")]) == 0
    assert not elsewhere.exists() and not elsewhere.with_suffix(".json").exists() and not figure.exists()
    assert "skipped" in capsys.readouterr().err


def test_the_cache_holds_no_nan():
    assert finite({"hd95": math.nan, "rows": [{"dice": 0.5, "hd95": math.inf}], "n": 3}) == {
        "hd95": None,
        "rows": [{"dice": 0.5, "hd95": None}],
        "n": 3,
    }


def test_only_the_recipes_held_out_files_are_linked_never_a_training_file(tmp_path: Path):
    recipe = load_recipes(RECIPES)[RECIPE]
    shared = tmp_path / "shared"
    for files in recipe.folders.values():
        for name in files:
            (shared / name).parent.mkdir(parents=True, exist_ok=True)
            (shared / name).write_bytes(b"")
    sets = held_out_sets(shared, tmp_path / "work")
    linked = {p.resolve().relative_to(shared.resolve()).as_posix() for data in sets for p in data.folder.iterdir()}
    held = {name for data in recipe.held_out for name in recipe.folders[str(data.folder)]}
    trained = {name for folder, files in recipe.folders.items() for name in files} - held
    assert linked == held and not linked & trained
    assert "ct/segmentation-1001.nii.gz" in linked
    assert [data.kind for data in sets] == ["lits"]

    (shared / sorted(held)[0]).unlink()
    with pytest.raises(InputNotFoundError, match="held-out file"):
        held_out_sets(shared, tmp_path / "work2")


def _reference(slices: int = 12) -> np.ndarray:
    reference = np.zeros((slices, 16, 16), dtype=np.uint8)
    for k, half in enumerate([0, 1, 2, 3, 4, 5, 6, 7, 6, 3, 2, 0][:slices]):
        reference[k, 8 - half : 8 + half, 8 - half : 8 + half] = 1
    reference[2, 7:9, 7:9] = 2  # the largest tumour, on a slice far from the largest liver (8)
    reference[3, 7:8, 7:8] = 2
    return reference


def test_the_figure_shows_the_largest_liver_the_largest_tumour_and_the_slice_midway(tmp_path: Path):
    reference = _reference()
    assert figure_slices(reference) == [(2, "largest reference tumour"), (4, "midway"), (7, "largest reference liver")]
    assert figure_slices(np.where(reference == 2, 1, reference)) == [(7, "largest reference liver")]

    out = tmp_path / "figure.png"
    ct = np.full(reference.shape, 60.0, dtype=np.float32)
    draw_figure(ct, reference, np.roll(reference, 1, axis=2), (0.8, 0.8, 2.0), figure_slices(reference), out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_runners_rows_carry_the_organ_dice_and_the_seconds_the_tables_show(tmp_path: Path, monkeypatch):
    """The runner's scorer times each job and measures the whole liver; the bench's rows take both from there."""
    reference = _reference()
    paths = []
    for name, array in (("volume-7.nii.gz", np.zeros(reference.shape, np.int16)), ("segmentation-7.nii.gz", reference)):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing((0.8, 0.8, 2.0))
        sitk.WriteImage(image, str(tmp_path / name))
        paths.append(tmp_path / name)
    predicted = np.roll(reference, 1, axis=2)

    def slow_job(ct, loaded, options=None):
        time.sleep(0.05)
        output = sitk.GetImageFromArray(predicted)
        output.CopyInformation(ct)
        return SimpleNamespace(output=output, report={}, notices=[])

    monkeypatch.setattr(condswin.jobs, "segment", slow_job)
    outcome = score_segmentation_case(
        EvalCase("7", paths[0], paths[1]), [Method("m", loaded=object())], InferenceOptions(device="cpu"), hd95=False
    )
    row = result_row(outcome.rows[0])
    organ, truth = predicted > 0, reference > 0
    assert row["organ_dice"] == pytest.approx(2 * (organ & truth).sum() / (organ.sum() + truth.sum()))
    assert row["seconds"] >= 0.05 and row["metrics"]["liver"]["dice"] is not None
    json.dumps(finite(row))  # plain JSON for the cache
