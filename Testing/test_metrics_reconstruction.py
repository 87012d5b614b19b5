"""fastMRI-compatible NMSE / PSNR / SSIM / MAE, checked against scikit-image and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from condswin.metrics import mae, mse, nmse, psnr, reconstruction_metrics, ssim


def _pair(shape=(4, 40, 36), dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[1], : shape[2]]
    base = np.exp(-((yy - shape[1] / 2) ** 2 + (xx - shape[2] / 2) ** 2) / 200.0)
    gt = np.stack([base * (1 + 0.3 * s) + 0.1 * rng.random(shape[1:]) for s in range(shape[0])])
    pred = gt + 0.05 * rng.standard_normal(shape)
    return gt.astype(dtype), pred.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ssim_equals_skimage_per_slice_mean(dtype):
    gt, pred = _pair(dtype=dtype)
    expected = np.mean([structural_similarity(g, p, data_range=gt.max()) for g, p in zip(gt, pred, strict=False)])
    assert ssim(gt, pred) == pytest.approx(expected, abs=1e-6)
    # explicit maxval is honoured (data range changes C1, C2)
    expected_2 = np.mean([structural_similarity(g, p, data_range=5.0) for g, p in zip(gt, pred, strict=False)])
    assert ssim(gt, pred, maxval=5.0) == pytest.approx(expected_2, abs=1e-6)
    assert abs(expected_2 - expected) > 1e-4


def test_ssim_uses_volume_max_not_slice_max():
    gt, pred = _pair()
    gt[0] *= 0.2  # a dim slice: its own max differs from the volume max
    per_slice_range = np.mean([structural_similarity(g, p, data_range=g.max()) for g, p in zip(gt, pred, strict=False)])
    volume_range = np.mean([structural_similarity(g, p, data_range=gt.max()) for g, p in zip(gt, pred, strict=False)])
    assert ssim(gt, pred) == pytest.approx(volume_range, abs=1e-6)
    assert abs(per_slice_range - volume_range) > 1e-4


def test_psnr_nmse_mae_match_definitions():
    gt, pred = _pair()
    assert psnr(gt, pred) == pytest.approx(peak_signal_noise_ratio(gt, pred, data_range=gt.max()), abs=1e-6)
    assert nmse(gt, pred) == pytest.approx(np.linalg.norm(gt - pred) ** 2 / np.linalg.norm(gt) ** 2, rel=1e-10)
    assert mae(gt, pred) == pytest.approx(np.abs(gt - pred).mean(), rel=1e-12)
    assert mse(gt, pred) == pytest.approx(((gt - pred) ** 2).mean(), rel=1e-12)
    assert psnr(gt, pred, maxval=2.0) == pytest.approx(10 * np.log10(4.0 / mse(gt, pred)), rel=1e-12)


def test_perfect_and_worse_reconstructions_rank_correctly():
    gt, pred = _pair()
    worse = gt + 3 * (pred - gt)
    assert ssim(gt, gt) == pytest.approx(1.0)
    assert psnr(gt, gt) == float("inf") and nmse(gt, gt) == 0.0 and mae(gt, gt) == 0.0
    m_good, m_bad = reconstruction_metrics(gt, pred), reconstruction_metrics(gt, worse)
    assert set(m_good) == {"nmse", "psnr", "ssim", "mae"}
    assert m_good["ssim"] > m_bad["ssim"] and m_good["psnr"] > m_bad["psnr"]
    assert m_good["nmse"] < m_bad["nmse"] and m_good["mae"] < m_bad["mae"]


def test_accepts_torch_tensors_and_single_images():
    gt, pred = _pair()
    assert ssim(torch.from_numpy(gt), torch.from_numpy(pred)) == pytest.approx(ssim(gt, pred))
    expected = structural_similarity(gt[1], pred[1], data_range=gt[1].max())
    assert ssim(gt[1], pred[1]) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "gt, pred, fn, message",
    [
        (np.ones((2, 8, 8)), np.ones((2, 8, 9)), ssim, "differ"),
        (np.ones((1, 8, 8)), np.full((1, 8, 8), np.nan), psnr, "NaN"),
        (np.ones((1, 8, 8), complex), np.ones((1, 8, 8), complex), mae, "complex"),
        (np.zeros((1, 8, 8)), np.ones((1, 8, 8)), nmse, "all zeros"),
        (np.zeros((1, 8, 8)), np.ones((1, 8, 8)), psnr, "maxval"),
        (np.ones((1, 5, 8)), np.ones((1, 5, 8)), ssim, "at least 7x7"),
        (np.ones((2, 2, 8, 8)), np.ones((2, 2, 8, 8)), ssim, "(slices, H, W)"),
    ],
)
def test_bad_input(gt, pred, fn, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fn(gt, pred)
