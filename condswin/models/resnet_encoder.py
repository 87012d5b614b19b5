"""ResNet-18 encoder with torchvision's parameter names, optional dilation, and pretrained loading.

He et al. 2016, "Deep Residual Learning for Image Recognition": a 7×7 stride-2 stem, 3×3 max pool, and
four stages of two basic blocks (64, 128, 256, 512 channels; stages 2–4 halve the map). Parameter and
buffer names follow torchvision (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer2.0.downsample.0`` …) so
a torchvision ``resnet18`` state dict saved to a file loads without torchvision installed.

Dilation (Yu & Koltun 2016; DeepLab): a stage listed in ``dilated_stages`` keeps stride 1 and dilates its
3×3 convs instead, enlarging the receptive field with the same (pretrained) weights and no new
parameters, at the price of a larger map.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

__all__ = ["BasicBlock", "ResNet18Encoder", "fold_input_conv", "load_torchvision_resnet18"]

STAGE_CHANNELS = (64, 128, 256, 512)


class BasicBlock(nn.Module):
    """Two 3×3 conv–BN layers with an identity (or 1×1 conv–BN) shortcut, ReLU after the sum."""

    def __init__(self, in_chans: int, out_chans: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, out_chans, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(out_chans)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_chans, out_chans, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chans)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_chans != out_chans:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_chans, out_chans, 1, stride=stride, bias=False), nn.BatchNorm2d(out_chans)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_chans, H, W) → (B, out_chans, H/stride, W/stride)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18Encoder(nn.Module):
    """ResNet-18 without its classifier, returning the features of every resolution for U-Net skips.

    Args:
        in_channels: input image channels (the stem conv is built for this many).
        dilated_stages: subset of {3, 4}: stages that dilate instead of striding (4 before 3 makes no
            sense, so 3 requires 4).
    """

    def __init__(self, in_channels: int = 1, dilated_stages: tuple[int, ...] = ()):
        super().__init__()
        stages = set(dilated_stages)
        if not stages <= {3, 4} or (3 in stages and 4 not in stages):
            raise ValueError(f"resnet18: dilated_stages must be (), (4,) or (3, 4), got {tuple(dilated_stages)}")
        self.in_channels = in_channels
        self.dilated_stages = tuple(sorted(stages))
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_chans, dilation = 64, 1
        for index, out_chans in enumerate(STAGE_CHANNELS, start=1):
            stride = 1 if index == 1 else 2
            if index in stages:
                stride, dilation = 1, dilation * 2
            layer = nn.Sequential(
                BasicBlock(in_chans, out_chans, stride, dilation), BasicBlock(out_chans, out_chans, 1, dilation)
            )
            self.add_module(f"layer{index}", layer)
            in_chans = out_chans
        #: channels of the feature maps returned by :meth:`forward`, shallow to deep.
        self.feature_channels = (64,) + STAGE_CHANNELS
        #: how many times the input is halved on the way to the deepest map.
        self.num_downsamplings = 5 - len(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features at /2 (stem), /4 (layer1), /8, /16, /32 (layers 2–4; less where dilated)."""
        stem = self.relu(self.bn1(self.conv1(x)))
        features = [stem]
        x = self.maxpool(stem)
        for index in range(1, 5):
            x = getattr(self, f"layer{index}")(x)
            features.append(x)
        return features


def fold_input_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Adapt pretrained RGB stem weights (out, 3, k, k) to ``in_channels`` inputs.

    One channel: sum over R, G, B — a grey image fed as R = G = B gives exactly the same stem output, so
    the pretrained features are kept. Other counts: repeat the RGB filters cyclically and scale by
    3 / in_channels, which keeps the response to an image with equal channels (exactly when
    in_channels is a multiple of 3, on average otherwise).
    """
    if weight.ndim != 4 or weight.shape[1] != 3:
        raise ValueError(f"expected RGB stem weights of shape (out, 3, k, k), got {tuple(weight.shape)}")
    if in_channels == 3:
        return weight.clone()
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = -(-in_channels // 3)
    return weight.repeat(1, repeats, 1, 1)[:, :in_channels] * (3.0 / in_channels)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, pickle that is not plain tensors, …
        raise ValueError(f"{path}: cannot read a state dict ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a state dict (a mapping of names to tensors), got {type(state).__name__}")
    return state


def load_torchvision_resnet18(encoder: ResNet18Encoder, path: str | os.PathLike) -> None:
    """Load a torchvision-format ResNet-18 state dict file into ``encoder`` (in place).

    The classifier (``fc.*``) is ignored; ``num_batches_tracked`` buffers are optional. The RGB stem is
    folded to the encoder's input channels with :func:`fold_input_conv`.

    Args:
        encoder: the encoder to fill.
        path: ``.pth``/``.pt`` (loaded with ``weights_only=True``) or ``.safetensors`` file.

    Raises:
        ValueError: the file is missing or unreadable, or keys are missing, unexpected or mis-shaped
            (the message names them).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"pretrained ResNet-18 weights not found: {path}")
    state = {k: v for k, v in _read_state_dict(path).items() if not k.startswith("fc.")}
    if "conv1.weight" in state:
        state["conv1.weight"] = fold_input_conv(state["conv1.weight"], encoder.in_channels)
    expected = encoder.state_dict()
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(state) - optional)
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(state) & set(expected)
        if state[k].shape != expected[k].shape
    )
    problems = []
    if missing:
        problems.append(f"missing keys {_abbreviate(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_abbreviate(unexpected)}")
    if mismatched:
        problems.append(f"mismatched shapes {_abbreviate(mismatched)}")
    if problems:
        raise ValueError(f"{path}: not a torchvision ResNet-18 state dict: " + "; ".join(problems))
    encoder.load_state_dict(state, strict=False)


def _abbreviate(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return f"[{shown}{f', … ({len(items) - limit} more)' if len(items) > limit else ''}]"
