"""Losses: masked pixel losses, fastMRI SSIM against scikit-image, Dice + CE, VGG16 perceptual loss with
a local weights file written by the test (torchvision key names, no torchvision import), build_loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity

from condswin.losses import (
    DiceCrossEntropyLoss,
    SSIML1Loss,
    SSIMLoss,
    VGGPerceptualLoss,
    WeightsNotFoundError,
    build_loss,
    foreground_mask,
    list_losses,
    masked_l1_loss,
    masked_mse_loss,
    ssim_map,
)
from condswin.losses.perceptual import WEIGHTS_ENV_VAR
from condswin.training.config import config_from_dict
from condswin.training.data.samples import SliceSample
from condswin.training.modules.denoising import DenoisingModule, noise_level_weights
from condswin.training.modules.image import ssim_data_range


def test_masked_losses_average_over_the_mask_only():
    pred, target = torch.randn(2, 1, 8, 9), torch.randn(2, 1, 8, 9)
    mask = torch.rand(2, 1, 8, 9) > 0.6
    diff = (pred - target).numpy()[mask.numpy()]
    assert np.isclose(masked_mse_loss(pred, target, mask).item(), np.mean(diff**2), rtol=1e-5)
    assert np.isclose(masked_l1_loss(pred, target, mask).item(), np.mean(np.abs(diff)), rtol=1e-5)
    # Errors outside the mask do not count.
    noisy_outside = torch.where(mask, pred, pred + 100.0)
    assert torch.isclose(masked_mse_loss(noisy_outside, target, mask), masked_mse_loss(pred, target, mask))
    # A per-sample (B, 1, 1, 1) mask broadcasts; weights act as weights.
    sample_mask = torch.tensor([1.0, 0.0]).view(2, 1, 1, 1)
    assert torch.isclose(masked_mse_loss(pred, target, sample_mask), F.mse_loss(pred[:1], target[:1]))
    assert torch.isclose(masked_mse_loss(pred, target), F.mse_loss(pred, target))


def test_masked_loss_empty_mask_and_bad_mask():
    pred = torch.randn(1, 1, 4, 4, requires_grad=True)
    loss = masked_mse_loss(pred, torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(pred.grad).all()
    with pytest.raises(ValueError, match="does not broadcast"):
        masked_l1_loss(pred, pred.detach(), torch.ones(3, 4))
    with pytest.raises(ValueError, match="differ in shape"):
        masked_mse_loss(pred, torch.zeros(1, 1, 4, 5))
    with pytest.raises(ValueError, match="non-negative"):
        masked_mse_loss(pred, pred.detach(), -torch.ones(1, 1, 4, 4))


def test_foreground_mask_is_relative_to_each_sample():
    image = torch.zeros(2, 1, 4, 4)
    image[0, 0, 1, 1], image[0, 0, 2, 2] = 10.0, 0.2
    image[1, 0, 0, 0], image[1, 0, 3, 3] = 1.0, 0.2
    mask = foreground_mask(image, relative_threshold=0.1)
    assert mask[0].sum() == 1 and mask[1].sum() == 2


@pytest.mark.parametrize("shape,noise", [((48, 40), 0.1), ((32, 33), 0.5), ((64, 64), 0.02)])
def test_ssim_loss_matches_skimage(shape, noise):
    rng = np.random.default_rng(3)
    gt = np.cumsum(rng.random(shape), axis=0)  # smooth-ish structure
    pred = gt + noise * gt.max() * rng.standard_normal(shape)
    expected = structural_similarity(
        gt, pred, win_size=7, data_range=gt.max(), use_sample_covariance=True, gaussian_weights=False, K1=0.01, K2=0.03
    )
    loss = SSIMLoss()(torch.from_numpy(pred)[None, None], torch.from_numpy(gt)[None, None], float(gt.max()))
    assert abs((1.0 - loss.item()) - expected) < 1e-6


def test_ssim_is_computed_in_full_precision_inside_a_bf16_autocast_region():
    """A bf16-mixed training step computes its loss inside autocast; SSIM's variances (E[x²] − E[x]² of nearly
    equal numbers) must not be taken in bf16 there, where a 1 %-noise pair scored up to 1.3."""
    torch.manual_seed(0)
    target = torch.rand(2, 1, 64, 64) * 0.5 + 0.5
    pred = (target + 0.01 * torch.randn_like(target)).requires_grad_(True)
    expected = ssim_map(pred, target, 1.0)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        inside = ssim_map(pred, target, 1.0)
        loss = SSIML1Loss()(pred, target, torch.ones(2))
    assert inside.dtype == torch.float32 and float(inside.max()) <= 1.0
    torch.testing.assert_close(inside, expected, rtol=0, atol=1e-6)
    loss.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()


def test_ssim_loss_per_sample_range_gradient_and_errors():
    target = torch.rand(2, 1, 16, 16) * torch.tensor([1.0, 5.0]).view(2, 1, 1, 1)
    pred = (target + 0.1 * torch.randn_like(target)).requires_grad_(True)
    ranges = target.amax(dim=(1, 2, 3))
    loss = SSIMLoss()(pred, target, ranges)
    separate = [SSIMLoss()(pred[i : i + 1], target[i : i + 1], ranges[i].item()) for i in range(2)]
    assert torch.isclose(loss, sum(separate) / 2, atol=1e-6)
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    assert SSIMLoss()(target, target, ranges).abs() < 1e-6
    with pytest.raises(ValueError, match="smaller than the 7"):
        SSIMLoss()(torch.rand(1, 1, 6, 20), torch.rand(1, 1, 6, 20), 1.0)
    with pytest.raises(ValueError, match="data_range"):
        SSIMLoss()(pred, target, torch.ones(3))


def test_ssim_l1_weighs_the_two_terms():
    target = torch.rand(2, 1, 16, 16)
    pred = target + 0.1 * torch.randn_like(target)
    ssim_term, l1_term = SSIMLoss()(pred, target, 1.0), F.l1_loss(pred, target)
    assert torch.isclose(SSIML1Loss()(pred, target, 1.0), 0.84 * ssim_term + 0.16 * l1_term, atol=1e-6)
    assert torch.isclose(SSIML1Loss(alpha=1.0)(pred, target, 1.0), ssim_term, atol=1e-6)
    assert torch.isclose(SSIML1Loss(alpha=0.0)(pred, target, 1.0), l1_term, atol=1e-6)
    assert isinstance(build_loss("ssim_l1"), SSIML1Loss)
    with pytest.raises(ValueError, match="alpha"):
        SSIML1Loss(alpha=1.5)


def test_weighted_ssim_l1_multiplies_each_samples_loss_by_its_weight():
    """Weights scale each sample's SSIM and L1 terms before the batch mean (not normalised by their sum)."""
    target = torch.rand(2, 1, 16, 16)
    pred = target + torch.tensor([0.02, 0.2]).view(2, 1, 1, 1) * torch.randn_like(target)
    loss = SSIML1Loss()
    each = torch.stack([loss(pred[i : i + 1], target[i : i + 1], 1.0) for i in range(2)])
    weights = torch.tensor([3.0, 0.5])
    assert torch.isclose(loss(pred, target, 1.0), each.mean(), atol=1e-6)
    assert torch.isclose(loss(pred, target, 1.0, weights=weights), (weights * each).mean(), atol=1e-6)
    first_only = SSIMLoss()(pred, target, 1.0, torch.tensor([2.0, 0.0]))  # (2 x its loss + 0) / 2
    assert torch.isclose(first_only, 1 - ssim_map(pred[:1], target[:1], 1.0).mean(), atol=1e-6)
    with pytest.raises(ValueError, match="loss weights"):
        loss(pred, target, 1.0, weights=torch.ones(3))


