"""Self-attention over the tokens of a 2-D feature map: full, Linformer, and fixed sparse patterns.

* Full attention (Vaswani et al. 2017) materialises an n×n score matrix per head: O(n²) memory.
* Linformer (Wang et al. 2020, "Linformer: Self-Attention with Linear Complexity") projects keys and
  values along the sequence with learned k×n matrices E and F before the scores, so the score matrix is
  n×k: O(n·k) memory, linear in the number of tokens for a fixed k.
* Sparse attention (Child et al. 2019, "Generating Long Sequences with Sparse Transformers") lets every
  query see a fixed subset of keys. Two patterns, both non-causal because an image has no time order:
  *local window* (token i sees j with |i − j| ≤ w, in raster order) and *strided* (i sees j with
  (i − j) mod s = 0). With s = w = the width of the map, the local head covers the neighbouring rows and
  the strided head the whole column, so two layers connect every pair of tokens.

The sparse layers never build an n×n matrix: the local pattern scores chunks of w queries against the
3w keys around them, the strided pattern reshapes the sequence into s groups of n/s tokens. The dense masks
(:func:`local_window_pattern`, :func:`strided_pattern`) define the patterns for tests and plots.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "AttentionKind",
    "FullSelfAttention",
    "LinformerSelfAttention",
    "SparseSelfAttention",
    "TokenTransformerBlock",
    "local_window_pattern",
    "strided_pattern",
    "scaled_dot_product",
]

AttentionKind = Literal["full", "linformer", "local", "strided"]


def scaled_dot_product(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q·kᵀ/√d)·v with an explicit score matrix (so its size is what the memory shows).

    Args:
        q: (..., n_q, d) queries.
        k: (..., n_k, d) keys.
        v: (..., n_k, d_v) values.
        key_mask: optional boolean tensor broadcastable to (..., n_q, n_k); False removes a key.

    Returns:
        The (..., n_q, d_v) output and the (..., n_q, n_k) attention weights.
    """
    scores = torch.matmul(q, k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    return torch.matmul(weights, v), weights


class _MultiHeadBase(nn.Module):
    """Shared q/k/v and output projections; subclasses decide which keys each query sees."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, proj_drop: float = 0.0):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"attention: dim {dim} is not divisible by num_heads {num_heads}")
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _split_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, n, _ = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return qkv[0], qkv[1], qkv[2]  # each (B, heads, n, head_dim)

    def _merge_heads(self, out: torch.Tensor) -> torch.Tensor:
        b, _, n, _ = out.shape
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, self.dim)))


class FullSelfAttention(_MultiHeadBase):
    """Plain multi-head self-attention (the O(n²) reference the efficient layers are compared with)."""

    def forward(self, x: torch.Tensor, grid: tuple[int, int] | None = None) -> torch.Tensor:
        """(B, n, dim) → (B, n, dim); ``grid`` is accepted for a uniform interface and unused."""
        q, k, v = self._split_heads(x)
        out, _ = scaled_dot_product(q, k, v)
        return self._merge_heads(out)


class LinformerSelfAttention(_MultiHeadBase):
    """Linformer self-attention on the tokens of an (h, w) map: keys/values projected from n to k tokens.

    The projections E (keys) and F (values) are learned for a reference grid ``grid_size`` (n = h·w
    tokens), shared by all heads (Linformer's head-wise sharing). For another map size they are resized
    bilinearly over the 2-D grid, the way ViT resizes position embeddings, and rescaled by n_ref/n so
    the projected keys keep their magnitude (each projected key is a weighted sum over all n tokens).

    Args:
        dim: token channels.
        num_heads: attention heads.
        grid_size: (h, w) of the map the projections are learned for.
        proj_len: k, the projected sequence length.
        share_kv: use one matrix for keys and values (Linformer's key-value sharing).
        qkv_bias: bias in the q/k/v projection.
        proj_drop: dropout after the output projection.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        grid_size: tuple[int, int],
        proj_len: int,
        share_kv: bool = False,
        qkv_bias: bool = True,
        proj_drop: float = 0.0,
    ):
        super().__init__(dim, num_heads, qkv_bias, proj_drop)
        if proj_len < 1 or min(grid_size) < 1:
            raise ValueError(f"linformer: proj_len and grid_size must be positive, got {proj_len}, {grid_size}")
        self.grid_size = (int(grid_size[0]), int(grid_size[1]))
        self.proj_len = proj_len
        # N(0, 1/k) as in the Linformer paper, so a projected key has the scale of a sum over n/k tokens.
        std = 1.0 / math.sqrt(proj_len)
        self.key_proj = nn.Parameter(torch.randn(proj_len, *self.grid_size) * std)
        self.value_proj = None if share_kv else nn.Parameter(torch.randn(proj_len, *self.grid_size) * std)

    def projections(self, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """E and F as (k, n) matrices for a map of size ``grid``."""
        mats = []
        for param in (self.key_proj, self.value_proj if self.value_proj is not None else self.key_proj):
            matrix: torch.Tensor = param
            if tuple(grid) != self.grid_size:
                scale = (self.grid_size[0] * self.grid_size[1]) / (grid[0] * grid[1])
                matrix = F.interpolate(param[None], size=tuple(grid), mode="bilinear", align_corners=False)[0] * scale
            mats.append(matrix.reshape(self.proj_len, -1))
        return mats[0], mats[1]

    def forward(
        self, x: torch.Tensor, grid: tuple[int, int], return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(B, n, dim) tokens of an (h, w) map in raster order → (B, n, dim).

        Args:
            x: tokens.
            grid: (h, w) with h·w = n.
            return_attention: also return the (B, heads, n, k) attention weights.
        """
        if grid[0] * grid[1] != x.shape[1]:
            raise ValueError(f"linformer: grid {tuple(grid)} does not hold {x.shape[1]} tokens")
        q, k, v = self._split_heads(x)
        key_proj, value_proj = self.projections(grid)
        k = torch.matmul(key_proj, k)  # (k, n) @ (B, heads, n, d) → (B, heads, k, d)
        v = torch.matmul(value_proj, v)
        out, weights = scaled_dot_product(q, k, v)
        out = self._merge_heads(out)
        return (out, weights) if return_attention else out


def local_window_pattern(n: int, window: int, device: torch.device | None = None) -> torch.Tensor:
    """Boolean (n, n) mask of the local pattern: query i sees key j iff |i − j| ≤ window."""
    idx = torch.arange(n, device=device)
    return (idx[:, None] - idx[None, :]).abs() <= window


def strided_pattern(n: int, stride: int, device: torch.device | None = None) -> torch.Tensor:
    """Boolean (n, n) mask of the strided pattern: query i sees key j iff (i − j) mod stride = 0."""
    idx = torch.arange(n, device=device)
    return (idx[:, None] - idx[None, :]).remainder(stride) == 0


class SparseSelfAttention(_MultiHeadBase):
    """Sparse Transformer attention with a fixed ``"local"`` or ``"strided"`` pattern (see module doc).

    Args:
        dim: token channels.
        num_heads: attention heads.
        pattern: ``"local"`` (|i − j| ≤ span) or ``"strided"`` ((i − j) mod span = 0).
        span: the window half-width or the stride; ``None`` uses the width of the map at run time.
        qkv_bias: bias in the q/k/v projection.
        proj_drop: dropout after the output projection.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        pattern: Literal["local", "strided"],
        span: int | None = None,
        qkv_bias: bool = True,
        proj_drop: float = 0.0,
    ):
        super().__init__(dim, num_heads, qkv_bias, proj_drop)
        if pattern not in ("local", "strided"):
            raise ValueError(f"sparse attention: pattern must be 'local' or 'strided', got {pattern!r}")
        if span is not None and span < 1:
            raise ValueError(f"sparse attention: span must be >= 1, got {span}")
        self.pattern = pattern
        self.span = span

    def pattern_mask(self, grid: tuple[int, int]) -> torch.Tensor:
        """The dense (n, n) boolean mask this layer implements on an (h, w) map (for tests and plots)."""
        n, span = grid[0] * grid[1], self.span or grid[1]
        return local_window_pattern(n, span) if self.pattern == "local" else strided_pattern(n, span)

    def forward(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """(B, n, dim) tokens of an (h, w) map in raster order → (B, n, dim)."""
        if grid[0] * grid[1] != x.shape[1]:
            raise ValueError(f"sparse attention: grid {tuple(grid)} does not hold {x.shape[1]} tokens")
        q, k, v = self._split_heads(x)
        span = self.span or grid[1]
        out = _local_attention(q, k, v, span) if self.pattern == "local" else _strided_attention(q, k, v, span)
        return self._merge_heads(out)


def _local_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int) -> torch.Tensor:
    """Each query attends to keys i−window … i+window, computed chunk by chunk: O(n·window) memory.

    Queries are cut into chunks of ``window`` tokens; the keys any query of chunk t can see lie in
    chunks t−1, t, t+1, so each chunk scores 3·window keys and a band mask keeps the exact pattern.
    """
    b, h, n, d = q.shape
    chunk = window
    n_pad = math.ceil(n / chunk) * chunk
    chunks = n_pad // chunk
    q_chunks = F.pad(q, (0, 0, 0, n_pad - n)).reshape(b, h, chunks, chunk, d)
    # One chunk of padding in front, so the key span of chunk t starts at padded index t·chunk.
    k_spans = F.pad(k, (0, 0, chunk, n_pad - n + chunk)).unfold(-2, 3 * chunk, chunk)  # (B, h, chunks, d, 3c)
    v_spans = F.pad(v, (0, 0, chunk, n_pad - n + chunk)).unfold(-2, 3 * chunk, chunk)
    scores = torch.einsum("bhtcd,bhtdk->bhtck", q_chunks, k_spans) * (d**-0.5)
    device = q.device
    query_pos = (torch.arange(chunks, device=device)[:, None] * chunk + torch.arange(chunk, device=device))[:, :, None]
    key_pos = (torch.arange(chunks, device=device)[:, None] * chunk - chunk + torch.arange(3 * chunk, device=device))[
        :, None, :
    ]
    allowed = ((query_pos - key_pos).abs() <= window) & (key_pos >= 0) & (key_pos < n)
    # Every padding query (index < n + window) still sees key n−1, so no row is all −inf.
    weights = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
    out = torch.einsum("bhtck,bhtdk->bhtcd", weights, v_spans)
    return out.reshape(b, h, n_pad, d)[:, :, :n]


def _strided_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, stride: int) -> torch.Tensor:
    """Query i attends to keys with the same index mod ``stride``: s groups of ⌈n/s⌉ tokens each."""
    b, h, n, d = q.shape
    groups = min(stride, n)  # a stride beyond n leaves every token alone in its group
    n_pad = math.ceil(n / groups) * groups
    rows = n_pad // groups

    def grouped(t: torch.Tensor) -> torch.Tensor:
        # token a·s + r → group r, position a: (B, h, n_pad, d) → (B, h, s, rows, d)
        return F.pad(t, (0, 0, 0, n_pad - n)).reshape(b, h, rows, groups, d).transpose(2, 3)

    key_valid = (torch.arange(n_pad, device=q.device) < n).reshape(rows, groups).T  # (s, rows)
    out, _ = scaled_dot_product(grouped(q), grouped(k), grouped(v), key_mask=key_valid[:, None, :])
    return out.transpose(2, 3).reshape(b, h, n_pad, d)[:, :, :n]


class TokenTransformerBlock(nn.Module):
    """Pre-norm transformer block over map tokens: x + Attn(LN(x)), then x + MLP(LN(x)).

    Args:
        dim: token channels.
        num_heads: attention heads.
        attention: ``"full"``, ``"linformer"``, ``"local"`` or ``"strided"``.
        grid_size: reference (h, w) for the Linformer projections (unused by the others).
        proj_len: Linformer k.
        sparse_span: window half-width / stride of the sparse patterns (``None``: map width).
        mlp_ratio: hidden width of the MLP relative to ``dim``.
        drop: dropout after attention and MLP.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        attention: AttentionKind,
        grid_size: tuple[int, int] = (16, 16),
        proj_len: int = 64,
        sparse_span: int | None = None,
        mlp_ratio: float = 2.0,
        drop: float = 0.0,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        if attention == "full":
            self.attn: nn.Module = FullSelfAttention(dim, num_heads, proj_drop=drop)
        elif attention == "linformer":
            self.attn = LinformerSelfAttention(dim, num_heads, grid_size, proj_len, proj_drop=drop)
        elif attention in ("local", "strided"):
            self.attn = SparseSelfAttention(dim, num_heads, attention, sparse_span, proj_drop=drop)
        else:
            raise ValueError(
                f"unknown attention kind {attention!r}; expected 'full', 'linformer', 'local' or 'strided'"
            )
        self.attention_kind = attention
        self.norm2 = nn.LayerNorm(dim)
        hidden = max(1, int(round(dim * mlp_ratio)))
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(drop), nn.Linear(hidden, dim), nn.Dropout(drop)
        )

    def forward(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """(B, n, dim) tokens of an (h, w) map → (B, n, dim)."""
        x = x + self.attn(self.norm1(x), grid)
        return x + self.mlp(self.norm2(x))
