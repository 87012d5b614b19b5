"""Window geometry of (shifted) window attention: partition/reverse, relative positions, shift and padding masks.

Everything here depends only on the feature-map size, the window and the shift, so :func:`window_layout`
computes it once per resolution and device and caches it: the forward pass never rebuilds masks or indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

import torch

__all__ = [
    "MASK_VALUE",
    "window_partition",
    "window_reverse",
    "relative_position_index",
    "shift_region_mask",
    "WindowLayout",
    "window_layout",
    "to_windows",
    "from_windows",
]

# Large but finite: a row whose keys are all masked (possible for routed keys) must not turn into NaN.
MASK_VALUE = -1.0e4


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) with H, W multiples of ``window`` → (B·nW, window², C), windows in row-major order."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def window_reverse(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B·nW, window², C) → (B, H, W, C)."""
    c = windows.shape[-1]
    b = windows.shape[0] // ((h // window) * (w // window))
    x = windows.view(b, h // window, w // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)


@cache
def relative_position_index(window: int) -> torch.Tensor:
    """(N, N) long tensor, N = window², mapping each (query, key) pair to its relative-offset table entry.

    The offset (dy, dx) ∈ [−(W−1), W−1]² is shifted to [0, 2W−2]² and flattened with row stride 2W−1, so
    every distinct offset has its own entry in a table of (2W−1)² rows (a stride of W−1 would alias offsets).
    """
    # On the CPU explicitly: the result is cached for the process, and a first call made while a network is
    # built under ``torch.device("meta")`` (the bundle loader's size check) must not cache data-less tensors.
    steps = torch.arange(window, device="cpu")
    coords = torch.stack(torch.meshgrid(steps, steps, indexing="ij")).flatten(1)
    rel = coords[:, :, None] - coords[:, None, :] + (window - 1)  # (2, N, N), each in [0, 2W-2]
    return rel[0] * (2 * window - 1) + rel[1]


def shift_region_mask(h: int, w: int, window: int, shift: int) -> torch.Tensor:
    """(nW, N, N) bool, True where query and key come from different image regions after the cyclic shift.

    The cyclic shift by −shift wraps the last ``shift`` rows/columns to the front; tokens that were not
    neighbours before the shift must not attend to each other. Regions are the 3×3 grid cut at H−window and
    H−shift (and the same for W) on the shifted map.
    """
    labels = torch.zeros(h, w, dtype=torch.long)
    if shift > 0:
        cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
        for i, hs in enumerate(cuts):
            for j, ws in enumerate(cuts):
                labels[hs, ws] = 3 * i + j
    win_labels = window_partition(labels.view(1, h, w, 1), window).squeeze(-1)  # (nW, N)
    return win_labels[:, :, None] != win_labels[:, None, :]


@dataclass(frozen=True)
class WindowLayout:
    """Everything a (shifted) window attention layer needs for one feature-map size.

    Padding (bottom/right, up to window multiples), the cyclic shift and the window partition are folded
    into one index: ``tokens[:, gather_index]`` lays an (H·W)-token map out as windows in one copy, and
    ``windows[:, scatter_index]`` puts it back. Padding slots repeat a real token (their value never matters:
    they are masked as keys, never routed, and dropped on the way back).

    Attributes:
        padded_hw: feature-map size after padding up to window multiples.
        num_windows: windows per image.
        gather_index: (nW·N,) position in the flattened unpadded map of every window slot.
        scatter_index: (H·W,) window slot of every real token.
        key_mask: (nW, N, N) additive float mask (0 or MASK_VALUE): shift regions and padded keys.
        valid_tokens: (nW, N) bool, False for padding slots (routers must never pick them), or None.
        masked: whether key_mask masks anything (lets layers skip the mask when it is all zeros).
    """

    padded_hw: tuple[int, int]
    num_windows: int
    gather_index: torch.Tensor
    scatter_index: torch.Tensor
    key_mask: torch.Tensor
    valid_tokens: torch.Tensor | None
    masked: bool


@lru_cache(maxsize=64)
def window_layout(h: int, w: int, window: int, shift: int, device: torch.device) -> WindowLayout:
    """The cached :class:`WindowLayout` for an (h, w) map; padding goes at the bottom/right before the shift."""
    # Built outside inference mode even when first asked for inside it: the cached tensors are shared
    # with later training passes, which may not save inference tensors for backward.
    with torch.inference_mode(False):
        return _build_window_layout(h, w, window, shift, device)


def _build_window_layout(h: int, w: int, window: int, shift: int, device: torch.device) -> WindowLayout:
    hp, wp = -(-h // window) * window, -(-w // window) * window
    rows, cols = torch.arange(hp), torch.arange(wp)
    # Flat index of the token each slot reads (padding slots repeat the nearest edge token; any real token
    # would do) and whether the slot is real, both laid out like the shifted, partitioned map.
    source = rows.clamp(max=h - 1)[:, None] * w + cols.clamp(max=w - 1)[None, :]
    real = (rows < h)[:, None] & (cols < w)[None, :]
    if shift:
        source = torch.roll(source, shifts=(-shift, -shift), dims=(0, 1))
        real = torch.roll(real, shifts=(-shift, -shift), dims=(0, 1))
    gather_index = window_partition(source.view(1, hp, wp, 1), window).reshape(-1)  # (nW·N,)
    valid = window_partition(real.view(1, hp, wp, 1), window).reshape(-1)
    scatter_index = torch.empty(h * w, dtype=torch.long)
    scatter_index[gather_index[valid]] = torch.arange(gather_index.numel())[valid]

    nw = gather_index.numel() // (window * window)
    blocked = shift_region_mask(hp, wp, window, shift)
    valid_tokens = None
    if not bool(valid.all()):
        valid_tokens = valid.view(nw, window * window)
        blocked = blocked | ~valid_tokens[:, None, :]
    key_mask = torch.zeros(blocked.shape).masked_fill_(blocked, MASK_VALUE)
    return WindowLayout(
        padded_hw=(hp, wp),
        num_windows=nw,
        gather_index=gather_index.to(device),
        scatter_index=scatter_index.to(device),
        key_mask=key_mask.to(device),
        valid_tokens=None if valid_tokens is None else valid_tokens.to(device),
        masked=bool(blocked.any()),
    )


def to_windows(x: torch.Tensor, layout: WindowLayout, window: int) -> torch.Tensor:
    """(B, H, W, C) → (B·nW, N, C) padded, shifted and partitioned in one gather."""
    b, h, w, c = x.shape
    return x.reshape(b, h * w, c).index_select(1, layout.gather_index).view(-1, window * window, c)


def from_windows(xw: torch.Tensor, layout: WindowLayout, batch: int, h: int, w: int) -> torch.Tensor:
    """(B·nW, N, C) → (B, H, W, C): the inverse of :func:`to_windows` on the real tokens."""
    c = xw.shape[-1]
    return xw.reshape(batch, -1, c).index_select(1, layout.scatter_index).view(batch, h, w, c)
