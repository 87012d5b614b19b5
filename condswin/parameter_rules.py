"""What a method parameter given on the command line accepts, and the one check every method's parameters get.

Used by the classical denoisers (:mod:`condswin.denoise.methods`) and the compressed-sensing reconstructions
(:mod:`condswin.mri.compressed_sensing.methods`); it imports nothing heavy, so a command can check its
``--param`` values before any work without loading the methods themselves.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from condswin.errors import UsageError

__all__ = ["ParameterRule"]


@dataclass(frozen=True)
class ParameterRule:
    """What one method parameter accepts: a number of the default's type within bounds, or one of some names.

    Bounds keep a value from costing unbounded time or memory (a median over 100000² pixels) as well as
    from being meaningless; they are generous for 2-D MR slices.

    Attributes:
        kind: ``int``, ``float`` (ints accepted) or ``str``.
        low / high: inclusive bounds of a number (``low_open``: ``low`` itself is excluded).
        choices: accepted names of a ``str`` parameter, or a function returning them (looked up when checked).
        optional: ``None`` is accepted too (it selects the method's automatic choice).
        hint: describes the accepted names when they are too many to list.
    """

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None
    optional: bool = False
    hint: str = ""

    def check(self, method: str, name: str, value: Any) -> None:
        """Raise :class:`UsageError` naming ``method`` and ``name`` unless ``value`` is accepted."""
        if value is None and self.optional:
            return
        if self.kind is str:
            choices = self.choices() if callable(self.choices) else self.choices or ()
            if not isinstance(value, str) or value not in choices:
                close = difflib.get_close_matches(str(value), choices, n=1)
                accepted = self.hint or f"one of {', '.join(map(repr, choices))}"
                suggestion = f"; did you mean {close[0]!r}?" if close else ""
                raise UsageError(f"{method}: {name} must be {accepted}; got {value!r}{suggestion}")
            return
        if not self._is_number(value) or not self._in_range(value):
            raise UsageError(f"{method}: {name} must be {self.describe()}, got {value!r}")

    def _is_number(self, value: Any) -> bool:
        integers = (int, np.integer)
        accepted = integers if self.kind is int else (*integers, float, np.floating)
        return not isinstance(value, bool) and isinstance(value, accepted) and math.isfinite(float(value))

    def _in_range(self, value: Any) -> bool:
        above = self.low is None or value > self.low or (value == self.low and not self.low_open)
        return above and (self.high is None or value <= self.high)

    def describe(self) -> str:
        """What is accepted, e.g. ``"a positive integer up to 31"`` or ``"an integer from 0 to 8"``."""
        noun = "integer" if self.kind is int else "finite number"
        positive = (self.low == 0 and self.low_open) or (self.kind is int and self.low == 1)
        if positive:
            text = f"a positive {noun}" + ("" if self.high is None else f" up to {self.high:g}")
        else:
            text = f"{'an' if noun == 'integer' else 'a'} {noun} from {self.low:g}"
            text += "" if self.high is None else f" to {self.high:g}"
        return text + (" (or null for automatic)" if self.optional else "")
