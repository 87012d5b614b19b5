"""condswin.errors and the CLI's exit codes: only the error family maps to a documented code."""

from __future__ import annotations

import pytest

from condswin.bundles import BundleChecksumError, BundleError
from condswin.cli.errors import exit_code_for
from condswin.errors import (
    InputError,
    InputNotFoundError,
    JobCancelled,
    ModelError,
    OutputError,
    OutputExistsError,
    UsageError,
)
from condswin.inference import InferenceCancelled
from condswin.io.images import ImageFileError, ImageNotFoundError
from condswin.mri.fastmri import FastMRIFileError


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("x"), 2),
        (InputError("x"), 3),
        (InputNotFoundError("x"), 3),
        (ImageFileError("x"), 3),
        (ImageNotFoundError("x"), 3),
        (FastMRIFileError("x"), 3),
        (ModelError("x"), 4),
        (BundleError("x"), 4),
        (BundleChecksumError("x"), 4),
        (OutputError("x"), 5),
        (OutputExistsError("x"), 5),
        (JobCancelled("x"), 130),
        (InferenceCancelled("x"), 130),
        (KeyboardInterrupt(), 130),
    ],
)
def test_family_members_map_to_their_documented_codes(error: BaseException, code: int) -> None:
    assert exit_code_for(error) == code


@pytest.mark.parametrize(
    "error", [ValueError("bug"), OSError("bug"), FileNotFoundError("bug"), TypeError("bug"), RuntimeError("bug")]
)
def test_anything_outside_the_family_is_an_internal_error(error: Exception) -> None:
    # A ValueError from a bug must not be blamed on the user's input (exit 3): it is exit 70 with a traceback.
    assert exit_code_for(error) == 70


def test_family_members_are_still_the_builtin_kinds_callers_catch() -> None:
    assert issubclass(ImageNotFoundError, FileNotFoundError) and issubclass(ImageFileError, ValueError)
    assert issubclass(OutputExistsError, FileExistsError) and issubclass(OutputError, OSError)
    assert issubclass(BundleError, ValueError) and issubclass(UsageError, ValueError)
