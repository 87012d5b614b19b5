"""UNet-DCTD-A: shapes at odd sizes, dilation, scSE behaviour, and transfer learning from a
torchvision-format ResNet-18 state dict written by the test itself (torchvision is not imported)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from condswin.models import build_model, list_models
from condswin.models.resnet_encoder import ResNet18Encoder, fold_input_conv
from condswin.models.scse import SCSE, ChannelSE, SpatialSE

SMALL = dict(decoder_channels=(16, 16, 8, 8, 8))


pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _torchvision_resnet18_state_dict(generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The key names and shapes of torchvision.models.resnet18().state_dict(), filled with random values."""
    state: dict[str, torch.Tensor] = {}

    def conv(name, out_c, in_c, k):
        state[f"{name}.weight"] = torch.randn(out_c, in_c, k, k, generator=generator)

    def bn(name, c):
        state[f"{name}.weight"] = torch.rand(c, generator=generator) + 0.5
        state[f"{name}.bias"] = torch.randn(c, generator=generator)
        state[f"{name}.running_mean"] = torch.randn(c, generator=generator)
        state[f"{name}.running_var"] = torch.rand(c, generator=generator) + 0.5
        state[f"{name}.num_batches_tracked"] = torch.tensor(1000)

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    in_c = 64
    for layer, out_c in zip(range(1, 5), (64, 128, 256, 512), strict=False):
        for block in range(2):
            prefix = f"layer{layer}.{block}"
            conv(f"{prefix}.conv1", out_c, in_c if block == 0 else out_c, 3)
            bn(f"{prefix}.bn1", out_c)
            conv(f"{prefix}.conv2", out_c, out_c, 3)
            bn(f"{prefix}.bn2", out_c)
            if block == 0 and layer > 1:
                conv(f"{prefix}.downsample.0", out_c, in_c, 1)
                bn(f"{prefix}.downsample.1", out_c)
        in_c = out_c
    state["fc.weight"] = torch.randn(1000, 512, generator=generator)
    state["fc.bias"] = torch.randn(1000, generator=generator)
    return state


@pytest.fixture(scope="module")
def resnet_file(tmp_path_factory):
    state = _torchvision_resnet18_state_dict(torch.Generator().manual_seed(1))
    path = tmp_path_factory.mktemp("weights") / "resnet18-f37072fd.pth"
    torch.save(state, path)
    return path, state


@pytest.mark.parametrize("in_channels,size", [(1, (37, 45)), (3, (33, 64))])
def test_dctd_shapes_and_gradients(in_channels, size):
    model = build_model("unet_dctd_a", in_channels=in_channels, out_channels=in_channels, **SMALL)
    x = torch.randn(2, in_channels, *size, requires_grad=True)
    y = model(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_dctd_dilated_stage_keeps_resolution_and_minimum_size():
    assert "unet_dctd_a" in list_models("denoising")
    x = torch.randn(1, 1, 64, 64)
    plain = [f.shape[-1] for f in ResNet18Encoder(1, ())(x)]
    dilated_encoder = ResNet18Encoder(1, (4,))
    dilated = [f.shape[-1] for f in dilated_encoder(x)]
    assert plain == [32, 16, 8, 4, 2] and dilated == [32, 16, 8, 4, 4]
    assert dilated_encoder.layer4[0].conv1.dilation == (2, 2)
    # Same parameter shapes with or without dilation, so ImageNet weights load into either.
    assert {k: v.shape for k, v in ResNet18Encoder(1, ()).state_dict().items()} == {
        k: v.shape for k, v in dilated_encoder.state_dict().items()
    }
    model = build_model("unet_dctd_a", **SMALL)
    assert model.min_input_size == 32  # 4 downsamplings with a dilated layer4
    with pytest.raises(ValueError, match="at least 32 px"):
        model(torch.randn(2, 1, 31, 40))
    with pytest.raises(ValueError, match="dilated_stages"):
        build_model("unet_dctd_a", dilated_stages=(3,))


def test_scse_gates_channels_and_pixels():
    x = torch.randn(2, 6, 5, 7) + 3.0
    ratio_c = ChannelSE(6, reduction=2)(x) / x
    assert torch.allclose(ratio_c, ratio_c[..., :1, :1].expand_as(ratio_c))  # one gate per channel
    ratio_s = SpatialSE(6)(x) / x
    assert torch.allclose(ratio_s, ratio_s[:, :1].expand_as(ratio_s))  # one gate per pixel
    block = SCSE(6, reduction=2)
    assert torch.allclose(block(x), block.cse(x) + block.sse(x))
    assert ((ratio_c > 0) & (ratio_c < 1)).all() and ((ratio_s > 0) & (ratio_s < 1)).all()


def test_fold_input_conv_keeps_the_response_to_grey_images():
    rgb = torch.randn(64, 3, 7, 7)
    grey = torch.randn(1, 1, 20, 20)
    expected = F.conv2d(grey.expand(-1, 3, -1, -1), rgb, stride=2, padding=3)
    assert torch.allclose(F.conv2d(grey, fold_input_conv(rgb, 1), stride=2, padding=3), expected, atol=1e-4)
    assert torch.allclose(
        F.conv2d(grey.expand(-1, 6, -1, -1), fold_input_conv(rgb, 6), stride=2, padding=3), expected, atol=1e-4
    )
    assert fold_input_conv(rgb, 2).shape == (64, 2, 7, 7)
    assert torch.equal(fold_input_conv(rgb, 3), rgb)


def test_dctd_loads_torchvision_resnet18(resnet_file):
    path, state = resnet_file
    model = build_model("unet_dctd_a", pretrained=str(path), **SMALL)
    enc = model.encoder.state_dict()
    assert torch.equal(enc["conv1.weight"], state["conv1.weight"].sum(dim=1, keepdim=True))
    for key in ("layer3.1.conv2.weight", "layer2.0.downsample.0.weight", "layer4.1.bn2.running_var", "bn1.bias"):
        assert torch.equal(enc[key], state[key]), key
    rgb_model = build_model("unet_dctd_a", in_channels=3, pretrained=str(path), **SMALL)
    assert torch.equal(rgb_model.encoder.conv1.weight, state["conv1.weight"])
    model.eval()(torch.randn(1, 1, 48, 48))  # still runs


def test_dctd_pretrained_errors_name_the_problem(resnet_file, tmp_path):
    path, state = resnet_file
    broken = dict(state)
    del broken["layer2.1.bn1.running_mean"]
    broken["layer4.0.conv2.weight"] = torch.zeros(512, 256, 3, 3)
    broken["head.weight"] = torch.zeros(3)
    bad_path = tmp_path / "bad.pth"
    torch.save(broken, bad_path)
    with pytest.raises(ValueError) as info:
        build_model("unet_dctd_a", pretrained=str(bad_path), **SMALL)
    message = str(info.value)
    assert str(bad_path) in message
    assert "layer2.1.bn1.running_mean" in message and "missing" in message
    assert "layer4.0.conv2.weight" in message and "mismatched" in message
    assert "head.weight" in message and "unexpected" in message
    with pytest.raises(ValueError, match="not found"):
        build_model("unet_dctd_a", pretrained=str(tmp_path / "absent.pth"))
    not_a_state = tmp_path / "garbage.pth"
    not_a_state.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="garbage.pth"):
        build_model("unet_dctd_a", pretrained=str(not_a_state))
