"""One module run: its ``condswin`` commands, one after the other, in a temporary folder the run owns, and the
loading of their results into the scene once every command succeeded.

The same object serves the two ways a module runs:

* the GUI: a timer calls :meth:`CliJob.poll` (never waits) until :attr:`CliJob.finished`, then
  :meth:`CliJob.finish`; Cancel calls ``cancel(wait=False)`` and the timer keeps polling until the process
  tree is gone;
* batch scripts and tests: :meth:`CliJob.wait` does that loop itself.

Whatever happens, :meth:`CliJob.finish` removes the run folder; results reach the scene only through
``load``, which runs only when every command succeeded, so a failed or cancelled run leaves the scene as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from condswin_slicer.mrml import RunFolder
from condswin_slicer.process import ProcessCancelled, ProcessFailed, ProgressEvent, RunResult

__all__ = ["CliJob", "EventCallback"]

T = TypeVar("T")
EventCallback = Callable[[ProgressEvent], None]


class CliJob(Generic[T]):
    """Run ``steps`` (argument lists of ``condswin``) in turn, each in a process from ``process_factory``.

    Args:
        process_factory: makes a process with the runner's interface (``start``, ``poll``, ``finished``,
            ``result``, ``cancel``); tests pass fakes.
        folder: the run's temporary folder; removed by :meth:`finish` (and here when the first start fails).
        steps: the argument lists, run in this order; a failed step ends the job.
        load: turns the steps' results into the outcome (adds nodes to the scene); runs only on success.
    """

    def __init__(
        self,
        process_factory: Callable[[], Any],
        folder: RunFolder,
        steps: Sequence[Sequence[str]],
        load: Callable[[list[RunResult]], T],
    ):
        if not steps:
            raise ValueError("a job needs at least one condswin command")
        self.process_factory = process_factory
        self.folder = folder
        self.load = load
        self.total_steps = len(steps)
        self.processes: list[Any] = []
        self._pending = [list(step) for step in steps]
        self._results: list[RunResult] = []
        self._failure: BaseException | None = None
        self._cancelled = False
        self._step_fraction = 0.0
        try:
            self._start_next()
        except BaseException:
            folder.remove()
            raise

    def _start_next(self) -> None:
        process = self.process_factory()
        self.processes.append(process)
        process.start(self._pending.pop(0))
        self._step_fraction = 0.0

    @property
    def process(self) -> Any:
        """The process of the current step."""
        return self.processes[-1]

    @property
    def finished(self) -> bool:
        """True when the last step (or a failed or cancelled one) has ended; then call :meth:`finish`."""
        return self.process.finished and (not self._pending or self._failure is not None or self._cancelled)

    @property
    def fraction(self) -> float:
        """Progress of the whole job in [0, 1] (each step weighs the same)."""
        return min((len(self._results) + self._step_fraction) / self.total_steps, 1.0)

    def poll(self) -> list[ProgressEvent]:
        """The events since the last call; starts the next step when one succeeded. Never waits."""
        events = self.process.poll()
        for event in events:
            if event.fraction is not None:
                self._step_fraction = event.fraction
        if self.process.finished and self._pending and self._failure is None and not self._cancelled:
            try:
                self._results.append(self.process.result())
            except (ProcessFailed, ProcessCancelled) as error:
                self._failure = error
            else:
                self._start_next()
        return events

    def cancel(self, wait: bool = True) -> None:
        """End the current step's process tree (no later step starts). ``wait=False`` returns at once: keep
        calling :meth:`poll` until :attr:`finished`, then :meth:`finish` (which raises ``ProcessCancelled``)."""
        self._cancelled = True
        self.process.cancel(wait=wait)
        if wait:
            while not self.process.finished:
                self.process.poll()

    def finish(self) -> T:
        """The outcome (``load`` of every step's result); raises ``ProcessFailed`` or ``ProcessCancelled``
        (nothing loaded) otherwise. Removes the run folder in every case."""
        try:
            if self._failure is not None:
                raise self._failure
            if not self.finished:
                raise RuntimeError("the condswin job has not finished")
            results = [*self._results, self.process.result()]
            return self.load(results)
        finally:
            self.folder.remove()

    def wait(
        self,
        on_event: EventCallback | None = None,
        should_cancel: Callable[[], bool] | None = None,
        interval: float = 0.05,
    ) -> T:
        """The blocking path (batch scripts, tests): poll until finished, then :meth:`finish`.

        ``on_event`` sees every event; ``should_cancel`` (asked between polls) returning True cancels the job.
        """
        try:
            while True:
                for event in self.poll():
                    if on_event is not None:
                        on_event(event)
                if self.finished:
                    break
                if should_cancel is not None and not self._cancelled and should_cancel():
                    self.cancel()
                    continue
                time.sleep(interval)
        except BaseException:
            self.cancel()
            self.folder.remove()
            raise
        return self.finish()
