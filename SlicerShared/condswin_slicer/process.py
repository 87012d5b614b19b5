"""Run ``python -m condswin COMMAND ... --progress json`` in a separate process and read its JSON lines.

Two ways to use one :class:`CondswinProcess`:

* blocking (batch scripts, tests): ``process.run(args, on_event=...)`` returns a :class:`RunResult` or raises
  :class:`ProcessFailed` / :class:`ProcessCancelled`;
* non-blocking (the Slicer GUI): ``process.start(args)``, then a timer calls ``process.poll()`` (the events
  that arrived, never waits) until ``process.finished``, then ``process.result()``.

``cancel()`` terminates the child (SIGTERM: the CLI removes its temporary files and exits 130), waits a
grace period, then kills whatever is left of its process tree (the child runs in its own session / process
group). ``cancel(wait=False)`` (the GUI) only sends SIGTERM; the following ``poll()`` calls kill what is left
once the child has exited or the grace period is over, so the GUI never waits. The child's environment is
given per process (``env=``), never by editing ``os.environ``.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from condswin.cli.errors import CANCELLED, EXIT_MESSAGES

__all__ = [
    "CondswinProcess",
    "ProcessCancelled",
    "ProcessFailed",
    "ProgressEvent",
    "RunResult",
    "child_environment",
    "condswin_command",
    "default_process",
    "exit_message",
    "list_models",
]

_STDERR_KEEP = 8000  # characters of stderr kept for messages (a traceback's end)


def exit_message(code: int) -> str:
    """What a ``condswin`` exit code means (codes from a signal are negative in :mod:`subprocess`)."""
    if code in EXIT_MESSAGES:
        return EXIT_MESSAGES[code]
    if code < 0:
        return f"the process was ended by signal {-code}"
    return f"condswin exited with code {code}"


@dataclass(frozen=True)
class ProgressEvent:
    """One JSON line of ``--progress json`` (unknown keys are kept in ``raw`` and otherwise ignored)."""

    stage: str
    done: int = 0
    total: int = 0
    message: str = ""
    file: str | None = None
    code: int | None = None
    result: dict[str, Any] | None = None
    results: list[Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_line(cls, line: str) -> ProgressEvent | None:
        """The event of one stdout line; ``None`` for a line that is not a JSON object with a ``stage``."""
        try:
            payload = json.loads(line)
        except ValueError:
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("stage"), str):
            return None

        def number(key: str) -> int:
            value = payload.get(key, 0)
            return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0

        code = payload.get("code")
        result = payload.get("result")
        results = payload.get("results")
        return cls(
            stage=payload["stage"],
            done=number("done"),
            total=number("total"),
            message=str(payload.get("message", "")),
            file=str(payload["file"]) if payload.get("file") is not None else None,
            code=int(code) if isinstance(code, int) and not isinstance(code, bool) else None,
            result=result if isinstance(result, dict) else None,
            results=results if isinstance(results, list) else None,
            raw=payload,
        )

    @property
    def fraction(self) -> float | None:
        """``done / total`` in [0, 1] when the line counts something, else ``None``."""
        if self.total <= 0:
            return None
        return min(max(self.done / self.total, 0.0), 1.0)


@dataclass
class RunResult:
    """What a finished run printed: every event, the per-input results and the summary."""

    returncode: int
    events: list[ProgressEvent]
    stderr: str = ""

    @property
    def results(self) -> list[dict[str, Any]]:
        return [event.result for event in self.events if event.stage == "result" and event.result is not None]

    @property
    def warnings(self) -> list[str]:
        return [event.message for event in self.events if event.stage == "warning"]

    @property
    def errors(self) -> list[ProgressEvent]:
        return [event for event in self.events if event.stage == "error"]

    @property
    def summary(self) -> ProgressEvent | None:
        return next((event for event in reversed(self.events) if event.stage == "summary"), None)


class ProcessFailed(RuntimeError):
    """The CLI exited with an error; ``str()`` is the CLI's own message (its ``error`` lines), else the exit
    code's meaning and the end of stderr."""

    def __init__(self, result: RunResult):
        self.result = result
        self.returncode = result.returncode
        messages = [event.message for event in result.errors if event.message]
        if messages:
            text = "\n".join(messages)
        else:
            text = exit_message(result.returncode)
            tail = result.stderr.strip().splitlines()[-1:] if result.stderr.strip() else []
            if tail:
                text = f"{text}: {tail[0]}"
        self.message = text
        super().__init__(text)


class ProcessCancelled(RuntimeError):
    """The run was cancelled (by :meth:`CondswinProcess.cancel` or a signal); nothing of it was kept."""

    def __init__(self, result: RunResult):
        self.result = result
        super().__init__("cancelled")


