"""Training data pipeline, MR: fastMRI h5 folders, reconstruction and denoising from MR volume folders.

Tiny files written by the tests in the real formats (fastMRI h5 via ``condswin.mri.fastmri.write``, NIfTI MR).
Validation slices must be what inference would feed the model; training slices must be fresh.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from condswin.bundles.contract import Normalization
from condswin.errors import UsageError
from condswin.inference import reconstruct_fastmri
from condswin.mri.fastmri import write
from condswin.mri.kspace import center_crop, simulate_singlecoil_kspace
from condswin.mri.masks import MaskSampler, MaskSpec, fastmri_seed
from condswin.mri.noise import add_rician
from condswin.training.config import config_from_dict
from condswin.training.data import build_datasets
from condswin.training.data.mr_denoising import volume_sigma
from condswin.training.data.mr_reconstruction import MaskDrawer

NO_AUGMENT = {"probability": 0.0, "intensity": 0.0}
VOLUME_SHAPE = (5, 40, 36)  # slices, rows, columns


def _config(tmp: Path, task: str, data: dict):
    return config_from_dict({"task": task, "data": data, "trainer": {"output_dir": str(tmp / "run")}})


def _knee_like(rng: np.random.Generator, slices: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(k-space (slices, 48, 32), target (slices, 32, 32)): an oversampled readout, as fastMRI knee files."""
    magnitude = np.zeros((slices, 48, 32), dtype=np.float32)
    magnitude[:, 12:36, 6:26] = 1.0 + rng.random((slices, 24, 20), dtype=np.float32)
    kspace = simulate_singlecoil_kspace(magnitude, seed=int(rng.integers(1000)))
    return kspace, np.ascontiguousarray(center_crop(magnitude, (32, 32)))


@pytest.fixture(scope="module")
def fastmri_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fastmri")
    rng = np.random.default_rng(0)
    for folder, names in (("singlecoil_train", ["file1000001", "file1000002"]), ("singlecoil_val", ["file1000003"])):
        (root / folder).mkdir()
        for name in names:
            kspace, target = _knee_like(rng)
            write(root / folder / f"{name}.h5", kspace, target, attrs={"acquisition": "CORPD_FBK"})
    return root


@pytest.fixture(scope="module")
def mr_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mr")
    rng = np.random.default_rng(1)
    for index in range(4):
        volume = np.zeros(VOLUME_SHAPE, dtype=np.float32)
        volume[:, 8:32, 6:30] = 100.0 + 60.0 * rng.random((VOLUME_SHAPE[0], 24, 24), dtype=np.float32)
        image = sitk.GetImageFromArray(volume)
        image.SetSpacing((0.9, 0.8, 3.0))
        sitk.WriteImage(image, str(root / f"subject{index}.nii.gz"))
    return root


def test_fastmri_samples(fastmri_root, tmp_path):
    for complex_input, channels in ((False, 1), (True, 2)):
        data = {"kind": "fastmri", "root": str(fastmri_root), "size": [32, 32], "complex_input": complex_input}
        splits = build_datasets(_config(tmp_path, "reconstruction", data))
        assert (splits.in_channels, splits.out_channels) == (channels, 1)
        assert splits.input_contract["representation"] == ("complex" if complex_input else "magnitude")
        assert splits.input_contract["size"] is None and splits.input_contract["axis"] == "slice"
        assert (len(splits.train), len(splits.val), splits.test) == (6, 3, None)
        assert "fastMRI" in splits.licences[0] and "singlecoil_val" in splits.description
        for sample in (splits.train[0], splits.val[0]):
            assert sample.image.shape == (channels, 32, 32) and sample.image.dtype == torch.float32
            assert sample.target.shape == (1, 32, 32) and sample.target.dtype == torch.float32
            assert sample.scale > 0
        assert splits.val[0].volume == "file1000003.h5"


def test_fastmri_validation_equals_inference_zero_filled(fastmri_root, tmp_path):
    """The validation input is inference's zero-filled image under the per-file mask, normalised as inference does."""
    data = {
        "kind": "fastmri",
        "root": str(fastmri_root),
        "size": [32, 32],
        "accelerations": [4],
        "center_fractions": [0.08],
    }
    splits = build_datasets(_config(tmp_path, "reconstruction", data))
    path = fastmri_root / "singlecoil_val" / "file1000003.h5"
    reference = reconstruct_fastmri(path, None, mask=MaskSpec(kind="random", acceleration=4.0, center_fraction=0.08))
    offset, scale = Normalization(kind="percentile", lower=0.0, upper=99.5).fit(reference.zero_filled)
    for index in range(3):
        sample = splits.val[index]
        assert sample.slice_index == index
        assert np.isclose(sample.scale, scale) and np.isclose(sample.offset, offset)
        restored = sample.image[0].numpy() * sample.scale + sample.offset
        assert np.allclose(restored, reference.zero_filled[index], rtol=1e-4, atol=1e-5 * scale)
        assert np.allclose(sample.target[0].numpy() * sample.scale + sample.offset, reference.target[index], atol=1e-5)


