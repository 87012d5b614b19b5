"""Column (phase-encode) undersampling masks with fastMRI semantics, plus a rectangular-equispaced mask.

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

``rect_equispaced`` is the "rectangular equispaced" mask of the Conditional Swin U-Net notebook
(docs/architecture.md), which has no public definition; our reading: ``round(num_cols / acceleration)`` lines in
all, of which a contiguous central block holds the fraction ``center_fraction`` *of the sampled lines* (not of
all columns, unlike the fastMRI kinds), and the rest are spread evenly (cell-centred, no overlap with the block)
over the columns outside the block. It is deterministic — the seed has no effect — and its acceleration is
exact.

:class:`MaskSpec` is how a reconstruction asks for a mask (kind, acceleration, centre fraction, seed): checked
once when it is made, so every layer below the command line (jobs, inference) receives a valid request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from condswin.errors import UsageError
from condswin.lookup import look_up

__all__ = [
    "MASK_KINDS",
    "MAX_ACCELERATION",
    "MAX_SEED",
    "MaskSampler",
    "MaskSpec",
    "create_mask",
    "default_center_fraction",
    "fastmri_seed",
    "center_block",
]


def default_center_fraction(acceleration: float) -> float:
    """fastMRI's centre fraction for an acceleration: 0.08 at 4x, 0.04 at 8x (``0.32 / acceleration``).

    Raises:
        UsageError: the acceleration is not a finite number >= 1.
    """
    return 0.32 / _acceleration(acceleration)


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


def _acceleration(value: Any) -> float:
    """``value`` as an acceleration: a finite number >= 1 (a user's option or config value)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"acceleration must be a number >= 1, got {value!r}") from None
    if not math.isfinite(number) or number < 1:
        raise UsageError(f"acceleration must be a finite number >= 1, got {value!r}")
    return number


def _center_fraction(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"center_fraction must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= number <= 1.0:  # also false for NaN
        raise UsageError(f"center_fraction must lie in [0, 1], got {value!r}")
    return number


def _check_fit(kind: str, num_cols: int, acceleration: float, center_fraction: float) -> None:
    """Refuse what cannot make a mask of ``num_cols`` columns (fastMRI would return nonsense silently)."""
    if isinstance(num_cols, bool) or not isinstance(num_cols, (int, np.integer)):
        raise TypeError(f"num_cols must be an integer, got {type(num_cols).__name__}")
    if num_cols < 2:
        raise UsageError(f"cannot undersample k-space of {num_cols} column(s): num_cols must be >= 2")
    if acceleration > num_cols:
        raise UsageError(
            f"acceleration {acceleration:g} asks for {num_cols / acceleration:.2g} of the {num_cols} k-space "
            f"columns, less than one; use at most {num_cols}"
        )
    if kind in ("random", "equispaced_fraction"):
        num_low = round(num_cols * center_fraction)
        if num_low > num_cols / acceleration:
            # fastMRI would silently produce a probability < 0 (random) or a negative spacing (fraction)
            raise UsageError(
                f"{kind} mask: the centre block ({num_low} of {num_cols} columns at fraction {center_fraction}) "
                f"already exceeds the {num_cols / acceleration:.1f} lines that acceleration {acceleration:g} allows"
            )
        if kind == "equispaced_fraction" and num_low * acceleration == num_cols:
            raise UsageError(
                f"equispaced_fraction mask: centre block of {num_low} lines leaves no lines for acceleration "
                f"{acceleration:g} with {num_cols} columns"
            )
    if kind == "equispaced" and int(round(acceleration)) != acceleration:
        raise UsageError(f"equispaced mask needs an integer acceleration, got {acceleration:g}")


# Each builder returns (mask, num_low_frequencies), drawing from the random state in fastMRI's order.
MaskBuilder = Callable[[np.random.RandomState, int, float, float, "int | None"], tuple[np.ndarray, int]]


def _random(
    rng: np.random.RandomState, num_cols: int, acceleration: float, center_fraction: float, offset: int | None
) -> tuple[np.ndarray, int]:
    num_low = int(round(num_cols * center_fraction))
    prob = (num_cols / acceleration - num_low) / (num_cols - num_low)
    return center_block(num_cols, num_low) | (rng.uniform(size=num_cols) < prob), num_low


def _equispaced(
    rng: np.random.RandomState, num_cols: int, acceleration: float, center_fraction: float, offset: int | None
) -> tuple[np.ndarray, int]:
    num_low = int(round(num_cols * center_fraction))
    if offset is None:
        offset = int(rng.randint(0, high=round(acceleration)))
    mask = center_block(num_cols, num_low)
    mask[offset :: int(round(acceleration))] = True
    return mask, num_low


def _equispaced_fraction(
    rng: np.random.RandomState, num_cols: int, acceleration: float, center_fraction: float, offset: int | None
) -> tuple[np.ndarray, int]:
    num_low = int(round(num_cols * center_fraction))
    adjusted = (acceleration * (num_low - num_cols)) / (num_low * acceleration - num_cols)
    if offset is None:
        offset = int(rng.randint(0, high=round(adjusted)))
    columns = np.around(np.arange(offset, num_cols - 1, adjusted)).astype(np.int64)
    mask = center_block(num_cols, num_low)
    mask[columns[columns < num_cols]] = True
    return mask, num_low


def _rect_equispaced(
    rng: np.random.RandomState, num_cols: int, acceleration: float, center_fraction: float, offset: int | None
) -> tuple[np.ndarray, int]:
    # deterministic: the random state and the offset play no part
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


_BUILDERS: dict[str, MaskBuilder] = {
    "random": _random,
    "equispaced": _equispaced,
    "equispaced_fraction": _equispaced_fraction,
    "rect_equispaced": _rect_equispaced,
}
MASK_KINDS: tuple[str, ...] = tuple(_BUILDERS)


def _make_rng(seed: Any, rng: np.random.RandomState | None) -> np.random.RandomState:
    if seed is not None:
        try:
            return np.random.RandomState(seed)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"mask seed {seed!r} is not accepted by numpy.random.RandomState: {exc}") from exc
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

    Raises:
        UsageError: an unknown kind; an acceleration that is not a finite number >= 1 or exceeds ``num_cols``;
            a centre fraction outside [0, 1] or too large for the acceleration; a non-integer acceleration
            for ``equispaced``; a seed numpy refuses; or a draw that samples no column at all.
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

    Raises:
        UsageError: an unknown kind, lists of different or zero length, an acceleration or centre fraction
            out of range (checked here, before any mask is drawn), or a seed numpy refuses.
    """

    def __init__(
        self,
        kind: str,
        center_fractions: Sequence[float] = (0.08, 0.04),
        accelerations: Sequence[float] = (4, 8),
        seed: Any = None,
    ) -> None:
        self._build = look_up("mask kind", kind, _BUILDERS)
        if len(center_fractions) != len(accelerations) or len(accelerations) == 0:
            raise UsageError(
                f"center_fractions and accelerations must be non-empty and of equal length, got "
                f"{list(center_fractions)} and {list(accelerations)}"
            )
        self.kind = kind
        self.center_fractions = tuple(_center_fraction(c) for c in center_fractions)
        self.accelerations = tuple(int(a) if a.is_integer() else a for a in map(_acceleration, accelerations))
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
            ``(mask, num_low_frequencies, acceleration)``; ``mask`` is boolean of shape (num_cols,) with at
            least one sampled column.

        Raises:
            UsageError: the chosen pair cannot make a mask of ``num_cols`` columns, or the draw sampled none.
        """
        state = _make_rng(seed, rng if rng is not None else self.rng)
        choice = int(state.randint(len(self.accelerations)))
        center_fraction, acceleration = self.center_fractions[choice], self.accelerations[choice]
        _check_fit(self.kind, num_cols, acceleration, center_fraction)
        mask, num_low = self._build(state, int(num_cols), acceleration, center_fraction, offset)
        if not mask.any():
            # reconstructing from no measurement gives a blank image with a meaningless acceleration
            raise UsageError(
                f"{self.kind} mask with acceleration {acceleration:g} and centre fraction {center_fraction:g} "
                f"samples none of the {num_cols} k-space columns; lower the acceleration or raise the centre "
                "fraction"
            )
        return mask, num_low, acceleration


# Far beyond the 4x-16x of fastMRI and the Conditional Swin U-Net notebook; above it a mask keeps a column or two
# and the "reconstruction" is noise with a misleading report.
MAX_ACCELERATION = 64.0
# numpy.random.RandomState accepts integer seeds in [0, 2**32 - 1].
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class MaskSpec:
    """The column mask a reconstruction asks for, checked once when it is made.

    The command line builds one from ``--mask``, ``--acceleration``, ``--center-fraction`` and ``--seed``; the
    jobs and inference functions take it as it is. A fastMRI file that carries its own mask ignores it.

    Attributes:
        kind: one of :data:`MASK_KINDS`.
        acceleration: undersampling factor, a finite number in [1, :data:`MAX_ACCELERATION`].
        center_fraction: fully sampled centre fraction in [0, 1] (of all columns; of the sampled lines for
            ``rect_equispaced``), or None for fastMRI's default (0.08 at 4x, 0.04 at 8x).
        seed: an integer in [0, :data:`MAX_SEED`] or a sequence of them (:func:`fastmri_seed`); None derives it
            from the input's file name as fastMRI does (:meth:`seed_for`).

    Raises:
        UsageError: an unknown kind, a value out of its range, an ``equispaced`` mask at a fractional
            acceleration, or a centre block (``random``, ``equispaced_fraction``) that alone samples more
            columns than the acceleration allows.
    """

    kind: str = "random"
    acceleration: float = 4.0
    center_fraction: float | None = None
    seed: int | tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        look_up("mask kind", self.kind, _BUILDERS)
        acceleration = _acceleration(self.acceleration)
        if acceleration > MAX_ACCELERATION:
            raise UsageError(f"acceleration must be at most {MAX_ACCELERATION:g}, got {self.acceleration!r}")
        center_fraction = None if self.center_fraction is None else _center_fraction(self.center_fraction)
        object.__setattr__(self, "acceleration", acceleration)
        object.__setattr__(self, "center_fraction", center_fraction)
        object.__setattr__(self, "seed", _checked_seed(self.seed))
        if self.kind == "equispaced" and acceleration != round(acceleration):
            raise UsageError(f"--mask equispaced needs an integer --acceleration, got {acceleration:g}")
        if center_fraction is not None and self.kind in ("random", "equispaced_fraction"):
            if center_fraction * acceleration >= 1:
                raise UsageError(
                    f"--center-fraction {center_fraction:g} samples {center_fraction:.0%} of the columns in the "
                    f"centre alone, but --acceleration {acceleration:g} keeps only {1 / acceleration:.0%} of them; "
                    f"use a centre fraction below {1 / acceleration:.3g} (or --mask rect_equispaced, whose centre "
                    "fraction is of the sampled lines)"
                )

    def seed_for(self, name: str | None) -> int | tuple[int, ...]:
        """The seed of the mask of an input called ``name`` (a file's base name, not a path).

        Returns:
            :attr:`seed` when given; else fastMRI's per-file seed of ``name`` (:func:`fastmri_seed`), so every
            slice of a file shares one mask and a rerun draws the same; else 0 (an input without a name).
        """
        if self.seed is not None:
            return self.seed
        return fastmri_seed(name) if name else 0

    def create(self, num_cols: int, name: str | None = None) -> tuple[np.ndarray, int]:
        """The mask of ``num_cols`` k-space columns for an input called ``name`` (see :meth:`seed_for`).

        Returns:
            ``(mask, num_low_frequencies)``, as :func:`create_mask` returns them.

        Raises:
            UsageError: the acceleration or centre block does not fit ``num_cols`` columns, or the draw sampled
                none.
        """
        return create_mask(self.kind, num_cols, self.acceleration, self.center_fraction, seed=self.seed_for(name))


def _checked_seed(seed: Any) -> int | tuple[int, ...] | None:
    """``seed`` as an integer in [0, MAX_SEED], a tuple of them, or None."""

    def integer(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= MAX_SEED:
            raise UsageError(f"mask seed must be an integer in [0, {MAX_SEED}] or a sequence of them, got {seed!r}")
        return int(value)

    if seed is None:
        return None
    if isinstance(seed, Sequence) and not isinstance(seed, str) and len(seed) > 0:
        return tuple(integer(value) for value in seed)
    return integer(seed)
