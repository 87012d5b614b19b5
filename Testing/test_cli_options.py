"""condswin.cli.options and the option checks of the commands: every bad or unbounded option value is a
usage error (exit 2) naming the option, found before any input is read (the inputs here do not even exist)."""

from __future__ import annotations

import argparse

import pytest
from cli_support import run_cli

from condswin.cli.options import integer, number
from condswin.errors import UsageError
from condswin.mri.masks import MaskSpec

RECONSTRUCT = ["reconstruct", "missing.h5", "out.nii.gz", "--model", "zero-filled"]
DENOISE = ["denoise", "missing.nii.gz", "out.nii.gz"]
EVALUATE = ["evaluate", "missing-prediction.nii.gz", "missing-reference.nii.gz"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*RECONSTRUCT, "--acceleration", "inf"], "--acceleration: expected a finite number in [1, 64], got inf"),
        ([*RECONSTRUCT, "--acceleration", "1e308"], "--acceleration"),
        ([*RECONSTRUCT, "--acceleration", "1000"], "--acceleration"),  # no column would be sampled
        ([*RECONSTRUCT, "--acceleration", "nan"], "--acceleration"),
        ([*RECONSTRUCT, "--acceleration", "0.5"], "--acceleration"),
        ([*RECONSTRUCT, "--center-fraction", "1.5"], "--center-fraction: expected a finite number in [0, 1]"),
        ([*RECONSTRUCT, "--center-fraction", "0.3"], "--center-fraction 0.3 samples 30% of the columns"),
        ([*RECONSTRUCT, "--mask", "equispaced", "--acceleration", "4.5"], "needs an integer --acceleration"),
        ([*RECONSTRUCT, "--seed", "-1"], "--seed: expected an integer in [0, 4294967295]"),
        ([*RECONSTRUCT, "--seed", "4294967296"], "--seed"),
        ([*DENOISE, "--method", "nlm", "--param", "h_factor=abc"], "nlm: h_factor must be a positive finite number"),
        (
            [*DENOISE, "--method", "median", "--param", "size=100000"],
            "median: size must be a positive integer up to 31",
        ),
        (
            [*DENOISE, "--method", "wavelet", "--param", "wavelet=db99"],
            "wavelet: wavelet must be a discrete PyWavelets",
        ),
        ([*DENOISE, "--method", "nlm", "--param", "h_factor=NaN"], "h_factor"),
        ([*DENOISE, "--method", "nlm", "--sigma", "inf"], "--sigma: expected a finite number > 0"),
        ([*DENOISE, "--method", "nlm", "--sigma", "1e300"], "--sigma"),  # would overflow the Rician correction
        ([*DENOISE, "--method", "nlm", "--sigma", "0"], "--sigma"),
        ([*DENOISE, "--method", "mean", "--format", ".png"], "--format: invalid choice"),
        (
            [*DENOISE, "--method", "median", "--param", "size=3", "--param", "size=5"],
            "--param size is given twice ('size=3' and 'size=5')",
        ),
        ([*EVALUATE, "--labels", "1=liver,1=dup"], "--labels gives class 1 twice ('liver' and 'dup')"),
        ([*EVALUATE, "--labels", "1=liver,2=liver"], "--labels names 'liver' twice"),
    ],
)
def test_bad_option_values_are_usage_errors_before_any_work(capsys, args: list[str], message: str) -> None:
    code, _, err = run_cli(capsys, *args)
    assert code == 2, err
    assert message in err


def test_values_at_the_bounds_are_accepted() -> None:
    acceleration = number(low=1, high=64)
    assert (acceleration("1"), acceleration("64"), acceleration(" 8 ")) == (1.0, 64.0, 8.0)
    assert integer(low=0, high=2**32 - 1)("4294967295") == 2**32 - 1
    assert number(above=0)("1e-9") == 1e-9
    for parse, text in ((acceleration, "64.01"), (integer(low=0), "1.5"), (number(above=0), "-0")):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)
    MaskSpec("random", 4.0, 0.2)
    MaskSpec("rect_equispaced", 8.0, 0.5)  # there the fraction is of the sampled lines
    MaskSpec("equispaced", 8.0, None)
    with pytest.raises(UsageError, match="below 0.125"):
        MaskSpec("equispaced_fraction", 8.0, 0.125)
