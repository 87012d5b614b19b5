"""Shared pytest fixtures: deterministic torch, the real samples in ../shared/data (skipped when absent),
synthetic MR images, and tiny model bundles / typed cards of every task (built once per session)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import synthetic_images
import torch

from condswin.bundles import ModelCard, card_template, parse_card, save_bundle
from condswin.models import build_model

# The fixtures and assert-rewritten helpers of the Slicer module tests (real MRML scene, run folders).
pytest_plugins = ["slicer_logic_support"]

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects: ``-m shared_data`` / ``-m "not shared_data"`` see the mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``shared_data`` every test that takes the ``shared_data`` fixture: tests reach ../shared/data only
    through it, so the mark follows from the fixture and cannot be forgotten."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared_data)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; tests using it are marked ``shared_data`` and skip with a reason on a machine
    without it."""
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


@pytest.fixture(scope="session")
def mr_volume() -> Callable[..., np.ndarray]:
    """``mr_volume(slices=3, size=32, scale=100.0)``: a small MR magnitude volume built from the brain phantom
    of :mod:`synthetic_images` (modules that need the 2-D phantom itself import it from there)."""
    return synthetic_images.mr_volume


# --- tiny model bundles and cards -------------------------------------------------------------------------------

TASK_OUT_CHANNELS = {"segmentation": 3, "reconstruction": 1, "denoising": 1}
# A 2-pool U-Net with 4 channels: ~10 k parameters, milliseconds per slice, any size divisible by 4.
TINY_UNET = {"chans": 4, "num_pool_layers": 2}


def _tiny_card_fields(task: str, card_id: str | None, input_changes: dict[str, Any]) -> dict[str, Any]:
    card = card_template(
        card_id or f"tiny-{task}", task, training_data="none: freshly initialised test model", training_command="pytest"
    )
    if task == "segmentation":
        card["input"]["size"] = None  # native grid: small test volumes stay small
    card["input"].update(input_changes)
    return card


def _save_tiny_bundle(folder: Path, task: str, card_id: str | None = None, **input_changes: Any) -> Path:
    model = build_model("unet", 1, TASK_OUT_CHANNELS[task], **TINY_UNET)
    save_bundle(model, _tiny_card_fields(task, card_id, input_changes), folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One untrained tiny-U-Net bundle per task, ids ``tiny-<task>``, side by side in one folder (so that
    folder works as a ``CONDSWIN_MODEL_PATH`` entry). Shared by the session: copy one before changing it."""
    root = tmp_path_factory.mktemp("tiny-bundles")
    return {task: _save_tiny_bundle(root / task, task) for task in TASK_OUT_CHANNELS}


@pytest.fixture(scope="session")
def make_bundle() -> Callable[..., Path]:
    """``make_bundle(folder, task, card_id=None, **input_changes)``: save a fresh tiny bundle at ``folder``."""
    return _save_tiny_bundle


@pytest.fixture(scope="session")
def make_card() -> Callable[..., ModelCard]:
    """``make_card(task="segmentation", out_channels=None, architecture="unet", input=..., output=...)``: a typed
    card (no weights) for running inference with stand-in networks; ``input``/``output`` update those sections."""

    def make(
        task: str = "segmentation",
        *,
        out_channels: int | None = None,
        architecture: str = "unet",
        input: dict[str, Any] | None = None,
        output: dict[str, Any] | None = None,
    ) -> ModelCard:
        fields = card_template("t", task, training_data="x", training_command="y")
        fields["input"].update(input or {})
        fields["output"].update(output or {})
        fields.update(
            architecture=architecture,
            config={},
            in_channels=1,
            out_channels=out_channels or TASK_OUT_CHANNELS[task],
        )
        return parse_card(fields, "test card", require_weights=False)

    return make
