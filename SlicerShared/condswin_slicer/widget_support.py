"""What the three module panels share: one run at a time driven by a timer, the progress bar, the log, Apply
that becomes Cancel, error display, dependencies installed after the user agreed.

Qt-free on purpose, so it is tested headless: :class:`RunController` is driven by its :meth:`~RunController.poll`
method and talks to the panel only through :class:`PanelView` (plain attribute writes on the ``.ui`` widgets)
and two callables that start and stop the panel's timer. Only :func:`poll_timer` touches Qt (imported inside).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from condswin_slicer.i18n import _
from condswin_slicer.install import ensure_dependencies
from condswin_slicer.process import ProcessCancelled, child_environment, list_models

__all__ = [
    "POLL_MS",
    "ModulePanel",
    "PanelView",
    "RunController",
    "dependencies_ready",
    "installed_models",
    "poll_timer",
]

POLL_MS = 100  # the GUI reads the child's JSON lines ten times a second
QUIET_STAGES = ("infer", "denoise")  # per-slice lines: shown by the progress bar, not logged


class PanelView:
    """The run controls every module's ``.ui`` holds: ``applyButton``, ``progressBar``, ``logTextEdit``, and
    the sections (collapsible buttons) that are disabled while a run goes on.

    Args:
        ui: the panel's widgets by object name (``slicer.util.childWidgetVariables``).
        sections: object names of the sections to disable while running.
        error_display: shows an error to the user (``slicer.util.errorDisplay`` in Slicer).
    """

    def __init__(self, ui: Any, sections: Sequence[str], error_display: Callable[[str], None]):
        self.ui = ui
        self.sections = list(sections)
        self.error_display = error_display

    def set_running(self, running: bool) -> None:
        self.ui.applyButton.text = _("Cancel") if running else _("Apply")
        self.ui.applyButton.toolTip = _("End the run; nothing is added") if running else _("Run on the chosen input")
        self.ui.progressBar.value = 0
        for name in self.sections:
            getattr(self.ui, name).enabled = not running

    def set_progress(self, fraction: float) -> None:
        self.ui.progressBar.value = round(100 * min(max(fraction, 0.0), 1.0))

    def log(self, text: str) -> None:
        self.ui.logTextEdit.appendPlainText(text)

    def show_error(self, text: str) -> None:
        self.error_display(text)


class RunController:
    """One run at a time for a panel: Apply starts a job, Apply again (now Cancel) cancels it, :meth:`poll`
    (from the panel's timer) moves the progress bar, logs the CLI's messages and, once the job finished,
    loads its results or shows why there are none.

    Args:
        view: the panel's :class:`PanelView` (or a fake in tests).
        start_timer, stop_timer: start and stop the timer that calls :meth:`poll`.
    """

    def __init__(self, view: Any, start_timer: Callable[[], None], stop_timer: Callable[[], None]):
        self.view = view
        self.start_timer = start_timer
        self.stop_timer = stop_timer
        self.job: Any = None
        self._on_done: Callable[[Any], None] | None = None
        self._failure_title = ""

    @property
    def running(self) -> bool:
        return self.job is not None

    def apply(self, start: Callable[[], Any], on_done: Callable[[Any], None], failure_title: str) -> bool:
        """Apply's click: cancel the running job, or start one with ``start()`` (returns a job); ``on_done``
        gets the job's outcome. False when nothing was started (cancelled, or ``start`` failed: shown)."""
        if self.job is not None:
            self.cancel()
            return False
        try:
            job = start()
        except Exception as error:  # noqa: BLE001 - a refused input or a failed start is shown, the panel stays usable
            self._show_failure(failure_title, error)
            return False
        self.job, self._on_done, self._failure_title = job, on_done, failure_title
        self.view.set_running(True)
        self.start_timer()
        return True

    def cancel(self) -> None:
        """Terminate the job's process without waiting; :meth:`poll` sees it end (and kills what is left)."""
        if self.job is not None:
            self.view.log(_("Cancelling..."))
            self.job.cancel(wait=False)

    def poll(self) -> None:
        """The timer's tick: never waits."""
        job = self.job
        if job is None:
            self.stop_timer()
            return
        for event in job.poll():
            if event.message and event.stage not in QUIET_STAGES:
                self.view.log(f"[{event.stage}] {event.message}")
        self.view.set_progress(job.fraction)
        if not job.finished:
            return
        self.job = None
        self.stop_timer()
        self.view.set_running(False)
        try:
            outcome = job.finish()
        except ProcessCancelled:
            self.view.log(_("Cancelled: the scene was left as it was."))
        except Exception as error:  # noqa: BLE001 - the CLI's message (or a load failure) is shown, the panel stays usable
            self._show_failure(self._failure_title, error)
        else:
            if self._on_done is not None:
                self._on_done(outcome)

    def cleanup(self) -> None:
        """The module is closed or reloaded: end a running job and remove its files, adding nothing."""
        job, self.job = self.job, None
        self.stop_timer()
        if job is not None:
            job.cancel(wait=True)
            try:
                job.finish()
            except ProcessCancelled:
                pass

    def _show_failure(self, title: str, error: BaseException) -> None:
        self.view.log(str(error))
        self.view.show_error(f"{title}\n{error}")


class ModulePanel:
    """Base of the three panels: Apply checks the dependencies, keeps the parameters in the scene's parameter
    node and starts (or, while running, cancels) the job; the timer polls it. Subclasses give ``parameters()``,
    ``start_job()`` (a job from the logic), ``show_outcome(outcome)`` and ``failure_title``.

    Args:
        ui: the panel's widgets by object name.
        requirements_path: the extension's ``requirements.txt``.
        store: the module's :class:`~condswin_slicer.parameters.ParameterStore`.
        scene: the MRML scene the parameters are kept in.
        sections: object names of the sections disabled while running.
        error_display, confirm: ``slicer.util.errorDisplay`` and ``slicer.util.confirmOkCancelDisplay``.
        timer_factory: makes the poll timer (:func:`poll_timer`; tests give a fake).
    """

    failure_title = ""

    def __init__(
        self,
        ui: Any,
        requirements_path: str,
        store: Any,
        scene: Any,
        sections: Sequence[str],
        error_display: Callable[[str], None],
        confirm: Callable[[str], bool],
        timer_factory: Callable[[Callable[[], None]], Any] | None = None,
    ):
        self.ui = ui
        self.requirements_path = requirements_path
        self.store = store
        self.scene = scene
        self.confirm = confirm
        self.view = PanelView(ui, sections, error_display)
        self.timer = (timer_factory or poll_timer)(self.poll)
        self.runner = RunController(self.view, self.timer.start, self.timer.stop)

    def parameters(self) -> Any:
        raise NotImplementedError

    def start_job(self) -> Any:
        raise NotImplementedError

    def show_outcome(self, outcome: Any) -> None:
        raise NotImplementedError

    def on_apply(self) -> None:
        if not self.runner.running:
            if not dependencies_ready(self.requirements_path, self.confirm, self.view):
                return
            self.store.save(self.scene, self.parameters())
        self.runner.apply(self.start_job, self.show_outcome, self.failure_title)

    def poll(self) -> None:
        self.runner.poll()

    def cleanup(self) -> None:
        self.runner.cleanup()


def dependencies_ready(requirements_path: str, confirm: Callable[[str], bool], view: Any) -> bool:
    """Install what is missing once the user agreed (never unasked); False, with a log line or an error shown,
    when the user declined or the installation failed."""
    try:
        ready = ensure_dependencies(requirements_path, confirm)
    except Exception as error:  # noqa: BLE001 - an installation failure is shown, the module stays usable
        view.show_error(_("Dependencies could not be installed:") + f"\n{error}")
        return False
    if not ready:
        view.log(_("Dependencies were not installed: nothing was run."))
    return ready


def installed_models(task: str, view: Any) -> list[tuple[str, str]]:
    """``(label, id)`` of the installed bundles of ``task`` (``condswin models --json`` in a child process, so
    a model selector never imports torch); on failure the log says why and the list is empty."""
    import os

    try:
        models = list_models(task, env={**os.environ, **child_environment()})
    except Exception as error:  # noqa: BLE001 - the panel stays usable; the log says why the list is empty
        view.log(_("Could not list the models: {error}").format(error=error))
        return []
    return [(f"{model.get('name') or model['id']} ({model['id']})", str(model["id"])) for model in models]


def poll_timer(callback: Callable[[], None], interval_ms: int = POLL_MS) -> Any:
    """A ``qt.QTimer`` that calls ``callback`` every ``interval_ms`` once started (inside Slicer only)."""
    import qt

    timer = qt.QTimer()
    timer.setInterval(interval_ms)
    timer.timeout.connect(callback)
    return timer
