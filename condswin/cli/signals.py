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
from typing import Iterator, Optional

__all__ = ["Cancelled", "install_handlers", "critical_section"]

_state: dict[str, Optional[int]] = {"depth": 0, "pending": None}


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


def install_handlers() -> None:
    """Route SIGINT and SIGTERM to :class:`Cancelled` (call from the main thread)."""
    for name in ("SIGINT", "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _handler)


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
