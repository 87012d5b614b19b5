"""Routers of the Conditional Swin U-Net: score every token of a window and pick the k most important.

Both routers score a token with a learned routing vector r (s = X·r) and differ in how scores become weights:

* :class:`LightRouter` — softmax over the window's tokens, then top-k (the hyper-parameter-free router of the
  Conditional Swin U-Net notebook, docs/architecture.md).
* :class:`IterativeRouter` — CoLT5's soft top-k: coordinate descent on the dual of an entropy-regularised
  "choose k of N" problem, so the weights sum to ≈ k and are close to 1 for the chosen tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from condswin.lookup import look_up

__all__ = ["Routing", "LightRouter", "IterativeRouter", "coordinate_descent_weights", "ROUTERS", "build_router"]

_EXCLUDED_SCORE = -1.0e4  # padding tokens: never chosen, weight exactly 0 after softmax/exp


@dataclass
class Routing:
    """What a router decided for a batch of windows.

    Attributes:
        weights: (windows, N) dense weight of every token (softmax or soft top-k).
        indices: (windows, k) the k highest-weighted tokens of each window, or None when not asked for.
        selected_weights: (windows, k) ``weights`` at ``indices``.
    """

    weights: torch.Tensor
    indices: torch.Tensor | None = None
    selected_weights: torch.Tensor | None = None


class _RoutingVector(nn.Module):
    def __init__(self, dim: int, k: int):
        super().__init__()
        if k < 1:
            raise ValueError(f"a router must pick at least one token, got k={k}")
        self.k = k
        # Unit-variance scores for LayerNorm'ed tokens at init, so the softmax starts neither flat nor one-hot.
        self.routing_vector = nn.Parameter(torch.randn(dim) / math.sqrt(dim))

    def scores(self, x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        s = x @ self.routing_vector.to(x.dtype)
        if valid is not None:
            s = s.masked_fill(~valid, _EXCLUDED_SCORE)
        return s.float()  # weights in fp32 even under autocast: top-k ties and sums stay stable

    def weights(self, s: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None, select: bool = True) -> Routing:
        """Route the tokens of each window.

        Args:
            x: (windows, N, C) tokens.
            valid: (windows, N) bool, False for padding tokens, or None.
            select: also return the top-k indices (False for the dense query scores).
        """
        if self.k > x.shape[1]:
            raise ValueError(f"router asked to pick k={self.k} of only {x.shape[1]} tokens per window")
        w = self.weights(self.scores(x, valid)).to(x.dtype)
        if not select:
            return Routing(w)
        selected, idx = torch.topk(w, self.k, dim=-1, sorted=False)
        return Routing(w, idx, selected)


class LightRouter(_RoutingVector):
    """Softmax over the window's tokens, then top-k. No hyper-parameters besides k."""

    def weights(self, s: torch.Tensor) -> torch.Tensor:
        return torch.softmax(s, dim=-1)


def coordinate_descent_weights(
    s: torch.Tensor, k: int, iters: int = 20, eps: float = 2e-2, eps_init: float = 4.0, eps_decay: float = 0.7
) -> torch.Tensor:
    """CoLT5's soft top-k weights of scores ``s`` (…, N) by coordinate descent.

    Iterates a = ε·(log k − logsumexp((s + b)/ε)), b = −relu(s + a) while ε decays from ``eps_init`` by
    ``eps_decay`` per step down to ``eps``; returns exp((s + a + b)/ε), which sums to ≈ k along the last dim
    and keeps the order of ``s``. (log k as in CoLT5; the Conditional Swin U-Net notebook used √k.)
    """
    log_k = math.log(k)
    a = torch.zeros_like(s[..., :1])
    b = torch.zeros_like(s)
    e = eps_init
    for _ in range(iters):
        a = e * (log_k - torch.logsumexp((s + b) / e, dim=-1, keepdim=True))
        b = -torch.relu(s + a)
        e = max(e * eps_decay, eps)
    return torch.exp((s + a + b) / e)


class IterativeRouter(_RoutingVector):
    """CoLT5 soft top-k router (coordinate descent), then top-k of the resulting weights."""

    def __init__(
        self, dim: int, k: int, iters: int = 20, eps: float = 2e-2, eps_init: float = 4.0, eps_decay: float = 0.7
    ):
        super().__init__(dim, k)
        self.iters, self.eps, self.eps_init, self.eps_decay = iters, eps, eps_init, eps_decay

    def weights(self, s: torch.Tensor) -> torch.Tensor:
        return coordinate_descent_weights(s, self.k, self.iters, self.eps, self.eps_init, self.eps_decay)


ROUTERS: dict[str, type[_RoutingVector]] = {"light": LightRouter, "iterative": IterativeRouter}


def build_router(kind: str, dim: int, k: int, **iterative_params: Any) -> _RoutingVector:
    """A router over ``dim``-channel tokens picking ``k`` per window.

    Args:
        kind: a key of :data:`ROUTERS` (``"light"`` or ``"iterative"``).
        dim: token channels. k: tokens picked per window.
        **iterative_params: schedule of the iterative router (iters, eps, eps_init, eps_decay); the light
            router has none and ignores them.

    Raises:
        UsageError: an unknown ``kind`` (the message lists the accepted kinds).
    """
    router_cls = look_up("router kind", kind, ROUTERS)
    if router_cls is IterativeRouter:
        return IterativeRouter(dim, k, **iterative_params)
    return router_cls(dim, k)
