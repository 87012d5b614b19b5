"""The reconstruction default cannot start below zero-filled: zero-filled + zero-initialised correction + data
consistency (:mod:`condswin.models.data_consistency`).

(a) untrained, it *is* the zero-filled reconstruction (MR volumes and fastMRI files, through the jobs);
(b) with any correction, the measured k-space columns of its output are exactly the measured data;
(c) its bundle round-trips; (d) ``Training/train.py`` trains it and ``condswin reconstruct --model`` runs it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from model_support import bundle_round_trip, randomise_zero_head, script_main, write_mr_subjects

from condswin.cli import main as condswin_main
from condswin.errors import InputError, UsageError
from condswin.inference import InferenceOptions, reconstruct_fastmri
from condswin.inference.reconstruction import reconstruct_kspace
from condswin.jobs import reconstruct_file, reconstruct_image
from condswin.models import build_model
from condswin.models.data_consistency import MaskBound
from condswin.mri import kspace as kspace_module
from condswin.mri.fastmri import write as write_fastmri
from condswin.mri.fft import fft2c, ifft2c
from condswin.mri.kspace import center_crop, data_consistency, simulate_singlecoil_kspace
from condswin.mri.masks import MaskSpec
from condswin.training.config import config_from_dict
from condswin.training.data import build_datasets
from condswin.training.modules.reconstruction import ReconstructionModule

ROOT = Path(__file__).resolve().parents[1]
TINY_INNER = {"inner": "unet", "inner_config": {"chans": 4, "num_pool_layers": 2}}
CPU = InferenceOptions(device="cpu", batch_size=2)


def _dc_model(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("recon_dc", 2, 1, **{**TINY_INNER, **overrides}).eval()


@pytest.fixture
def zero_filled_batch(mr_volume):
    """(x, mask, kspace): a normalised complex zero-filled batch (2, 2, 40, 36) of masked k-space."""
    magnitude = mr_volume(2, 40, 1.0)[:, :, 2:38]
    kspace = simulate_singlecoil_kspace(magnitude, seed=3)
    mask = np.zeros(kspace.shape[-1], dtype=bool)
    mask[::4] = True
    mask[15:21] = True
    image = ifft2c(kspace * mask)
    x = torch.from_numpy(np.stack([image.real, image.imag], axis=1).astype(np.float32))
    return x, torch.from_numpy(mask), kspace * mask


# -- (a) untrained = zero-filled --------------------------------------------------------------------------------


@pytest.mark.usefixtures("single_torch_thread")
def test_untrained_model_is_zero_filled_on_an_mr_volume(mr_volume, tmp_path: Path) -> None:
    loaded = bundle_round_trip(_dc_model(), tmp_path / "dc", "dc-test", "reconstruction", representation="complex")
    image = sitk.GetImageFromArray(mr_volume(3, 30, 100.0)[:, :, 1:29].copy())  # 30 x 28: not a multiple of 4
    image.SetSpacing((0.9, 1.1, 4.0))
    model = reconstruct_image(image, loaded, CPU, mask=MaskSpec(acceleration=4, seed=2), phase_seed=5)
    baseline = reconstruct_image(image, None, mask=MaskSpec(acceleration=4, seed=2), phase_seed=5)
    np.testing.assert_allclose(
        sitk.GetArrayFromImage(model.output), sitk.GetArrayFromImage(baseline.output), rtol=1e-5, atol=1e-4
    )
    assert model.output.GetSpacing() == image.GetSpacing()
    scores = model.report["metrics"]
    assert scores["model"]["psnr"] == pytest.approx(scores["zero_filled"]["psnr"], abs=1e-3)


@pytest.mark.usefixtures("single_torch_thread")
def test_untrained_model_is_zero_filled_on_a_fastmri_file(mr_volume, tmp_path: Path) -> None:
    """k-space wider and taller than the reconstruction: the model runs on the whole grid, then is cropped."""
    magnitude = mr_volume(2, 32, 1.0)
    kspace = simulate_singlecoil_kspace(magnitude, seed=1, kspace_shape=(48, 40))
    target = np.abs(center_crop(ifft2c(kspace), (32, 32))).astype(np.float32)
    write_fastmri(tmp_path / "file1000007.h5", kspace, target=target, spacing=(3.0, 0.5, 0.6))
    loaded = bundle_round_trip(_dc_model(), tmp_path / "dc", "dc-test", "reconstruction", representation="complex")
    result = reconstruct_fastmri(tmp_path / "file1000007.h5", loaded.model, loaded.card, options=CPU)
    assert result.image.shape == (2, 32, 32)
    np.testing.assert_allclose(result.image, result.zero_filled, rtol=1e-5, atol=1e-6)
    # a test file's own mask (already undersampled k-space) works the same way
    mask = np.zeros(40, dtype=bool)
    mask[::3], mask[17:23] = True, True
    write_fastmri(tmp_path / "test.h5", kspace * mask, mask=mask)
    job = reconstruct_file(tmp_path / "test.h5", loaded, CPU)
    own = job.details
    np.testing.assert_allclose(own.image, own.zero_filled, rtol=1e-5, atol=1e-6)


def test_untrained_correction_is_exactly_zero(zero_filled_batch) -> None:
    x, mask, _ = zero_filled_batch
    model = _dc_model(inner="cswin_light_1l", inner_config={"embed_dim": 16, "mlp_hidden": 32, "window_size": 4})
    with torch.no_grad():
        assert torch.count_nonzero(model.net(x)) == 0
        torch.testing.assert_close(model(x, mask)[:, 0], torch.hypot(x[:, 0], x[:, 1]))


# -- (b) data consistency -------------------------------------------------------------------------------------


def test_measured_columns_are_the_measured_data_whatever_the_correction(zero_filled_batch) -> None:
    x, mask, measured = zero_filled_batch
    model = _dc_model()
    randomise_zero_head(model)
    with torch.no_grad():
        y = model.complex_output(x, mask).numpy()
        correction = model.net(x).numpy()
    plain = (x[:, 0] + 1j * x[:, 1]).numpy() + correction[:, 0] + 1j * correction[:, 1]  # the same, without DC
    k_out = fft2c(y)
    np.testing.assert_allclose(k_out[..., mask.numpy()], measured[..., mask.numpy()], rtol=0, atol=1e-5)
    # the unmeasured columns were filled in (the correction did something) ...
    assert np.abs(k_out[..., ~mask.numpy()]).max() > 1e-2
    # ... while the same correction without DC moves the measured data: DC is never farther from it
    off = np.linalg.norm(fft2c(plain)[..., mask.numpy()] - measured[..., mask.numpy()])
    assert off > 1e-2 and np.linalg.norm(k_out[..., mask.numpy()] - measured[..., mask.numpy()]) < 1e-3 * off


def test_measured_kspace_lines_are_returned_exactly(zero_filled_batch, monkeypatch) -> None:
    """The model's data consistency is the toolkit's hard replacement, applied to the correction's k-space: every
    measured line becomes the measurement there, bit for bit (nothing: the measured data are the zero-filled
    image's, which the output adds back), and every other line is the network's."""
    x, mask, _ = zero_filled_batch
    model = _dc_model()
    randomise_zero_head(model)
    steps = []

    def recorded(predicted, measured, columns, noise_lambda=None):
        steps.append((predicted, measured, result := data_consistency(predicted, measured, columns, noise_lambda)))
        return result

    monkeypatch.setattr(kspace_module, "data_consistency", recorded)
    with torch.no_grad():
        y = model.complex_output(x, mask)
    assert len(steps) == 1, "the model's data consistency is condswin.mri.kspace.data_consistency"
    predicted, measured, kept = steps[0]
    assert torch.equal(kept[..., mask], measured[..., mask])
    assert torch.equal(kept[..., ~mask], predicted[..., ~mask]) and kept[..., ~mask].abs().max() > 1e-2
    image = torch.complex(x[:, 0], x[:, 1])
    assert torch.equal(y, image + ifft2c(kept))  # the output is the zero-filled image plus that k-space's image


def test_per_sample_masks_and_a_bound_mask_agree(zero_filled_batch) -> None:
    x, mask, _ = zero_filled_batch
    model = _dc_model()
    randomise_zero_head(model)
    with torch.no_grad():
        shared = model(x, mask)
        torch.testing.assert_close(model(x, mask.expand(2, -1)), shared)
        torch.testing.assert_close(MaskBound(model, mask.numpy()).eval()(x), shared)
        with pytest.raises(ValueError, match="column mask"):
            model(x, mask[:-1])


def test_config_refuses_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="in_channels 2"):
        build_model("recon_dc", 1, 1, **TINY_INNER)
    with pytest.raises(UsageError, match="model name"):
        build_model("recon_dc", 2, 1, inner="no_such_net")
    with pytest.raises(ValueError, match="cannot itself be"):
        build_model("recon_dc", 2, 1, inner="recon_dc")


# -- (b') a compressed-sensing start ------------------------------------------------------------------------------


def _piecewise_constant_kspace() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(truth, masked k-space, mask): two blocks and a disc, 4x random columns with a fully sampled centre."""
    truth = np.zeros((2, 48, 48))
    truth[:, 10:30, 8:22] = 1.0
    yy, xx = np.mgrid[:48, :48]
    truth[:, (yy - 30) ** 2 + (xx - 32) ** 2 < 90] = 0.6
    truth[1] = truth[1].T
    mask = np.random.default_rng(1).random(48) < 0.18
    mask[21:27] = True
    return truth, fft2c(truth.astype(np.complex128)) * mask, mask


def test_a_compressed_sensing_start_untrained_is_compressed_sensing_with_the_data_restored() -> None:
    """With ``start: cs-tv`` and a zero correction the model returns the classical CS-TV image of each slice
    (lam relative to the slice's largest zero-filled magnitude) with its measured columns put back, and on a
    piecewise-constant image at about 4x that beats zero-filling by a clear margin."""
    from condswin.mri.compressed_sensing.solvers import MeasuredKSpace, total_variation_admm

    truth, measured, mask = _piecewise_constant_kspace()
    image = ifft2c(measured)
    x = torch.from_numpy(np.stack([image.real, image.imag], axis=1).astype(np.float32))
    columns = torch.from_numpy(mask)
    model = _dc_model(start="cs-tv", start_params={"lam": 0.01})
    assert model.config.start_params == {"lam": 0.01, "iterations": 100}
    with torch.no_grad():
        output = model.complex_output(x, columns).numpy()
    scale = np.abs(image).max(axis=(-2, -1), keepdims=True)
    data = MeasuredKSpace(torch.from_numpy(measured / scale).to(torch.complex64), columns.float())
    classical = (data.consistent(total_variation_admm(data, 0.01, 100)).numpy() * scale).astype(np.complex64)
    np.testing.assert_allclose(output, classical, rtol=0, atol=1e-5)
    np.testing.assert_allclose(fft2c(output)[..., mask], measured[..., mask], rtol=0, atol=1e-4)

    def psnr(estimate: np.ndarray) -> float:
        return float(10 * np.log10(1.0 / np.mean((np.abs(estimate) - truth) ** 2)))

    assert psnr(output) > psnr(image) + 5.0


def test_a_compressed_sensing_start_keeps_the_measured_columns_whatever_the_correction() -> None:
    truth, measured, mask = _piecewise_constant_kspace()
    image = ifft2c(measured)
    x = torch.from_numpy(np.stack([image.real, image.imag], axis=1).astype(np.float32))
    model = _dc_model(start="cs-wavelet", start_params={"iterations": 20})
    randomise_zero_head(model)
    with torch.no_grad():
        k_out = fft2c(model.complex_output(x, torch.from_numpy(mask)).numpy())
    np.testing.assert_allclose(k_out[..., mask], measured[..., mask], rtol=0, atol=1e-4)
    assert np.abs(k_out[..., ~mask] - fft2c(truth)[..., ~mask]).max() > 1e-2  # the random correction is there


def test_a_compressed_sensing_start_refuses_bad_parameters() -> None:
    with pytest.raises(UsageError, match="lam"):
        build_model("recon_dc", 2, 1, **TINY_INNER, start="cs-tv", start_params={"lam": -1})
    with pytest.raises(UsageError, match="iterations"):
        build_model("recon_dc", 2, 1, **TINY_INNER, start="cs-tv", start_params={"iterations": 0})
    with pytest.raises(UsageError, match="cs-tv"):
        build_model("recon_dc", 2, 1, **TINY_INNER, start="cs-magic")
    with pytest.raises(ValueError, match="start_params apply to a compressed-sensing start"):
        build_model("recon_dc", 2, 1, **TINY_INNER, start_params={"lam": 0.01})


def test_multicoil_kspace_is_refused(tmp_path: Path, mr_volume) -> None:
    loaded = bundle_round_trip(_dc_model(), tmp_path / "dc", "dc-test", "reconstruction", representation="complex")
    kspace = np.stack([simulate_singlecoil_kspace(mr_volume(2, 32, 1.0), seed=s) for s in (1, 2)], axis=1)
    write_fastmri(tmp_path / "multi.h5", kspace)
    with pytest.raises(InputError, match="multi-coil"):
        reconstruct_fastmri(tmp_path / "multi.h5", loaded.model, loaded.card, options=CPU)


@pytest.mark.usefixtures("single_torch_thread")
def test_inference_runs_the_model_on_the_whole_kspace_grid_with_the_volume_mask(mr_volume, tmp_path: Path) -> None:
    """A trained-looking model: the result is |DC(x)| on the uncropped grid with the mask used, then cropped."""
    kspace = simulate_singlecoil_kspace(mr_volume(2, 32, 1.0), seed=4, kspace_shape=(48, 40))
    mask = np.zeros(40, dtype=bool)
    mask[::4], mask[18:22] = True, True
    model = _dc_model()
    randomise_zero_head(model)
    loaded = bundle_round_trip(model, tmp_path / "dc", "dc-test", "reconstruction", representation="complex")
    recon, zero_filled, _ = reconstruct_kspace(kspace, (32, 32), (0.5, 0.5), loaded.model, loaded.card, mask, CPU)
    full = ifft2c(kspace * mask)
    _, scale = loaded.card.contract.normalization.fit(center_crop(full, (32, 32)), True)
    x = torch.from_numpy(np.stack([full.real, full.imag], axis=1).astype(np.float32) / np.float32(scale))
    with torch.no_grad():
        expected = model(x, torch.from_numpy(mask))[:, 0].numpy() * np.float32(scale)
    np.testing.assert_allclose(recon, center_crop(expected, (32, 32)), rtol=1e-4, atol=1e-5)
    assert np.abs(recon - zero_filled).max() > 1e-3


def _training_config(tmp_path: Path, data: dict) -> object:
    return config_from_dict(
        {
            "task": "reconstruction",
            "model": {"name": "recon_dc", "overrides": TINY_INNER},
            "data": {"complex_input": True, "augment": {"probability": 0.5}, **data},
            "trainer": {"output_dir": str(tmp_path / "run")},
        }
    )


def _unmeasured_energy(sample) -> float:
    """Largest k-space magnitude of the sample's input on its unmeasured columns (0 when DC applies)."""
    image = sample.image[0].numpy() + 1j * sample.image[1].numpy()
    return float(np.abs(fft2c(image)[..., sample.mask.numpy() == 0]).max())


def test_mr_volume_training_samples_are_on_their_kspace_grid_with_their_mask(tmp_path: Path) -> None:
    """Windows are cut before the k-space simulation: the input is exactly zero-filled k-space of the mask."""
    rng = np.random.default_rng(2)
    root = tmp_path / "mr"
    root.mkdir()
    for index in range(3):
        volume = np.zeros((3, 40, 28), dtype=np.float32)
        volume[:, 6:34, 4:24] = 100.0 + 60.0 * rng.random((3, 28, 20), dtype=np.float32)
        sitk.WriteImage(sitk.GetImageFromArray(volume), str(root / f"subject{index}.nii.gz"))
    splits = build_datasets(
        _training_config(tmp_path, {"kind": "mr_volumes", "root": str(root), "size": [32, 32], "val_volumes": 1})
    )
    for dataset in (splits.train, splits.val):
        sample = dataset[0]
        assert sample.image.shape == (2, 32, 32) and sample.mask.shape == (32,)
        assert 0 < float(sample.mask.sum()) < 32
        assert _unmeasured_energy(sample) < 1e-4 * float(sample.image.abs().max())


def test_fastmri_training_samples_keep_the_whole_grid_and_the_module_crops(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    root = tmp_path / "fastmri"
    for folder, names in (("singlecoil_train", ["file1000001", "file1000002"]), ("singlecoil_val", ["file1000003"])):
        (root / folder).mkdir(parents=True)
        for name in names:
            magnitude = np.zeros((2, 48, 32), dtype=np.float32)
            magnitude[:, 12:36, 6:26] = 1.0 + rng.random((2, 24, 20), dtype=np.float32)
            kspace = simulate_singlecoil_kspace(magnitude, seed=int(rng.integers(1000)))
            write_fastmri(root / folder / f"{name}.h5", kspace, np.ascontiguousarray(center_crop(magnitude, (32, 32))))
    config = _training_config(tmp_path, {"kind": "fastmri", "root": str(root), "size": [32, 32]})
    splits = build_datasets(config)
    sample = splits.val[0]
    assert sample.image.shape == (2, 48, 32) and sample.target.shape == (1, 32, 32) and sample.mask.shape == (32,)
    assert _unmeasured_energy(sample) < 1e-4 * float(sample.image.abs().max())
    module = ReconstructionModule(config, 2, 1)
    batch = torch.utils.data.default_collate([splits.train[0], splits.train[1]])
    with torch.no_grad():
        output = module.network_output(batch)
        # untrained: the loss compares the cropped zero-filled magnitude with the target
        torch.testing.assert_close(output, center_crop(torch.hypot(batch.image[:, :1], batch.image[:, 1:]), (32, 32)))
    assert output.shape == batch.target.shape and torch.isfinite(module.compute_loss(output, batch))


# -- (c) bundle round trip ------------------------------------------------------------------------------------


def test_bundle_round_trip_gives_the_same_output(zero_filled_batch, tmp_path: Path) -> None:
    x, mask, _ = zero_filled_batch
    model = _dc_model()
    randomise_zero_head(model)
    loaded = bundle_round_trip(model, tmp_path / "dc", "dc-test", "reconstruction", representation="complex")
    card = json.loads((tmp_path / "dc" / "model_card.json").read_text())
    assert card["architecture"] == "recon_dc" and card["config"]["inner"] == "unet"
    assert card["in_channels"] == 2 and card["input"]["representation"] == "complex"
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x, mask), model(x, mask), rtol=0, atol=0)


