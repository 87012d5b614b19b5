"""Progress output: a tqdm bar for people, JSON lines for programs (the Slicer modules), or nothing.

JSON mode writes one object per line to stdout and flushes it at once::

    {"stage": "infer", "done": 16, "total": 48, "message": "", "file": "/data/ct.nii.gz"}

``stage`` is one of ``model`` (the bundle being loaded), ``start`` (an input begins), ``read``, ``infer``,
``denoise``, ``postprocess``, ``report``, ``write``, ``done`` (an input finished), ``warning`` (with the
``file`` it is about: see :mod:`condswin.cli.notices`), ``error`` (an input failed, or the run could not
start; usage errors of the argument parser included, with ``code`` 2), ``result`` (an input's
measurements), ``summary`` (last line of a run) and ``cancelled``. ``done``/``total`` count slices during
``infer`` and ``denoise`` and inputs otherwise. Extra keys (``file``, ``results``, ``code``) may appear;
readers must ignore keys they do not know. In the other modes human messages go to stderr and stdout stays free for
the summary table.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["PROGRESS_MODES", "Reporter"]

PROGRESS_MODES = ("auto", "bar", "json", "none")
_BAR_STAGES = {"infer", "denoise", "reconstruct"}


class Reporter:
    """Reports stages, warnings and errors in one of :data:`PROGRESS_MODES`.

    Args:
        mode: ``auto`` (a bar when stderr is a terminal, else ``none``), ``bar``, ``json`` or ``none``.
        out: stream for JSON lines and summaries (stdout).
        err: stream for bars and human messages (stderr).
    """

    def __init__(self, mode: str = "auto", out: TextIO | None = None, err: TextIO | None = None):
        if mode not in PROGRESS_MODES:
            raise ValueError(f"progress mode must be one of {', '.join(PROGRESS_MODES)}, got {mode!r}")
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.err, "isatty", lambda: False)() else "none"
        self.mode = mode
        self._bar: Any = None
        self._bar_key: tuple[str, str] | None = None

    @property
    def is_json(self) -> bool:
        """True in JSON-lines mode."""
        return self.mode == "json"

    def _json(self, payload: dict[str, Any]) -> None:
        self.out.write(json.dumps(payload, default=str) + "\n")
        self.out.flush()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._bar_key = None

    def _text(self, message: str) -> None:
        if self._bar is not None:
            self._bar.write(message, file=self.err)
        else:
            self.err.write(message + "\n")
            self.err.flush()

    def event(
        self, stage: str, done: int = 0, total: int = 0, message: str = "", file: str | None = None, **extra: Any
    ) -> None:
        """Report one step; a bar is drawn for slice-counting stages, other stages print their message."""
        if self.mode == "json":
            payload: dict[str, Any] = {"stage": stage, "done": int(done), "total": int(total), "message": message}
            if file is not None:
                payload["file"] = file
            payload.update(extra)
            self._json(payload)
            return
        if self.mode != "bar":
            return
        if stage in _BAR_STAGES and total > 0:
            key = (stage, file or "")
            if self._bar_key != key:
                from tqdm import tqdm

                self._close_bar()
                name = file.rsplit("/", 1)[-1] if file else ""
                self._bar = tqdm(total=total, desc=f"{name} {stage}".strip(), unit="slice", file=self.err, leave=False)
                self._bar_key = key
            self._bar.n = int(done)
            self._bar.refresh()
            if message:
                self._text(message)
            return
        self._close_bar()
        if message:
            self._text(message)

    def callback(self, stage: str, file: str | None) -> Callable[[int, int, str], None]:
        """A ``progress(done, total, message)`` callback for the inference engine or ``denoise``."""

        def report(done: int, total: int, message: str = "") -> None:
            self.event(stage, done, total, message, file=file)

        return report

    def warning(self, message: str, file: str | None = None) -> None:
        """A notice shown in every mode (stderr, or a ``warning`` line)."""
        if self.mode == "json":
            self.event("warning", message=message, file=file)
        else:
            self._text(f"warning: {message}")

    def error(self, message: str, file: str | None = None, code: int = 1) -> None:
        """An input that failed, shown in every mode (stderr, or an ``error`` line)."""
        if self.mode == "json":
            self.event("error", message=message, file=file, code=code)
        else:
            self._text(f"error: {message}")

    def result(self, text: str, payload: dict[str, Any], file: str | None = None) -> None:
        """Measurements of one input: a ``result`` line in JSON mode, else ``text`` on stdout."""
        if self.mode == "json":
            self.event("result", message=text, file=file, result=payload)
        else:
            self._close_bar()
            self.out.write(text + "\n")
            self.out.flush()

    def close(self) -> None:
        """Finish any bar."""
        self._close_bar()
