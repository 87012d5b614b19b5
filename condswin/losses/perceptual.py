"""VGG16 perceptual loss (Johnson et al. 2016): MSE between VGG16 feature maps of prediction and target.

The network is torchvision's VGG16 ``features`` stack (Simonyan & Zisserman 2015) re-declared in plain
torch with the same parameter names (``features.0.weight`` …), so torchvision's ImageNet state dict file
(``vgg16-397923af.pth``) loads as it is. Nothing here downloads: the weights come from a path given as
an argument or in ``CONDSWIN_VGG16_WEIGHTS``, and asking for the loss without them is a clear error.
Random VGG features would make the loss meaningless, so there is no silent fallback.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from condswin.errors import ModelError

__all__ = ["VGG16Features", "VGGPerceptualLoss", "WeightsNotFoundError", "VGG16_LAYER_INDEX", "WEIGHTS_ENV_VAR"]

WEIGHTS_ENV_VAR = "CONDSWIN_VGG16_WEIGHTS"

# Conv widths of VGG16 configuration "D"; "M" is a 2×2 max-pool.
_VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _relu_indices() -> dict[str, int]:
    names, block, conv, index = {}, 1, 0, 0
    for item in _VGG16_LAYOUT:
        if item == "M":
            block, conv, index = block + 1, 0, index + 1
        else:
            conv += 1
            names[f"relu{block}_{conv}"] = index + 1  # the ReLU right after this conv
            index += 2
    return names


#: position of every named ReLU in ``features`` (``relu2_2`` → 8, ``relu4_3`` → 22, as in torchvision).
VGG16_LAYER_INDEX: dict[str, int] = _relu_indices()

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class WeightsNotFoundError(ModelError, FileNotFoundError):
    """The pretrained weights a component needs are not on this machine (nothing is downloaded)."""


class VGG16Features(nn.Module):
    """torchvision-compatible VGG16 ``features`` (13 convs with ReLU, 5 max-pools), no classifier."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_chans = 3
        for item in _VGG16_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(in_chans, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                in_chans = int(item)
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, layer_indices: Sequence[int]) -> list[torch.Tensor]:
        """Run up to the deepest requested index; return the outputs at ``layer_indices`` (in that order)."""
        wanted = set(layer_indices)
        found: dict[int, torch.Tensor] = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in wanted:
                found[index] = x
                if len(found) == len(wanted):
                    break
        return [found[i] for i in layer_indices]


def resolve_vgg16_weights(weights_path: str | os.PathLike | None) -> Path:
    """The weights file to use: the argument, else ``$CONDSWIN_VGG16_WEIGHTS``; a clear error otherwise."""
    source = "weights_path argument"
    if weights_path is None:
        weights_path, source = os.environ.get(WEIGHTS_ENV_VAR) or None, f"${WEIGHTS_ENV_VAR}"
    hint = (
        "The VGG16 perceptual loss needs ImageNet VGG16 weights and cannot download them. Save torchvision's "
        "vgg16 state dict (e.g. vgg16-397923af.pth from a machine with internet: "
        "torch.save(torchvision.models.vgg16(weights='IMAGENET1K_V1').state_dict(), path)) to a local file "
        f"and pass weights_path=<file> or set {WEIGHTS_ENV_VAR}=<file>."
    )
    if weights_path is None:
        raise WeightsNotFoundError(f"no VGG16 weights given. {hint}")
    path = Path(weights_path).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(f"VGG16 weights file {path} (from the {source}) does not exist. {hint}")
    return path


def load_vgg16_features(path: Path) -> VGG16Features:
    """A :class:`VGG16Features` filled from a torchvision VGG16 state dict file (``classifier.*`` ignored)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: cannot read VGG16 weights ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    model = VGG16Features()
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or mismatched:
        parts = [
            f"{label} {_first(keys)}"
            for label, keys in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("mismatched shapes", mismatched),
            )
            if keys
        ]
        raise ValueError(f"{path}: not a torchvision VGG16 state dict: " + "; ".join(parts))
    model.load_state_dict(state)
    return model


def _first(keys: list[str], limit: int = 8) -> str:
    return "[" + ", ".join(keys[:limit]) + (f", … ({len(keys) - limit} more)" if len(keys) > limit else "") + "]"


class VGGPerceptualLoss(nn.Module):
    """Σ_l w_l · MSE(φ_l(pred), φ_l(target)) over VGG16 ReLU outputs; the VGG is frozen.

    Args:
        weights_path: torchvision VGG16 state dict file; ``None`` reads ``$CONDSWIN_VGG16_WEIGHTS``.
        layers: named ReLU outputs (keys of :data:`VGG16_LAYER_INDEX`).
        layer_weights: one weight per layer (default 1 each).
        imagenet_normalize: inputs are images in [0, 1]; normalise them with ImageNet mean/std as the
            VGG was trained. One-channel inputs are repeated to RGB.

    Raises:
        WeightsNotFoundError: no weights file (says where to put one).
    """

    mean: torch.Tensor  # ImageNet mean and std, buffers of shape (1, 3, 1, 1)
    std: torch.Tensor

    def __init__(
        self,
        weights_path: str | os.PathLike | None = None,
        layers: Sequence[str] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
        layer_weights: Sequence[float] | None = None,
        imagenet_normalize: bool = True,
    ):
        super().__init__()
        unknown = [name for name in layers if name not in VGG16_LAYER_INDEX]
        if not layers or unknown:
            raise ValueError(
                f"perceptual: unknown VGG16 layers {unknown or list(layers)}; choose from {list(VGG16_LAYER_INDEX)}"
            )
        if layer_weights is not None and len(layer_weights) != len(layers):
            raise ValueError(f"perceptual: {len(layer_weights)} layer_weights for {len(layers)} layers")
        self.vgg = load_vgg16_features(resolve_vgg16_weights(weights_path))
        self.vgg.requires_grad_(False)
        self.vgg.eval()
        self.layer_names = tuple(layers)
        self.layer_indices = [VGG16_LAYER_INDEX[name] for name in layers]
        self.layer_weights = tuple(float(w) for w in (layer_weights or [1.0] * len(layers)))
        self.imagenet_normalize = imagenet_normalize
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> VGGPerceptualLoss:
        """Keep the VGG in eval mode whatever the training loop does (it is a fixed feature extractor)."""
        super().train(mode)
        self.vgg.eval()
        return self

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"perceptual: expected (B, 1 or 3, H, W) images, got shape {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x - self.mean) / self.std if self.imagenet_normalize else x

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar loss; gradients flow to ``pred`` only."""
        if pred.shape != target.shape:
            raise ValueError(
                f"perceptual: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape"
            )
        pred_feats = self.vgg(self._prepare(pred), self.layer_indices)
        with torch.no_grad():
            target_feats = self.vgg(self._prepare(target), self.layer_indices)
        loss = pred.new_zeros(())
        for weight, p, t in zip(self.layer_weights, pred_feats, target_feats, strict=False):
            loss = loss + weight * F.mse_loss(p, t)
        return loss