# -- (d) train.py → bundle → condswin reconstruct -------------------------------------------------------------


@pytest.mark.usefixtures("single_torch_thread")
def test_train_py_exports_a_dc_bundle_the_cli_runs(tmp_path: Path, capsys) -> None:
    root = tmp_path / "mr"
    write_mr_subjects(root, 3)
    out = tmp_path / "run"
    argv = [
        "--config",
        str(ROOT / "Training" / "configs" / "recon_mr_volumes_cswin_dc.yaml"),
        "model.overrides={inner: unet, inner_config: {chans: 4, num_pool_layers: 2}}",
        f"data.root={root}",
        "data.val_volumes=1",
        "data.size=[32,32]",
        "trainer.max_epochs=1",
        "trainer.batch_size=4",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "trainer.precision=32-true",
        "data.workers=0",
        f"trainer.output_dir={out}",
    ]
    assert script_main("train")(argv) == 0, capsys.readouterr().err
    card = json.loads((out / "bundle" / "model_card.json").read_text())
    assert card["architecture"] == "recon_dc" and card["input"]["representation"] == "complex"
    assert {"val_nmse", "val_psnr", "val_ssim"} <= set(card["metrics"])

    result = tmp_path / "recon.nii.gz"
    source = root / "subject0.nii.gz"
    argv = ["reconstruct", str(source), str(result), "--model", str(out / "bundle"), "--progress", "none"]
    assert condswin_main(argv) == 0
    assert sitk.ReadImage(str(result)).GetSize() == sitk.ReadImage(str(source)).GetSize()
