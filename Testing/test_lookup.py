"""condswin.lookup: the one name → object lookup (unknown names list the accepted ones, with a did-you-mean)."""

from __future__ import annotations

import pytest

from condswin.errors import CondswinError, UsageError
from condswin.lookup import look_up
from condswin.losses import build_loss

TABLE = {"mean": 1, "median": 2, "bm3d": 3}


def test_known_name_returns_its_entry() -> None:
    assert look_up("denoising method", "median", TABLE) == 2


def test_unknown_name_is_a_usage_error_listing_every_name_in_order() -> None:
    with pytest.raises(UsageError) as caught:
        look_up("denoising method", "wiener", TABLE)
    message = str(caught.value)
    assert message.startswith("unknown denoising method 'wiener';")
    assert message.endswith("accepted: mean, median, bm3d")
    assert isinstance(caught.value, CondswinError) and isinstance(caught.value, ValueError)


def test_close_name_is_suggested_and_non_strings_are_refused() -> None:
    with pytest.raises(UsageError, match="did you mean 'bm3d'"):
        look_up("denoising method", "bm3", TABLE)
    with pytest.raises(UsageError, match="unknown denoising method 3"):
        look_up("denoising method", 3, TABLE)


def test_losses_use_the_lookup() -> None:
    with pytest.raises(UsageError, match="unknown loss 'huber'.*accepted: .*dice_ce"):
        build_loss("huber")
    with pytest.raises(UsageError, match="did you mean 'ssim'"):
        build_loss("ssmi")
