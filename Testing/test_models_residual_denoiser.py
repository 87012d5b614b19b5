"""The denoising default ``residual_denoiser``: (a) untrained it is the identity, through the denoising job;
(b) it subtracts the noise its network predicts (the sign); (c) the estimated noise level reaches the network;
(d) its bundle round-trips; (e) ``data.noise: mixed`` draws both noise models in training and Rician in
evaluation; (f) ``Training/train.py`` trains it and ``condswin denoise --method BUNDLE`` runs the exported bundle.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from model_support import bundle_round_trip, randomise_zero_head, script_main, write_mr_subjects

from condswin.bundles import load_bundle, read_bundle
from condswin.cli import main as condswin_main
from condswin.errors import UsageError
from condswin.inference import InferenceOptions
from condswin.jobs import denoise
from condswin.models import build_model
from condswin.models.residual_denoiser import haar_noise_level
from condswin.mri.noise import add_rician
from condswin.training.config import config_from_dict
from condswin.training.data import mr_denoising

ROOT = Path(__file__).resolve().parents[1]
TINY_INNER = {"inner": "unet", "inner_config": {"chans": 4, "num_pool_layers": 2}}
CPU = InferenceOptions(device="cpu", batch_size=2)


def _model(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("residual_denoiser", **{**TINY_INNER, **overrides}).eval()


# -- (a) untrained = identity ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("single_torch_thread")
@pytest.mark.parametrize(("space_to_depth", "sigma_input"), [(1, False), (2, True)])
def test_untrained_model_returns_its_input_through_the_denoising_job(
    mr_volume, tmp_path: Path, space_to_depth: int, sigma_input: bool
) -> None:
    clean = mr_volume(3, 40, 100.0)[:, :, 2:37].copy()  # 40 x 35: odd width, padded for the 2x2 blocks
    noisy = add_rician(clean, 0.05, seed=1)
    image = sitk.GetImageFromArray(noisy)
    image.SetSpacing((0.9, 1.1, 4.0))
    image.SetOrigin((1.0, -2.0, 3.0))
    loaded = bundle_round_trip(
        _model(space_to_depth=space_to_depth, sigma_input=sigma_input),
        tmp_path / "residual",
        "residual-test",
        "denoising",
    )
    result = denoise(image, loaded, CPU)
    np.testing.assert_allclose(sitk.GetArrayFromImage(result.output), noisy, rtol=1e-5, atol=1e-4)
    assert result.output.GetSpacing() == image.GetSpacing() and result.output.GetOrigin() == image.GetOrigin()
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(image), noisy)  # the input is untouched


@pytest.mark.usefixtures("single_torch_thread")
def test_a_magnitude_image_stays_non_negative_through_the_denoising_job(mr_volume, tmp_path: Path) -> None:
    """A network that subtracts too much leaves values below zero: a magnitude input (none below zero) gets them
    back as zero; an input with negative values of its own is left to the network."""
    model = _model()
    with torch.no_grad():
        model.net.head.bias.fill_(0.3)  # predicts a noise of 0.3 (normalised units) everywhere: too much in the air
    loaded = bundle_round_trip(model, tmp_path / "residual", "residual-test", "denoising")
    clean = mr_volume(3, 40, 100.0)
    magnitude = sitk.GetImageFromArray(add_rician(clean, 0.05, seed=1))
    raw = sitk.GetArrayFromImage(denoise(magnitude, loaded, CPU).output)
    assert raw.min() == 0 and (raw == 0).mean() > 0.05
    shifted = sitk.GetImageFromArray(add_rician(clean, 0.05, seed=1) - 10.0)
    assert sitk.GetArrayFromImage(denoise(shifted, loaded, CPU).output).min() < -10.0


# -- (b) the sign: output = input - predicted noise ----------------------------------------------------------------


def test_output_is_the_input_minus_the_predicted_noise() -> None:
    model = _model()
    with torch.no_grad():
        model.net.head.bias.fill_(0.25)  # the network now "sees" a noise of +0.25 everywhere
    x = torch.rand(2, 1, 36, 30)
    with torch.no_grad():
        torch.testing.assert_close(model(x), x - 0.25)
        randomise_zero_head(model)
        torch.testing.assert_close(model(x), x - model.predicted_noise(x))


# -- (c) the noise level channel ---------------------------------------------------------------------------------


def test_haar_noise_level_measures_white_noise_on_a_smooth_image() -> None:
    generator = torch.Generator().manual_seed(0)
    ramp = torch.linspace(0, 1, 128).view(1, 1, 1, -1).expand(2, 1, 128, 128)
    sigma = torch.tensor([0.02, 0.1]).view(2, 1, 1, 1)
    level = haar_noise_level(ramp + sigma * torch.randn(2, 1, 128, 128, generator=generator))
    torch.testing.assert_close(level, sigma.flatten(), rtol=0.05, atol=0.0)


def test_the_network_is_given_the_noise_level_of_its_input() -> None:
    model = _model(sigma_input=True)
    seen: list[torch.Tensor] = []
    model.net.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    x = torch.rand(2, 1, 32, 32) * torch.tensor([1.0, 3.0]).view(2, 1, 1, 1)
    model(x)
    blocks = seen[0]
    assert blocks.shape == (2, 5, 16, 16)  # 4 pixels of each 2x2 block + the level
    torch.testing.assert_close(blocks[:, :4], torch.nn.functional.pixel_unshuffle(x, 2))
    level = haar_noise_level(x)
    assert level[1] > 2 * level[0]
    torch.testing.assert_close(blocks[:, 4], level.view(2, 1, 1).expand(2, 16, 16))
    without = _model(sigma_input=False)
    seen.clear()
    without.net.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    without(x)
    assert seen[0].shape == (2, 4, 16, 16)


def test_noise_units_scale_the_predicted_noise_with_the_slice_noise_level() -> None:
    """Instance norm makes the inner U-Net's output the same for x and 3x; with ``noise_units`` the predicted
    noise follows the input's own noise level (the Haar estimate over 0.05), so 3x gets 3 times the noise."""
    x = torch.rand(2, 1, 32, 32)
    blind = _model()
    randomise_zero_head(blind)
    units = _model(noise_units=True)
    units.load_state_dict(blind.state_dict())  # the same network, only the scaling differs
    with torch.no_grad():
        torch.testing.assert_close(blind.predicted_noise(3 * x), blind.predicted_noise(x), rtol=1e-2, atol=1e-3)
        scale = (haar_noise_level(x) / 0.05).view(2, 1, 1, 1)
        torch.testing.assert_close(units.predicted_noise(x), blind.predicted_noise(x) * scale, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(units.predicted_noise(3 * x), 3 * units.predicted_noise(x), rtol=1e-2, atol=3e-3)


def test_config_refuses_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="one magnitude channel"):
        build_model("residual_denoiser", 2, 1)
    with pytest.raises(ValueError, match="space_to_depth"):
        build_model("residual_denoiser", space_to_depth=0)
    with pytest.raises(ValueError, match="cannot itself"):
        build_model("residual_denoiser", inner="residual_denoiser")
    with pytest.raises(UsageError, match="unknown config"):
        build_model("residual_denoiser", inner_config={"no_such_key": 1})
    with pytest.raises(ValueError, match="too small"):
        _model(space_to_depth=4)(torch.rand(1, 1, 6, 40))


