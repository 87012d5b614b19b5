"""Helpers shared by the tests of the wrapper models and the training entry scripts: the scripts' ``main`` as a
user runs it, a trained-looking zero-head model, a test bundle round trip, small MR subject volumes."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch

from condswin.bundles import card_template, load_bundle, read_bundle, save_bundle
from condswin.models.data_consistency import DataConsistentNetwork

ROOT = Path(__file__).resolve().parents[1]


def script_main(name: str) -> Callable[[list[str]], int]:
    """``main`` of ``Training/<name>.py`` itself (loaded from its file, as ``python Training/<name>.py`` runs)."""
    spec = importlib.util.spec_from_file_location(f"{name}_script", ROOT / "Training" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def randomise_zero_head(model: torch.nn.Module) -> None:
    """A trained-looking wrapper model: every inner network's zero-initialised head gets random weights, so its
    output (a correction, a noise estimate) is no longer zero."""
    nets = model.inner_networks() if isinstance(model, DataConsistentNetwork) else [model.net]
    with torch.no_grad():
        for net in nets:
            torch.nn.init.normal_(net.head.weight, std=0.5)
            torch.nn.init.normal_(net.head.bias, std=0.5)


def bundle_round_trip(model: torch.nn.Module, folder: Path, model_id: str, task: str, **card_input: Any):
    """Save ``model`` as a test bundle (``card_input`` goes into the card's ``input``) and load it back."""
    card = card_template(model_id, task, training_data="none: test model", training_command="pytest")
    card["input"].update(card_input)
    save_bundle(model, card, folder)
    return load_bundle(read_bundle(folder))


def tampered_copy(bundle: Path, folder: Path) -> Path:
    """A copy of ``bundle`` in ``folder`` whose weights differ from the card's sha256 by one flipped byte."""
    folder.mkdir()
    for item in bundle.iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    return folder


def write_mr_subjects(root: Path, count: int, shape: tuple[int, int, int] = (3, 36, 28)) -> None:
    """``count`` small MR volumes (a textured block on a zero background, anisotropic spacing) in ``root``."""
    rng = np.random.default_rng(1)
    root.mkdir()
    for index in range(count):
        volume = np.zeros(shape, dtype=np.float32)
        volume[:, 6:30, 5:23] = 100.0 + 60.0 * rng.random((shape[0], 24, 18), dtype=np.float32)
        image = sitk.GetImageFromArray(volume)
        image.SetSpacing((0.9, 0.8, 3.0))
        sitk.WriteImage(image, str(root / f"subject{index}.nii.gz"))
