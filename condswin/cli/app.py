"""The ``condswin`` command (also ``python -m condswin``): segment, reconstruct, denoise, evaluate, models, demo.

Heavy imports (torch, SimpleITK, the models) happen inside the commands, so ``condswin --help`` is quick.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from condswin import __version__
from condswin.cli import demo, denoise, evaluate, models, reconstruct, segment
from condswin.cli.errors import CANCELLED, EXIT_CODES_HELP, INTERNAL_ERROR, USAGE, exit_code_for
from condswin.cli.notices import reported_warnings
from condswin.cli.progress import Reporter
from condswin.cli.signals import install_handlers, record_exit_code, restore_handlers, settle

__all__ = ["build_parser", "main"]

COMMANDS = (segment, reconstruct, denoise, evaluate, models, demo)


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions as usual but keeps the exit-code table's lines as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("exit codes:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are also a JSON ``error`` line when ``--progress json`` was asked for.

    A program reading the JSON lines (the Slicer modules) then sees why the run stopped, as it does for every
    later error; the usual usage text still goes to stderr.
    """

    def __init__(self, *args: Any, json_errors: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.json_errors = json_errors

    def error(self, message: str) -> NoReturn:
        if self.json_errors:
            line = {"stage": "error", "done": 0, "total": 0, "message": f"{self.prog}: {message}", "code": USAGE}
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()
        super().error(message)  # usage and message on stderr, exit code 2


def wants_json(argv: Sequence[str]) -> bool:
    """Whether a command line asks for ``--progress json`` (looked at before it is parsed)."""
    argv = list(argv)
    return "--progress=json" in argv or any(
        a == "--progress" and b == "json" for a, b in zip(argv, argv[1:], strict=False)
    )


def build_parser(json_errors: bool = False) -> argparse.ArgumentParser:
    """The argument parser with every subcommand (each documents the exit codes in its epilog).

    Args:
        json_errors: usage errors also print a JSON ``error`` line on stdout (``--progress json``).
    """
    parser = _Parser(
        prog="condswin",
        json_errors=json_errors,
        description="ConditionalSwin: CT liver/tumour segmentation, MRI reconstruction and MRI denoising.",
        epilog=EXIT_CODES_HELP + "\n\n  See docs/cli.md for examples and the --progress json line format.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"condswin {__version__}")
    subparsers = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        parser_class=lambda **kwargs: _Parser(json_errors=json_errors, **kwargs),  # type: ignore[call-overload]  # argparse only calls it
    )
    subparsers.required = True
    for command in COMMANDS:
        command.add_parser(subparsers)
    for sub in subparsers.choices.values():
        sub.epilog = EXIT_CODES_HELP
        sub.formatter_class = _HelpFormatter
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see ``condswin --help``)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(json_errors=wants_json(argv))
    args = parser.parse_args(argv)  # exits with code 2 on a usage error
    reporter = Reporter(getattr(args, "progress", "none"))
    previous_handlers = install_handlers()
    code = INTERNAL_ERROR  # what an exception that escapes every handler below leaves
    try:
        code = _run(args, reporter)
    finally:
        reporter.close()
        record_exit_code(code)
        restore_handlers(previous_handlers)
    return code


def _run(args: argparse.Namespace, reporter: Reporter) -> int:
    """The command, with every way it can end turned into its exit code and one message."""
    try:
        with reported_warnings(reporter):
            code = int(args.run(args, reporter))
        settle()  # the work is done and published: a signal now must not make it a cancel
        return code
    except KeyboardInterrupt as exc:
        settle()  # a second signal must not cut the clean-up of the first short
        reporter.close()
        if reporter.is_json:
            reporter.event("cancelled", message=str(exc) or "cancelled")
        else:
            sys.stderr.write(f"cancelled{': ' + str(exc) if str(exc) else ''}\n")
        return CANCELLED
    except Exception as exc:  # noqa: BLE001 - every error becomes a documented exit code and one clear message
        settle()
        code = exit_code_for(exc)
        reporter.close()
        if code == INTERNAL_ERROR:
            traceback.print_exc()
        reporter.error(str(exc) or type(exc).__name__, code=code)
        if code == USAGE and not reporter.is_json:
            sys.stderr.write(f"run `condswin {args.command} --help` for the options\n")
        return code


if __name__ == "__main__":
    sys.exit(main())