# -- (c2) the air gate: a learned factor in [0, 1] on the denoised image -------------------------------------------


def test_an_untrained_gate_lets_the_denoised_image_through() -> None:
    plain, gated = _model(), _model(air_gate=True)
    randomise_zero_head(plain)
    gated.load_state_dict(plain.state_dict(), strict=False)  # the same inner network; the gate is new
    x = torch.rand(2, 1, 36, 30)
    with torch.no_grad():
        torch.testing.assert_close(gated(x), plain(x), rtol=0, atol=0)


def test_the_gate_multiplies_the_denoised_image_and_learns() -> None:
    model = _model(air_gate=True)
    randomise_zero_head(model)
    x = torch.rand(2, 1, 36, 30)
    last = model.gate.layers[-1]
    with torch.no_grad():
        denoised = x - model.predicted_noise(x)
        last.bias.fill_(-40.0)  # closed: a flat zero
        assert model(x).abs().max() == 0
        last.bias.fill_(40.0)  # open: the plain residual output
        torch.testing.assert_close(model(x), denoised)
        last.bias.fill_(-0.5)  # half open: the factor responds linearly
    model(x).sum().backward()
    assert last.weight.grad is not None and last.weight.grad.abs().sum() > 0


def test_the_gate_sees_the_denoised_image_in_units_of_the_noise_level() -> None:
    """Scaling a slice scales its noise level alike: the gate's factors stay the same, so "air" means a few
    noise levels, whatever the intensity units."""
    model = _model(air_gate=True)
    torch.manual_seed(1)
    for layer in model.gate.layers:
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.normal_(layer.weight, std=0.5)
    x = torch.rand(2, 1, 32, 32)
    blocks = torch.nn.functional.pixel_unshuffle(x, 2)
    with torch.no_grad():
        level = haar_noise_level(x)
        torch.testing.assert_close(model.gate(7 * blocks, 7 * level), model.gate(blocks, level))
        assert not torch.allclose(model.gate(blocks, 3 * level), model.gate(blocks, level))


