"""Checks shared by every network: the fields of a config that set its size within their limits before
anything is built, and clear errors instead of shape mismatches deep inside a model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from condswin.errors import UsageError

__all__ = ["CONFIG_LIMITS", "UNSIZED_FIELDS", "FieldLimit", "check_config_limits", "check_image_batch"]


def check_image_batch(x: torch.Tensor, in_channels: int, model_name: str, check_finite: bool = False) -> None:
    """Raise ``ValueError`` unless ``x`` is a (batch, in_channels, H, W) floating tensor.

    Args:
        x: the network input.
        in_channels: the channel count the network was built for.
        model_name: used in the message so the user knows which model refused the input.
        check_finite: also refuse NaN/inf (costs a full pass over the input; on in debug mode).
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(
            f"{model_name}: expected a torch.Tensor of shape (batch, {in_channels}, H, W), got {type(x).__name__}"
        )
    if x.ndim != 4:
        raise ValueError(
            f"{model_name}: expected a 4-D tensor (batch, {in_channels}, H, W), got {x.ndim}-D shape {tuple(x.shape)}"
        )
    if x.shape[1] != in_channels:
        raise ValueError(
            f"{model_name}: expected {in_channels} input channel(s), got {x.shape[1]} (shape {tuple(x.shape)})"
        )
    if not x.is_floating_point():
        raise ValueError(f"{model_name}: expected a floating-point tensor, got dtype {x.dtype}")
    if check_finite and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{model_name}: input contains NaN or infinite values")


# --- Limits of the config fields that set a network's size ---------------------------------------------------
#
# A config (a model card's, or a training run's overrides) is checked against these before anything is built,
# even on torch's meta device: a depth of 60 levels overflows torch's size arithmetic, a window of 100 pixels
# builds a gigabyte position index in real memory, and a million blocks take minutes to construct. Each limit is
# far above any network of this project (and of the published families they come from); what stays within them
# is then measured exactly, on the meta device, against the weights file (condswin.bundles.store).

# A slice has at most 4096 pixels a side (condswin.bundles.contract.MAX_SLICE_SIDE): after 8 halvings a network
# already needs slices of 512 pixels (the U-Net's coarsest map must be 2×2), and each level doubles the channels.
MAX_LEVELS = 8
# The widest layer any limit allows is then 1024 · 2^8 channels: still countable on the meta device.
MAX_WIDTH = 1024


@dataclass(frozen=True)
class FieldLimit:
    """The largest value a config field may take, and what the value scales (said in the refusal).

    Attributes:
        maximum: the largest accepted value (of every entry, for a tuple field); None when only the number of
            entries is bounded (a tuple of names).
        scales: what the field sets, e.g. ``"channels of the first level, doubled at every level"``.
        max_entries: for a tuple field, the most entries it may have (each entry is a level or a layer).
    """

    maximum: float | None
    scales: str
    max_entries: int | None = None


# By field name: the same name means the same thing in every architecture of the registry.
CONFIG_LIMITS: dict[str, FieldLimit] = {
    "chans": FieldLimit(MAX_WIDTH, "channels of the first level, doubled at every level"),
    "num_pool_layers": FieldLimit(MAX_LEVELS, "levels, each halving the slice and doubling the channels"),
    "embed_dim": FieldLimit(MAX_WIDTH, "token channels of the first level, doubled at every level"),
    "depths": FieldLimit(12, "Swin blocks per level; one entry per level", max_entries=MAX_LEVELS),
    "bottleneck_depth": FieldLimit(12, "Swin blocks at the lowest resolution"),
    "num_heads": FieldLimit(256, "attention heads, each with its own position-bias table", max_entries=MAX_LEVELS + 1),
    # Every Swin block keeps a (side²)² position index in real memory, built even on the meta device.
    "window_size": FieldLimit(12, "attention window side; each block holds a (side²)² position index"),
    "patch_size": FieldLimit(16, "pixels per token side of the patch embedding and of the final expansion"),
    "mlp_hidden": FieldLimit(16 * MAX_WIDTH, "hidden width of every feed-forward layer"),
    "routed_tokens": FieldLimit(12 * 12, "tokens per window routed to the heavy branch"),
    "light_ff_ratio": FieldLimit(16, "light feed-forward width relative to the channels"),
    "heavy_ff_ratio": FieldLimit(16, "heavy feed-forward width relative to the channels"),
    "mlp_ratio": FieldLimit(16, "feed-forward width relative to the bottleneck channels"),
    "router_iters": FieldLimit(1000, "steps of the iterative router, each kept for the backward pass"),
    "image_size": FieldLimit(4096, "training slice side, which sets the length of the Linformer projections"),
    "linformer_k": FieldLimit(4096, "projected sequence length of the Linformer layers"),
    "sparse_span": FieldLimit(4096, "window half-width / stride of the sparse attention layers"),
    "attention_layers": FieldLimit(None, "transformer blocks in the bottleneck, one per entry", max_entries=16),
    "features": FieldLimit(MAX_WIDTH, "channels of each level; one entry per level", max_entries=MAX_LEVELS),
    "decoder_channels": FieldLimit(2 * MAX_WIDTH, "channels of each decoder stage", max_entries=MAX_LEVELS),
    "space_to_depth": FieldLimit(16, "pixel block side; its square is the inner network's channel count"),
    "refiner": FieldLimit(MAX_WIDTH, "hidden channels of a full-resolution refinement stage"),
    "cascades": FieldLimit(16, "refinement cascades, each running the inner network once (its own copy unless shared)"),
}