def condswin_command(args: Sequence[str], python: str | None = None) -> list[str]:
    """``[python, "-m", "condswin", *args, "--progress", "json"]`` (``python`` defaults to this interpreter;
    in Slicer that is ``PythonSlicer``)."""
    return [python or _default_python(), "-m", "condswin", *map(str, args), "--progress", "json"]


def _default_python() -> str:
    # Inside Slicer sys.executable is the Slicer application itself: its sibling PythonSlicer runs scripts.
    executable = os.path.basename(sys.executable).lower()
    if executable.startswith("slicer"):
        folder = os.path.dirname(sys.executable)
        for name in ("PythonSlicer.exe", "PythonSlicer"):
            candidate = os.path.join(folder, "bin", name) if os.path.isdir(os.path.join(folder, "bin")) else ""
            for path in (candidate, os.path.join(folder, name)):
                if path and os.path.isfile(path):
                    return path
    return sys.executable


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Variables for the ``condswin`` child only: ``PYTHONPATH`` leads with the folder that holds the
    ``condswin`` package (the extension installs it next to the modules), then ``extra``."""
    spec = find_spec("condswin")
    env: dict[str, str] = {}
    if spec is not None and spec.origin:
        root = str(Path(spec.origin).resolve().parents[1])
        current = os.environ.get("PYTHONPATH", "")
        env["PYTHONPATH"] = root + (os.pathsep + current if current else "")
    env.update(extra or {})
    return env


def default_process() -> CondswinProcess:
    """The real CLI process the modules use; its own ``PYTHONPATH`` finds the condswin package installed
    beside the modules."""
    return CondswinProcess(extra_env=child_environment())


class CondswinProcess:
    """One ``condswin`` run at a time in a child process.

    Args:
        python: interpreter that runs ``-m condswin`` (default: this one, or ``PythonSlicer`` in Slicer).
        env: the child's complete environment (default: a copy of this process's); ``extra_env`` is added.
        extra_env: variables set for the child only (e.g. ``PYTHONPATH``, ``CONDSWIN_MODEL_PATH``).
        cwd: the child's working folder.
        grace_seconds: how long :meth:`cancel` waits after SIGTERM before killing the process tree.
    """

    def __init__(
        self,
        python: str | None = None,
        env: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        grace_seconds: float = 10.0,
    ):
        self.python = python
        self.env = dict(os.environ if env is None else env)
        self.env.update(extra_env or {})
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.cwd = cwd
        self.grace_seconds = grace_seconds
        self._popen: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        self._threads: list[threading.Thread] = []
        self._events: list[ProgressEvent] = []
        self._cancelled = False
        self._kill_at: float | None = None  # when a cancel without waiting kills what is left of the tree
        self._stdout_closed = False

    # --- non-blocking interface -----------------------------------------------------------------------------
    def start(self, args: Sequence[str]) -> None:
        """Start ``condswin ARGS --progress json``; a second run while one is running is an error."""
        if self.running:
            raise RuntimeError("a condswin process is already running")
        self._lines = queue.Queue()
        self._stderr = []
        self._events = []
        self._cancelled = False
        self._kill_at = None
        self._stdout_closed = False
        kwargs: dict[str, Any] = {}
        if sys.platform == "win32":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | getattr(subprocess, "CREATE_NO_WINDOW", 0)
        else:
            kwargs["start_new_session"] = True  # its own process group: cancel ends the whole tree
        self._popen = subprocess.Popen(
            condswin_command(args, self.python),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=self.env,
            cwd=self.cwd,
            **kwargs,
        )
        # Reader threads: pipes cannot be read without blocking on every platform, and an unread stderr
        # pipe that fills up would stall the child.
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(self._popen.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self._popen.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self, stream: Any) -> None:
        try:
            for line in stream:
                self._lines.put(line)
        finally:
            self._lines.put(None)

    def _read_stderr(self, stream: Any) -> None:
        kept = 0
        for chunk in stream:
            self._stderr.append(chunk)
            kept += len(chunk)
            while kept > _STDERR_KEEP and len(self._stderr) > 1:
                kept -= len(self._stderr.pop(0))

    @property
    def running(self) -> bool:
        """True from :meth:`start` until the child has exited and all its output is read."""
        return self._popen is not None and not self.finished

    @property
    def finished(self) -> bool:
        """True once the child has exited and every line it printed went through :meth:`poll`."""
        return self._popen is not None and self._stdout_closed and self._popen.poll() is not None

    @property
    def returncode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def poll(self) -> list[ProgressEvent]:
        """The events printed since the last call; never waits. After ``cancel(wait=False)`` it also kills
        what is left of the process tree once the child has exited or the grace period is over."""
        if self._kill_at is not None and self._popen is not None:
            if self._popen.poll() is not None or time.monotonic() >= self._kill_at:
                self._kill_at = None
                self._kill_tree(self._popen)
        events = []
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line is None:
                self._stdout_closed = True
                break
            event = ProgressEvent.from_line(line)
            if event is not None:
                events.append(event)
        self._events.extend(events)
        return events

    def result(self) -> RunResult:
        """The finished run; raises :class:`ProcessCancelled` or :class:`ProcessFailed` unless it succeeded."""
        if self._popen is None or not self.finished:
            raise RuntimeError("the condswin process has not finished")
        if self._cancelled:  # a grandchild that outlived the child (and closed its stdout) ends here too
            self._kill_at = None
            self._kill_tree(self._popen)
        for thread in self._threads:
            thread.join(timeout=5)
        code = self._popen.returncode
        result = RunResult(code, list(self._events), "".join(self._stderr))
        if self._cancelled or code == CANCELLED or any(e.stage == "cancelled" for e in self._events):
            raise ProcessCancelled(result)
        if code != 0:
            raise ProcessFailed(result)
        return result

    def cancel(self, wait: bool = True) -> None:
        """Terminate the child (so it removes its temporary files), then kill what is left of its tree after
        ``grace_seconds``; returns when the child has exited. With ``wait=False`` it returns at once and
        :meth:`poll` does the rest (the GUI's timer keeps polling until :attr:`finished`)."""
        popen = self._popen
        if popen is None:
            return
        first = not self._cancelled
        self._cancelled = True
        if first and popen.poll() is None:
            if sys.platform == "win32":
                popen.terminate()
            else:
                _signal_group(popen.pid, signal.SIGTERM, leader_only=True)
        if not wait:
            if self._kill_at is None and first:
                self._kill_at = time.monotonic() + self.grace_seconds
            return
        self._kill_at = None
        if popen.poll() is None:
            try:
                popen.wait(timeout=self.grace_seconds)
            except subprocess.TimeoutExpired:
                pass
        self._kill_tree(popen)
        popen.wait()

    @staticmethod
    def _kill_tree(popen: subprocess.Popen[str]) -> None:
        if sys.platform == "win32":
            if popen.poll() is None:
                subprocess.run(["taskkill", "/T", "/F", "/PID", str(popen.pid)], capture_output=True, check=False)
            return
        _signal_group(popen.pid, signal.SIGKILL, leader_only=False)

    # --- blocking interface ---------------------------------------------------------------------------------
    def run(
        self,
        args: Sequence[str],
        on_event: Callable[[ProgressEvent], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
        interval: float = 0.05,
    ) -> RunResult:
        """Start, wait and return :meth:`result`; ``on_event`` sees every event as it arrives and
        ``should_cancel`` (asked between reads) ends the run like :meth:`cancel`."""
        self.start(args)
        try:
            while not self.finished:
                for event in self.poll():
                    if on_event is not None:
                        on_event(event)
                if should_cancel is not None and should_cancel() and not self._cancelled:
                    self.cancel()
                if not self.finished:
                    time.sleep(interval)
        except BaseException:
            self.cancel()
            raise
        for event in self.poll():
            if on_event is not None:
                on_event(event)
        return self.result()


def _signal_group(pid: int, signum: int, leader_only: bool) -> None:
    """Send ``signum`` to the child (``leader_only``) or to its whole process group (the child was started
    as a session leader, so its group id is its pid); a group with no process left is fine."""
    try:
        if leader_only:
            os.kill(pid, signum)
        else:
            os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def list_models(
    task: str | None = None,
    python: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> list[dict[str, Any]]:
    """The installed model bundles (``condswin models --json`` in a child process), those of ``task`` only
    when given; raises :class:`ProcessFailed` with the CLI's message when the listing fails."""
    completed = subprocess.run(
        [python or _default_python(), "-m", "condswin", "models", "--json"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=dict(os.environ if env is None else env),
        timeout=timeout,
        check=False,
    )
    try:
        listing = json.loads(completed.stdout) if completed.returncode == 0 else None
    except ValueError:
        listing = None
    if not isinstance(listing, dict):
        lines = [ProgressEvent.from_line(line) for line in completed.stdout.splitlines()]
        events = [event for event in lines if event is not None]
        raise ProcessFailed(RunResult(completed.returncode or 70, events, completed.stderr))
    models = [m for m in listing.get("models", []) if isinstance(m, dict)]
    return [m for m in models if task is None or m.get("task") == task]
