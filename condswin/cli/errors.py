"""Exit codes of the ``condswin`` command and the mapping from exceptions to them."""

from __future__ import annotations

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
    "UsageError",
    "OutputError",
    "exit_code_for",
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
  130  cancelled (SIGINT/SIGTERM); the output being written is removed, finished ones are kept"""


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
