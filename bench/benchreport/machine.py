"""What the benchmark ran on: CPU model, cores, native bf16, torch, GPU, commit."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True)
    except OSError:
        return "unknown"
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def describe(root: Path, threads: int) -> dict[str, Any]:
    """The machine and software of this run."""
    import torch
    from models import cpu_name  # bench/models.py

    from condswin.inference.device import cpu_has_native_bf16

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_name(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "threads": threads,
        "native_bf16": cpu_has_native_bf16(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "gpu": gpu,
        "commit": _commit(root),
        "load_average_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def markdown(info: dict[str, Any]) -> str:
    bf16 = "native bf16 (AVX512-BF16/AMX)" if info["native_bf16"] else "no native bf16"
    gpu = info["gpu"] or "none (CPU only)"
    return (
        f"Machine: {info['cpu']}, {info['cores']} cores ({info['threads']} torch threads), {bf16}; GPU: {gpu}; "
        f"torch {info['torch']}, Python {info['python']}; commit {info['commit']}; run {info['date']} "
        f"(load average {info['load_average_start']:.1f} at the start).\n"
    )
