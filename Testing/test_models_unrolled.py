"""The unrolled reconstruction (:mod:`condswin.models.unrolled`): K cascades of residual refinement + data
consistency.

(a) untrained, it *is* the zero-filled reconstruction (bit for bit, and through the jobs);
(b) with any refinement, the measured k-space columns of its output are the measured data, every cascade
    restores them with the toolkit's data consistency, and each cascade refines the previous one's output;
(c) its bundle round-trips (shared and separate weights); (d) ``Training/train.py`` trains it from its config,
    ``condswin reconstruct`` and ``Training/evaluate.py`` run the bundle, and ``--init-from`` fine-tunes it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from model_support import bundle_round_trip, randomise_zero_head, script_main, write_mr_subjects

from condswin.cli import main as condswin_main
from condswin.errors import UsageError
from condswin.inference import InferenceOptions
from condswin.jobs import reconstruct_image
from condswin.models import build_model
from condswin.models.data_consistency import MaskBound, is_data_consistent
from condswin.mri import kspace as kspace_module
from condswin.mri.fft import fft2c, ifft2c
from condswin.mri.kspace import data_consistency, simulate_singlecoil_kspace
from condswin.mri.masks import MaskSpec

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "Training" / "configs" / "recon_unrolled_cswin.yaml"
TINY = {"inner": "unet", "inner_config": {"chans": 4, "num_pool_layers": 2}, "cascades": 3}
CPU = InferenceOptions(device="cpu", batch_size=2)


def _unrolled(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("recon_unrolled", 2, 1, **{**TINY, **overrides}).eval()


def _trained_looking(**overrides) -> torch.nn.Module:
    model = _unrolled(**overrides)
    randomise_zero_head(model)
    return model


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


@pytest.mark.parametrize("share_weights", [False, True])
def test_untrained_model_returns_the_zero_filled_image_bit_for_bit(zero_filled_batch, share_weights) -> None:
    x, mask, _ = zero_filled_batch
    model = _unrolled(
        inner="cswin_light_1l",
        inner_config={"embed_dim": 16, "mlp_hidden": 32, "window_size": 4, "num_heads": [2, 4]},
        share_weights=share_weights,
    )
    with torch.no_grad():
        assert torch.equal(model.complex_output(x, mask), torch.complex(x[:, 0], x[:, 1]))
        assert torch.equal(model(x, mask)[:, 0], torch.complex(x[:, 0], x[:, 1]).abs())


@pytest.mark.usefixtures("single_torch_thread")
def test_untrained_model_is_zero_filled_through_the_job(mr_volume, tmp_path: Path) -> None:
    loaded = bundle_round_trip(_unrolled(), tmp_path / "u", "unrolled-test", "reconstruction", representation="complex")
    image = sitk.GetImageFromArray(mr_volume(3, 30, 100.0)[:, :, 1:29].copy())  # 30 x 28: not a multiple of 4
    image.SetSpacing((0.9, 1.1, 4.0))
    model = reconstruct_image(image, loaded, CPU, mask=MaskSpec(acceleration=4, seed=2), phase_seed=5)
    baseline = reconstruct_image(image, None, mask=MaskSpec(acceleration=4, seed=2), phase_seed=5)
    np.testing.assert_allclose(
        sitk.GetArrayFromImage(model.output), sitk.GetArrayFromImage(baseline.output), rtol=1e-5, atol=1e-4
    )
    scores = model.report["metrics"]
    assert scores["model"]["psnr"] == pytest.approx(scores["zero_filled"]["psnr"], abs=1e-3)


# -- (b) data consistency -------------------------------------------------------------------------------------


@pytest.mark.parametrize("share_weights", [False, True])
def test_measured_columns_are_the_measured_data_whatever_the_refinement(zero_filled_batch, share_weights) -> None:
    x, mask, measured = zero_filled_batch
    sampled = mask.numpy()
    model = _trained_looking(share_weights=share_weights)
    with torch.no_grad():
        k_out = fft2c(model.complex_output(x, mask).numpy())
    scale = np.abs(measured).max()
    np.testing.assert_allclose(k_out[..., sampled], measured[..., sampled], rtol=0, atol=1e-5 * scale)
    assert np.abs(k_out[..., ~sampled]).max() > 1e-2 * scale  # the unmeasured columns were filled in


def test_every_cascade_restores_the_measured_lines_and_refines_the_previous_estimate(
    zero_filled_batch, monkeypatch
) -> None:
    """Each cascade runs its own network on the previous cascade's output, then the toolkit's hard replacement:
    on every measured line the refinement's k-space becomes the measurement there (nothing, since the estimate
    already holds the data), bit for bit; every other line is the network's."""
    x, mask, _ = zero_filled_batch
    model = _trained_looking()
    steps, inputs = [], []

    def recorded(predicted, measured, columns, noise_lambda=None):
        steps.append((predicted, measured, result := data_consistency(predicted, measured, columns, noise_lambda)))
        return result

    monkeypatch.setattr(kspace_module, "data_consistency", recorded)
    for net in model.inner_networks():
        net.register_forward_pre_hook(lambda module, args: inputs.append((module, args[0].clone())))
    with torch.no_grad():
        y = model.complex_output(x, mask)
    assert len(steps) == len(inputs) == 3, "one data-consistency step per cascade"
    assert [module for module, _ in inputs] == model.inner_networks()  # one network per cascade, in order
    estimate = torch.complex(x[:, 0], x[:, 1])
    for (_, seen), (predicted, measured, kept) in zip(inputs, steps, strict=True):
        assert torch.equal(seen, torch.stack([estimate.real, estimate.imag], dim=1))  # the previous estimate
        assert torch.equal(kept[..., mask], measured[..., mask])
        assert torch.equal(kept[..., ~mask], predicted[..., ~mask]) and kept[..., ~mask].abs().max() > 1e-2
        estimate = estimate + ifft2c(kept)
    assert torch.equal(y, estimate)  # the output is the last cascade's estimate


