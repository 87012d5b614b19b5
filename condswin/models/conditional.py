"""Conditional window attention and conditional feed-forward (Conditional Swin U-Net notebook, after CoLT5 / CoDA).

CondW-MSA(Xᵢ) = LightW-MSA(Xᵢ, X) + sᵢ^q · HeavyW-MSA(Xᵢ, s̃^kv X):
the light branch is ordinary window attention with half the heads over every token; in the heavy branch
(all heads) every query attends only to the k keys the kv router picked in its window, their features scaled
by the kv weights, with the relative-position bias and the shift/padding mask gathered for those keys. The
heavy output of each query is scaled by the q router's (dense) weight of that query.

As in the Conditional Swin U-Net notebook (docs/architecture.md), the heavy branch has q and kv projections but
no output projection of its own: its heads' outputs, concatenated (width d, like the light branch's projected
output), are scaled by the q weights and added straight onto the light branch's projected output. ``heavy_projection=True`` adds a d×d
projection to the heavy output (an experiment, not the notebook's block).

ConditionalFF(Xᵢ) = LightFF(Xᵢ) + s̃ᵢ · HeavyFF(Xᵢ): the heavy MLP runs on the k routed tokens only and its
output is added in place at their positions, so the cost beyond the light branch is O(k·d) per window.
"""

from __future__ import annotations

import torch
from torch import nn

from condswin.models.routers import Routing, build_router
from condswin.models.window_attention import Mlp, RelativePositionBias, WindowAttention
from condswin.models.windows import MASK_VALUE, WindowLayout

__all__ = ["ConditionalWindowAttention", "ConditionalFeedForward"]


def _gather_tokens(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """(windows, N, C) tokens at (windows, k) indices → (windows, k, C)."""
    return torch.gather(x, 1, indices.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class ConditionalWindowAttention(nn.Module):
    """Light window attention (half the heads) plus routed heavy window attention (all heads).

    Args:
        dim: token channels.
        num_heads: heads of the heavy branch; the light branch has ``num_heads // 2``.
        window: window side W.
        k: keys the kv router picks per window.
        router: ``"light"`` or ``"iterative"``.
        router_params: extra arguments of the iterative router (iters, eps, eps_init, eps_decay).
        proj_drop: dropout on each branch's output (after the light projection; on the heavy heads' output).
        heavy_projection: give the heavy branch its own d×d output projection (False: the notebook's block).

    Raises:
        ValueError: an odd head count or ``dim`` not divisible by ``num_heads`` (a bug in the caller: the
            network config checks both before it builds a block).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window: int,
        k: int,
        router: str = "light",
        router_params: dict | None = None,
        proj_drop: float = 0.0,
        heavy_projection: bool = False,
    ):
        super().__init__()
        if num_heads < 2 or num_heads % 2:
            raise ValueError(
                f"conditional attention needs an even number of heads (light branch has half), got {num_heads}"
            )
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.light = WindowAttention(dim, num_heads // 2, window, proj_drop)
        params = router_params or {}
        self.q_router = build_router(router, dim, k, **params)
        self.kv_router = build_router(router, dim, k, **params)
        self.heavy_q = nn.Linear(dim, dim)
        self.heavy_kv = nn.Linear(dim, 2 * dim)
        # Heavy heads (dim // num_heads each) concatenate to width dim: they add onto the light projected
        # output as they are, so the projection is optional.
        self.heavy_proj = nn.Linear(dim, dim) if heavy_projection else None
        self.heavy_bias = RelativePositionBias(window, num_heads)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(
        self, x: torch.Tensor, layout: WindowLayout, batch: int, valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x: (batch·nW, N, C) normalised window tokens; valid: (batch·nW, N) or None → (batch·nW, N, C)."""
        out = self.light(x, layout, batch)
        q_weight = self.q_router(x, valid, select=False).weights  # (windows, N)
        heavy, has_key = self.heavy_attention(x, self.kv_router(x, valid), layout, batch)
        if has_key is not None:
            q_weight = q_weight * has_key  # a query none of whose routed keys it may see gets no heavy term
        return out.addcmul_(q_weight.unsqueeze(-1), heavy)

    def heavy_attention(
        self, x: torch.Tensor, kv: Routing, layout: WindowLayout, batch: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Every query against the routed keys.

        Returns:
            The heavy heads' output (windows, N, C), through ``heavy_proj`` when there is one, and, when the
            layout masks anything, which queries kept at least one visible key (windows, N); else None.
        """
        assert kv.indices is not None and kv.selected_weights is not None  # routers select unless told not to
        bw, n, c = x.shape
        h, k = self.num_heads, kv.indices.shape[1]
        q = self.heavy_q(x).view(bw, n, h, c // h).transpose(1, 2)
        routed = _gather_tokens(x, kv.indices) * kv.selected_weights.unsqueeze(-1)
        key, value = self.heavy_kv(routed).view(bw, k, 2, h, c // h).permute(2, 0, 3, 1, 4)
        # Bias (and shift/padding mask) of every query against the routed keys, gathered in one pass.
        nw = layout.num_windows
        full = self.heavy_bias().unsqueeze(0)  # (1, h, N, N)
        if layout.masked:
            full = full + layout.key_mask.unsqueeze(1)  # (nW, h, N, N)
        full = full.expand(nw, h, n, n).unsqueeze(0).expand(batch, nw, h, n, n)
        idx = kv.indices.view(batch, nw, 1, 1, k).expand(batch, nw, h, n, k)
        mask = torch.gather(full, 4, idx).reshape(bw, h, n, k)
        has_key = (mask[:, 0] > MASK_VALUE / 2).any(-1).to(x.dtype) if layout.masked else None
        # Two small matmuls, not the fused kernel: with only k keys per query the fused CPU kernel's
        # blocking overhead dominates (it measured 2× slower than this at k = 7).
        scores = torch.matmul(q, key.transpose(-1, -2)).mul_(self.scale).add_(mask.to(q.dtype))
        out = torch.matmul(scores.softmax(-1), value).transpose(1, 2).reshape(bw, n, c)
        if self.heavy_proj is not None:
            out = self.heavy_proj(out)
        return self.proj_drop(out), has_key


class ConditionalFeedForward(nn.Module):
    """Light MLP on every token plus a heavy MLP on the k tokens the router picks in each window.

    Args:
        dim: token channels.
        light_hidden: hidden width of the light MLP.
        heavy_hidden: hidden width of the heavy MLP.
        k: tokens routed to the heavy MLP per window.
        router: ``"light"`` or ``"iterative"``.
        router_params: extra arguments of the iterative router.
        drop: dropout inside both MLPs.
    """

    def __init__(
        self,
        dim: int,
        light_hidden: int,
        heavy_hidden: int,
        k: int,
        router: str = "light",
        router_params: dict | None = None,
        drop: float = 0.0,
    ):
        super().__init__()
        self.light = Mlp(dim, light_hidden, drop)
        self.heavy = Mlp(dim, heavy_hidden, drop)
        self.router = build_router(router, dim, k, **(router_params or {}))

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """x: (windows, N, C) normalised tokens → (windows, N, C)."""
        out = self.light(x)
        routing = self.router(x, valid)
        heavy = self.heavy(_gather_tokens(x, routing.indices)) * routing.selected_weights.unsqueeze(-1)
        index = routing.indices.unsqueeze(-1).expand(-1, -1, x.shape[-1])
        # In place on the light output: no full-size buffer for the few routed tokens.
        return out.scatter_add_(1, index, heavy.to(out.dtype))
