"""The conditional networks at the notebook's config train with its optimiser, and their routers learn.

`test_models_overfit.py` fits tiny versions of every model; this runs the configuration of the Conditional
Swin U-Net notebook (docs/architecture.md: embed 128, window 8, k = 7; dropout off so the fit is deterministic)
on 4 synthetic images: the 1-layer networks at 64² in the default run, the 2-layer networks at 128² in
``make test-slow``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from condswin.models import build_model
from condswin.models.routers import IterativeRouter, LightRouter


def _ellipse_batch(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(
        torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij"
    )
    images = torch.zeros(n, 1, size, size)
    for i in range(n):
        for _ in range(3):
            cy, cx = (torch.rand(2, generator=g) * 0.6 + 0.2) * size
            ry, rx = (torch.rand(2, generator=g) * 0.15 + 0.08) * size
            images[i, 0][((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = 0.4 + 0.6 * float(
                torch.rand(1, generator=g)
            )
    noisy = images + 0.05 * torch.randn(images.shape, generator=g)
    return noisy, (images > 0).long()[:, 0]


@pytest.mark.parametrize(
    "name,size",
    [
        ("cswin_light_1l", 64),
        ("cswin_iter_1l", 64),
        pytest.param("cswin_light_2l", 128, marks=pytest.mark.slow),
        pytest.param("cswin_iter_2l", 128, marks=pytest.mark.slow),
    ],
)
def test_notebook_config_network_fits_and_routers_learn(name, size):
    torch.manual_seed(0)
    model = build_model(name, out_channels=2, dropout=0.0)
    inputs, labels = _ellipse_batch(4, size, seed=3)
    routers = [m for m in model.modules() if isinstance(m, (LightRouter, IterativeRouter))]
    before = [r.routing_vector.detach().clone() for r in routers]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)  # the notebook's optimiser and learning rate
    prior = torch.bincount(labels.flatten(), minlength=2).float() / labels.numel()
    floor = float(-(prior * prior.log()).sum())
    losses = []
    for _ in range(150):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(inputs), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)  # the notebook's gradient clipping
        optimizer.step()
        losses.append(float(loss.detach()))
        if losses[-1] < 0.1 * floor:
            break
    assert min(losses) < 0.1 * floor, f"{name}: loss {losses[0]:.3f} → {min(losses):.3f} (constant: {floor:.3f})"
    moved = [float((r.routing_vector.detach() - b).norm() / b.norm()) for r, b in zip(routers, before, strict=False)]
    assert min(moved) > 0.0 and sum(moved) / len(moved) > 1e-3  # every routing vector was trained
