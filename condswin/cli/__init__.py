"""The ``condswin`` command line: ``segment``, ``reconstruct``, ``denoise``, ``evaluate``, ``models``.

One module per command (``add_parser`` + ``run``); :mod:`condswin.cli.batch` holds inputs, outputs and the
batch loop, :mod:`condswin.cli.progress` the bar / JSON-lines output, :mod:`condswin.cli.errors` the exit
codes. Documented for users in ``docs/cli.md``.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``condswin`` script and ``python -m condswin``; returns the exit code.

    Without ``argv`` this is the program itself (the arguments are ``sys.argv``): a signal after the run then
    ends the process with the run's exit code (:func:`condswin.cli.signals.exit_on_signals`). With ``argv``
    (a caller running the command in its own process) the caller's signal handlers are left as they were.
    """
    from condswin.cli.app import main as _main

    if argv is None:
        from condswin.cli.signals import exit_on_signals

        exit_on_signals()
    return _main(argv)


__all__ = ["main"]
