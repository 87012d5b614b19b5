"""Building blocks of the (Conditional) Swin U-Net: the Swin block and the patch embedding/merging/expanding.

All feature maps are channels-last (B, H, W, C): the token-wise layers (LayerNorm, Linear) then act on
contiguous rows, and windows are views of the same memory until they are partitioned.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from condswin.models.conditional import ConditionalFeedForward, ConditionalWindowAttention
from condswin.models.window_attention import Mlp, WindowAttention
from condswin.models.windows import from_windows, to_windows, window_layout

__all__ = ["SwinBlock", "SwinStage", "PatchEmbed", "PatchMerging", "PatchExpand"]


class SwinBlock(nn.Module):
    """One Swin Transformer block (W-MSA when ``shift`` is 0, SW-MSA otherwise), plain or conditional.

    The residual updates run in the window layout: attention and the feed-forward both act on the
    partitioned tokens, so each block partitions and reverses once, and the conditional feed-forward can
    route within the same windows as the attention.

    Args:
        dim: channels. num_heads: heads. window: window side. shift: cyclic shift (window // 2 for SW-MSA).
        mlp_hidden: hidden width of the plain MLP. drop: dropout.
        conditional: None for a plain block, else a dict with ``k``, ``router``, ``router_params``,
            ``light_ff_hidden``, ``heavy_ff_hidden`` and optionally ``heavy_projection`` (default False).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window: int,
        shift: int,
        mlp_hidden: int,
        drop: float = 0.0,
        conditional: dict | None = None,
    ):
        super().__init__()
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.conditional = conditional is not None
        if conditional is None:
            self.attn: nn.Module = WindowAttention(dim, num_heads, window, drop)
            self.ff: nn.Module = Mlp(dim, mlp_hidden, drop)
        else:
            c = conditional
            self.attn = ConditionalWindowAttention(
                dim,
                num_heads,
                window,
                c["k"],
                c["router"],
                c["router_params"],
                drop,
                heavy_projection=c.get("heavy_projection", False),
            )
            self.ff = ConditionalFeedForward(
                dim, c["light_ff_hidden"], c["heavy_ff_hidden"], c["k"], c["router"], c["router_params"], drop
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        # A map that fits in one window has nothing to gain from a shift.
        shift = self.shift if (h > self.window or w > self.window) else 0
        layout = window_layout(h, w, self.window, shift, x.device)
        xw = to_windows(x, layout, self.window)
        if self.conditional:
            valid = None if layout.valid_tokens is None else layout.valid_tokens.repeat(b, 1)
            xw = self.attn(self.norm1(xw), layout, b, valid).add_(xw)
            xw = self.ff(self.norm2(xw), valid).add_(xw)
        else:
            xw = self.attn(self.norm1(xw), layout, b).add_(xw)
            xw = self.ff(self.norm2(xw)).add_(xw)
        return from_windows(xw, layout, b, h, w)


class SwinStage(nn.Sequential):
    """``depth`` Swin blocks alternating W-MSA and SW-MSA (a Swin "basic layer" without its resampling)."""

    def __init__(
        self, depth: int, dim: int, num_heads: int, window: int, mlp_hidden: int, drop: float, conditional: dict | None
    ):
        super().__init__(
            *[
                SwinBlock(dim, num_heads, window, 0 if i % 2 == 0 else window // 2, mlp_hidden, drop, conditional)
                for i in range(depth)
            ]
        )


class PatchEmbed(nn.Module):
    """Non-overlapping p×p patches → ``dim`` channels (conv k=p, s=p), then LayerNorm; NCHW in, NHWC out."""

    def __init__(self, in_channels: int, dim: int, patch: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class PatchMerging(nn.Module):
    """2×2 neighbouring tokens concatenated (4C), LayerNorm, Linear 4C → 2C: half the resolution."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = rearrange(x, "b (h p1) (w p2) c -> b h w (p1 p2 c)", p1=2, p2=2)
        return self.reduction(self.norm(x))


class PatchExpand(nn.Module):
    """Linear C → s²·C/r, tokens spread over an s×s block, LayerNorm: ×s resolution, C/r channels.

    The decoder uses s=2, r=2 (the inverse of merging); the final expansion uses s=4, r=1 to return to
    the input resolution with ``dim`` channels.
    """

    def __init__(self, dim: int, scale: int = 2, channel_ratio: int = 2):
        super().__init__()
        self.scale = scale
        out_dim = dim // channel_ratio
        self.expand = nn.Linear(dim, scale * scale * out_dim, bias=False)
        self.norm = nn.LayerNorm(out_dim)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, C) → normalised (B, H, W, s, s, C/r): the expanded tokens before they are spread out."""
        b, h, w, _ = x.shape
        return self.norm(self.expand(x).view(b, h, w, self.scale, self.scale, -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(self.tokens(x), "b h w p1 p2 c -> b (h p1) (w p2) c")