def test_noise_weighted_denoising_loss_counts_a_low_noise_sample_as_much_as_a_noisy_one():
    """``ssim_l1_noise`` divides each sample's loss by its input's noise level: a sample at 4x the noise
    gets about a quarter of the weight, so errors proportional to the noise weigh alike at every level."""
    gen = torch.Generator().manual_seed(0)
    target = torch.zeros(2, 1, 64, 64)
    levels = torch.tensor([0.02, 0.08]).view(2, 1, 1, 1)
    noisy = target + levels * torch.randn(target.shape, generator=gen)
    weights = noise_level_weights(noisy)
    assert torch.allclose(weights, 0.05 / levels.flatten(), rtol=0.15)
    config = config_from_dict(
        {
            "task": "denoising",
            "model": {"name": "unet", "overrides": {"chans": 8, "num_pool_layers": 2}},
            "data": {"kind": "mr_volumes", "root": "unused", "size": [64, 64], "workers": 0},
            "optim": {"loss": "ssim_l1_noise"},
        }
    )
    module = DenoisingModule(config, 1, 1)
    batch = SliceSample(noisy, target, "v", 0, 1.0, 0.0)
    output = target + 0.5 * (noisy - target)  # half the noise left: an error proportional to the level
    each = torch.stack([SSIML1Loss()(output[i : i + 1], target[i : i + 1], 1.0) for i in range(2)])
    assert torch.isclose(module.compute_loss(output, batch), (weights * each).mean(), atol=1e-6)
    assert 0.5 < float(weights[0] * each[0] / (weights[1] * each[1])) < 2.0
    assert float(each[1] / each[0]) > 2.0  # unweighted, the noisy sample would dominate


