"""Shared pytest fixtures: deterministic torch, and the real samples in ../shared/data (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; tests using it skip with a reason on a machine without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real samples not available: {SHARED_DATA} does not exist (CI and developers have it)")
    return SHARED_DATA


@pytest.fixture(scope="module")
def single_torch_thread():
    """Tiny networks: OpenMP threads cost more than they gain there, and spin badly on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
