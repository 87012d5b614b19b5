"""What the three panels share, without Qt (``SlicerShared/condswin_slicer/widget_support.py`` and ``job.py``):
the timer-driven run controller (Apply → running, progress and log from the JSON lines, Apply again → cancel
without waiting, results or the CLI's message at the end), the panel base class, and the typed parameters
kept in the scene's parameter node. The GUI's cancel is also run against the real CLI on a real scene."""

from __future__ import annotations

import os
import time
import typing
from pathlib import Path
from types import SimpleNamespace

import pytest
from condswin_slicer.job import CliJob
from condswin_slicer.mrml import InputRejected, RunFolder
from condswin_slicer.parameters import ParameterStore, wrapper_fields
from condswin_slicer.process import ProcessCancelled, ProcessFailed, ProgressEvent, RunResult
from condswin_slicer.widget_support import ModulePanel, PanelView, RunController
from slicer_logic_support import (
    assert_left_as_it_was,
    load_volume,
    make_logic,
    node_ids,
    oblique_mr_file,
    slicer_core,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class ScriptedProcess:
    """A runner whose child prints ``lines`` one per poll, then exits with ``code`` (130 when cancelled)."""

    def __init__(self, lines: list[ProgressEvent], code: int = 0):
        self.lines = list(lines)
        self.code = code
        self.args: list[str] = []
        self.cancels: list[bool] = []
        self.events: list[ProgressEvent] = []

    def start(self, args):
        self.args = list(args)

    @property
    def finished(self) -> bool:
        return not self.lines

    def poll(self):
        if self.cancels:
            self.lines = []
            return []
        event = self.lines.pop(0) if self.lines else None
        self.events += [event] if event else []
        return [event] if event else []

    def result(self):
        if self.cancels:
            raise ProcessCancelled(RunResult(130, self.events))
        if self.code:
            raise ProcessFailed(RunResult(self.code, self.events))
        return RunResult(0, self.events)

    def cancel(self, wait=True):
        self.cancels.append(wait)


def _events(n: int = 3) -> list[ProgressEvent]:
    return [
        ProgressEvent("start", message="reading input"),
        *[ProgressEvent("infer", done=i, total=n) for i in range(1, n + 1)],
        ProgressEvent("summary", message="1 done"),
    ]


class FakeView:
    def __init__(self):
        self.running: list[bool] = []
        self.progress: list[float] = []
        self.lines: list[str] = []
        self.errors: list[str] = []

    def set_running(self, running):
        self.running.append(running)

    def set_progress(self, fraction):
        self.progress.append(fraction)

    def log(self, text):
        self.lines.append(text)

    def show_error(self, text):
        self.errors.append(text)


class FakeTimer:
    def __init__(self, callback=None):
        self.callback = callback
        self.active = False

    def start(self):
        self.active = True

    def stop(self):
        self.active = False


def _controller():
    view, timer = FakeView(), FakeTimer()
    return RunController(view, timer.start, timer.stop), view, timer


def _job(tmp_path: Path, processes: list, outcome=lambda results: ("loaded", len(results))):
    made = iter(processes)
    steps = [["denoise", str(i)] for i in range(len(processes))]
    return CliJob(lambda: next(made), RunFolder("test", tmp_path), steps, outcome)


def _drive(controller: RunController, timer: FakeTimer, limit: int = 50) -> int:
    ticks = 0
    while timer.active and ticks < limit:  # the panel's timer
        controller.poll()
        ticks += 1
    return ticks


def test_apply_starts_polls_and_loads_the_outcome_of_every_step(tmp_path: Path):
    controller, view, timer = _controller()
    done = []
    steps = [ScriptedProcess(_events()), ScriptedProcess(_events(1))]
    assert controller.apply(lambda: _job(tmp_path, steps), done.append, "Failed:")
    assert controller.running and timer.active and view.running == [True]
    ticks = _drive(controller, timer)
    assert done == [("loaded", 2)] and not controller.running and view.running == [True, False]
    assert not timer.active and ticks <= 15
    assert view.lines == ["[start] reading input", "[summary] 1 done"] * 2  # per-slice lines are not logged
    assert view.progress == sorted(view.progress) and view.progress[-1] == 1.0
    assert 0.4 <= max(p for p in view.progress if p < 0.6) <= 0.5  # the first of two steps is half the job
    assert steps[1].args == ["denoise", "1"] and list(tmp_path.iterdir()) == []


def test_apply_while_running_cancels_without_waiting_and_loads_nothing(tmp_path: Path):
    controller, view, timer = _controller()
    done = []
    process = ScriptedProcess(_events(50))
    controller.apply(lambda: _job(tmp_path, [process]), done.append, "Failed:")
    controller.poll()
    assert not controller.apply(lambda: pytest.fail("no second job while one runs"), done.append, "Failed:")
    assert process.cancels == [False]  # the GUI never waits for the process to end
    assert controller.running  # until the timer sees the process gone
    _drive(controller, timer)
    assert done == [] and not controller.running and view.lines[-1].startswith("Cancelled")
    assert view.errors == [] and list(tmp_path.iterdir()) == []


def test_the_clis_message_is_shown_and_the_panel_stays_usable(tmp_path: Path):
    controller, view, timer = _controller()
    failing = ScriptedProcess([ProgressEvent("error", message="x.nrrd: contains NaN", code=3)], code=3)
    controller.apply(lambda: _job(tmp_path, [failing, ScriptedProcess([])]), pytest.fail, "Denoising failed:")
    _drive(controller, timer)
    assert view.errors == ["Denoising failed:\nx.nrrd: contains NaN"] and not controller.running
    assert list(tmp_path.iterdir()) == []

    def refuse():
        raise InputRejected("labels is a label map, not an image volume.")

    assert not controller.apply(refuse, pytest.fail, "Denoising failed:")
    assert "label map" in view.errors[-1] and not timer.active and view.running == [True, False]
    done = []
    controller.apply(lambda: _job(tmp_path, [ScriptedProcess(_events())]), done.append, "Denoising failed:")
    _drive(controller, timer)
    assert done == [("loaded", 1)]


def test_cleanup_ends_a_running_job_and_adds_nothing(tmp_path: Path):
    controller, _view, timer = _controller()
    process = ScriptedProcess(_events(50))
    controller.apply(lambda: _job(tmp_path, [process]), pytest.fail, "Failed:")
    controller.cleanup()
    assert process.cancels == [True] and not controller.running and not timer.active
    assert list(tmp_path.iterdir()) == []


def test_panel_view_turns_apply_into_cancel_and_disables_the_sections():
    ui = SimpleNamespace(
        applyButton=SimpleNamespace(text="Apply", toolTip=""),
        progressBar=SimpleNamespace(value=40),
        logTextEdit=SimpleNamespace(appendPlainText=lambda text: lines.append(text)),
        inputs=SimpleNamespace(enabled=True),
    )
    lines: list[str] = []
    view = PanelView(ui, ["inputs"], print)
    view.set_running(True)
    assert (ui.applyButton.text, ui.inputs.enabled, ui.progressBar.value) == ("Cancel", False, 0)
    view.set_progress(0.426)
    assert ui.progressBar.value == 43
    view.log("hello")
    view.set_running(False)
    assert (ui.applyButton.text, ui.inputs.enabled, lines) == ("Apply", True, ["hello"])


# --- parameters in the scene's parameter node ------------------------------------------------------------------


def test_parameter_fields_for_the_wrapper_are_typed_and_defaulted():
    from MRIDenoiseLib.parameters import MRIDenoiseParameters
    from MRIReconLib.parameters import MRIReconParameters

    fields = wrapper_fields(MRIReconParameters)
    assert fields["acceleration"] == (float, 4.0) and fields["show_zero_filled"] == (bool, True)
    center, default = fields["center_fraction"]
    # parameterNodeWrapper's union serializer needs typing.Union's origin, not PEP 604's types.UnionType
    assert typing.get_origin(center) is typing.Union and typing.get_args(center) == (float, type(None))
    assert default is None
    assert "params" not in wrapper_fields(MRIDenoiseParameters)  # a dict of method parameters is no control


def test_parameters_round_trip_through_the_scenes_parameter_node():
    from ConditionalSwinSegLib.parameters import ConditionalSwinSegParameters
    from MRIReconLib.parameters import MRIReconParameters

    slicer = slicer_core()
    scene = slicer.vtkMRMLScene()
    store = ParameterStore("MRIRecon", MRIReconParameters)
    assert store.load(scene) == MRIReconParameters()
    chosen = MRIReconParameters(model="m", acceleration=8.0, mask="equispaced", center_fraction=None, seed=3)
    store.save(scene, chosen)
    assert store.load(scene) == chosen
    node = store.node(scene)
    assert node is store.node(scene) and node.GetAttribute("ModuleName") == "MRIRecon"
    assert scene.GetNumberOfNodesByClass("vtkMRMLScriptedModuleNode") == 1
    seg = ParameterStore("ConditionalSwinSeg", ConditionalSwinSegParameters)
    seg.save(scene, ConditionalSwinSegParameters(device="cpu", batch_size=4))
    seg.node(scene).SetParameter("device", '"gpu"')  # a value the parameters refuse: the defaults instead
    assert seg.load(scene) == ConditionalSwinSegParameters()
    assert store.load(scene) == chosen  # one node per module


def test_module_panel_saves_the_parameters_and_runs_the_job(tmp_path: Path, monkeypatch):
    import condswin_slicer.widget_support as support
    from MRIReconLib.parameters import MRIReconParameters

    slicer = slicer_core()
    scene = slicer.vtkMRMLScene()
    monkeypatch.setattr(support, "ensure_dependencies", lambda path, confirm: True)

    class Panel(ModulePanel):
        failure_title = "Failed:"

        def parameters(self):
            return MRIReconParameters(acceleration=6.0)

        def start_job(self):
            return _job(tmp_path, [ScriptedProcess(_events())])

        def show_outcome(self, outcome):
            shown.append(outcome)

    shown: list = []
    ui = SimpleNamespace(
        applyButton=SimpleNamespace(text="Apply", toolTip=""),
        progressBar=SimpleNamespace(value=0),
        logTextEdit=SimpleNamespace(appendPlainText=lambda text: None),
    )
    panel = Panel(
        ui, "requirements.txt", ParameterStore("MRIRecon", MRIReconParameters), scene, [], print, bool, FakeTimer
    )
    panel.on_apply()
    assert panel.timer.active and ui.applyButton.text == "Cancel"
    while panel.timer.active:
        panel.timer.callback()
    assert shown == [("loaded", 1)] and ui.applyButton.text == "Apply"
    assert panel.store.load(scene).acceleration == 6.0


# --- the GUI's cancel against the real CLI ---------------------------------------------------------------------


def test_gui_cancel_of_a_real_run_leaves_the_scene_folder_and_process_table_as_they_were(scene, run_root, tmp_path):
    from MRIDenoiseLib.logic import MRIDenoiseLogic
    from MRIDenoiseLib.parameters import MRIDenoiseParameters

    logic = make_logic(MRIDenoiseLogic, scene, run_root)
    node = load_volume(scene, oblique_mr_file(tmp_path / "mr.nrrd", slices=24, size=96))
    before = node_ids(scene)
    controller, view, timer = _controller()
    controller.apply(lambda: logic.start(node, MRIDenoiseParameters(method="nlm")), pytest.fail, "Failed:")
    deadline = time.monotonic() + 60
    while controller.running and max(view.progress, default=0.0) == 0.0 and time.monotonic() < deadline:
        controller.poll()  # until the first slice is done: the child is denoising
        time.sleep(0.02)
    assert controller.running, view.lines
    pid = logic.factory.made[0]._popen.pid
    started = time.monotonic()
    controller.apply(pytest.fail, pytest.fail, "Failed:")  # Apply is Cancel now
    assert time.monotonic() - started < 1.0  # the GUI does not wait for the child
    while controller.running and time.monotonic() < deadline:
        controller.poll()
        time.sleep(0.02)
    assert not controller.running and view.lines[-1].startswith("Cancelled") and view.errors == []
    assert logic.factory.made[0]._popen.returncode == 130  # terminated: the CLI removed its own temporary files
    assert_left_as_it_was(scene, before, run_root, logic.factory)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
