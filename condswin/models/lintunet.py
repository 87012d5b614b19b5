"""LinTUNet: a CNN U-Net whose bottleneck holds Linformer and sparse self-attention.

"LinTUNet: A Hybrid CNN-Transformer Architecture for Medical Image Segmentation" (Menegus, PACISE 2025)
describes the encoder–decoder of a U-Net with "Linformer and Sparse Attention in the
bottleneck" and gives no widths. We keep the fastMRI U-Net of :mod:`condswin.models.unet` unchanged (so
the comparison with ``unet`` isolates the attention) and, after its bottleneck conv block, run one
pre-norm transformer block per entry of ``attention_layers`` on the bottleneck tokens: by default a
Linformer block (global context at O(n·k)), then a local-window and a strided sparse block (Child et
al. 2019's factorised pattern; with the default span = map width, the two reach every token).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from condswin.models.efficient_attention import TokenTransformerBlock
from condswin.models.registry import register_model
from condswin.models.unet import UNet, UNetConfig

__all__ = ["LinTUNetConfig", "LinTUNet"]

_KINDS = ("full", "linformer", "local", "strided")


@dataclass
class LinTUNetConfig(UNetConfig):
    """Hyper-parameters of :class:`LinTUNet` (those of :class:`UNetConfig` plus the bottleneck attention).

    Attributes:
        image_size: training image side; the Linformer projections are learned for the bottleneck grid
            of this size (``image_size // 2**num_pool_layers``) and resized for other inputs.
        attention_layers: one transformer block per entry, each ``"linformer"``, ``"local"``,
            ``"strided"`` or ``"full"`` (the last for ablations).
        num_heads: heads of every attention layer (must divide the bottleneck channels).
        linformer_k: projected sequence length k of the Linformer layers.
        sparse_span: window half-width / stride of the sparse layers; ``None`` means the bottleneck width.
        mlp_ratio: MLP hidden width relative to the bottleneck channels.
        attn_drop: dropout inside the transformer blocks.
    """

    image_size: int = 256
    attention_layers: tuple[str, ...] = ("linformer", "local", "strided")
    num_heads: int = 8
    linformer_k: int = 64
    sparse_span: int | None = None
    mlp_ratio: float = 2.0
    attn_drop: float = 0.0


class LinTUNet(UNet):
    """U-Net with efficient self-attention on the bottleneck tokens (see module docstring)."""

    def __init__(self, config: LinTUNetConfig):
        super().__init__(config)
        bottleneck_chans = config.chans * 2**config.num_pool_layers
        grid = config.image_size // 2**config.num_pool_layers
        if grid < 1:
            raise ValueError(
                f"lintunet: image_size {config.image_size} is smaller than the total downsampling "
                f"{2**config.num_pool_layers}"
            )
        if bottleneck_chans % config.num_heads != 0:
            raise ValueError(
                f"lintunet: num_heads {config.num_heads} must divide the bottleneck channels {bottleneck_chans}"
            )
        unknown = [k for k in config.attention_layers if k not in _KINDS]
        if unknown:
            raise ValueError(f"lintunet: unknown attention_layers {unknown}; expected entries of {_KINDS}")
        self.attention_blocks = nn.ModuleList(
            TokenTransformerBlock(
                bottleneck_chans,
                config.num_heads,
                kind,  # type: ignore[arg-type]
                grid_size=(grid, grid),
                proj_len=config.linformer_k,
                sparse_span=config.sparse_span,
                mlp_ratio=config.mlp_ratio,
                drop=config.attn_drop,
            )
            for kind in config.attention_layers
        )

    def bottleneck_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the attention blocks on the (B, C, h, w) bottleneck map as h·w tokens in raster order."""
        if not len(self.attention_blocks):
            return x
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (B, h·w, C)
        for block in self.attention_blocks:
            tokens = block(tokens, (h, w))
        return tokens.transpose(1, 2).reshape(b, c, h, w)


register_model(
    "lintunet",
    LinTUNetConfig,
    LinTUNet,
    description="LinTUNet: fastMRI U-Net + Linformer, local and strided sparse attention in the bottleneck",
    tasks=("segmentation", "reconstruction", "denoising"),
    chans=32,
    num_pool_layers=4,
)
