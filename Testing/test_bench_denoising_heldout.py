"""The held-out denoising section of the benchmark report: the targets it checks against a card's numbers."""

from __future__ import annotations

from denoising_heldout import held_out_rows, section, target_checks


def _row(method: str, sigma: float, ssim: float, psnr: float, seconds: float | None = None) -> dict:
    metrics = {"ssim": ssim, "psnr": psnr}
    if seconds is not None:
        metrics["seconds_per_slice"] = seconds
    return {"case": "t2", "method": method, "setting": f"rician sigma={sigma}", "metrics": metrics}


def _card(model_ssim_at_10: float, model_psnr_at_5: float, model_seconds: float) -> dict:
    rows = [
        _row("noisy input", 0.05, 0.4, 25.0),
        _row("m", 0.025, 0.90, 37.8, model_seconds),
        _row("m", 0.05, 0.85, model_psnr_at_5, model_seconds),
        _row("m", 0.1, model_ssim_at_10, 30.0, model_seconds),
        _row("bm3d", 0.025, 0.88, 38.0, 2.0),
        _row("bm3d", 0.05, 0.83, 35.0, 2.0),
        _row("bm3d", 0.1, 0.70, 26.0, 2.0),
        _row("gaussian", 0.025, 0.87, 34.0, 0.01),
    ]
    return {"id": "m", "metrics": {"held_out": [{"per_volume": rows}]}, "training": {}}


def test_every_target_is_checked_per_volume_and_a_miss_says_by_how_much():
    met = dict(target_checks("m", held_out_rows(_card(0.75, 34.8, 0.02))))
    assert met["t2: SSIM above bm3d at σ 5.0%"].endswith("met")
    assert met["t2: SSIM above bm3d at σ 10.0%"].endswith("met")
    assert met["t2: SSIM above gaussian at σ 2.5%"].endswith("met")
    assert met["t2: PSNR at most 0.5 dB below BM3D"].endswith("met")  # 0.2 dB below BM3D at 2.5 % and 5 %
    assert "100×" in met["t2: at least 50× BM3D's speed per slice"]

    missed = dict(target_checks("m", held_out_rows(_card(0.65, 33.0, 0.1))))
    assert missed["t2: SSIM above bm3d at σ 10.0%"].endswith("missed by 0.0500")
    assert missed["t2: PSNR at most 0.5 dB below BM3D"] == "worst +2.00 dB (σ 5.0%): missed by 1.50 dB"
    assert missed["t2: at least 50× BM3D's speed per slice"].endswith("missed (20×)")


def test_the_section_has_one_table_per_volume_with_every_method():
    text = section(_card(0.75, 34.8, 0.02), "denoising_heldout.png")
    assert "#### t2" in text and "| **m** |" in text and "| bm3d |" in text and "| gaussian |" in text
    assert "![" in text and "(denoising_heldout.png)" in text
