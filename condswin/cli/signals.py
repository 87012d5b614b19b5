"""SIGINT/SIGTERM/SIGHUP handling: stop at once, except while finished outputs are being renamed into place.

The Slicer modules cancel a run by terminating the process, and closing the terminal sends SIGHUP, so both
must behave like Ctrl-C: the handler raises :class:`Cancelled` (a ``KeyboardInterrupt``) in the main thread,
every write in progress removes its temporary file on the way out, and the command exits with code 130.
Renaming a job's finished files into place is a short critical section: a signal arriving then is held
until the renames are done, so a job leaves either all of its outputs or none.

Once a run's outcome is decided (a cancel is unwinding, an error is being reported, or the work is done,
:func:`settle`), further signals change nothing: a second SIGTERM must not cut the clean-up of the first
short, and a signal after the summary must not turn finished work into a cancel. When ``condswin`` runs as
the program (:func:`exit_on_signals`), a signal after the run ends the process at once with the run's exit
code, instead of killing it by the signal or interrupting the interpreter's shutdown with a traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from condswin.cli.errors import CANCELLED

__all__ = [
    "Cancelled",
    "HANDLED_SIGNALS",
    "install_handlers",
    "restore_handlers",
    "critical_section",
    "settle",
    "exit_on_signals",
    "record_exit_code",
]

# SIGHUP does not exist on Windows; the names missing on a platform are skipped.
HANDLED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")

_state: dict[str, Any] = {"depth": 0, "pending": None, "settled": False, "exit_code": None}


class Cancelled(KeyboardInterrupt):
    """Raised by the signal handler; carries the signal number."""

    def __init__(self, signum: int):
        super().__init__(f"cancelled by {signal.Signals(signum).name}")
        self.signum = signum


def _handler(signum: int, frame: object) -> None:  # noqa: ARG001 - signal handler signature
    if _state["settled"]:
        return
    if _state["depth"]:
        _state["pending"] = signum
        return
    _state["settled"] = True
    raise Cancelled(signum)


def _signal_numbers() -> list[int]:
    return [getattr(signal, name) for name in HANDLED_SIGNALS if hasattr(signal, name)]


def install_handlers() -> dict[int, Any]:
    """Route SIGINT, SIGTERM and SIGHUP to :class:`Cancelled` for a new run; returns the previous handlers for
    :func:`restore_handlers`.

    Outside the main thread (an embedding application's worker) signals cannot be handled; nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    _state.update(depth=0, pending=None, settled=False)
    return {number: signal.signal(number, _handler) for number in _signal_numbers()}


def restore_handlers(previous: dict[int, Any]) -> None:
    """Put back the handlers :func:`install_handlers` replaced (for callers that run ``main`` in-process)."""
    for number, handler in previous.items():
        signal.signal(number, handler if handler is not None else signal.SIG_DFL)


def settle() -> None:
    """The run's outcome is decided: from now on signals are ignored until the next :func:`install_handlers`."""
    _state["settled"] = True


@contextlib.contextmanager
def critical_section() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP until the block ends, then act on them."""
    _state["depth"] = (_state["depth"] or 0) + 1
    try:
        yield
    finally:
        _state["depth"] = (_state["depth"] or 1) - 1
        pending = _state["pending"]
        if not _state["depth"] and pending is not None:
            _state["pending"] = None
            if not _state["settled"]:
                _state["settled"] = True
                raise Cancelled(pending)


def record_exit_code(code: int) -> None:
    """The exit code of the run that just ended: what a signal after it exits with (:func:`exit_on_signals`)."""
    _state["exit_code"] = code


def _exit_now(signum: int, frame: object) -> None:  # noqa: ARG001 - signal handler signature
    code = _state["exit_code"]
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a stream closed or in use: what it holds is lost, not the code
            stream.flush()
    os._exit(CANCELLED if code is None else int(code))


def exit_on_signals() -> None:
    """For the program itself (the ``condswin`` script, ``python -m condswin``), not for ``main`` called
    in-process: until the process ends, a signal outside a run ends it at once with the run's recorded exit
    code (130 before a run has one). Outputs are already published or removed by then; what is left of the
    process (the interpreter's shutdown, torch's exit handlers) has nothing to lose.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for number in _signal_numbers():
        signal.signal(number, _exit_now)
