"""The process runner shared by the Slicer modules (``SlicerShared/condswin_slicer/process.py``), against the
real ``condswin`` CLI in a subprocess and a fake child that leaves a grandchild behind."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from condswin_slicer.process import (
    CondswinProcess,
    ProcessCancelled,
    ProcessFailed,
    ProgressEvent,
    condswin_command,
    exit_message,
    list_models,
)

from condswin.bundles import embedded_models_dir, read_registry
from condswin.io.images import write_image


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "CONDSWIN_MODEL_PATH"}


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie waiting for its (new) parent to reap it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z")


def _noisy_volume(path: Path, slices: int, size: int) -> Path:
    import SimpleITK as sitk

    rng = np.random.default_rng(0)
    array = (100 + 20 * rng.standard_normal((slices, size, size))).astype(np.float32)
    array[:, : size // 4] = np.abs(5 * rng.standard_normal((slices, size // 4, size))).astype(np.float32)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.9, 0.9, 3.0))
    write_image(image, path)
    return path


def test_event_from_line_keeps_known_keys_and_ignores_the_rest():
    event = ProgressEvent.from_line('{"stage": "infer", "done": 4, "total": 8, "message": "", "file": "a", "new": 1}')
    assert (event.stage, event.done, event.total, event.file, event.fraction) == ("infer", 4, 8, "a", 0.5)
    assert event.raw["new"] == 1
    error = ProgressEvent.from_line('{"stage": "error", "done": 0, "total": 0, "message": "bad", "code": 3}')
    assert (error.code, error.message, error.fraction) == (3, "bad", None)
    assert ProgressEvent.from_line("not json") is None
    assert ProgressEvent.from_line("[1, 2]") is None
    assert ProgressEvent.from_line('{"done": 1}') is None


def test_command_and_exit_messages():
    assert condswin_command(["denoise", Path("a"), "b"], python="py") == [
        "py", "-m", "condswin", "denoise", "a", "b", "--progress", "json"
    ]  # fmt: skip
    assert "bad input" in exit_message(3)
    assert exit_message(130) == "cancelled"
    assert "signal 9" in exit_message(-9)


def test_real_denoise_gives_progress_events_and_exit_0(tmp_path: Path):
    source = _noisy_volume(tmp_path / "noisy.nrrd", 3, 16)
    out = tmp_path / "out.nrrd"
    seen: list[ProgressEvent] = []
    result = CondswinProcess(env=_env()).run(
        ["denoise", source, out, "--method", "mean", "--sigma", "5"], on_event=seen.append
    )
    assert result.returncode == 0
    stages = [event.stage for event in seen]
    assert stages[0] == "start" and stages[-1] == "summary" and "denoise" in stages and "result" in stages
    assert seen == result.events and result.summary is not None and len(result.results) == 1
    assert out.is_file() and out.with_suffix(".json").is_file()


def test_non_blocking_poll_reads_lines_as_they_come(tmp_path: Path):
    source = _noisy_volume(tmp_path / "noisy.nrrd", 2, 16)
    process = CondswinProcess(env=_env())
    process.start(["denoise", source, tmp_path / "out.nrrd", "--method", "median", "--sigma", "5"])
    assert process.running
    events: list[ProgressEvent] = []
    deadline = time.monotonic() + 60
    while not process.finished and time.monotonic() < deadline:
        events += process.poll()  # returns at once, possibly with nothing
        time.sleep(0.02)
    assert process.finished and not process.running
    assert process.result().returncode == 0
    assert [e.stage for e in events][-1] == "summary"


def test_bad_input_raises_with_the_cli_message(tmp_path: Path):
    bad = tmp_path / "broken.nrrd"
    bad.write_bytes(b"NRRD0004\ntype: float\ndimension: 3\nsizes: 9 9 9\nencoding: raw\n\n\x00\x01")
    with pytest.raises(ProcessFailed) as info:
        CondswinProcess(env=_env()).run(["denoise", bad, tmp_path / "out.nrrd", "--method", "mean"])
    assert info.value.returncode == 3
    assert "broken.nrrd" in str(info.value)
    assert info.value.result.errors and info.value.result.errors[-1].code == 3
    assert not (tmp_path / "out.nrrd").exists()


def test_usage_error_message_is_the_parser_line(tmp_path: Path):
    with pytest.raises(ProcessFailed) as info:
        CondswinProcess(env=_env()).run(["denoise", tmp_path / "x.nrrd", tmp_path / "y.nrrd", "--method", "nosuch"])
    assert info.value.returncode == 2
    assert "nosuch" in str(info.value)


# A child that dies with a traceback before it could print a JSON error event (an internal error, exit 70);
# its progress events leave out "file" or set it to null.
CRASHING_CHILD = """\
import json, sys, traceback
print(json.dumps({"stage": "start", "done": 0, "total": 1, "message": "fake"}), flush=True)
print(json.dumps({"stage": "infer", "done": 1, "total": 2, "message": "", "file": None}), flush=True)
try:
    raise RuntimeError("the real cause, on the traceback's last line")
