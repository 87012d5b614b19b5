"""Every embedded model loads (checksum verified) and runs; each default holds its card's regression metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from condswin.bundles import embedded_models_dir, load_bundle, read_registry
from condswin.bundles.registry import is_default
from condswin.inference import InferenceOptions

REGISTRY = embedded_models_dir() / "models.json"
EMBEDDED = read_registry(REGISTRY) if REGISTRY.is_file() else []


def _small_input(task: str) -> sitk.Image:
    rng = np.random.default_rng(0)
    if task == "segmentation":
        array = rng.integers(-200, 300, size=(2, 48, 40)).astype(np.int16)
    else:
        array = (100 * rng.random((2, 48, 40))).astype(np.float32)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.9, 0.8, 3.0))
    return image


@pytest.mark.parametrize("bundle", EMBEDDED, ids=[b.id for b in EMBEDDED])
def test_every_embedded_model_loads_and_runs_on_a_small_input(bundle) -> None:
    from condswin.jobs import denoise, reconstruct_image, segment

    loaded = load_bundle(bundle)  # verifies the sha256 first
    image = _small_input(bundle.task)
    options = InferenceOptions(device="cpu", batch_size=2)
    run = {"segmentation": segment, "reconstruction": reconstruct_image, "denoising": denoise}[bundle.task]
    output = run(image, loaded, options).output
    assert output.GetSize() == image.GetSize() and output.GetSpacing() == image.GetSpacing()
    assert np.isfinite(sitk.GetArrayViewFromImage(output)).all()


DEFAULTS = [b for b in EMBEDDED if is_default(b)]
# The segmentation sample ships in Resources/SampleData; the MR one lives in ../shared/data
# (condswin.training.regression).
SEGMENTATION_DEFAULTS = [b for b in DEFAULTS if b.task == "segmentation"]
MR_DEFAULTS = [b for b in DEFAULTS if b.task != "segmentation"]


def _assert_holds_its_card(bundle, shared: Path) -> None:
    from condswin.training.regression import TOLERANCE, missing_sample, regression_metrics

    reason = missing_sample(bundle.task, shared)
    if reason is not None:
        pytest.skip(reason)
    recorded = bundle.card.metrics["regression"]["values"]
    measured = regression_metrics(load_bundle(bundle), shared)
    for name, value in recorded.items():
        assert measured[name] == pytest.approx(value, rel=TOLERANCE, abs=1e-6), f"{bundle.id} {name}"


@pytest.mark.parametrize("bundle", SEGMENTATION_DEFAULTS, ids=[b.id for b in SEGMENTATION_DEFAULTS])
def test_default_segmentation_model_holds_its_card_on_the_sample_phantom(bundle, tmp_path: Path) -> None:
    _assert_holds_its_card(bundle, tmp_path / "no-shared-data")  # needs nothing of ../shared/data


@pytest.mark.parametrize("bundle", MR_DEFAULTS, ids=[b.id for b in MR_DEFAULTS])
def test_default_mr_model_holds_its_card_on_the_held_out_volume(bundle, shared_data: Path) -> None:
    _assert_holds_its_card(bundle, shared_data)
