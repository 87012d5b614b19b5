"""SIGINT/SIGTERM handling: stop at once, except while finished outputs are being renamed into place.

The Slicer modules cancel a run by terminating the process, so SIGTERM must behave like Ctrl-C: the handler
raises :class:`Cancelled` (a ``KeyboardInterrupt``) in the main thread, every write in progress removes its
temporary file on the way out, and the command exits with code 130. Renaming a job's finished files into
place is a short critical section: a signal arriving then is held until the renames are done, so a job
leaves either all of its outputs or none.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["Cancelled", "install_handlers", "restore_handlers", "critical_section"]

_state: dict[str, int | None] = {"depth": 0, "pending": None}


class Cancelled(KeyboardInterrupt):
    """Raised by the signal handler; carries the signal number."""

    def __init__(self, signum: int):
        super().__init__(f"cancelled by {signal.Signals(signum).name}")
        self.signum = signum


def _handler(signum: int, frame: object) -> None:  # noqa: ARG001 - signal handler signature
    if _state["depth"]:
        _state["pending"] = signum
        return
    raise Cancelled(signum)


def install_handlers() -> dict[int, Any]:
    """Route SIGINT and SIGTERM to :class:`Cancelled`; returns the previous handlers for :func:`restore_handlers`.

    Outside the main thread (an embedding application's worker) signals cannot be handled; nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for name in ("SIGINT", "SIGTERM"):
        if hasattr(signal, name):
            number = getattr(signal, name)
            previous[number] = signal.signal(number, _handler)
    return previous


def restore_handlers(previous: dict[int, Any]) -> None:
    """Put back the handlers :func:`install_handlers` replaced (for callers that run ``main`` in-process)."""
    for number, handler in previous.items():
        signal.signal(number, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def critical_section() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block ends, then act on them."""
    _state["depth"] = (_state["depth"] or 0) + 1
    try:
        yield
    finally:
        _state["depth"] = (_state["depth"] or 1) - 1
        pending = _state["pending"]
        if not _state["depth"] and pending is not None:
            _state["pending"] = None
            raise Cancelled(pending)
