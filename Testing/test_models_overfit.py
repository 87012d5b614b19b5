"""Each model can fit a batch of 4 synthetic images: the training loss falls by 90 % within a few
hundred CPU steps. A network with a broken path (dead gradients, scrambled reshapes, a skip that drops
its input) plateaus far above that."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from condswin.models import build_model

SIZE = 32


pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _disk_images(n: int, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth images of 1–3 random ellipses (values 0.3–1) and their binary masks."""
    yy, xx = torch.meshgrid(
        torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij"
    )
    images = torch.zeros(n, 1, size, size)
    for i in range(n):
        for _ in range(int(torch.randint(1, 4, (1,), generator=generator))):
            cy, cx = (torch.rand(2, generator=generator) * 0.6 + 0.2) * size
            ry, rx = (torch.rand(2, generator=generator) * 0.15 + 0.1) * size
            inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
            images[i, 0][inside] = 0.3 + 0.7 * float(torch.rand(1, generator=generator))
    return images, (images > 0).long()[:, 0]


def _fit(
    model: torch.nn.Module, inputs: torch.Tensor, loss_of, floor: float, max_steps: int, lr: float
) -> tuple[float, float, int]:
    """Adam on one batch until the loss is below 10 % of both its start and ``floor``.

    ``floor`` is the loss of the best constant prediction: beating only the (often large) loss of a
    freshly initialised network would just need a rescaled output, not a working network.

    Returns:
        (first loss, best loss, steps taken).
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    first = best = None
    for step in range(1, max_steps + 1):  # noqa: B007 - returned after the loop
        optimizer.zero_grad()
        loss = loss_of(model(inputs))
        loss.backward()
        optimizer.step()
        value = float(loss.detach())
        first = value if first is None else first
        best = value if best is None else min(best, value)
        if best <= 0.1 * min(first, floor):
            break
    return first, best, step


CASES = {
    "unet": dict(task="segmentation", overrides=dict(chans=8, num_pool_layers=2), lr=3e-3),
    "lintunet": dict(
        task="segmentation",
        overrides=dict(chans=8, num_pool_layers=2, image_size=SIZE, num_heads=2, linformer_k=16),
        lr=3e-3,
    ),
    "unet_dctd_a": dict(task="denoising", overrides=dict(decoder_channels=(32, 16, 16, 8, 8)), lr=2e-3),
    "cdae": dict(task="denoising", overrides=dict(features=(16, 32)), lr=3e-3),
}
_TINY_SWIN = dict(
    embed_dim=16, depths=(2,), num_heads=(2, 4), window_size=4, mlp_hidden=32, routed_tokens=4, dropout=0.0
)
for _name in ("swin_unet_1l", "cswin_light_1l", "cswin_iter_1l"):
    CASES[_name] = dict(task="segmentation", overrides=_TINY_SWIN, lr=3e-3)


@pytest.mark.parametrize("name", sorted(CASES))
def test_model_overfits_four_images(name):
    case = CASES[name]
    generator = torch.Generator().manual_seed(7)
    clean, labels = _disk_images(4, SIZE, generator)
    if case["task"] == "segmentation":
        model = build_model(name, out_channels=2, **case["overrides"])
        inputs = clean + 0.05 * torch.randn(clean.shape, generator=generator)
        loss_of = lambda logits: F.cross_entropy(logits, labels)  # noqa: E731
        prior = torch.bincount(labels.flatten(), minlength=2).float() / labels.numel()
        floor = float(-(prior * prior.log()).sum())  # CE of predicting the class frequencies everywhere
    else:
        model = build_model(name, **case["overrides"])
        inputs = clean + 0.1 * torch.randn(clean.shape, generator=generator)
        loss_of = lambda output: F.mse_loss(output, clean)  # noqa: E731
        floor = float(clean.var(unbiased=False))  # MSE of predicting the mean grey value everywhere
    first, best, steps = _fit(model, inputs, loss_of, floor, max_steps=300, lr=case["lr"])
    assert best <= 0.1 * min(first, floor), (
        f"{name}: loss {first:.4g} → {best:.4g} after {steps} steps (constant-prediction loss {floor:.4g})"
    )
