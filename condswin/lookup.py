"""Name → object lookup, done one way for models, losses, denoisers, routers and masks.

An unknown name is a :class:`condswin.errors.UsageError` whose message says what kind of thing was asked
for and lists every accepted name, and, when one is close, suggests it (``'bm3' — did you mean 'bm3d'?``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TypeVar

from condswin.errors import UsageError

__all__ = ["look_up", "unknown_name_message"]

T = TypeVar("T")


def unknown_name_message(kind: str, name: object, accepted: Iterable[str]) -> str:
    """``"unknown denoising method 'bm3'; did you mean 'bm3d'? accepted: mean, gaussian, ..."``."""
    accepted = list(accepted)
    close = difflib.get_close_matches(str(name), accepted, n=1) if isinstance(name, str) else []
    hint = f" did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r};{hint} accepted: {', '.join(accepted)}"


def look_up(kind: str, name: object, table: Mapping[str, T]) -> T:
    """The entry of ``table`` called ``name``.

    Args:
        kind: what the table holds, for the message (``"model name"``, ``"loss"``, ``"mask kind"``).
        name: the name asked for.
        table: accepted names → objects, in the order they should be listed.

    Raises:
        UsageError: ``name`` is not a key of ``table``.
    """
    if isinstance(name, str) and name in table:
        return table[name]
    raise UsageError(unknown_name_message(kind, name, table))
