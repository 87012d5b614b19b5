"""Helpers of the command-line tests: run ``condswin`` in-process, small MR files, JSON progress lines."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from synthetic_images import mr_volume

from condswin.cli import main
from condswin.io.images import write_image
from condswin.mri.noise import add_rician


def run_cli(capsys: pytest.CaptureFixture, *args: str | Path) -> tuple[int, str, str]:
    """``condswin ARGS`` in this process: (exit code, stdout, stderr); argparse's exits become codes too."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_mr(path: Path, *, noisy: bool = True, slices: int = 3) -> Path:
    """A small (slices × 32 × 32) MR magnitude volume, with Rician noise unless ``noisy`` is false."""
    volume = mr_volume(slices)
    image = sitk.GetImageFromArray(add_rician(volume, 0.05, seed=1) if noisy else volume)
    image.SetSpacing((0.9, 0.9, 4.0))
    write_image(image, path)
    return path


def write_labels(path: Path, values: tuple[int, ...] = (0, 1)) -> Path:
    """A small uint8 label map (3 × 32 × 32) holding the given label values in stripes."""
    array = np.zeros((3, 32, 32), dtype=np.uint8)
    for index, value in enumerate(values):
        array[:, index * 4 : index * 4 + 4, :] = value
    write_image(sitk.GetImageFromArray(array), path)
    return path


def json_lines(stdout: str) -> list[dict]:
    """The JSON progress lines of a run; every line must be one JSON object with the four common keys."""
    lines = [json.loads(line) for line in stdout.splitlines()]
    for line in lines:
        assert {"stage", "done", "total", "message"} <= set(line), line
    return lines


def leftovers(folder: Path) -> list[str]:
    """Names in ``folder`` that a finished or failed run should not leave (temporary and moved-aside files)."""
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith((".tmp-", ".old-")))


def sigterm_once_inferring(command: list[str], env: dict[str, str], wait_s: float) -> tuple[int, str]:
    """Run ``command`` (``--progress json``), send SIGTERM once it reports the ``infer`` stage (or after
    ``wait_s`` seconds), and return its exit code and stdout; the process is killed if it outlives the test."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + wait_s
        for line in process.stdout:
            if json.loads(line)["stage"] == "infer" or time.monotonic() > deadline:
                break
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, stdout