def test_a_new_context_branch_and_floor_change_nothing() -> None:
    """A gate that gains the dilated branch and the floor (both starting at zero) is the gate it was."""
    plain, wider = _model(air_gate=True), _model(air_gate=True, gate_context=True, air_floor=True)
    randomise_zero_head(plain)
    with torch.no_grad():
        plain.gate.layers[-1].weight.normal_(std=0.5)
    missing = wider.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith(("gate.context.", "gate.floor")) for k in missing)
    x = torch.rand(2, 1, 36, 30)
    with torch.no_grad():
        torch.testing.assert_close(wider(x), plain(x), rtol=0, atol=0)


def test_closed_pixels_take_the_learned_floor() -> None:
    """Where the gate closes the output is a + b·level (flat), where it is open the denoised image, and both
    floor parameters learn."""
    model = _model(air_gate=True, air_floor=True)
    randomise_zero_head(model)
    x = torch.rand(2, 1, 36, 30)
    last = model.gate.layers[-1]
    with torch.no_grad():
        denoised = x - model.predicted_noise(x)
        model.gate.floor.copy_(torch.tensor([0.3, 2.0]))
        last.bias.fill_(-40.0)
        level = haar_noise_level(x).view(-1, 1, 1, 1)
        torch.testing.assert_close(model(x), (0.3 + 2.0 * level).expand_as(x))
        last.bias.fill_(40.0)
        torch.testing.assert_close(model(x), denoised)
        last.bias.fill_(-0.5)
    model(x).sum().backward()
    assert model.gate.floor.grad is not None and (model.gate.floor.grad != 0).all()


def test_the_floor_never_goes_below_zero_and_can_rise_from_it() -> None:
    """A floor learned below zero gives closed pixels zero (never a negative magnitude); a floor at its start
    (exactly zero) still gets a gradient, so it can rise."""
    model = _model(air_gate=True, air_floor=True)
    randomise_zero_head(model)
    x = torch.rand(2, 1, 36, 30)
    last = model.gate.layers[-1]
    with torch.no_grad():
        last.bias.fill_(-40.0)  # every pixel closed
        model.gate.floor.copy_(torch.tensor([-0.03, -0.1]))
        torch.testing.assert_close(model(x), torch.zeros_like(x))
        model.gate.floor.zero_()
    (-model(x).sum()).backward()  # a loss that wants a higher floor
    assert model.gate.floor.grad is not None and (model.gate.floor.grad < 0).all()


