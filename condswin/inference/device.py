"""Device choice and the per-device settings of inference (mixed precision, memory layout, OOM detection)."""

from __future__ import annotations

import contextlib
import functools
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import nn

from condswin.errors import UsageError

__all__ = [
    "resolve_device",
    "autocast_for",
    "cpu_has_native_bf16",
    "prefers_channels_last",
    "is_out_of_memory",
    "release_cached_memory",
]

_OOM_TYPES: tuple[type[BaseException], ...] = tuple(
    t
    for t in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None))
    if t is not None
)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"`` (CUDA, then Apple MPS, then CPU) or an explicit name into a ``torch.device``.

    Args:
        name: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a ``torch.device``.

    Returns:
        The device.

    Raises:
        UsageError: an unknown name or a device this machine does not have.
    """
    if isinstance(name, torch.device):
        return name
    text = str(name).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(text)
    except RuntimeError as exc:
        raise UsageError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from exc
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise UsageError(f"device {name!r} requested but CUDA is not available here (torch {torch.__version__})")
    if device.type == "mps" and not _mps_available():
        raise UsageError(f"device {name!r} requested but Apple MPS is not available here")
    if device.type not in ("cpu", "cuda", "mps", "meta"):
        raise UsageError(f"unsupported device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    return device


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True on CPUs with bfloat16 instructions (AVX512-BF16 or AMX), where bf16 autocast is faster than float32."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = f.read()
    except OSError:  # not Linux: no cheap way to know, and emulated bf16 is slower than float32
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_for(device: torch.device, enabled: bool = True, cpu_bf16: bool = False) -> AbstractContextManager[Any]:
    """Mixed precision: on CUDA (bfloat16 where supported: no overflow in attention logits; else float16), and
    bfloat16 on CPUs with native bf16 when the model's card allows it (``cpu_bf16``).

    Elsewhere CPU autocast is slower than float32 for these models, and a model's outputs may change in bf16,
    which is why the card (whose metrics were measured both ways) decides; MPS autocast support varies
    between torch releases, so it runs in float32.
    """
    if enabled and cpu_bf16 and device.type == "cpu" and cpu_has_native_bf16():
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)


def prefers_channels_last(model: nn.Module, device: torch.device) -> bool:
    """Channels-last helps convolution-dominated networks on CUDA (tensor cores want NHWC); transformers
    whose parameters sit in Linear layers gain nothing and pay for the layout changes."""
    if device.type != "cuda":
        return False
    conv = sum(p.numel() for m in model.modules() if isinstance(m, nn.Conv2d) for p in m.parameters(recurse=False))
    total = sum(p.numel() for p in model.parameters())
    return total > 0 and conv / total > 0.5


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA out-of-memory errors and the RuntimeError MPS raises when it runs out."""
    if _OOM_TYPES and isinstance(exc, _OOM_TYPES):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def release_cached_memory(device: torch.device) -> None:
    """Give the allocator's cached blocks back after an OOM so a smaller retry can use them."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()
