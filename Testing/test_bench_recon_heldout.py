"""The held-out reconstruction section of the benchmark report: its targets, tables, cache and held-out data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchreport.heldout import RECIPES
from recon_heldout import RECIPE, held_out_sets, main, section, target_checks

from condswin.errors import InputNotFoundError
from condswin.training.campaign import load_recipes


def _metrics(nmse: float, psnr: float, ssim: float, seconds: float) -> dict[str, float]:
    return {"nmse": nmse, "psnr": psnr, "ssim": ssim, "mae": 0.1, "seconds_per_slice": seconds}


def _results(model_psnr_4x: float, model_ssim_8x: float, tv_seconds: float) -> dict:
    table = {
        "4x": {
            "zero-filled": _metrics(0.05, 27.0, 0.70, 0.01),
            "cs-tv": _metrics(0.03, 29.0, 0.80, tv_seconds),
            "cs-wavelet": _metrics(0.04, 28.0, 0.82, 0.5),
            "m": _metrics(0.02, model_psnr_4x, 0.85, 0.2),
        },
        "8x": {
            "zero-filled": _metrics(0.10, 24.0, 0.60, 0.01),
            "cs-tv": _metrics(0.08, 25.0, 0.58, 0.3),
            "cs-wavelet": _metrics(0.07, 25.5, 0.65, 0.5),
            "m": _metrics(0.06, 26.5, model_ssim_8x, 0.2),
        },
    }
    rows = [
        {"case": "brain", "method": method, "setting": setting, "metrics": metrics}
        for setting, methods in table.items()
        for method, metrics in methods.items()
    ]
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
        "command": "python bench/recon_heldout.py",
        "compressed_sensing": {
            "cs-tv": {"lam": 0.001, "iterations": 100},
            "cs-wavelet": {"lam": 0.001, "iterations": 100},
        },
        "data": ["brain: a held-out volume"],
        "grids": {"brain": [320, 320]},
        "rows": rows,
        "wall_seconds": 600.0,
        "load_average_end": 1.5,
    }


def test_every_target_is_checked_per_case_and_acceleration_and_a_miss_says_by_how_much():
    met = dict(target_checks(_results(30.5, 0.70, 0.9)))
    assert met["brain 4x: model ≥ +3 dB PSNR over zero-filled"] == "+3.50 dB (30.50 vs 27.00): met"
    assert met["brain 8x: model ≥ +2 dB PSNR over zero-filled"] == "+2.50 dB (26.50 vs 24.00): met"
    assert met["brain 4x: model above the better CS method in PSNR"] == "30.50 vs 29.00 (cs-tv): met"
    assert met["brain 4x: model above the better CS method in SSIM"] == "0.8500 vs 0.8200 (cs-wavelet): met"
    assert met["brain 8x: model above the better CS method in SSIM"] == "0.7000 vs 0.6500 (cs-wavelet): met"
    assert met["brain 4x: cs-tv above zero-filled in SSIM"].endswith("met")
    assert met["brain: cs-tv under 1 s per slice (k-space 320×320)"] == "0.90 s (slowest: 4x): met"

    missed = dict(target_checks(_results(28.5, 0.62, 1.25)))
    assert missed["brain 4x: model ≥ +3 dB PSNR over zero-filled"] == "+1.50 dB (28.50 vs 27.00): missed by 1.50 dB"
    assert missed["brain 4x: model above the better CS method in PSNR"] == "28.50 vs 29.00 (cs-tv): missed by 0.50 dB"
    assert (
        missed["brain 8x: model above the better CS method in SSIM"]
        == "0.6200 vs 0.6500 (cs-wavelet): missed by 0.0300"
    )
    assert missed["brain 8x: cs-tv above zero-filled in SSIM"] == "0.5800 vs 0.6000: missed by 0.0200"
    assert missed["brain: cs-tv under 1 s per slice (k-space 320×320)"] == "1.25 s (slowest: 4x): missed by 0.25 s"


def test_the_section_has_one_table_per_case_and_acceleration_with_the_best_of_each_column_in_bold():
    text = section(_results(30.5, 0.70, 0.9), "recon_heldout.png")
    assert "#### brain, 4x" in text and "#### brain, 8x" in text
    four = text.split("#### brain, 4x")[1].split("####")[0]
    assert "| m | **0.0200** | **30.50** | **+3.50** | **0.8500** | 0.200 |" in four
    assert "| zero-filled | 0.0500 | 27.00 | +0.00 | 0.7000 | **0.010** |" in four
    assert "| cs-tv | 0.0300 | 29.00 | +2.00 | 0.8000 | 0.900 |" in four
    assert "![" in text and "(recon_heldout.png)" in text
    assert "| brain 4x: model ≥ +3 dB PSNR over zero-filled | +3.50 dB (30.50 vs 27.00): met |" in text


def test_the_section_is_rendered_from_the_cached_rows_and_a_missing_shared_folder_is_skipped(tmp_path: Path, capsys):
    cache = tmp_path / "recon_heldout.json"
    cache.write_text(json.dumps({**_results(30.5, 0.70, 0.9), "figure": "recon_heldout.png"}))
    out = tmp_path / "recon_heldout.md"
    assert main(["--out", str(out), "--from-json"]) == 0
    assert out.read_text() == section(_results(30.5, 0.70, 0.9), "recon_heldout.png")

    elsewhere = tmp_path / "other.md"
    assert main(["--out", str(elsewhere), "--shared", str(tmp_path / "absent")]) == 0
    assert not elsewhere.exists() and not elsewhere.with_suffix(".json").exists()
    assert "skipped" in capsys.readouterr().err


def test_only_the_recipes_held_out_files_are_linked_never_a_training_or_validation_file(tmp_path: Path):
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
    assert [data.kind for data in sets] == [data.kind for data in recipe.held_out]

    (shared / sorted(held)[0]).unlink()
    with pytest.raises(InputNotFoundError, match="held-out file"):
        held_out_sets(shared, tmp_path / "work2")
