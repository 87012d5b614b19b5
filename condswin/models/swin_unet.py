"""Swin U-Net and Conditional Swin U-Net (light or iterative routers) as the Conditional Swin U-Net notebook has them.

Encoder: patch embedding (conv 4×4/4 + LayerNorm) → basic layers (Swin blocks, then patch merging) →
bottleneck blocks. Decoder: patch expanding ×2, concatenated skip, Linear 2C → C, Swin blocks; a final ×4
patch expansion and a 1×1 convolution head. The conditional variants replace every block's attention and
feed-forward by their routed (light + heavy) versions.

Parameter counts at the notebook's configs (1 in / 1 out channel): ``swin_unet_1l`` 1.89 M, ``swin_unet_2l``
6.51 M, ``cswin_*_1l`` 3.94 M, ``cswin_*_2l`` 16.31 M — the notebook reports 1.9 / 6.5 / 3.9 / 16.3 M. The
conditional counts follow from the notebook's block: no heavy output projection, LightFF d→d→d, HeavyFF
d→4d→d. The notebook ("Lightweight Conditional Swin U-Net for Medical Image Reconstruction and Segmentation",
Antonelli 2023) and the block are described in docs/architecture.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from condswin.lookup import look_up
from condswin.models.padding import crop_to, pad_to_multiple
from condswin.models.registry import register_model
from condswin.models.routers import ROUTERS
from condswin.models.swin_layers import PatchEmbed, PatchExpand, PatchMerging, SwinStage
from condswin.models.validation import check_image_batch

__all__ = ["SwinUNetConfig", "SwinUNet"]


@dataclass
class SwinUNetConfig:
    """Hyper-parameters of the Swin U-Net family (defaults: the notebook's 2-layer training config).

    Attributes:
        in_channels / out_channels: image channels in and out.
        patch_size: patch side of the embedding (4).
        embed_dim: channels after embedding (128); doubled by every merging.
        depths: Swin blocks in each encoder basic layer (and its mirrored decoder layer); (2, 2) = 2 layers.
        bottleneck_depth: Swin blocks at the lowest resolution.
        num_heads: heads per resolution, len(depths) + 1 entries (the last is the bottleneck's).
        window_size: window side W (8).
        mlp_hidden: hidden width of the plain blocks' MLP (256 in the notebook, the same at every resolution).
        dropout: dropout after embedding, attention projections and inside MLPs (0.2).
        conditional: use conditional attention and feed-forward.
        router: ``"light"`` (softmax + top-k) or ``"iterative"`` (CoLT5 coordinate descent); another name is
            a ``UsageError``.
        routed_tokens: k, tokens per window the kv and feed-forward routers pick (7 of 64).
        light_ff_ratio: light MLP hidden = ratio·C (1.0: the notebook's d→d→d LightFF).
        heavy_ff_ratio: heavy MLP hidden = ratio·C (4: the notebook's d→4d→d HeavyFF).
        heavy_projection: give the heavy attention branch its own C×C output projection. False (the
            notebook's block): the heavy heads' output adds straight onto the light branch's projected output.
        router_iters / router_eps / router_eps_init / router_eps_decay: iterative router schedule.
        debug: also refuse non-finite inputs (costs one pass over the input).
    """

    in_channels: int = 1
    out_channels: int = 1
    patch_size: int = 4
    embed_dim: int = 128
    depths: tuple[int, ...] = (2, 2)
    bottleneck_depth: int = 2
    num_heads: tuple[int, ...] = (4, 8, 16)
    window_size: int = 8
    mlp_hidden: int = 256
    dropout: float = 0.2
    conditional: bool = False
    router: str = "light"
    routed_tokens: int = 7
    light_ff_ratio: float = 1.0
    heavy_ff_ratio: float = 4.0
    heavy_projection: bool = False
    router_iters: int = 20
    router_eps: float = 2e-2
    router_eps_init: float = 4.0
    router_eps_decay: float = 0.7
    debug: bool = False

    def __post_init__(self) -> None:
        # Configs come back from JSON model cards with lists where tuples were.
        self.depths = tuple(int(d) for d in self.depths)
        self.num_heads = tuple(int(h) for h in self.num_heads)
        if len(self.num_heads) != len(self.depths) + 1:
            raise ValueError(f"num_heads needs len(depths)+1 = {len(self.depths) + 1} entries, got {self.num_heads}")
        for i, heads in enumerate(self.num_heads):
            dim = self.embed_dim * 2**i
            if dim % heads:
                raise ValueError(f"channels {dim} at level {i} are not divisible by num_heads {heads}")
            if self.conditional and heads % 2:
                raise ValueError(f"conditional blocks need an even head count (light branch has half), got {heads}")
        look_up("router kind", self.router, ROUTERS)  # refuse an unknown router before any block is built
        if not 1 <= self.routed_tokens <= self.window_size**2:
            raise ValueError(f"routed_tokens must be in [1, {self.window_size**2}], got {self.routed_tokens}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def size_multiple(self) -> int:
        """Input sides are padded to a multiple of this (patch · 2^layers) so every merging sees even sizes."""
        return self.patch_size * 2 ** len(self.depths)


class SwinUNet(nn.Module):
    """The (Conditional) Swin U-Net. Takes (B, in_channels, H, W) of any H, W; returns (B, out_channels, H, W)."""

    def __init__(self, config: SwinUNetConfig):
        super().__init__()
        self.config = cfg = config
        levels = len(cfg.depths)
        dims = [cfg.embed_dim * 2**i for i in range(levels + 1)]
        self.patch_embed = PatchEmbed(cfg.in_channels, cfg.embed_dim, cfg.patch_size)
        self.embed_drop = nn.Dropout(cfg.dropout)

        def stage(depth: int, level: int) -> SwinStage:
            cond = None
            if cfg.conditional:
                cond = dict(
                    k=cfg.routed_tokens,
                    router=cfg.router,
                    router_params=dict(
                        iters=cfg.router_iters,
                        eps=cfg.router_eps,
                        eps_init=cfg.router_eps_init,
                        eps_decay=cfg.router_eps_decay,
                    )
                    if cfg.router == "iterative"
                    else {},
                    light_ff_hidden=max(1, int(round(dims[level] * cfg.light_ff_ratio))),
                    heavy_ff_hidden=int(round(dims[level] * cfg.heavy_ff_ratio)),
                    heavy_projection=cfg.heavy_projection,
                )
            return SwinStage(
                depth, dims[level], cfg.num_heads[level], cfg.window_size, cfg.mlp_hidden, cfg.dropout, cond
            )

        self.encoder = nn.ModuleList(stage(d, i) for i, d in enumerate(cfg.depths))
        self.merges = nn.ModuleList(PatchMerging(dims[i]) for i in range(levels))
        self.bottleneck = stage(cfg.bottleneck_depth, levels)
        self.bottleneck_norm = nn.LayerNorm(dims[levels])
        self.expands = nn.ModuleList(PatchExpand(dims[i + 1]) for i in reversed(range(levels)))
        self.skip_fuse = nn.ModuleList(nn.Linear(2 * dims[i], dims[i]) for i in reversed(range(levels)))
        self.decoder = nn.ModuleList(stage(cfg.depths[i], i) for i in reversed(range(levels)))
        self.decoder_norm = nn.LayerNorm(cfg.embed_dim)
        self.final_expand = PatchExpand(cfg.embed_dim, scale=cfg.patch_size, channel_ratio=1)
        self.head = nn.Conv2d(cfg.embed_dim, cfg.out_channels, kernel_size=1)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, self.config.in_channels, type(self).__name__, check_finite=self.config.debug)
        x, pads = pad_to_multiple(x, self.config.size_multiple)
        x = self.embed_drop(self.patch_embed(x))
        skips = []
        for blocks, merge in zip(self.encoder, self.merges, strict=False):
            x = blocks(x)
            skips.append(x)
            x = merge(x)
        x = self.bottleneck_norm(self.bottleneck(x))
        for expand, fuse, blocks, skip in zip(
            self.expands, self.skip_fuse, self.decoder, reversed(skips), strict=False
        ):
            x = blocks(fuse(torch.cat([expand(x), skip], dim=-1)))
        # The 1×1 head runs on the expanded tokens before they are spread over the full-resolution grid:
        # only the few output channels are rearranged, not the embed_dim-wide full-resolution map.
        tokens = self.final_expand.tokens(self.decoder_norm(x))
        out = F.linear(tokens, self.head.weight.flatten(1), self.head.bias)
        return crop_to(rearrange(out, "b h w p1 p2 c -> b c (h p1) (w p2)"), pads)


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


_ONE_LAYER: dict[str, Any] = dict(depths=(2,), num_heads=(4, 8))
_TWO_LAYERS: dict[str, Any] = dict(depths=(2, 2), num_heads=(4, 8, 16))
for _suffix, _layers in (("1l", _ONE_LAYER), ("2l", _TWO_LAYERS)):
    n = len(_layers["depths"])
    register_model(
        f"swin_unet_{_suffix}",
        SwinUNetConfig,
        SwinUNet,
        description=f"Swin U-Net, {n} basic layer(s), the notebook's config",
        **_layers,
    )
    register_model(
        f"cswin_light_{_suffix}",
        SwinUNetConfig,
        SwinUNet,
        description=f"Conditional Swin U-Net, light routers (softmax + top-7), {n} basic layer(s)",
        conditional=True,
        router="light",
        **_layers,
    )
    register_model(
        f"cswin_iter_{_suffix}",
        SwinUNetConfig,
        SwinUNet,
        description=f"Conditional Swin U-Net, iterative CoLT5 routers, {n} basic layer(s)",
        conditional=True,
        router="iterative",
        **_layers,
    )