def test_ssim_range_of_a_training_window_is_at_least_the_normalised_range():
    """A window of background alone keeps the scale its volume is scored on: a background left 0.01 too
    bright (normalised units) costs about half the SSIM, not all of it, and a bright window keeps its maximum."""
    background = torch.zeros(1, 1, 16, 16)
    bright = torch.rand(1, 1, 16, 16) * 1.7
    bright[0, 0, 0, 0] = 1.7
    assert torch.equal(ssim_data_range(torch.cat([background, bright])), torch.tensor([1.0, 1.7]))
    loss = SSIMLoss()(background + 0.01, background, ssim_data_range(background))
    assert 0.4 < loss.item() < 0.6


def test_dice_ce_multiclass_and_binary():
    labels = torch.randint(0, 3, (2, 12, 12))
    perfect = F.one_hot(labels, 3).permute(0, 3, 1, 2).float() * 20.0 - 10.0
    loss_fn = DiceCrossEntropyLoss()
    assert loss_fn(perfect, labels) < 0.01
    assert loss_fn(-perfect, labels) > 1.0
    # With only the CE term it is exactly categorical cross-entropy.
    logits = torch.randn(2, 3, 12, 12)
    ce_only = DiceCrossEntropyLoss(lambda_dice=0.0)
    assert torch.isclose(ce_only(logits, labels), F.cross_entropy(logits, labels), atol=1e-6)
    # One-channel logits: a binary problem with BCE.
    binary_labels = (labels > 0).long()
    binary_logits = torch.randn(2, 1, 12, 12)
    assert torch.isclose(
        DiceCrossEntropyLoss(lambda_dice=0.0)(binary_logits, binary_labels[:, None]),
        F.binary_cross_entropy_with_logits(binary_logits, binary_labels[:, None].float()),
        atol=1e-6,
    )


def test_batch_dice_counts_a_class_over_the_whole_batch():
    """``dice_ce_batch`` is 1 − Dice per class over all pixels of the batch (+ CE); per slice, a faint tumour
    probability on a slice without tumour costs almost a whole Dice, over the batch only its share."""
    labels = torch.zeros(2, 8, 8, dtype=torch.long)
    labels[0, 2:6, 2:6] = 1
    labels[0, 3:5, 3:5] = 2  # the tumour is in the first slice only
    logits = torch.randn(2, 3, 8, 8)
    probabilities, one_hot = logits.softmax(1), F.one_hot(labels, 3).permute(0, 3, 1, 2).float()
    overlap, total = (probabilities * one_hot).sum((0, 2, 3)), (probabilities + one_hot).sum((0, 2, 3))
    expected = (1 - (2 * overlap + 1e-5) / (total + 1e-5)).mean() + F.cross_entropy(logits, labels)
    loss = build_loss("dice_ce_batch")
    torch.testing.assert_close(loss(logits, labels), expected, rtol=1e-5, atol=1e-6)

    perfect = F.one_hot(labels, 3).permute(0, 3, 1, 2).float() * 20.0 - 10.0
    faint = perfect.clone()
    faint[1, 0], faint[1, 2] = 0.0, -3.0  # a 5 % tumour probability all over the tumour-free slice
    assert 0.04 < faint.softmax(1)[1, 2].mean() < 0.05
    # per slice, the tumour-free slice's tumour Dice is lost whole: one of 2 slices × 3 classes
    assert DiceCrossEntropyLoss()(faint, labels) - DiceCrossEntropyLoss()(perfect, labels) > 0.9 / 6
    # over the batch: 3.1 false pixels against 4 true ones, the tumour's Dice falls to about 0.72
    added = loss(faint, labels) - loss(perfect, labels) - F.cross_entropy(faint, labels)
    assert 0.25 / 3 < added < 0.32 / 3


