"""The training precision a run uses, chosen by what the device computes natively.

``trainer.precision: auto`` (the default) means bf16 mixed precision where the hardware has bf16 arithmetic —
a CUDA GPU that reports it, or a CPU with AVX512-BF16 / AMX — and float32 elsewhere: emulated bf16 on a CPU
without those instructions is slower than float32 (``bench/training.py`` measures both; the table is in
``docs/benchmarks.md``). Any Lightning precision string (``32-true``, ``bf16-mixed``, ``16-mixed``) is used
as given.
"""

from __future__ import annotations

import platform

import torch

from condswin.inference.device import cpu_has_native_bf16

__all__ = ["AUTO", "resolve_precision", "describe_device"]

AUTO = "auto"


def _uses_cuda(accelerator: str) -> bool:
    return accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()


def resolve_precision(precision: str, accelerator: str = "auto") -> str:
    """The Lightning precision for ``precision`` (``auto`` resolved for the device ``accelerator`` selects)."""
    if precision != AUTO:
        return precision
    if _uses_cuda(accelerator):
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "32-true"
    return "bf16-mixed" if cpu_has_native_bf16() else "32-true"


def describe_device(accelerator: str = "auto") -> str:
    """The device a run trains on, for its lineage entry: the GPU's name, or the CPU's and its thread count."""
    if _uses_cuda(accelerator):
        return f"cuda: {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
    except OSError:
        pass
    return f"cpu: {name}, {torch.get_num_threads()} threads"