except RuntimeError:
    traceback.print_exc()
sys.exit(70)
"""


def test_a_crash_without_an_error_event_reports_the_last_stderr_line(tmp_path: Path):
    fake = tmp_path / "fake-python"
    fake.write_text(f"#!{sys.executable}\n{CRASHING_CHILD}")
    fake.chmod(0o755)
    with pytest.raises(ProcessFailed) as info:
        CondswinProcess(python=str(fake), env=_env()).run(["denoise", "a.nrrd", "b.nrrd"])
    assert info.value.returncode == 70 and not info.value.result.errors
    # the exception line, not the traceback's first line ("Traceback (most recent call last):")
    assert str(info.value) == f"{exit_message(70)}: RuntimeError: the real cause, on the traceback's last line"
    assert [event.file for event in info.value.result.events] == [None, None]  # absent or null: no file
    assert ProgressEvent.from_line('{"stage": "infer", "done": 1, "total": 2}').file is None


def test_environment_is_per_process(tmp_path: Path, tiny_bundles: dict[str, Path]):
    """A model id found only through the child's own CONDSWIN_MODEL_PATH; this process's environment is untouched."""
    source = _noisy_volume(tmp_path / "noisy.nrrd", 2, 16)
    before = dict(os.environ)
    process = CondswinProcess(env=_env(), extra_env={"CONDSWIN_MODEL_PATH": str(tiny_bundles["denoising"].parent)})
    result = process.run(["denoise", source, tmp_path / "out.nrrd", "--method", "tiny-denoising", "--device", "cpu"])
    assert result.returncode == 0 and dict(os.environ) == before
    with pytest.raises(ProcessFailed, match="tiny-denoising"):
        CondswinProcess(env=_env()).run(["denoise", source, tmp_path / "o2.nrrd", "--method", "tiny-denoising"])


def test_cancel_real_run_leaves_no_temporary_file_and_no_process(tmp_path: Path):
    source = _noisy_volume(tmp_path / "in" / "noisy.nrrd", 40, 96)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    process = CondswinProcess(env=_env(), grace_seconds=20)
    process.start(["denoise", source, out_dir / "clean.nrrd", "--method", "nlm"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(e.stage == "denoise" for e in process.poll()):
        time.sleep(0.02)
    pid = process._popen.pid
    process.cancel()
    _wait_until_finished(process)
    with pytest.raises(ProcessCancelled) as info:
        process.result()
    assert info.value.result.returncode == 130  # terminated, not killed: the CLI cleaned up itself
    assert list(out_dir.iterdir()) == []
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


def _wait_until_finished(process: CondswinProcess, seconds: float = 60.0) -> None:
    # Bounded: a regression in the runner must fail this test, never hang the whole suite.
    deadline = time.monotonic() + seconds
    while not process.finished and time.monotonic() < deadline:
        process.poll()
        time.sleep(0.01)
    if not process.finished:
        if process._popen is not None:
            _signal_group_quietly(process._popen.pid)
        pytest.fail(f"the process did not finish within {seconds} s of cancel")


def _signal_group_quietly(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


FAKE_CHILD = """#!/bin/sh
# A stand-in for `python -m condswin ...`: prints one event, leaves a grandchild that ignores SIGTERM.
trap '' TERM
sh -c "trap '' TERM; sleep 600" &
echo $! > "$FAKE_PIDFILE"
echo '{"stage": "start", "done": 0, "total": 1, "message": "fake"}'
while true; do sleep 0.1; done
"""


@pytest.mark.skipif(os.name == "nt", reason="POSIX process groups")
def test_cancel_kills_what_is_left_of_the_tree_after_the_grace_period(tmp_path: Path):
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_CHILD)
    fake.chmod(0o755)
    pidfile = tmp_path / "grandchild.pid"
    process = CondswinProcess(python=str(fake), env={**_env(), "FAKE_PIDFILE": str(pidfile)}, grace_seconds=0.3)
    process.start(["segment", "a", "b"])
    deadline = time.monotonic() + 30
    events: list[ProgressEvent] = []
    while not events and time.monotonic() < deadline:
        events = process.poll()
        time.sleep(0.02)
    if not events:
        process.cancel()
        pytest.fail("the fake child printed no event within 30 s")
    assert events[0].message == "fake"
    grandchild = int(pidfile.read_text())
    started = time.monotonic()
    process.cancel()
    assert time.monotonic() - started < 5
    _wait_until_finished(process)
    assert process.returncode == -signal.SIGKILL
    with pytest.raises(ProcessCancelled):
        process.result()
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(grandchild)


@pytest.mark.skipif(os.name == "nt", reason="POSIX process groups")
def test_cancel_without_waiting_returns_at_once_and_poll_ends_the_tree(tmp_path: Path):
    """The GUI's cancel: SIGTERM and return; the timer's polls kill the tree once the grace period is over."""
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_CHILD)
    fake.chmod(0o755)
    pidfile = tmp_path / "grandchild.pid"
    process = CondswinProcess(python=str(fake), env={**_env(), "FAKE_PIDFILE": str(pidfile)}, grace_seconds=0.5)
    process.start(["denoise", "a", "b"])
    deadline = time.monotonic() + 30
    while not pidfile.is_file() or not pidfile.read_text().strip():
        process.poll()
        if time.monotonic() > deadline:
            process.cancel()
            pytest.fail("the fake child did not start within 30 s")
        time.sleep(0.02)
    grandchild = int(pidfile.read_text())
    started = time.monotonic()
    process.cancel(wait=False)
    assert time.monotonic() - started < 0.2 and process.running  # the child ignores SIGTERM: still there
    _wait_until_finished(process, seconds=10)
    assert time.monotonic() - started >= 0.5 and process.returncode == -signal.SIGKILL
    with pytest.raises(ProcessCancelled):
        process.result()
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(grandchild)


def test_a_second_start_while_running_is_refused(tmp_path: Path):
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_CHILD)
    fake.chmod(0o755)
    process = CondswinProcess(python=str(fake), env={**_env(), "FAKE_PIDFILE": str(tmp_path / "p")}, grace_seconds=0.1)
    process.start(["denoise"])
    try:
        with pytest.raises(RuntimeError, match="already running"):
            process.start(["denoise"])
    finally:
        process.cancel()


def test_list_models_reads_the_installed_bundles_of_a_task(tiny_bundles: dict[str, Path], tmp_path: Path):
    no_embedded = {**_env(), "CONDSWIN_EMBEDDED_MODELS": str(tmp_path)}  # only the bundles the test installs
    env = {**no_embedded, "CONDSWIN_MODEL_PATH": str(tiny_bundles["segmentation"].parent)}
    ids = [m["id"] for m in list_models("segmentation", env=env)]
    assert ids == ["tiny-segmentation"]
    assert {m["id"] for m in list_models(env=env)} >= {"tiny-segmentation", "tiny-denoising"}
    assert list_models("segmentation", env=no_embedded) == []
    embedded = [m["id"] for m in list_models("segmentation", env=_env())]  # the extension's own models
    assert embedded == [b.id for b in read_registry(embedded_models_dir() / "models.json") if b.task == "segmentation"]
