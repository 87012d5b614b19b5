"""The ``condswin`` command line: ``segment``, ``reconstruct``, ``denoise``, ``evaluate``, ``models``.

One module per command (``add_parser`` + ``run``); :mod:`condswin.cli.batch` holds inputs, outputs and the
batch loop, :mod:`condswin.cli.progress` the bar / JSON-lines output, :mod:`condswin.cli.errors` the exit
codes. Documented for users in ``docs/cli.md``.
"""


def main(argv=None) -> int:
    """Entry point of the ``condswin`` script and ``python -m condswin``; returns the exit code."""
    from condswin.cli.app import main as _main

    return _main(argv)


__all__ = ["main"]
