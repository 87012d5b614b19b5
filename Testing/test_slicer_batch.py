"""The headless batch script's argument parsing and per-file loop: a fake context, then the real MRIDenoise logic
on a real MRML scene (slicer-core) through the real ``condswin`` process, two tiny files."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.register_assert_rewrite("slicer_logic_support")
from slicer_logic_support import load_volume, make_logic, matrix, oblique_mr_file, slicer_core  # noqa: E402

pytest_plugins = ["slicer_logic_support"]  # also puts SlicerShared and the module folders on sys.path

from condswin_slicer.batch import input_files, output_path, run_batch  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class FakeContext:
    """Records what the loop asks for; a file whose name contains 'bad' fails in the logic."""

    def __init__(self):
        self.loaded, self.saved, self.cleared = [], [], 0

    def load_volume(self, path):
        self.loaded.append(Path(path).name)
        return SimpleNamespace(name=Path(path).name)

    def logic(self, task):
        def denoise(node, parameters):
            if "bad" in node.name:
                raise RuntimeError(f"{node.name}: the CLI said no")
            return SimpleNamespace(volume=node, parameters=parameters)

        return SimpleNamespace(denoise=denoise)

    def save(self, node, path):
        Path(path).write_text(node.name)
        self.saved.append(Path(path).name)

    def clear(self):
        self.cleared += 1


def _inputs(folder: Path, *names: str) -> Path:
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes(b"x")
    return folder


def test_usage_errors_are_exit_2(tmp_path):
    lines = []
    assert run_batch(["--task", "segment"], FakeContext(), lines.append) == 2  # --in/--out missing
    assert run_batch(["--", "--task", "x", "--in", ".", "--out", "o"], FakeContext(), lines.append) == 2
    assert (
        run_batch(["--task", "denoise", "--in", str(tmp_path / "no"), "--out", "o"], FakeContext(), lines.append) == 2
    )
    empty = _inputs(tmp_path / "empty", "notes.txt")
    assert (
        run_batch(["--task", "denoise", "--in", str(empty), "--out", str(tmp_path / "o")], FakeContext(), lines.append)
        == 2
    )
    assert "no input file for denoise" in lines[-1]


def test_every_file_is_run_and_a_failure_is_exit_1_after_the_others(tmp_path):
    inputs = _inputs(tmp_path / "in", "a.nii.gz", "bad.nrrd", "c.mha", "readme.txt", "seg.seg.nrrd")
    context, lines = FakeContext(), []
    code = run_batch(
        ["--", "--task", "denoise", "--in", str(inputs), "--out", str(tmp_path / "out")], context, lines.append
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
            lines.append,
        )
        == 1
    )
    assert (
        run_batch(
            ["--task", "denoise", "--in", str(inputs / "a.nii.gz"), "--out", str(tmp_path / "out"), "--overwrite"],
            FakeContext(),
            lines.append,
        )
        == 0
    )


def test_file_selection_and_output_names(tmp_path):
    inputs = _inputs(tmp_path / "in", "k.h5", "ct.nii.gz", "old.seg.nrrd")
    assert [p.name for p in input_files(inputs, "reconstruct")] == ["ct.nii.gz", "k.h5"]
    assert [p.name for p in input_files(inputs, "segment")] == ["ct.nii.gz"]
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
    assert run_batch(argv, context, lines.append) == 0, lines
    for name in ("one", "two"):
        node = slicer.vtkMRMLScalarVolumeNode()
        storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
        storage.SetFileName(str(tmp_path / "out" / f"{name}_denoise.nrrd"))
        assert storage.ReadData(node)
        np.testing.assert_allclose(matrix(node), context.inputs[f"{name}.nii.gz"], atol=1e-6)  # oblique IJK->RAS kept
    assert list(run_root.iterdir()) == [] and context.denoise_logic.factory.all_ended()