def test_the_context_branch_lets_the_gate_see_far() -> None:
    """A change 12 blocks away moves the factor of the middle block with the dilated branch, not without it."""
    torch.manual_seed(3)
    model = _model(air_gate=True, gate_context=True)
    for layer in [*model.gate.layers, *model.gate.context]:
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.normal_(layer.weight, std=0.2)
    with torch.no_grad():
        model.gate.layers[-1].bias.fill_(-0.5)  # half open, away from the clamps
    blocks, level = torch.rand(1, 4, 64, 64), torch.tensor([1.0])  # inside the clamp of ±10 levels
    moved = blocks.clone()
    moved[..., 32, 20] += 1.0  # 12 blocks left of the middle
    with torch.no_grad():
        assert model.gate(moved, level)[..., 32, 32].ne(model.gate(blocks, level)[..., 32, 32]).any()
        model.gate.context = None
        torch.testing.assert_close(model.gate(moved, level)[..., 32, 32], model.gate(blocks, level)[..., 32, 32])


def test_context_and_floor_need_the_gate() -> None:
    for part in ("gate_context", "air_floor"):
        with pytest.raises((UsageError, ValueError), match="air_gate"):
            _model(**{part: True})


# -- (c3) the refiner: full-resolution edge detail put back ------------------------------------------------------


def test_an_untrained_refiner_changes_nothing() -> None:
    plain, refined = _model(air_gate=True), _model(air_gate=True, refiner=6)
    randomise_zero_head(plain)
    with torch.no_grad():
        plain.gate.layers[-1].weight.normal_(std=0.5)
    refined.load_state_dict(plain.state_dict(), strict=False)  # the same network and gate; the refiner is new
    x = torch.rand(2, 1, 36, 30)
    with torch.no_grad():
        torch.testing.assert_close(refined(x), plain(x), rtol=0, atol=0)


def test_the_refiner_adds_its_correction_in_noise_levels_before_the_gate() -> None:
    """y + level · r on the full-resolution grid: a constant r = 1 raises every pixel by the slice's noise level."""
    model = _model(refiner=6)
    randomise_zero_head(model)
    x = torch.rand(2, 1, 36, 30)
    last = model.refiner.layers[-1]
    with torch.no_grad():
        denoised = x - model.predicted_noise(x)
        last.bias.fill_(1.0)
        level = haar_noise_level(x).view(-1, 1, 1, 1)
        torch.testing.assert_close(model(x), denoised + level)
        last.bias.zero_()
        last.weight.normal_(std=0.5)
        assert not torch.allclose(model(x), denoised)
    model(x).sum().backward()
    assert model.refiner.layers[0].weight.grad is not None and model.refiner.layers[0].weight.grad.abs().sum() > 0


def test_the_refiner_sees_what_was_removed_in_units_of_the_noise_level() -> None:
    """The removed part enters in noise levels: scaling it and the level alike changes nothing."""
    from condswin.models.detail_refiner import DetailRefiner

    torch.manual_seed(2)
    refiner = DetailRefiner(6)
    for layer in refiner.layers:
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.normal_(layer.weight, std=0.5)
    denoised, removed, level = torch.rand(2, 1, 20, 20), 0.03 * torch.randn(2, 1, 20, 20), torch.tensor([0.03, 0.05])
    with torch.no_grad():
        once = refiner(denoised + removed, denoised, level) - denoised
        thrice = refiner(denoised + 3 * removed, denoised, 3 * level) - denoised
        torch.testing.assert_close(thrice, 3 * once)


def test_the_refiner_width_is_checked() -> None:
    for bad in (-1, True, 2.5):
        with pytest.raises((UsageError, ValueError), match="refiner"):
            _model(refiner=bad)


