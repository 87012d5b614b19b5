"""Window multi-head self-attention (W-MSA / SW-MSA) with a relative position bias, and the feed-forward MLP.

Attention runs through ``scaled_dot_product_attention`` (fused kernels on CPU and GPU) on strided views of
the qkv projection; the relative bias and the shift/padding mask are folded into one additive mask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from condswin.models.windows import WindowLayout, relative_position_index

__all__ = ["WindowAttention", "Mlp", "RelativePositionBias"]


class RelativePositionBias(nn.Module):
    """A learned (2W−1)²×heads table read through the bijective relative-position index."""

    index: torch.Tensor  # buffer: (N, N) index into the table

    def __init__(self, window: int, num_heads: int):
        super().__init__()
        self.window = window
        self.table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.table, std=0.02)
        self.register_buffer("index", relative_position_index(window).clone(), persistent=False)

    def forward(self) -> torch.Tensor:
        """(heads, N, N) bias of every (query, key) pair of a window."""
        n = self.window * self.window
        return self.table[self.index.view(-1)].view(n, n, -1).permute(2, 0, 1)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, with relative position bias and shift/padding mask.

    Args:
        dim: token channels.
        num_heads: attention heads (head dim = dim // num_heads).
        window: window side W (N = W² tokens per window).
        proj_drop: dropout after the output projection.
    """

    def __init__(self, dim: int, num_heads: int, window: int, proj_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.bias = RelativePositionBias(window, num_heads)
        self._mask_cache: tuple | None = None

    def forward(self, x: torch.Tensor, layout: WindowLayout, batch: int) -> torch.Tensor:
        """x: (batch·nW, N, C) window tokens → (batch·nW, N, C)."""
        bw, n, c = x.shape
        h = self.num_heads
        # Strided (windows, heads, N, head_dim) views: the fused kernel reads them in place, no copy.
        q, k, v = self.qkv(x).view(bw, n, 3, h, c // h).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=self.attention_mask(layout, batch, q.dtype))
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(bw, n, c)))

    def attention_mask(self, layout: WindowLayout, batch: int, dtype: torch.dtype) -> torch.Tensor:
        """Relative bias plus shift/padding mask, shaped for the fused kernel.

        Unmasked layouts need only the (1, heads, N, N) bias, broadcast over windows. A masked layout differs
        per window, and the kernel broadcasts only a leading 1, so the mask is materialised per (image,
        window); without autograd it is cached until the bias table, layout, batch or dtype changes.
        """
        bias = self.bias()
        if not layout.masked:
            return bias.unsqueeze(0).to(dtype)
        key = (batch, dtype, self.bias.table._version)
        cached = self._mask_cache
        if cached is not None and not torch.is_grad_enabled() and cached[0] is layout and cached[1] == key:
            return cached[2]
        nw, h, n = layout.num_windows, self.num_heads, bias.shape[-1]
        mask = (bias.unsqueeze(0) + layout.key_mask.unsqueeze(1)).to(dtype)
        mask = mask.unsqueeze(0).expand(batch, nw, h, n, n).reshape(batch * nw, h, n, n)
        self._mask_cache = (layout, key, mask) if not torch.is_grad_enabled() else None
        return mask


class Mlp(nn.Module):
    """Linear → GELU → dropout → Linear → dropout."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))
