"""Column (phase-encode) undersampling masks with fastMRI semantics, plus the seed's rectangular-equispaced mask.

A mask is a boolean vector over the k-space columns (the last axis, W). Broadcast it over (..., H, W) with
:func:`condswin.mri.kspace.apply_mask`.

Reproducibility follows fastMRI (``fastmri/data/subsample.py``): the random state is a
``numpy.random.RandomState`` seeded with the given seed (fastMRI uses ``tuple(map(ord, fname))`` so every
slice of a volume gets the same mask), and the draws happen in fastMRI's order:

1. choose the (center_fraction, acceleration) pair: ``rng.randint(len(pairs))``;
2. ``num_low_frequencies = round(num_cols * center_fraction)``, a centred block starting at
   ``(num_cols - num_low_frequencies + 1) // 2``;
3. the outer lines — ``random``: ``rng.uniform(size=num_cols) < prob`` with
   ``prob = (num_cols / acceleration - num_low) / (num_cols - num_low)``; ``equispaced``: every
   ``acceleration``-th column from ``offset = rng.randint(0, round(acceleration))`` (fastMRI's
   ``EquiSpacedMaskFunc``; the centre block is added on top, so it samples more than ``num_cols/acceleration``
   lines); ``equispaced_fraction``: spacing adjusted for the centre block,
   ``a = acceleration * (num_low - num_cols) / (num_low * acceleration - num_cols)``, columns
   ``round(arange(offset, num_cols - 1, a))`` from ``offset = rng.randint(0, round(a))``.

With 368 columns, 4x, centre fraction 0.08 and the seed of ``file1000000.h5`` this gives 29 centre lines and
88 lines in all (random), 93 (equispaced_fraction) and 114 (equispaced), exactly as fastMRI does.

``rect_equispaced`` is the seed project's "rectangular equispaced" mask, which has no public definition; our
reading: ``round(num_cols / acceleration)`` lines in all, of which a contiguous central block holds the
fraction ``center_fraction`` *of the sampled lines* (not of all columns, unlike the fastMRI kinds), and the
rest are spread evenly (cell-centred, no overlap with the block) over the columns outside the block. It is
deterministic — the seed has no effect — and its acceleration is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "MASK_KINDS",
    "MaskSampler",
    "create_mask",
    "default_center_fraction",
    "fastmri_seed",
    "center_block",
]

MASK_KINDS = ("random", "equispaced", "equispaced_fraction", "rect_equispaced")


def default_center_fraction(acceleration: float) -> float:
    """fastMRI's centre fraction for an acceleration: 0.08 at 4x, 0.04 at 8x (``0.32 / acceleration``)."""
    if acceleration <= 0:
        raise ValueError(f"acceleration must be positive, got {acceleration}")
    return 0.32 / float(acceleration)


def fastmri_seed(fname: str) -> tuple[int, ...]:
    """The per-file seed fastMRI uses for validation masks: the character codes of the file name.

    Args:
        fname: the file's base name, e.g. ``"file1000000.h5"`` (not a full path: the seed must not depend
            on where the data lives).

    Returns:
        A tuple accepted by ``numpy.random.RandomState``.
    """
    return tuple(map(ord, fname))


def center_block(num_cols: int, num_low_frequencies: int) -> np.ndarray:
    """Boolean mask of the ``num_low_frequencies`` centred columns, placed as fastMRI places them."""
    mask = np.zeros(num_cols, dtype=bool)
    start = (num_cols - num_low_frequencies + 1) // 2
    mask[start : start + num_low_frequencies] = True
    return mask