# -- (d) bundle round trip ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sigma_input", "noise_units", "air_gate", "refiner", "wide_gate"),
    [
        (False, False, False, 0, False),
        (True, False, False, 0, False),
        (False, True, True, 0, False),
        (False, True, True, 4, False),
        (False, True, True, 0, True),
    ],
)
def test_bundle_round_trip_gives_the_same_output(
    tmp_path: Path, sigma_input: bool, noise_units: bool, air_gate: bool, refiner: int, wide_gate: bool
) -> None:
    model = _model(
        sigma_input=sigma_input,
        noise_units=noise_units,
        air_gate=air_gate,
        refiner=refiner,
        gate_context=wide_gate,
        air_floor=wide_gate,
    )
    randomise_zero_head(model)
    if air_gate:
        with torch.no_grad():
            model.gate.layers[-1].weight.normal_(std=0.5)  # a gate that is no longer uniform
            if wide_gate:
                model.gate.context[-1].weight.normal_(std=0.5)
                model.gate.floor.copy_(torch.tensor([0.02, 0.5]))
    if refiner:
        with torch.no_grad():
            model.refiner.layers[-1].weight.normal_(std=0.5)  # a refiner that corrects
    loaded = bundle_round_trip(model, tmp_path / "residual", "residual-test", "denoising")
    card = json.loads((tmp_path / "residual" / "model_card.json").read_text())
    assert card["architecture"] == "residual_denoiser" and card["config"]["inner_config"] == TINY_INNER["inner_config"]
    assert loaded.model.config.sigma_input is sigma_input and loaded.model.config.noise_units is noise_units
    assert loaded.model.config.air_gate is air_gate and loaded.model.config.refiner == refiner
    assert loaded.model.config.gate_context is wide_gate and loaded.model.config.air_floor is wide_gate
    x = torch.rand(2, 1, 33, 40)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), model(x), rtol=0, atol=0)


# -- (e) mixed noise ---------------------------------------------------------------------------------------------


def test_mixed_noise_draws_both_models_in_training_and_rician_in_evaluation(tmp_path: Path, monkeypatch) -> None:
    write_mr_subjects(tmp_path / "mr", 3)
    data = {"kind": "mr_volumes", "root": str(tmp_path / "mr"), "val_volumes": 1, "size": [32, 32], "noise": "mixed"}
    config = config_from_dict({"task": "denoising", "data": data, "trainer": {"output_dir": str(tmp_path / "run")}})
    kinds: list[str] = []
    real_add_noise = mr_denoising.add_noise
    monkeypatch.setattr(
        mr_denoising, "add_noise", lambda clean, kind, *args: kinds.append(kind) or real_add_noise(clean, kind, *args)
    )
    splits = mr_denoising.build_mr_denoising(config)
    assert set(kinds) == {"rician"}  # the validation volume, noised once when the split is built
    kinds.clear()
    for index in range(40):
        splits.val[index % len(splits.val)]
    assert set(kinds) == {"rician"}
    kinds.clear()
    for index in range(40):
        splits.train[index % len(splits.train)]
    assert set(kinds) == {"rician", "gaussian"}
    assert "Rician or Gaussian" in splits.description and "also training volumes" not in splits.description


def test_a_validation_volume_that_is_also_trained_on_is_named_in_the_description(tmp_path: Path) -> None:
    write_mr_subjects(tmp_path / "mr", 2)
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "again.nii.gz").symlink_to(tmp_path / "mr" / "subject1.nii.gz")
    data = {"kind": "mr_volumes", "root": str(tmp_path / "mr"), "val_root": str(tmp_path / "val"), "size": [32, 32]}
    config = config_from_dict({"task": "denoising", "data": data, "trainer": {"output_dir": str(tmp_path / "run")}})
    description = mr_denoising.build_mr_denoising(config).description
    assert "validation volume(s) again.nii.gz are also training volumes" in description


def _floor_splits(tmp_path: Path, floor: list[float] | None, with_floor_of_its_own: bool = False):
    tmp_path.mkdir(exist_ok=True)
    root = tmp_path / "mr"
    write_mr_subjects(root, 3)  # a textured block on an exactly zero background
    if with_floor_of_its_own:  # a real-looking volume: its air holds a floor already
        volume = np.full((3, 36, 28), 2.0, dtype=np.float32) + np.random.default_rng(5).random((3, 36, 28))
        volume[:, 6:30, 5:23] = 150.0
        sitk.WriteImage(sitk.GetImageFromArray(volume), str(root / "subject9.nii.gz"))
    data = {"kind": "mr_volumes", "root": str(root), "val_volumes": 1, "size": [36, 28], "scanner_floor": floor}
    data["val_sigmas"] = [0.02]
    config = config_from_dict({"task": "denoising", "data": data, "trainer": {"output_dir": str(tmp_path / "run")}})
    return mr_denoising.build_mr_denoising(config)


