"""CDAE baseline: shapes at odd sizes, gradients, no skip connections, bad input."""

from __future__ import annotations

import pytest
import torch

from condswin.models import build_model, list_models

pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.mark.parametrize("in_channels,size", [(1, (29, 35)), (3, (32, 17))])
def test_cdae_shapes_and_gradients(in_channels, size):
    model = build_model("cdae", in_channels=in_channels, out_channels=in_channels, features=(8, 8))
    x = torch.randn(2, in_channels, *size, requires_grad=True)
    y = model(x)
    assert y.shape == x.shape
    y.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_cdae_is_a_denoising_model_with_a_bottleneck():
    assert "cdae" in list_models("denoising")
    model = build_model("cdae", features=(8, 16, 16))
    # 3 max-pools: a 1-pixel change can only move the output through the 1/8-resolution code, so the
    # output changes over the whole 8×8 cell of the code (no full-resolution skip carries it).
    model.eval()
    x = torch.zeros(1, 1, 32, 32)
    x2 = x.clone()
    x2[0, 0, 12, 12] = 1.0
    with torch.no_grad():
        changed = (model(x2) - model(x)).abs()[0, 0] > 0
    assert model.min_input_size == 8
    assert changed.sum() >= 8 * 8


def test_cdae_too_small_input():
    model = build_model("cdae", features=(8, 8, 8))
    with pytest.raises(ValueError, match=r"at least 8 px"):
        model(torch.randn(1, 1, 7, 40))