def _validate(kind: str, num_cols: int, acceleration: float, center_fraction: float) -> None:
    if kind not in MASK_KINDS:
        raise ValueError(f"unknown mask kind {kind!r}; expected one of {', '.join(MASK_KINDS)}")
    if not isinstance(num_cols, (int, np.integer)) or num_cols < 2:
        raise ValueError(f"num_cols must be an integer >= 2, got {num_cols!r}")
    if not np.isfinite(acceleration) or acceleration < 1:
        raise ValueError(f"acceleration must be a finite number >= 1, got {acceleration!r}")
    if not (0.0 <= center_fraction <= 1.0):
        raise ValueError(f"center_fraction must lie in [0, 1], got {center_fraction!r}")
    if kind in ("random", "equispaced_fraction"):
        num_low = round(num_cols * center_fraction)
        if num_low > num_cols / acceleration:
            # fastMRI would silently produce a probability < 0 (random) or a negative spacing (fraction)
            raise ValueError(
                f"{kind} mask: the centre block ({num_low} of {num_cols} columns at fraction {center_fraction}) "
                f"already exceeds the {num_cols / acceleration:.1f} lines that acceleration {acceleration} allows"
            )
        if kind == "equispaced_fraction" and num_low * acceleration == num_cols:
            raise ValueError(
                f"equispaced_fraction mask: centre block of {num_low} lines leaves no lines for acceleration "
                f"{acceleration} with {num_cols} columns"
            )


def _outer_lines(
    kind: str,
    rng: np.random.RandomState,
    num_cols: int,
    acceleration: float,
    num_low: int,
    offset: int | None,
) -> np.ndarray:
    """Lines outside the centre block (they may overlap it, as in fastMRI), drawing from ``rng`` in fastMRI's order."""
    mask = np.zeros(num_cols, dtype=bool)
    if kind == "random":
        prob = (num_cols / acceleration - num_low) / (num_cols - num_low)
        return rng.uniform(size=num_cols) < prob
    if kind == "equispaced":
        if offset is None:
            offset = int(rng.randint(0, high=round(acceleration)))
        step = int(round(acceleration))
        if step != acceleration:
            raise ValueError(f"equispaced mask needs an integer acceleration, got {acceleration}")
        mask[offset::step] = True
        return mask
    if kind == "equispaced_fraction":
        adjusted = (acceleration * (num_low - num_cols)) / (num_low * acceleration - num_cols)
        if offset is None:
            offset = int(rng.randint(0, high=round(adjusted)))
        columns = np.around(np.arange(offset, num_cols - 1, adjusted)).astype(np.int64)
        mask[columns[columns < num_cols]] = True
        return mask
    raise AssertionError(kind)  # rect_equispaced is built without an RNG in _rect_equispaced


def _rect_equispaced(num_cols: int, acceleration: float, center_fraction: float) -> tuple[np.ndarray, int]:
    num_lines = max(1, min(num_cols, int(round(num_cols / acceleration))))
    num_low = min(num_lines, int(round(num_lines * center_fraction)))
    mask = center_block(num_cols, num_low)
    outer = np.flatnonzero(~mask)
    num_outer = num_lines - num_low
    if num_outer > 0:
        # cell-centred positions: the outer columns are cut into num_outer equal cells, one line per cell
        picks = np.floor((np.arange(num_outer) + 0.5) * (outer.size / num_outer)).astype(np.int64)
        mask[outer[picks]] = True
    return mask, num_low


def _make_rng(seed: Any, rng: np.random.RandomState | None) -> np.random.RandomState:
    if seed is not None:
        try:
            return np.random.RandomState(seed)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"mask seed {seed!r} is not accepted by numpy.random.RandomState: {exc}") from exc
    if rng is not None:
        return rng
    # a fresh OS-entropy state: safe in forked DataLoader workers, where a shared global state would repeat masks
    return np.random.RandomState()