# The other config fields of the registered architectures, and why none of them can make a network large.
UNSIZED_FIELDS: dict[str, str] = {
    "in_channels": "bounded by the card (1 or 2) and checked by build_model",
    "out_channels": "bounded by the card (at most 256 classes) and checked by build_model",
    "drop_prob": "a probability",
    "dropout": "a probability",
    "attn_drop": "a probability",
    "batch_norm": "a switch",
    "conditional": "a switch",
    "heavy_projection": "a switch",
    "debug": "a switch",
    "noise_units": "a switch",
    "sigma_input": "a switch",
    "air_gate": "a switch",
    "gate_context": "a switch",
    "air_floor": "a switch",
    "share_weights": "a switch (sharing only makes a network smaller)",
    "router": "a name from a fixed list",
    "router_eps": "a number of the router's schedule",
    "router_eps_init": "a number of the router's schedule",
    "router_eps_decay": "a number of the router's schedule",
    "scse_reduction": "divides the channels: a larger value makes the network smaller",
    "dilated_stages": "indices of the encoder's four stages, checked by the network",
    "pretrained": "a file to initialise from, not a size",
    "inner": "a registered name; its own fields are checked under inner_config",
    "inner_config": "the inner network's fields, each checked against these limits",
    "start": "a name from a fixed list (zero-filled or a compressed-sensing method)",
    "start_params": "no tensors: lam and iterations, bounded by the compressed-sensing method's parameter rules",
}


def check_config_limits(model_name: str, values: Mapping[str, Any], where: str = "") -> None:
    """Refuse a config field above its limit (:data:`CONFIG_LIMITS`) before anything is built.

    Only the values are looked at (no config object is made: even a config's own checks can take minutes on a
    million-entry tuple); a value of the wrong type is left to the architecture to refuse.

    Args:
        model_name: the registered name, said in the message.
        values: the config's fields (defaults and overrides), or a part of them.
        where: prefix of the field names in the message (``"inner_config."`` for a wrapped network).

    Raises:
        UsageError: naming the field, its value, the limit and what the field scales.
    """
    for name, value in values.items():
        if name == "inner_config" and isinstance(value, Mapping):
            check_config_limits(model_name, value, f"{where}inner_config.")
            continue
        limit = CONFIG_LIMITS.get(name)
        if limit is not None:
            _check_field(model_name, f"{where}{name}", value, limit)


def _check_field(model_name: str, field_name: str, value: Any, limit: FieldLimit) -> None:
    if isinstance(value, (list, tuple)):
        if limit.max_entries is not None and len(value) > limit.max_entries:
            raise UsageError(
                f"{model_name}: {field_name} has {len(value)} entries; at most {limit.max_entries} are accepted "
                f"({limit.scales})"
            )
        for index, entry in enumerate(value):
            _check_value(model_name, f"{field_name}[{index}]", entry, limit)
        return
    _check_value(model_name, field_name, value, limit)


def _check_value(model_name: str, field_name: str, value: Any, limit: FieldLimit) -> None:
    if limit.maximum is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if value > limit.maximum:  # inf included; NaN is refused by the network (it is no size)
        raise UsageError(
            f"{model_name}: {field_name} is {value!r}; at most {limit.maximum:g} is accepted ({limit.scales})"
        )