def test_shared_weights_run_one_network_in_every_cascade() -> None:
    separate, shared = _unrolled(), _unrolled(share_weights=True)
    assert len(separate.inner_networks()) == 3 and len(shared.inner_networks()) == 1
    assert len(shared.cascade_networks()) == 3 and len({id(net) for net in shared.cascade_networks()}) == 1
    count = sum(p.numel() for p in shared.parameters())
    assert sum(p.numel() for p in separate.parameters()) == 3 * count


def test_per_sample_masks_and_a_bound_mask_agree(zero_filled_batch) -> None:
    x, mask, _ = zero_filled_batch
    model = _trained_looking()
    assert is_data_consistent("recon_unrolled") and is_data_consistent(model)
    with torch.no_grad():
        shared = model(x, mask)
        torch.testing.assert_close(model(x, mask.expand(2, -1)), shared)
        torch.testing.assert_close(MaskBound(model, mask.numpy()).eval()(x), shared)
        with pytest.raises(ValueError, match="recon_unrolled: column mask"):
            model(x, mask[:-1])


def test_config_refuses_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="in_channels 2"):
        build_model("recon_unrolled", 1, 1, **TINY)
    with pytest.raises(ValueError, match="cascades must be a positive integer"):
        build_model("recon_unrolled", 2, 1, **{**TINY, "cascades": 0})
    with pytest.raises(UsageError, match="recon_unrolled: cascades is 17; at most 16"):
        with torch.device("meta"):
            build_model("recon_unrolled", 2, 1, **{**TINY, "cascades": 17})
    with pytest.raises(ValueError, match="share_weights must be true or false"):
        build_model("recon_unrolled", 2, 1, **{**TINY, "share_weights": "yes"})
    with pytest.raises(UsageError, match="model name"):
        build_model("recon_unrolled", 2, 1, inner="no_such_net")
    for inner in ("recon_dc", "recon_unrolled"):
        with pytest.raises(ValueError, match="cannot itself be"):
            build_model("recon_unrolled", 2, 1, inner=inner)
    with pytest.raises(ValueError, match="cannot itself be"):
        build_model("recon_dc", 2, 1, inner="recon_unrolled")


