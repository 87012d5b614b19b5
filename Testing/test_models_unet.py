"""fastMRI-style U-Net: parameter count, any input size, 1 or 3 channels, gradients, bad input."""

from __future__ import annotations

import pytest
import torch

from condswin.models import build_model, list_models, model_config

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _check_forward_backward(model: torch.nn.Module, x: torch.Tensor, out_channels: int) -> None:
    x_before = x.clone()
    x.requires_grad_(True)
    y = model(x)
    assert y.shape == (x.shape[0], out_channels, *x.shape[-2:])
    y.square().mean().backward()
    assert torch.equal(x.detach(), x_before), "the input must not be modified"
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} received no gradient (unused branch?)"
        assert torch.isfinite(p.grad).all(), name


def test_unet_is_registered_with_fastmri_parameter_count():
    assert "unet" in list_models("segmentation") and "unet" in list_models("reconstruction")
    model = build_model("unet", in_channels=1, out_channels=1)
    n_params = sum(p.numel() for p in model.parameters())
    assert abs(n_params - 7.76e6) / 7.76e6 < 0.01, n_params
    assert model_config("unet").chans == 32 and model_config("unet").num_pool_layers == 4


@pytest.mark.parametrize("in_channels,out_channels,size", [(1, 1, (37, 45)), (3, 2, (33, 50)), (1, 3, (40, 41))])
def test_unet_any_size_and_channels(in_channels, out_channels, size):
    model = build_model("unet", in_channels=in_channels, out_channels=out_channels, chans=4, num_pool_layers=3)
    _check_forward_backward(model, torch.randn(2, in_channels, *size), out_channels)


def test_unet_samples_are_independent_in_eval():
    model = build_model("unet", chans=4, num_pool_layers=2).eval()
    x = torch.randn(3, 1, 21, 19)
    with torch.no_grad():
        assert torch.allclose(model(x)[1:2], model(x[1:2]), atol=1e-5)


def test_unet_too_small_input_is_a_clear_error():
    model = build_model("unet", chans=4, num_pool_layers=4)
    assert model.min_input_size == 32
    with pytest.raises(ValueError, match=r"too small.*at least 32 px.*4 poolings"):
        model(torch.randn(1, 1, 31, 64))
    assert model(torch.randn(1, 1, 32, 33)).shape == (1, 1, 32, 33)


def test_unet_bad_input_and_config_errors():
    model = build_model("unet", chans=4, num_pool_layers=2)
    with pytest.raises(ValueError, match="input channel"):
        model(torch.randn(1, 2, 16, 16))
    with pytest.raises(ValueError, match="4-D"):
        model(torch.randn(1, 16, 16))
    with pytest.raises(ValueError, match="unknown model name"):
        build_model("no_such_net")
    with pytest.raises(ValueError, match=r"unknown config key.*'channels'"):
        build_model("unet", channels=8)
    with pytest.raises(ValueError, match="num_pool_layers"):
        build_model("unet", num_pool_layers=0)
