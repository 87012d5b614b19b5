"""Window multi-head self-attention (W-MSA / SW-MSA) with a relative position bias, and the feed-forward MLP.

Attention runs through ``scaled_dot_product_attention`` (fused kernels on CPU and GPU); the relative bias and
the shift/padding mask are folded into one additive mask that broadcasts over the batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from condswin.models.windows import WindowLayout, relative_position_index

__all__ = ["WindowAttention", "Mlp", "RelativePositionBias"]


class RelativePositionBias(nn.Module):
    """A learned (2W−1)²×heads table read through the bijective relative-position index."""

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

    def forward(self, x: torch.Tensor, layout: WindowLayout, batch: int) -> torch.Tensor:
        """x: (batch·nW, N, C) window tokens → (batch·nW, N, C)."""
        bw, n, c = x.shape
        nw, h = layout.num_windows, self.num_heads
        # Heads of all windows share one batch axis so the (nW·heads, N, N) mask broadcasts over the batch.
        qkv = self.qkv(x).view(batch, nw, n, 3, h, c // h).permute(3, 0, 1, 4, 2, 5).reshape(3, batch, nw * h, n, c // h)
        mask = self.bias().unsqueeze(0)  # (1, h, N, N)
        if layout.masked:
            mask = mask + layout.key_mask.unsqueeze(1)
        # 4-D (1, nW·heads, N, N): the shape the fused CPU kernel accepts (a 3-D mask falls back to math).
        mask = mask.expand(nw, h, n, n).reshape(1, nw * h, n, n).to(qkv.dtype)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask)
        out = out.view(batch, nw, h, n, c // h).transpose(2, 3).reshape(bw, n, c)
        return self.proj_drop(self.proj(out))


class Mlp(nn.Module):
    """Linear → GELU → dropout → Linear → dropout."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))