# -- (c) bundle round trip ------------------------------------------------------------------------------------


@pytest.mark.parametrize("share_weights", [False, True])
def test_bundle_round_trip_gives_the_same_output(zero_filled_batch, tmp_path: Path, share_weights) -> None:
    x, mask, _ = zero_filled_batch
    model = _trained_looking(share_weights=share_weights)
    loaded = bundle_round_trip(model, tmp_path / "u", "unrolled-test", "reconstruction", representation="complex")
    card = json.loads((tmp_path / "u" / "model_card.json").read_text())
    assert card["architecture"] == "recon_unrolled" and card["config"]["cascades"] == 3
    assert card["config"].get("share_weights", False) is share_weights
    assert card["in_channels"] == 2 and card["input"]["representation"] == "complex"
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x, mask), model(x, mask), rtol=0, atol=0)


# -- (d) train.py → bundle → condswin reconstruct, evaluate.py, --init-from -----------------------------------

TRAIN_ARGS = [
    "model.overrides={inner: unet, inner_config: {chans: 4, num_pool_layers: 2}, cascades: 2}",
    "data.val_volumes=1",
    "data.size=[32,32]",
    "trainer.batch_size=4",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "trainer.precision=32-true",
    "data.workers=0",
]


@pytest.mark.usefixtures("single_torch_thread")
def test_train_py_exports_an_unrolled_bundle_that_the_cli_evaluation_and_fine_tuning_use(
    tmp_path: Path, capsys
) -> None:
    root = tmp_path / "mr"
    write_mr_subjects(root, 3)
    out = tmp_path / "run"
    train = script_main("train")
    argv = ["--config", str(CONFIG), *TRAIN_ARGS, f"data.root={root}", "trainer.max_epochs=1"]
    assert train([*argv, f"trainer.output_dir={out}"]) == 0, capsys.readouterr().err
    card = json.loads((out / "bundle" / "model_card.json").read_text())
    assert card["architecture"] == "recon_unrolled" and card["input"]["representation"] == "complex"
    assert card["config"]["cascades"] == 2 and card["config"]["inner"] == "unet"
    assert {"val_nmse", "val_psnr", "val_ssim"} <= set(card["metrics"])

    result = tmp_path / "recon.nii.gz"
    source = root / "subject0.nii.gz"
    cli = ["reconstruct", str(source), str(result), "--model", str(out / "bundle"), "--progress", "none"]
    assert condswin_main(cli) == 0
    assert sitk.ReadImage(str(result)).GetSize() == sitk.ReadImage(str(source)).GetSize()

    scores = tmp_path / "scores"
    evaluate = ["--task", "reconstruction", "--data", str(root), "--model", str(out / "bundle"),
                "--baseline", "zero-filled", "--acceleration", "4", "--out", str(scores), "--montage-cases", "0"]  # fmt: skip
    assert script_main("evaluate")(evaluate) == 0, capsys.readouterr().err
    with (scores / "metrics.csv").open(newline="") as handle:
        methods = {row["method"] for row in csv.DictReader(handle)}
    assert methods == {"zero-filled", card["id"]}

    tuned = tmp_path / "tuned"
    fine_tune = [*argv, "trainer.max_steps=2", f"trainer.output_dir={tuned}", "--init-from", str(out / "bundle")]
    assert train(fine_tune) == 0, capsys.readouterr().err
    runs = json.loads((tuned / "bundle" / "model_card.json").read_text())["training"]["lineage"]["runs"]
    assert len(runs) == 2 and runs[1]["init_from"].startswith(card["id"])