def test_masks_are_fresh_in_training_and_seeded_in_validation(fastmri_root, tmp_path):
    data = {"kind": "fastmri", "root": str(fastmri_root), "size": [32, 32], "augment": NO_AUGMENT}
    config = _config(tmp_path, "reconstruction", data)
    drawer = MaskDrawer(config.data)
    rng = np.random.default_rng(0)
    fresh = [drawer.training(368, rng)[0] for _ in range(6)]
    assert len({m.tobytes() for m in fresh}) > 1
    seeded = MaskSampler("random", (0.08, 0.04), (4, 8))(368, seed=fastmri_seed("file1000003.h5"))[0]
    assert np.array_equal(drawer.evaluation(368, "file1000003.h5"), seeded)
    assert np.array_equal(drawer.evaluation(368, "file1000003.h5"), drawer.evaluation(368, "file1000003.h5"))
    first, second = build_datasets(config), build_datasets(config)
    assert all(torch.equal(first.val[i].image, second.val[i].image) for i in range(len(first.val)))
    draws = [first.train[0].image for _ in range(6)]
    assert any(not torch.equal(draws[0], d) for d in draws[1:]), "without augmentation only a fresh mask differs"


def test_mr_volume_reconstruction_samples_and_exact_validation_normalisation(mr_root, tmp_path):
    rows, cols = VOLUME_SHAPE[1:]
    for complex_input in (False, True):
        data = {
            "kind": "mr_volumes",
            "root": str(mr_root),
            "size": [rows, cols],
            "val_volumes": 1,
            "test_volumes": 1,
            "complex_input": complex_input,
        }
        splits = build_datasets(_config(tmp_path, "reconstruction", data))
        assert "smooth random phase" in splits.description and "k-space noise" in splits.description
        assert (len(splits.train), len(splits.val), len(splits.test)) == (10, 5, 5)
        volume_id = splits.val[0].volume
        clean = sitk.GetArrayFromImage(sitk.ReadImage(str(mr_root / volume_id)))
        samples = [splits.val[i] for i in splits.val.slices_of(volume_id)]
        assert [s.slice_index for s in samples] == list(range(VOLUME_SHAPE[0]))
        if complex_input:
            inputs = np.stack([s.image[0].numpy() + 1j * s.image[1].numpy() for s in samples]) * samples[0].scale
        else:
            inputs = np.stack([s.image[0].numpy() * s.scale + s.offset for s in samples])
        # normalisation over the whole zero-filled volume, as inference's reconstruct_kspace fits it
        fitted = Normalization(kind="percentile", lower=0.0, upper=99.5).fit(inputs, complex_input)
        assert np.allclose(fitted, (samples[0].offset, samples[0].scale), rtol=1e-5)
        for sample in samples:
            assert np.allclose(
                sample.target[0].numpy() * sample.scale + sample.offset, clean[sample.slice_index], atol=1e-3
            )
        train = splits.train[0]
        assert train.image.shape == (2 if complex_input else 1, rows, cols)


def test_denoising_samples_and_exact_validation_normalisation(mr_root, tmp_path):
    rows, cols = VOLUME_SHAPE[1:]
    for noise in ("gaussian", "rician"):
        data = {
            "kind": "mr_volumes",
            "root": str(mr_root),
            "size": [rows, cols],
            "val_volumes": 1,
            "noise": noise,
            "sigma_range": [0.02, 0.1],
        }
        splits = build_datasets(_config(tmp_path, "denoising", data))
        assert noise in splits.description
        volume_id = splits.val[0].volume
        clean = sitk.GetArrayFromImage(sitk.ReadImage(str(mr_root / volume_id)))
        samples = [splits.val[i] for i in splits.val.slices_of(volume_id)]
        noisy = np.stack([s.image[0].numpy() * s.scale + s.offset for s in samples])
        fitted = Normalization(kind="percentile", lower=0.5, upper=99.5).fit(noisy)
        assert np.allclose(fitted, (samples[0].offset, samples[0].scale), rtol=1e-5), "the noisy volume's normalisation"
        restored = np.stack([s.target[0].numpy() * s.scale + s.offset for s in samples])
        assert np.allclose(restored, clean, atol=1e-3)
        sigma = volume_sigma((0.02, 0.1), 0, volume_id)
        if noise == "gaussian":
            assert np.isclose((noisy - clean).std() / clean.max(), sigma, rtol=0.1)
        again = build_datasets(_config(tmp_path, "denoising", data))
        assert torch.equal(again.val[0].image, splits.val[0].image)


def test_denoising_validation_scores_each_volume_at_every_listed_sigma(mr_root, tmp_path):
    rows, cols = VOLUME_SHAPE[1:]
    data = {
        "kind": "mr_volumes",
        "root": str(mr_root),
        "size": [rows, cols],
        "val_volumes": 1,
        "noise": "gaussian",
        "val_sigmas": [0.02, 0.08],
    }
    splits = build_datasets(_config(tmp_path, "denoising", data))
    volume_id = splits.val[0].volume.split("@")[0]
    clean = sitk.GetArrayFromImage(sitk.ReadImage(str(mr_root / volume_id)))
    assert "validation/test at each sigma of [0.02, 0.08]" in splits.description
    for sigma in (0.02, 0.08):
        case = f"{volume_id}@{sigma:g}"
        samples = [splits.val[i] for i in splits.val.slices_of(case)]
        assert len(samples) == VOLUME_SHAPE[0], "every slice of the volume, once per sigma"
        noisy = np.stack([s.image[0].numpy() * s.scale + s.offset for s in samples])
        assert np.isclose((noisy - clean).std() / clean.max(), sigma, rtol=0.1)


