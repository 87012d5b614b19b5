"""The headless batch script's argument parsing, option checks and per-file loop: a fake context (the files are
real, read through condswin's checks), then the real MRIDenoise logic on a real MRML scene (slicer-core) through
the real ``condswin`` process, two tiny files."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import SimpleITK as sitk
from condswin_batch.tasks import TASKS
from condswin_slicer import batch
from condswin_slicer.batch import input_files, output_path, run_batch
from condswin_slicer.process import ProcessFailed, ProgressEvent, RunResult
from slicer_logic_support import load_volume, make_logic, matrix, oblique_mr_file, slicer_core

from condswin.io.formats import WRITABLE_SUFFIXES

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class FakeContext:
    """Records what the loop asks for; a file whose name contains 'bad' fails in the logic; ``failure`` (when
    set) is raised by the logic for every file instead."""

    def __init__(self, failure: BaseException | None = None):
        self.loaded, self.saved, self.cleared = [], [], 0
        self.failure = failure

    def load_volume(self, path):
        self.loaded.append(Path(path).name)
        return SimpleNamespace(name=Path(path).name)

    def logic(self, task):
        def run(node, parameters):
            if self.failure is not None:
                raise self.failure
            if "bad" in node.name:
                raise RuntimeError(f"{node.name}: the CLI said no")
            return SimpleNamespace(volume=node, parameters=parameters)

        return SimpleNamespace(run=run)

    def save(self, node, path):
        Path(path).write_text(node.name)
        self.saved.append(Path(path).name)

    def clear(self):
        self.cleared += 1


def _inputs(folder: Path, *names: str) -> Path:
    """A folder with a small real 3-D volume under each volume name (other names hold a few bytes)."""
    folder.mkdir(exist_ok=True)
    for name in names:
        if name.endswith(WRITABLE_SUFFIXES) and not name.endswith(".seg.nrrd"):
            sitk.WriteImage(sitk.GetImageFromArray(np.full((3, 16, 16), 7, np.int16)), str(folder / name))
        else:
            (folder / name).write_bytes(b"x")
    return folder


def _argv(inputs: Path, out: Path, *options: str) -> list[str]:
    return ["--task", "denoise", "--in", str(inputs), "--out", str(out), "--method", "mean", *options]


def test_usage_errors_are_exit_2(tmp_path):
    lines = []
    assert run_batch(["--task", "segment"], FakeContext(), TASKS, lines.append) == 2  # --in/--out missing
    assert run_batch(["--", "--task", "x", "--in", ".", "--out", "o"], FakeContext(), TASKS, lines.append) == 2
    assert (
        run_batch(["--task", "denoise", "--in", str(tmp_path / "no"), "--out", "o"], FakeContext(), TASKS, lines.append)
        == 2
    )
    empty = _inputs(tmp_path / "empty", "notes.txt")
    assert (
        run_batch(
            ["--task", "denoise", "--in", str(empty), "--out", str(tmp_path / "o")], FakeContext(), TASKS, lines.append
        )
        == 2
    )
    assert "no input file for denoise" in lines[-1]


def test_every_file_is_run_and_a_failure_is_exit_1_after_the_others(tmp_path):
    inputs = _inputs(tmp_path / "in", "a.nii.gz", "bad.nrrd", "c.mha", "readme.txt", "seg.seg.nrrd")
    context, lines = FakeContext(), []
    code = run_batch(
        ["--", "--task", "denoise", "--in", str(inputs), "--out", str(tmp_path / "out")], context, TASKS, lines.append
    )
    assert code == 1
    assert context.loaded == ["a.nii.gz", "bad.nrrd", "c.mha"] and context.cleared == 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_denoise.nrrd", "c_denoise.nrrd"]
    assert any("bad.nrrd: FAILED: bad.nrrd: the CLI said no" in line for line in lines)
    assert lines[-1] == "2 of 3 files done"
    # a second run refuses to replace outputs unless asked
    assert (
        run_batch(
            ["--task", "denoise", "--in", str(inputs / "a.nii.gz"), "--out", str(tmp_path / "out")],
            FakeContext(),
            TASKS,
            lines.append,
        )
        == 1
    )
    assert (
        run_batch(
            ["--task", "denoise", "--in", str(inputs / "a.nii.gz"), "--out", str(tmp_path / "out"), "--overwrite"],
            FakeContext(),
            TASKS,
            lines.append,
        )
        == 0
    )


def test_file_selection_and_output_names(tmp_path):
    inputs = _inputs(tmp_path / "in", "k.h5", "ct.nii.gz", "old.seg.nrrd")
    assert [p.name for p in input_files(inputs, reads_kspace=True)] == ["ct.nii.gz", "k.h5"]
    assert [p.name for p in input_files(inputs, reads_kspace=False)] == ["ct.nii.gz"]
    assert output_path(tmp_path, inputs / "ct.nii.gz", "segment").name == "ct.seg.nrrd"
    assert output_path(tmp_path, inputs / "k.h5", "reconstruct").name == "k_reconstruct.nrrd"


class MrmlContext:
    """The batch context on slicer-core: a real scene, the real denoising logic (real CLI process), storage nodes."""

    def __init__(self, scene, run_root):
        from MRIDenoiseLib.logic import MRIDenoiseLogic

        self.scene = scene
        self.denoise_logic = make_logic(MRIDenoiseLogic, scene, run_root)
        self.inputs = {}

    def load_volume(self, path):
        node = load_volume(self.scene, Path(path), Path(path).name)
        self.inputs[Path(path).name] = matrix(node)
        return node

    def logic(self, task):
        assert task == "denoise"
        return self.denoise_logic

    def save(self, node, path):
        storage = node.CreateDefaultStorageNode()
        storage.SetFileName(str(path))
        assert storage.WriteData(node)

    def clear(self):
        self.scene.Clear(0)


def test_real_logic_on_two_tiny_files(scene, run_root, tmp_path):
    slicer = slicer_core()
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("one.nii.gz", "two.nii.gz"):
        oblique_mr_file(inputs / name)
    context, lines = MrmlContext(scene, run_root), []
    argv = [
        "--",
        "--task",
        "denoise",
        "--in",
        str(inputs),
        "--out",
        str(tmp_path / "out"),
        "--method",
        "mean",
        "--device",
        "cpu",
    ]
    assert run_batch(argv, context, TASKS, lines.append) == 0, lines
    for name in ("one", "two"):
        node = slicer.vtkMRMLScalarVolumeNode()
        storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
        storage.SetFileName(str(tmp_path / "out" / f"{name}_denoise.nrrd"))
        assert storage.ReadData(node)
        np.testing.assert_allclose(matrix(node), context.inputs[f"{name}.nii.gz"], atol=1e-6)  # oblique IJK->RAS kept
    assert list(run_root.iterdir()) == [] and context.denoise_logic.factory.all_ended()


@pytest.mark.parametrize(
    ("options", "code", "said"),
    [
        (["--acceleration", "nan"], 2, "expected a finite number in [1, 64], got nan"),
        (["--task", "reconstruct", "--acceleration", "65"], 2, "got 65"),
        (["--method", "bm4d"], 2, "bm4d"),
        (["--device", "tpu"], 2, "unknown device 'tpu'"),
        (["--task", "segment", "--model", "no-such-model"], 4, "no-such-model"),
        (["--model", "no-such-model"], 2, "no-such-model"),  # denoise: --model stands for --method
    ],
)
def test_options_are_checked_once_before_any_file(tmp_path, capsys, options, code, said):
    inputs = _inputs(tmp_path / "in", "a.nii.gz", "b.nii.gz")
    context, lines = FakeContext(), []
    assert run_batch(_argv(inputs, tmp_path / "out") + options, context, TASKS, lines.append) == code
    assert context.loaded == [] and not (tmp_path / "out").exists()
    said_where = "\n".join(lines) + capsys.readouterr().err  # argparse's own errors go to stderr
    assert said in said_where, said_where


@pytest.mark.parametrize("model", ["zero-filled", "cs-tv", "cs-wavelet"])
def test_a_classical_reconstruction_needs_no_model_bundle(model, monkeypatch):
    def no_bundle(*args, **kwargs):
        raise AssertionError(f"{model} was looked up as a model bundle")

    monkeypatch.setattr("condswin.bundles.resolve_bundle", no_bundle)
    args = batch.build_parser(list(TASKS)).parse_args(
        ["--task", "reconstruct", "--in", "i", "--out", "o", "--model", model]
    )
    batch.check_options(args, TASKS["reconstruct"])  # no error: the method runs without a bundle


def test_inputs_are_read_through_condswins_checks_and_failures_name_them(tmp_path):
    inputs = _inputs(tmp_path / "in", "good.nii.gz")
    whole = (inputs / "good.nii.gz").read_bytes()
    (inputs / "truncated.nii.gz").write_bytes(gzip.compress(gzip.decompress(whole)[:-200]))  # a valid gzip stream
    sitk.WriteImage(sitk.GetImageFromArray(np.ones((16, 16), np.float32)), str(inputs / "flat.nrrd"))  # 2-D
    context, lines = FakeContext(), []
    assert run_batch(_argv(inputs, tmp_path / "out"), context, TASKS, lines.append) == 1
    assert context.loaded == ["good.nii.gz"]  # the others never reach Slicer's reader
    failed = {line.split(":")[0].split("] ")[1]: line for line in lines if "FAILED" in line}
    assert set(failed) == {"flat.nrrd", "truncated.nii.gz"}
    assert str(inputs / "flat.nrrd") in failed["flat.nrrd"] and "2-D" in failed["flat.nrrd"]
    assert str(inputs / "truncated.nii.gz") in failed["truncated.nii.gz"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good_denoise.nrrd"]


def test_a_failure_names_the_users_file_not_the_runs_temporary_copy(tmp_path):
    inputs = _inputs(tmp_path / "in", "patient.nii.gz")
    copy = str(tmp_path / "condswin-denoise-x1y2" / "input.nrrd")
    message = f"{copy}: has 4 components per pixel; a scalar image is needed"
    events = [ProgressEvent("start", file=copy), ProgressEvent("error", message=message, file=copy, code=3)]
    context, lines = FakeContext(ProcessFailed(RunResult(3, events))), []
    assert run_batch(_argv(inputs, tmp_path / "out"), context, TASKS, lines.append) == 1
    [failure] = [line for line in lines if "FAILED" in line]
    assert f"{inputs / 'patient.nii.gz'}: has 4 components per pixel" in failure and "input.nrrd" not in failure


def test_out_equal_to_in_does_not_take_a_previous_run_s_outputs_for_inputs(tmp_path):
    inputs = _inputs(tmp_path / "in", "a.nii.gz", "c.mha")
    assert run_batch(_argv(inputs, inputs), FakeContext(), TASKS, print) == 0
    assert sorted(p.name for p in inputs.iterdir()) == ["a.nii.gz", "a_denoise.nrrd", "c.mha", "c_denoise.nrrd"]
    context, lines = FakeContext(), []
    assert run_batch(_argv(inputs, inputs, "--overwrite"), context, TASKS, lines.append) == 0, lines
    assert context.loaded == ["a.nii.gz", "c.mha"]
    assert "skipped 2 file(s) that are outputs of this batch: a_denoise.nrrd, c_denoise.nrrd" in lines
    assert lines[-1] == "2 of 2 files done"
    assert not (inputs / "a_denoise_denoise.nrrd").exists()
    # an output folder inside the input folder is not read either (only the folder's own files are inputs)
    inputs = _inputs(tmp_path / "in2", "a.nii.gz", "c.mha")
    assert run_batch(_argv(inputs, inputs / "results"), FakeContext(), TASKS, print) == 0
    context = FakeContext()
    assert run_batch(_argv(inputs, inputs / "results", "--overwrite"), context, TASKS, print) == 0
    assert context.loaded == ["a.nii.gz", "c.mha"]


@pytest.mark.parametrize(("raised", "code"), [(RuntimeError("a bug"), 70), (KeyboardInterrupt(), 130)])
def test_the_script_exits_with_the_documented_code_when_the_batch_itself_fails(monkeypatch, capsys, raised, code):
    exits = []
    fake_slicer = SimpleNamespace(util=SimpleNamespace(exit=exits.append))
    monkeypatch.setitem(sys.modules, "slicer", fake_slicer)
    monkeypatch.setattr(batch, "SlicerContext", lambda tasks: None)

    def failing(argv, context, tasks):
        raise raised

    monkeypatch.setattr(batch, "run_batch", failing)
    try:
        batch.main(TASKS)
    except BaseException as escaped:  # noqa: BLE001 - a KeyboardInterrupt escaping would end pytest itself
        pytest.fail(f"main() let {escaped!r} escape instead of exiting with {code}")
    assert exits == [code]
    if code == 70:
        assert "RuntimeError: a bug" in capsys.readouterr().err