def _clean_background(sample) -> np.ndarray:
    clean = sample.target[0].numpy() * sample.scale + sample.offset
    background = np.ones(clean.shape, dtype=bool)
    background[6:30, 5:23] = False
    return clean[background]


def test_the_scanner_floor_gives_a_zero_background_its_rician_floor(tmp_path: Path) -> None:
    """Validation: σ0 the range's middle, the same on every read; the clean air then averages σ0·√(π/2) of the
    maximum (a Rayleigh mean) instead of zero; training: σ0 drawn per sample."""
    plain = _floor_splits(tmp_path / "plain", None)
    np.testing.assert_allclose(_clean_background(plain.val[0]), 0.0, atol=1e-3)
    floored = _floor_splits(tmp_path / "floored", [0.01, 0.03])
    maximum = floored.val.volumes[0].maximum
    first, again = _clean_background(floored.val[0]), _clean_background(floored.val[0])
    np.testing.assert_array_equal(first, again)
    assert first.mean() == pytest.approx(0.02 * maximum * np.sqrt(np.pi / 2), rel=0.15)
    assert "noise floor of sigma0 in [0.01, 0.03]" in floored.description
    means = [_clean_background(floored.train[i % len(floored.train)]).mean() for i in range(12)]
    assert min(means) > 0 and max(means) > 1.5 * min(means)


def test_only_volumes_with_an_exactly_zero_background_get_the_floor(tmp_path: Path) -> None:
    splits = _floor_splits(tmp_path, [0.01, 0.03], with_floor_of_its_own=True)
    own = [i for i, v in enumerate(splits.train.volumes) if v.volume_id.startswith("subject9")]
    zero = [i for i, v in enumerate(splits.train.volumes) if not v.volume_id.startswith("subject9")]
    assert own and zero
    assert not any(splits.train.floorless[i] for i in own) and all(splits.train.floorless[i] for i in zero)


def test_the_scanner_floor_range_is_checked(tmp_path: Path) -> None:
    for bad in ([0.03, 0.01], [-0.01, 0.02], [0.0, 0.5]):
        with pytest.raises(UsageError, match="scanner_floor"):
            config_from_dict(
                {"task": "denoising", "data": {"kind": "mr_volumes", "root": str(tmp_path), "scanner_floor": bad}}
            )


# -- (f) train.py → bundle → condswin denoise --------------------------------------------------------------------


@pytest.mark.usefixtures("single_torch_thread")
def test_train_py_exports_a_residual_bundle_the_cli_runs(tmp_path: Path, capsys) -> None:
    root = tmp_path / "mr"
    write_mr_subjects(root, 3)
    out = tmp_path / "run"
    argv = [
        "--config",
        str(ROOT / "Training" / "configs" / "denoise_mr_default.yaml"),
        "model.overrides={inner: unet, inner_config: {chans: 4, num_pool_layers: 2}}",
        f"data.root={root}",
        "data.val_root=null",
        "data.val_volumes=1",
        "data.size=[32,32]",
        "trainer.max_steps=-1",
        "trainer.max_epochs=1",
        "trainer.val_every=1",
        "trainer.batch_size=4",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "trainer.precision=32-true",
        "data.workers=0",
        f"trainer.output_dir={out}",
    ]
    assert script_main("train")(argv) == 0, capsys.readouterr().err
    card = json.loads((out / "bundle" / "model_card.json").read_text())
    assert card["architecture"] == "residual_denoiser" and card["config"]["inner_config"]["chans"] == 4
    assert load_bundle(read_bundle(out / "bundle")).model.config.space_to_depth == 2  # the config's design, restored
    assert {"val_psnr", "val_ssim"} <= set(card["metrics"])

    result = tmp_path / "denoised.nii.gz"
    source = root / "subject0.nii.gz"
    argv = ["denoise", str(source), str(result), "--method", str(out / "bundle"), "--progress", "none"]
    assert condswin_main(argv) == 0
    assert sitk.ReadImage(str(result)).GetSize() == sitk.ReadImage(str(source)).GetSize()