def create_mask(
    kind: str,
    num_cols: int,
    acceleration: float,
    center_fraction: float | None,
    seed: Any = None,
    *,
    rng: np.random.RandomState | None = None,
    offset: int | None = None,
) -> tuple[np.ndarray, int]:
    """Create one column mask, identical to fastMRI's mask function for the same seed.

    Args:
        kind: ``"random"``, ``"equispaced"``, ``"equispaced_fraction"`` or ``"rect_equispaced"``.
        num_cols: number of k-space columns (the last axis, W).
        acceleration: undersampling factor, e.g. 4 or 8.
        center_fraction: fraction of fully sampled centre columns (``None``: fastMRI's 0.08 at 4x, 0.04 at 8x).
            For ``rect_equispaced`` it is the fraction of the *sampled* lines that form the centre block.
        seed: anything ``numpy.random.RandomState`` accepts; the same seed gives the same mask (validation,
            test). ``None`` gives a fresh mask each call (training).
        rng: a random state to draw from when ``seed`` is None (for a reproducible stream of training masks).
        offset: first column of the equispaced kinds; drawn at random when None (fastMRI's behaviour).

    Returns:
        ``(mask, num_low_frequencies)``: a boolean array of shape (num_cols,) and the size of the centre block.
    """
    if center_fraction is None:
        center_fraction = default_center_fraction(acceleration)
    return MaskSampler(kind, [center_fraction], [acceleration])(num_cols, seed, rng=rng, offset=offset)[:2]


class MaskSampler:
    """Draws masks from a list of (center_fraction, acceleration) pairs, as fastMRI's ``MaskFunc`` does.

    One pair is chosen uniformly per call (``rng.randint`` over the list, first draw after seeding), which is
    what makes a multi-acceleration training set reproducible per file. Typical use::

        sampler = MaskSampler("random", center_fractions=(0.08, 0.04), accelerations=(4, 8))
        mask, num_low, acc = sampler(368, seed=fastmri_seed("file1000000.h5"))   # validation
        mask, num_low, acc = sampler(368)                                         # training: fresh

    Args:
        kind: one of :data:`MASK_KINDS`.
        center_fractions: centre fraction of each pair.
        accelerations: acceleration of each pair (same length as ``center_fractions``).
        seed: seeds the sampler's own random state, used for calls without a per-call seed (a reproducible
            training stream); ``None`` seeds it from the operating system.
    """

    def __init__(
        self,
        kind: str,
        center_fractions: Sequence[float] = (0.08, 0.04),
        accelerations: Sequence[float] = (4, 8),
        seed: Any = None,
    ) -> None:
        if len(center_fractions) != len(accelerations) or len(accelerations) == 0:
            raise ValueError(
                f"center_fractions and accelerations must be non-empty and of equal length, got "
                f"{list(center_fractions)} and {list(accelerations)}"
            )
        if kind not in MASK_KINDS:
            raise ValueError(f"unknown mask kind {kind!r}; expected one of {', '.join(MASK_KINDS)}")
        self.kind = kind
        self.center_fractions = tuple(float(c) for c in center_fractions)
        self.accelerations = tuple(float(a) if not float(a).is_integer() else int(a) for a in accelerations)
        self.rng = _make_rng(seed, None)

    def __call__(
        self,
        num_cols: int,
        seed: Any = None,
        *,
        rng: np.random.RandomState | None = None,
        offset: int | None = None,
    ) -> tuple[np.ndarray, int, float]:
        """Draw a mask.

        Args:
            num_cols: number of k-space columns.
            seed: per-call seed (e.g. :func:`fastmri_seed` of the file name); ``None`` draws from ``rng`` or
                from the sampler's own state.
            rng: random state to draw from when ``seed`` is None (default: the sampler's own).
            offset: first column of the equispaced kinds (random when None).

        Returns:
            ``(mask, num_low_frequencies, acceleration)``; ``mask`` is boolean of shape (num_cols,).
        """
        state = _make_rng(seed, rng if rng is not None else self.rng)
        choice = int(state.randint(len(self.accelerations)))
        center_fraction, acceleration = self.center_fractions[choice], self.accelerations[choice]
        _validate(self.kind, num_cols, acceleration, center_fraction)
        if self.kind == "rect_equispaced":
            mask, num_low = _rect_equispaced(num_cols, acceleration, center_fraction)
            return mask, num_low, acceleration
        num_low = int(round(num_cols * center_fraction))
        mask = center_block(num_cols, num_low) | _outer_lines(self.kind, state, num_cols, acceleration, num_low, offset)
        return mask, num_low, acceleration
