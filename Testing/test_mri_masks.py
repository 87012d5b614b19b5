"""Column masks: fastMRI's numbers for file1000000.h5, reproducibility, RNG hygiene and the rect-equispaced reading."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from condswin.errors import UsageError
from condswin.mri.masks import MaskSampler, center_block, create_mask, default_center_fraction, fastmri_seed

SEED = tuple(map(ord, "file1000000.h5"))


@pytest.mark.parametrize(
    "kind, expected_total",
    [("random", 88), ("equispaced_fraction", 93), ("equispaced", 114)],
)
def test_fastmri_reference_numbers(kind, expected_total):
    mask, num_low = create_mask(kind, 368, 4, 0.08, seed=SEED)
    assert mask.dtype == bool and mask.shape == (368,)
    assert num_low == 29
    assert int(mask.sum()) == expected_total
    # the centre block sits where fastMRI puts it: start (368 - 29 + 1) // 2 = 170
    assert mask[170:199].all()


def test_fastmri_seed_is_character_codes():
    assert fastmri_seed("file1000000.h5") == SEED


def test_same_seed_same_mask_and_global_rng_untouched():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a, _ = create_mask("random", 368, 4, 0.08, seed=SEED)
    b, _ = create_mask("random", 368, 4, 0.08, seed=SEED)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_fresh_masks_differ_without_seed():
    masks = {create_mask("random", 368, 4, 0.08)[0].tobytes() for _ in range(5)}
    assert len(masks) > 1


def test_rng_stream_is_reproducible():
    stream_a = np.random.RandomState(7)
    stream_b = np.random.RandomState(7)
    for _ in range(3):
        ma, _ = create_mask("equispaced_fraction", 320, 8, 0.04, rng=stream_a)
        mb, _ = create_mask("equispaced_fraction", 320, 8, 0.04, rng=stream_b)
        np.testing.assert_array_equal(ma, mb)


def test_random_mask_hits_the_acceleration_on_average():
    totals = [create_mask("random", 368, 8, 0.04, seed=s)[0].sum() for s in range(200)]
    assert abs(np.mean(totals) - 368 / 8) < 1.5


def test_equispaced_offset_and_spacing():
    mask, num_low = create_mask("equispaced", 64, 4, 0.125, seed=0, offset=1)
    outer = np.flatnonzero(mask & ~center_block(64, num_low))
    assert set(outer) <= set(range(1, 64, 4))
    assert np.array_equal(np.flatnonzero(mask), np.flatnonzero(center_block(64, 8) | (np.arange(64) % 4 == 1)))


def test_sampler_choice_follows_fastmri_order():
    # fastMRI draws the (fraction, acceleration) index first: randint(2) on the freshly seeded state
    sampler = MaskSampler("random", center_fractions=(0.08, 0.04), accelerations=(4, 8))
    for name in ("file1000000.h5", "file1000001.h5", "file1002000.h5", "a.h5"):
        seed = fastmri_seed(name)
        choice = np.random.RandomState(seed).randint(2)
        mask, num_low, acc = sampler(368, seed=seed)
        assert acc == (4, 8)[choice]
        assert num_low == round(368 * (0.08, 0.04)[choice])
        state = np.random.RandomState(seed)
        state.randint(2)
        prob = (368 / acc - num_low) / (368 - num_low)
        expected = (state.uniform(size=368) < prob) | center_block(368, num_low)
        np.testing.assert_array_equal(mask, expected)


def test_default_center_fraction():
    assert default_center_fraction(4) == pytest.approx(0.08)
    assert default_center_fraction(8) == pytest.approx(0.04)
    _, num_low = create_mask("random", 368, 8, None, seed=SEED)
    assert num_low == round(368 * 0.04)


@pytest.mark.parametrize("num_cols, acc, frac", [(368, 4, 0.08), (320, 8, 0.25), (101, 3, 0.5), (256, 4, 0.0)])
def test_rect_equispaced_reading(num_cols, acc, frac):
    mask, num_low = create_mask("rect_equispaced", num_cols, acc, frac, seed=SEED)
    total = round(num_cols / acc)
    assert int(mask.sum()) == total  # exact acceleration
    assert num_low == round(total * frac)  # centre block is a fraction of the *sampled* lines
    assert mask[center_block(num_cols, num_low)].all()
    outer = np.flatnonzero(mask & ~center_block(num_cols, num_low))
    assert outer.size == total - num_low
    # equispaced in the coordinates of the outer columns: neighbouring gaps differ by at most one column
    outer_cols = np.flatnonzero(~center_block(num_cols, num_low))
    gaps = np.diff(np.searchsorted(outer_cols, outer))
    assert gaps.max() - gaps.min() <= 1
    # deterministic: the seed has no effect
    np.testing.assert_array_equal(mask, create_mask("rect_equispaced", num_cols, acc, frac, seed=1)[0])


@pytest.mark.parametrize(
    "args, message",
    [
        (("spiral", 368, 4, 0.08), "unknown mask kind 'spiral'"),
        (("randon", 368, 4, 0.08), "did you mean 'random'"),
        (("random", 1, 4, 0.08), "num_cols"),
        (("random", 368, 0.5, 0.08), "acceleration"),
        (("random", 368, float("inf"), 0.08), "finite number >= 1"),
        (("random", 368, float("nan"), 0.08), "finite number >= 1"),
        (("random", 368, "abc", 0.08), "must be a number"),
        (("random", 368, 1e308, 0.0), "less than one"),  # unbounded: must not reach any allocation
        (("rect_equispaced", 368, 1000, 0.0), "use at most 368"),  # would quietly sample 1 line (368x)
        (("random", 368, 4, 1.5), "center_fraction"),
        (("random", 368, 4, float("nan")), "center_fraction"),
        (("random", 368, 8, 0.5), "exceeds"),
        (("equispaced", 368, 4.5, 0.08), "integer acceleration"),
    ],
)
def test_bad_arguments_are_usage_errors(args, message):
    with pytest.raises(UsageError, match=message):
        create_mask(*args, seed=0)


def test_bad_seed_and_mismatched_lists():
    with pytest.raises(UsageError, match="RandomState"):
        create_mask("random", 368, 4, 0.08, seed="not a seed")
    with pytest.raises(UsageError, match="RandomState"):
        create_mask("random", 368, 4, 0.08, seed=-1)
    with pytest.raises(UsageError, match="equal length"):
        MaskSampler("random", center_fractions=(0.08,), accelerations=(4, 8))
    with pytest.raises(UsageError, match="acceleration"):  # checked when the sampler is built, not per draw
        MaskSampler("random", center_fractions=(0.08,), accelerations=(float("inf"),))
    with pytest.raises(UsageError):
        default_center_fraction(0)
    with pytest.raises(TypeError, match="num_cols must be an integer"):  # a bug in the caller, not a usage error
        create_mask("random", 368.0, 4, 0.08, seed=0)


def test_a_mask_sampling_no_column_is_never_returned():
    # equispaced_fraction without a centre, with the only line's offset past the last column.
    with pytest.raises(UsageError, match="acceleration 10 and centre fraction 0 samples none of the 10"):
        create_mask("equispaced_fraction", 10, 10, 0.0, seed=0, offset=9)
    # random without a centre at 50x over 50 columns: about one draw in three samples nothing.
    refused = 0
    for seed in range(20):
        try:
            mask, _ = create_mask("random", 50, 50, 0.0, seed=seed)
        except UsageError as err:
            assert "samples none of the 50" in str(err)
            refused += 1
        else:
            assert mask.any()
    assert 0 < refused < 20


@settings(max_examples=60, deadline=None)
@given(
    num_cols=st.integers(32, 640),
    acceleration=st.sampled_from([2, 3, 4, 6, 8]),
    kind=st.sampled_from(["random", "equispaced", "equispaced_fraction", "rect_equispaced"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_mask_invariants(num_cols, acceleration, kind, seed):
    mask, num_low = create_mask(kind, num_cols, acceleration, None, seed=seed)
    assert mask.shape == (num_cols,) and mask.dtype == bool
    assert mask[center_block(num_cols, num_low)].all()
    np.testing.assert_array_equal(mask, create_mask(kind, num_cols, acceleration, None, seed=seed)[0])
    if kind == "equispaced_fraction":
        # spacing adjusted for the centre block: within two lines of num_cols / acceleration
        assert abs(int(mask.sum()) - num_cols / acceleration) <= 2
    if kind == "rect_equispaced":
        assert int(mask.sum()) == round(num_cols / acceleration)
