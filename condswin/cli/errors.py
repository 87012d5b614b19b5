"""Exit codes of the ``condswin`` command and the mapping from exceptions to them (also for ``Training/*.py``)."""

from __future__ import annotations

import sys
import traceback

from condswin.errors import CondswinError, InputError, JobCancelled, ModelError, OutputError, UsageError

__all__ = [
    "OK",
    "SOME_FAILED",
    "USAGE",
    "BAD_INPUT",
    "MODEL_ERROR",
    "OUTPUT_ERROR",
    "INTERNAL_ERROR",
    "CANCELLED",
    "EXIT_CODES_HELP",
    "EXIT_MESSAGES",
    "UsageError",
    "OutputError",
    "exit_code_for",
    "report_script_failure",
]

OK = 0
SOME_FAILED = 1
USAGE = 2
BAD_INPUT = 3
MODEL_ERROR = 4
OUTPUT_ERROR = 5
INTERNAL_ERROR = 70
CANCELLED = 130

EXIT_CODES_HELP = """exit codes:
  0    success (every input processed)
  1    a batch ran but some inputs failed (each failure is reported; the others were written)
  2    usage error (bad option values, an output that would replace an input, nothing to do)
  3    bad input file (missing, unreadable, corrupt, wrong kind of image)
  4    model/bundle error (no model available, invalid card, sha256 mismatch, weights do not fit)
  5    output error (output exists without --overwrite, or cannot be written)
  70   internal error (a bug: please report it with the traceback)
  130  cancelled (SIGINT/SIGTERM/SIGHUP); the output being written is removed, finished ones are kept"""

# What an exit code means in a few words: the message a caller running the command (the Slicer modules) shows
# when the command printed no error of its own.
EXIT_MESSAGES: dict[int, str] = {
    OK: "success",
    SOME_FAILED: "some inputs of the batch failed",
    USAGE: "usage error: bad options or option values",
    BAD_INPUT: "bad input file",
    MODEL_ERROR: "model error: no model available, invalid card, checksum mismatch or weights that do not fit",
    OUTPUT_ERROR: "output error: the output exists or cannot be written",
    INTERNAL_ERROR: "internal error in condswin (a bug: see the log for the traceback)",
    CANCELLED: "cancelled",
}


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code of an exception: from the :mod:`condswin.errors` family only.

    Anything outside the family (a ``ValueError`` or ``OSError`` from a bug included) is an internal error,
    so a bug is reported as one, with its traceback, instead of being blamed on the input.
    """
    if isinstance(exc, (KeyboardInterrupt, JobCancelled)):
        return CANCELLED
    for family, code in _CODES:
        if isinstance(exc, family):
            return code
    return INTERNAL_ERROR


_CODES: tuple[tuple[type[CondswinError], int], ...] = (
    (UsageError, USAGE),
    (InputError, BAD_INPUT),
    (ModelError, MODEL_ERROR),
    (OutputError, OUTPUT_ERROR),
)


def report_script_failure(exc: BaseException, prog: str) -> int:
    """Say on stderr why a script (``Training/train.py`` and its siblings) stopped; return its exit code.

    An error of the family is one line naming ``prog`` and the problem, with the family's code; an interruption
    is 130; anything else is a bug: its traceback is printed and the code is 70 (never 1, which a training script
    keeps for a run Lightning stopped after an interruption). ``SystemExit`` is raised again, so that the code of
    argparse or of Lightning's graceful shutdown stands.
    """
    if isinstance(exc, SystemExit):
        raise exc
    code = exit_code_for(exc)
    if code == INTERNAL_ERROR:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        print(f"{prog}: internal error (a bug; please report it with the traceback above)", file=sys.stderr)
    elif code == CANCELLED:
        print(f"{prog}: interrupted{': ' + str(exc) if str(exc) else ''}", file=sys.stderr)
    else:
        print(f"{prog}: error: {exc}", file=sys.stderr)
    return code
