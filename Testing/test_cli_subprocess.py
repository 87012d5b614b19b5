"""End-to-end ``condswin`` runs in subprocesses, with bundles made from small freshly initialised models.

What a user (or the Slicer module) sees: exit codes, JSON progress lines, geometry of the outputs, refusal
of tampered weights, cancellation by SIGTERM, batches with a corrupt input.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from cli_support import leftovers, sigterm_once_inferring, write_mr
from model_support import tampered_copy

from condswin.bundles import card_template, save_bundle
from condswin.ct.phantom import make_phantom
from condswin.io.images import write_image
from condswin.models import build_model


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CONDSWIN_MODEL_PATH"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _condswin(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "condswin", *map(str, args)], capture_output=True, text=True, timeout=timeout, env=_env()
    )


def _json_lines(stdout: str) -> list[dict]:
    lines = [json.loads(line) for line in stdout.splitlines()]  # every line must parse on its own
    for line in lines:
        assert {"stage", "done", "total", "message"} <= set(line)
    return lines


@pytest.fixture(scope="module")
def seg_bundle(tmp_path_factory: pytest.TempPathFactory, make_bundle) -> Path:
    """A tiny segmentation bundle (conftest's) working at 1.5 mm pixels, so the slices are resampled."""
    path = tmp_path_factory.mktemp("bundles") / "tiny-liver"
    return make_bundle(path, "segmentation", "tiny-liver", pixel_size_mm=[1.5, 1.5])


@pytest.fixture(scope="module")
def oblique_ct(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ct, _ = make_phantom(3, shape=(40, 36, 8), spacing=(0.8, 1.1, 3.0), num_tumours=1, geometry="tilted")
    path = tmp_path_factory.mktemp("ct") / "volume-7.nii.gz"
    write_image(ct, path)
    return path


def test_segment_keeps_geometry_and_reports_json_progress(seg_bundle: Path, oblique_ct: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels.nrrd"
    before = oblique_ct.read_bytes()
    run = _condswin("segment", oblique_ct, out, "--model", seg_bundle, "--progress", "json", "--batch-size", "3")
    assert run.returncode == 0, run.stderr
    lines = _json_lines(run.stdout)
    stages = [line["stage"] for line in lines]
    assert stages[0] == "model" and stages[-1] == "summary"
    infer = [line for line in lines if line["stage"] == "infer"]
    assert [line["done"] for line in infer] == [3, 6, 8] and {line["total"] for line in infer} == {8}
    assert stages.index("postprocess") > stages.index("infer") and stages.index("write") < stages.index("done")
    assert oblique_ct.read_bytes() == before  # the input is never touched

    ct, labels = sitk.ReadImage(str(oblique_ct)), sitk.ReadImage(str(out))
    assert labels.GetSize() == ct.GetSize()
    np.testing.assert_allclose(labels.GetSpacing(), ct.GetSpacing(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(labels.GetOrigin(), ct.GetOrigin(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(labels.GetDirection(), ct.GetDirection(), rtol=0, atol=1e-12)
    assert abs(ct.GetDirection()[4]) < 0.99  # the phantom really is oblique
    assert set(np.unique(sitk.GetArrayFromImage(labels))) <= {0, 1, 2}

    report = json.loads((tmp_path / "labels.json").read_text())
    assert report["model"]["id"] == "tiny-liver" and report["postprocessed"] is True
    voxel_ml = float(np.prod(ct.GetSpacing())) / 1000
    array = sitk.GetArrayFromImage(labels)
    assert report["liver_ml"] == pytest.approx(np.count_nonzero(array) * voxel_ml)
    assert report["tumour_count"] == len(report["tumour_volumes_ml"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.json", "labels.nrrd"]


def test_tampered_weights_are_refused_with_exit_code_4(seg_bundle: Path, oblique_ct: Path, tmp_path: Path) -> None:
    bundle = tampered_copy(seg_bundle, tmp_path / "bundle")
    run = _condswin("segment", oblique_ct, tmp_path / "out.nii.gz", "--model", bundle)
    assert run.returncode == 4
    assert "sha256 mismatch" in run.stderr and str(bundle / "model.safetensors") in run.stderr
    assert not (tmp_path / "out.nii.gz").exists()


def test_more_threads_than_cores_are_lowered_to_the_cores_with_a_warning(
    seg_bundle: Path, oblique_ct: Path, tmp_path: Path
) -> None:
    # 100000 threads made the thread pools fail to start: a crash (SIGSEGV) reported as "cancelled by SIGINT".
    out = tmp_path / "labels.nii.gz"
    run = _condswin("segment", oblique_ct, out, "--model", seg_bundle, "--threads", "100000", "--progress", "json")
    assert run.returncode == 0, run.stderr
    lines = _json_lines(run.stdout)
    warnings = [line["message"] for line in lines if line["stage"] == "warning"]
    assert any(w.startswith("--threads 100000 is more than the") for w in warnings), warnings
    assert lines[-1]["stage"] == "summary" and out.exists()


def test_sigterm_cancels_and_leaves_no_output(tmp_path: Path) -> None:
    card = card_template("slow", "segmentation", training_data="none: test model", training_command="pytest")
    card["input"].update(size=[384, 384])  # large model grid: each slice takes long enough to be interrupted
    save_bundle(build_model("unet", 1, 3, chans=8, num_pool_layers=2), card, tmp_path / "slow")
    ct, _ = make_phantom(1, shape=(32, 32, 60), spacing=(1.0, 1.0, 2.0), num_tumours=0)
    write_image(ct, tmp_path / "ct.nii.gz")
    out = tmp_path / "out" / "labels.nii.gz"
    command = [
        sys.executable,
        "-m",
        "condswin",
        "segment",
        str(tmp_path / "ct.nii.gz"),
        str(out),
        "--model",
        str(tmp_path / "slow"),
        "--progress",
        "json",
        "--batch-size",
        "1",
        "--threads",
        "1",
    ]
    returncode, stdout = sigterm_once_inferring(command, _env(), 90)
    assert returncode == 130
    assert json.loads(stdout.splitlines()[-1])["stage"] == "cancelled"
    assert not out.exists()
    leftovers = [p.name for p in out.parent.iterdir()] if out.parent.exists() else []
    assert leftovers == []  # no temporary files either


def test_batch_reports_a_corrupt_input_and_processes_the_others(seg_bundle: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for seed, name in ((1, "a.nii.gz"), (2, "b.nrrd")):
        ct, _ = make_phantom(seed, shape=(24, 24, 8), spacing=(1.5, 1.5, 4.0), num_tumours=0)
        write_image(ct, inputs / name)
    (inputs / "broken.nii.gz").write_bytes(b"\x1f\x8b" + os.urandom(300))
    (inputs / "notes.txt").write_text("not an image")
    run = _condswin("segment", inputs, tmp_path / "out", "--model", seg_bundle, "--progress", "json")
    assert run.returncode == 1, run.stderr
    lines = _json_lines(run.stdout)
    errors = [line for line in lines if line["stage"] == "error"]
    assert len(errors) == 1 and errors[0]["file"].endswith("broken.nii.gz") and errors[0]["code"] == 3
    assert "broken.nii.gz" in errors[0]["message"]
    summary = lines[-1]
    assert summary["stage"] == "summary" and (summary["done"], summary["total"]) == (2, 3)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.json", "a.nii.gz", "b.json", "b.nii.gz"]


def test_console_script_and_help(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("condswin")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "condswin"]
    run = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60, env=_env())
    assert run.returncode == 0 and "exit codes:" in run.stdout and "130" in run.stdout
    run = subprocess.run([*command, "segment"], capture_output=True, text=True, timeout=60, env=_env())
    assert run.returncode == 2 and "IN" in run.stderr


def test_mri_commands_in_subprocesses(tmp_path: Path, make_bundle) -> None:
    """reconstruct on a fastMRI-schema file and denoise on MR with synthetic Rician noise, as Slicer runs them."""
    from condswin.mri.fastmri import write
    from condswin.mri.kspace import simulate_singlecoil_kspace
    from condswin.mri.noise import add_rician

    yy, xx = np.mgrid[-1:1:32j, -1:1:32j]
    volume = np.stack([100.0 * ((xx / 0.7) ** 2 + (yy / (0.6 + 0.1 * k)) ** 2 < 1) for k in range(3)]).astype(
        np.float32
    )
    kspace = simulate_singlecoil_kspace(volume, seed=0, kspace_shape=(40, 36))
    write(
        tmp_path / "file1001.h5",
        kspace * np.isin(np.arange(36), np.r_[16:20, 0:36:3]),
        mask=np.isin(np.arange(36), np.r_[16:20, 0:36:3]),
    )
    make_bundle(tmp_path / "recon", "reconstruction")
    run = _condswin(
        "reconstruct",
        tmp_path / "file1001.h5",
        tmp_path / "rec.nii.gz",
        "--model",
        tmp_path / "recon",
        "--progress",
        "json",
    )
    assert run.returncode == 0, run.stderr
    lines = _json_lines(run.stdout)
    result = next(line for line in lines if line["stage"] == "result")["result"]
    assert result["mask_from_file"] is True and result["metrics"] == {}  # a test file: its own mask, no target
    assert sitk.ReadImage(str(tmp_path / "rec.nii.gz")).GetSize() == (36, 40, 3)  # no header recon size: k-space grid

    image = sitk.GetImageFromArray(add_rician(volume, 0.1, seed=2))
    image.SetSpacing((0.9, 0.9, 5.0))
    write_image(image, tmp_path / "noisy.nrrd")
    run = _condswin(
        "denoise", tmp_path / "noisy.nrrd", tmp_path / "den.nrrd", "--method", "median", "--progress", "json"
    )
    assert run.returncode == 0, run.stderr
    denoise_lines = [line for line in _json_lines(run.stdout) if line["stage"] == "denoise"]
    assert [line["done"] for line in denoise_lines] == [1, 2, 3]
    assert sitk.ReadImage(str(tmp_path / "den.nrrd")).GetSpacing() == pytest.approx((0.9, 0.9, 5.0))


# Runs `condswin ARGS` as the program (sys.argv, no argv given) and sends itself signal argv[2] at the moment
# argv[1] names: "write" while the report is staged, "twice" then again during the clean-up of that cancel,
# "summary" just after the summary line, "exit" after main returned (the interpreter's shutdown).
_SIGNALLING_RUN = """
import os, signal, sys, time
import condswin.io.atomic as atomic
from condswin.cli.progress import Reporter

when, number = sys.argv[1], getattr(signal, sys.argv[2])
event = Reporter.event

def event_then_signal(self, stage, *args, **kwargs):
    event(self, stage, *args, **kwargs)
    staging_report = stage == "write" and str(kwargs.get("message", "")).endswith(".json")
    if (when in ("write", "twice") and staging_report) or (when == "summary" and stage == "summary"):
        os.kill(os.getpid(), number)

Reporter.event = event_then_signal
if when == "twice":
    discard = atomic.discard

    def discard_after_a_second_signal(path):
        os.kill(os.getpid(), number)
        discard(path)

    atomic.discard = discard_after_a_second_signal
sys.argv = ["condswin", *sys.argv[3:]]
from condswin.cli import main

code = main()
if when == "exit":
    os.kill(os.getpid(), number)
    time.sleep(5)
sys.exit(code)
"""


@pytest.mark.parametrize(
    ("when", "name", "expected"),
    [
        ("write", "SIGHUP", 130),  # a closed terminal cancels like SIGTERM: nothing left behind
        ("twice", "SIGTERM", 130),  # the second signal must not cut the first one's clean-up short
        ("summary", "SIGTERM", 0),  # the work is done and published
        ("exit", "SIGTERM", 0),
        ("exit", "SIGINT", 0),  # no KeyboardInterrupt traceback from torch's exit handlers either
    ],
)
def test_signals_cancel_cleanly_and_never_undo_finished_work(
    tmp_path: Path, when: str, name: str, expected: int
) -> None:
    source = write_mr(tmp_path / "noisy.nii.gz")
    out = tmp_path / "out"
    args = ["denoise", source, out / "den.nii.gz", "--method", "mean", "--progress", "json"]
    run = subprocess.run(
        [sys.executable, "-c", _SIGNALLING_RUN, when, name, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert run.returncode == expected, (run.returncode, run.stderr)
    assert "Traceback" not in run.stderr
    last = _json_lines(run.stdout)[-1]
    assert last["stage"] == ("cancelled" if expected else "summary"), last
    published = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert published == ([] if expected else ["den.json", "den.nii.gz"])
    assert leftovers(tmp_path) == []