def test_dice_ce_refuses_bad_labels():
    loss_fn = DiceCrossEntropyLoss()
    with pytest.raises(ValueError, match=r"0…2.*0…3"):
        loss_fn(torch.randn(1, 3, 4, 4), torch.tensor([0, 1, 2, 3]).view(1, 2, 2).repeat(1, 2, 2))
    with pytest.raises(ValueError, match="do not match"):
        loss_fn(torch.randn(1, 3, 4, 4), torch.zeros(1, 5, 4))
    with pytest.raises(ValueError, match="integer"):
        loss_fn(torch.randn(1, 1, 4, 4), torch.full((1, 4, 4), 0.5))


def _torchvision_vgg16_state_dict() -> dict[str, torch.Tensor]:
    """Key names and shapes of torchvision.models.vgg16().state_dict(), random values."""
    state, in_c = {}, 3
    conv_positions = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    widths = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    for index, out_c in zip(conv_positions, widths, strict=False):
        state[f"features.{index}.weight"] = torch.randn(out_c, in_c, 3, 3) * (2.0 / (9 * in_c)) ** 0.5
        state[f"features.{index}.bias"] = torch.zeros(out_c)
        in_c = out_c
    for index, (out_f, in_f) in zip((0, 3, 6), ((64, 512 * 7 * 7 // 49), (64, 64), (1000, 64)), strict=False):
        # torchvision's classifier is much larger; shapes do not matter because it is ignored.
        state[f"classifier.{index}.weight"] = torch.randn(out_f, in_f)
        state[f"classifier.{index}.bias"] = torch.zeros(out_f)
    return state


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vgg") / "vgg16-397923af.pth"
    torch.save(_torchvision_vgg16_state_dict(), path)
    return path


def test_perceptual_loss_without_weights_says_where_to_put_them(monkeypatch, tmp_path):
    monkeypatch.delenv(WEIGHTS_ENV_VAR, raising=False)
    with pytest.raises(WeightsNotFoundError, match=rf"no VGG16 weights.*{WEIGHTS_ENV_VAR}"):
        VGGPerceptualLoss()
    monkeypatch.setenv(WEIGHTS_ENV_VAR, str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match=r"missing\.pth.*does not exist"):
        build_loss("perceptual")
    # The default losses never need the file.
    assert isinstance(build_loss("masked_mse"), torch.nn.Module)


def test_perceptual_loss_with_a_local_file(monkeypatch, vgg_file):
    monkeypatch.setenv(WEIGHTS_ENV_VAR, str(vgg_file))
    loss_fn = build_loss("perceptual", layers=("relu1_2", "relu2_2"))
    loaded = torch.load(vgg_file, weights_only=True)["features.5.weight"]
    assert torch.equal(loss_fn.vgg.features[5].weight, loaded)
    target = torch.rand(2, 1, 32, 32)
    pred = (target + 0.2 * torch.randn_like(target)).requires_grad_(True)
    assert loss_fn(target, target).item() == pytest.approx(0.0, abs=1e-10)
    loss = loss_fn(pred, target)
    loss.backward()
    assert loss.item() > 0 and pred.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss_fn.vgg.parameters()), "the VGG must stay frozen"
    loss_fn.train()
    assert not loss_fn.vgg.training


def test_perceptual_loss_names_missing_keys(tmp_path):
    state = _torchvision_vgg16_state_dict()
    del state["features.19.bias"]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"partial\.pth.*missing keys \[features\.19\.bias\]"):
        VGGPerceptualLoss(weights_path=path)
    with pytest.raises(ValueError, match="unknown VGG16 layers"):
        VGGPerceptualLoss(weights_path=path, layers=("relu9_9",))


def test_build_loss_registry():
    assert {"masked_mse", "ssim", "dice_ce", "perceptual", "mse", "cross_entropy"} <= set(list_losses())
    assert isinstance(build_loss("ssim"), SSIMLoss)
    with pytest.raises(ValueError, match="unknown loss 'huber'"):
        build_loss("huber")
    with pytest.raises(ValueError, match="bad arguments"):
        build_loss("ssim", window=5)
