"""Option values of every command: each is refused before any input is read or model loaded (exit 2).

* Argument types (:func:`number`, :func:`integer`, :func:`numbers`) refuse a bad value while the command line is
  parsed: a value outside its range is a usage error with the option's name and the accepted range, instead of a
  failure halfway through a batch (or a crash on ``--acceleration 1e308``). Used as
  ``parser.add_argument("--sigma", type=number(above=0))``.
* :func:`parse_params` reads the repeatable ``--param KEY=VALUE`` of the commands whose methods take parameters
  (``denoise``, ``reconstruct``); each method then checks its own.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from typing import Any

from condswin.errors import UsageError

__all__ = ["integer", "number", "numbers", "parse_params"]


def _describe(kind: str, low: float | None, high: float | None, above: float | None) -> str:
    """``"a finite number in [1, 64]"``, ``"a finite number > 0"``, ``"an integer >= 1"``, ..."""
    noun = "a finite number" if kind == "number" else "an integer"
    if above is not None:
        return f"{noun} > {above:g}" + ("" if high is None else f" and <= {high:g}")
    if low is not None and high is not None:
        return f"{noun} in [{low:g}, {high:g}]" if kind == "number" else f"{noun} in [{low}, {high}]"
    if low is not None:
        return f"{noun} >= {low:g}"
    return noun if high is None else f"{noun} <= {high:g}"


def number(
    *, low: float | None = None, high: float | None = None, above: float | None = None
) -> Callable[[str], float]:
    """An argparse type: a finite float within ``[low, high]`` (or ``(above, high]``).

    Args:
        low: smallest accepted value (inclusive).
        high: largest accepted value (inclusive).
        above: the value must be strictly greater than this (instead of ``low``).

    Returns:
        A function that parses the text or raises ``argparse.ArgumentTypeError`` (argparse's usage error).
    """
    wanted = _describe("number", low, high, above)

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if (
            not math.isfinite(value)
            or (low is not None and value < low)
            or (above is not None and value <= above)
            or (high is not None and value > high)
        ):
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text}")
        return value

    parse.__name__ = "number"  # argparse names the type in some messages
    return parse


def integer(*, low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer within ``[low, high]`` (see :func:`number`)."""
    wanted = _describe("integer", low, high, None)

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def numbers(*, low: float, high: float) -> Callable[[str], tuple[float, ...]]:
    """An argparse type: comma-separated finite floats, each within ``[low, high]`` (``"0,0,2"`` → (0.0, 0.0, 2.0))."""
    wanted = f"comma-separated finite numbers in [{low:g}, {high:g}]"

    def parse(text: str) -> tuple[float, ...]:
        try:
            values = tuple(float(part) for part in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if not all(math.isfinite(v) and low <= v <= high for v in values):
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
        return values

    parse.__name__ = "numbers"
    return parse


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["h_factor=0.8", "wavelet=db2"]`` → ``{"h_factor": 0.8, "wavelet": "db2"}`` (JSON values, else text).

    Raises:
        UsageError: an item that is not KEY=VALUE, or a key given twice (which value was meant is not known).
    """
    params: dict[str, Any] = {}
    given: dict[str, str] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--param expects KEY=VALUE, got {item!r}")
        if key in given:
            raise UsageError(f"--param {key} is given twice ({given[key]!r} and {item!r}); give each parameter once")
        given[key] = item
        try:
            params[key] = json.loads(text)
        except json.JSONDecodeError:
            params[key] = text
    return params