def test_denoising_val_sigmas_are_checked(tmp_path):
    with pytest.raises(UsageError, match="data.val_sigmas"):
        _config(tmp_path, "denoising", {"kind": "mr_volumes", "root": "x", "val_sigmas": [0.05, 0.05]})


def test_denoising_training_is_fresh_and_its_estimated_normalisation_is_close(mr_root, tmp_path):
    rows, cols = VOLUME_SHAPE[1:]
    data = {
        "kind": "mr_volumes",
        "root": str(mr_root),
        "size": [rows, cols],
        "val_volumes": 1,
        "noise": "rician",
        "augment": NO_AUGMENT,
    }
    splits = build_datasets(_config(tmp_path, "denoising", data))
    draws = [splits.train[0] for _ in range(4)]
    assert not torch.equal(draws[0].image, draws[1].image)
    volume_id = draws[0].volume
    clean = sitk.GetArrayFromImage(sitk.ReadImage(str(mr_root / volume_id)))
    normalization = Normalization(kind="percentile", lower=0.5, upper=99.5)
    for draw in draws:
        assert np.allclose(draw.target[0].numpy() * draw.scale + draw.offset, clean[draw.slice_index], atol=1e-3)
        # the subsample estimate against the exact fit of a noisy volume at the sample's noise level
        noisy_slice = draw.image[0].numpy() * draw.scale + draw.offset
        sigma = float(np.std((noisy_slice - clean[draw.slice_index])[clean[draw.slice_index] > 0])) / clean.max()
        exact = normalization.fit(add_rician(clean, sigma, seed=0, reference=float(clean.max())))
        assert abs(draw.scale - exact[1]) / exact[1] < 0.05


def test_fastmri_train_folder_with_a_separate_validation_folder(fastmri_root, tmp_path):
    data = {
        "kind": "fastmri",
        "root": str(fastmri_root / "singlecoil_train"),
        "val_root": str(fastmri_root / "singlecoil_val"),
        "size": [32, 32],
    }
    splits = build_datasets(_config(tmp_path, "reconstruction", data))
    assert set(splits.train.volume_ids) == {"file1000001.h5", "file1000002.h5"}
    assert splits.val.volume_ids == ("file1000003.h5",)
    held_out = {**data, "val_root": None, "val_volumes": 1}
    splits = build_datasets(_config(tmp_path, "reconstruction", held_out))
    assert len(splits.train.volume_ids) == len(splits.val.volume_ids) == 1
    assert not set(splits.train.volume_ids) & set(splits.val.volume_ids)


def test_mr_volume_kspace_noise_range_is_drawn_per_training_sample(mr_root, tmp_path, monkeypatch):
    """Training samples draw their k-space noise level from the range; validation keeps ``kspace_noise``."""
    import condswin.training.data.mr_reconstruction as recon_data

    levels: list[float] = []
    simulate = recon_data.simulate_slice

    def recording(magnitude, noise, rng):
        levels.append(noise)
        return simulate(magnitude, noise, rng)

    rows, cols = VOLUME_SHAPE[1:]
    data = {
        "kind": "mr_volumes",
        "root": str(mr_root),
        "size": [rows, cols],
        "val_volumes": 1,
        "complex_input": True,
        "augment": NO_AUGMENT,
        "accelerations": [4],  # one mask pair: one normalisation fit per volume, made before the recording
        "center_fractions": [0.08],
        "kspace_noise": 0.014,
        "kspace_noise_range": [0.0, 0.03],
    }
    splits = build_datasets(_config(tmp_path, "reconstruction", data))
    assert "0-0.03 x the volume maximum (drawn per training sample; 0.014 in validation)" in splits.description
    volume_id = splits.val[0].volume
    maximum = float(sitk.GetArrayFromImage(sitk.ReadImage(str(mr_root / volume_id))).max())
    splits.val[0], splits.train[0]  # the normalisation fits simulate whole volumes at the nominal level
    monkeypatch.setattr(recon_data, "simulate_slice", recording)
    splits.val[0]
    assert levels == [pytest.approx(0.014 * maximum)]
    levels.clear()
    for _ in range(12):
        splits.train[0]
    train_maximum = float(splits.train.volumes[0].maximum)
    relative = np.array(levels) / train_maximum
    assert len(set(levels)) == 12, "a fresh level per training sample"
    assert relative.min() >= 0 and relative.max() <= 0.03 and relative.max() - relative.min() > 0.01
    with pytest.raises(UsageError, match="kspace_noise_range"):
        _config(tmp_path, "reconstruction", {**data, "kspace_noise_range": [0.03, 0.01]})
