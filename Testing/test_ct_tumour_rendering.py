"""Tumours in the randomised training renderings look as they do in contrast-enhanced CT."""

from __future__ import annotations

import numpy as np

from condswin.training.data.ct_tumour_rendering import render_tumours

LIVER_HU = 110.0


def _slab_with_discs(centres: list[tuple[int, int]], radius: float = 9.0) -> tuple[np.ndarray, np.ndarray]:
    """A 3 × 64 × 64 slab of liver at LIVER_HU with tumour discs through all three slices."""
    rows, cols = np.mgrid[:64, :64]
    disc = np.zeros((64, 64), dtype=bool)
    for r, c in centres:
        disc |= (rows - r) ** 2 + (cols - c) ** 2 <= radius**2
    tumour = np.broadcast_to(disc, (3, 64, 64)).copy()
    return np.full((3, 64, 64), LIVER_HU, dtype=np.float32), tumour


def _render(seed: int, centres: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    hu, tumour = _slab_with_discs(centres)
    kinds = render_tumours(hu, tumour, LIVER_HU, np.random.default_rng(seed))
    return hu, tumour, kinds


def test_most_tumours_are_darker_than_the_liver():
    darker = brighter = 0
    for seed in range(80):
        hu, tumour, _ = _render(seed, [(32, 32)])
        core = float(np.median(hu[1][tumour[1]]))
        darker += core < LIVER_HU - 5.0
        brighter += core > LIVER_HU + 5.0
    # drawn: 7 in 10 hypodense, 1 in 10 rim (dark core), 1 in 10 cyst (water), 1 in 10 hyperdense
    assert darker >= 0.75 * 80
    assert brighter <= 0.2 * 80


def test_solid_tumours_blend_into_the_liver_at_their_outline():
    blended = 0
    solid = 0
    for seed in range(60):
        hu, tumour, kinds = _render(seed, [(32, 32)])
        if kinds[0] not in ("hypodense", "hyperdense"):
            continue
        solid += 1
        inner = np.zeros_like(tumour[1])
        inner[1:-1, 1:-1] = tumour[1][:-2, 1:-1] & tumour[1][2:, 1:-1] & tumour[1][1:-1, :-2] & tumour[1][1:-1, 2:]
        outline = tumour[1] & ~inner
        centre_step = abs(float(np.mean(hu[1, 28:37, 28:37])) - LIVER_HU)
        outline_step = abs(float(np.mean(hu[1][outline])) - LIVER_HU)
        blended += outline_step < 0.8 * centre_step
    assert solid >= 30
    assert blended == solid


def test_each_tumour_gets_its_own_appearance_and_nothing_else_changes():
    hu, tumour, kinds = _render(3, [(16, 16), (48, 48)])
    assert len(kinds) == 2
    assert np.all(hu[~tumour] == LIVER_HU)
    first, second = (float(np.median(hu[1, r - 3 : r + 4, c - 3 : c + 4])) for r, c in ((16, 16), (48, 48)))
    assert first != second
