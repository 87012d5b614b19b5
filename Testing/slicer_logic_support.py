"""Helpers of the module logic tests: a real MRML scene (slicer-core), oblique anisotropic MR volume nodes read
from files, the real ``condswin`` process with a per-process environment, and the checks that a run left the
scene, the run folder and the process table as they were.

The fixtures ``scene`` and ``run_root`` reach every test module through ``pytest_plugins`` in ``conftest.py`` (which
also has pytest rewrite the asserts of the helpers here)."""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from synthetic_images import mr_volume


def slicer_core():
    """The ``slicer`` module of slicer-core; skips where it is absent (it needs Python 3.11)."""
    slicer = pytest.importorskip("slicer")
    if not hasattr(slicer, "vtkMRMLScene"):
        pytest.skip("slicer-core (the real MRML scene) is not installed")
    return slicer


@pytest.fixture
def scene():
    """An empty real MRML scene."""
    return slicer_core().vtkMRMLScene()


@pytest.fixture
def run_root(tmp_path: Path) -> Path:
    """The folder a logic makes its run folders in (empty again after every run)."""
    folder = tmp_path / "run_root"
    folder.mkdir()
    return folder


def make_logic(logic_cls, scene, run_root: Path, **kwargs):
    """``logic_cls(scene, factory, temp_root=run_root)`` with the :class:`RecordingFactory` kept as ``.factory``."""
    factory = RecordingFactory()
    logic = logic_cls(scene, process_factory=factory, temp_root=run_root, **kwargs)
    logic.factory = factory
    return logic


def assert_left_as_it_was(scene, before: list[str], run_root: Path, factory: RecordingFactory | None = None) -> None:
    """A failed or cancelled run: the same nodes, an empty run folder, and no process left running."""
    assert node_ids(scene) == before
    assert list(run_root.iterdir()) == []
    if factory is not None:
        assert factory.all_ended()


def child_env() -> dict[str, str]:
    """The child's own environment: no model search path from the developer's shell."""
    return {k: v for k, v in os.environ.items() if k != "CONDSWIN_MODEL_PATH"}


class RecordingFactory:
    """A process factory that keeps every process it made, to check none is left running."""

    def __init__(self):
        from condswin_slicer.process import CondswinProcess

        self._cls = CondswinProcess
        self.made: list = []

    def __call__(self):
        process = self._cls(env=child_env(), grace_seconds=10.0)
        self.made.append(process)
        return process

    def all_ended(self) -> bool:
        return all(p._popen is None or p._popen.poll() is not None for p in self.made)


class FakeProcess:
    """Stands in for the runner: the run ends at once with ``outcome`` (a ``RunResult``, or the exception
    ``result()`` raises); ``on_start(args)`` may write the files the real CLI would."""

    finished = True

    def __init__(self, outcome, on_start=None):
        self.outcome = outcome
        self.on_start = on_start
        self.args: list[str] = []

    def start(self, args):
        self.args = list(args)
        if self.on_start is not None:
            self.on_start(self.args)

    def poll(self):
        return []

    def result(self):
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome

    def cancel(self, wait=True):
        pass


def oblique_mr_file(path: Path, *, slices: int = 3, size: int = 32, nan: bool = False) -> Path:
    """An oblique, anisotropic noisy MR volume (float32) written to ``path``."""
    volume = mr_volume(slices, size) + np.random.default_rng(1).normal(0, 3, (slices, size, size))
    volume = np.abs(volume).astype(np.float32)
    if nan:
        volume[1, 5, 5] = np.nan
    image = sitk.GetImageFromArray(volume)
    image.SetSpacing((0.9, 1.1, 4.0))
    image.SetOrigin((12.5, -30.0, 7.0))
    c, s = math.cos(0.4), math.sin(0.4)
    image.SetDirection((c, 0.0, s, 0.0, 1.0, 0.0, -s, 0.0, c))
    sitk.WriteImage(image, str(path))
    return path


def load_volume(scene, path: Path, name: str = "mr"):
    """Read a file into a new volume node of ``scene`` (as Slicer's loadVolume would)."""
    slicer = slicer_core()
    node = slicer.vtkMRMLScalarVolumeNode()
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    assert storage.ReadData(node)
    node.SetName(name)
    scene.AddNode(storage)
    scene.AddNode(node)
    node.SetAndObserveStorageNodeID(storage.GetID())
    node.CreateDefaultDisplayNodes()
    return node


def voxels(node) -> np.ndarray:
    from vtk.util.numpy_support import vtk_to_numpy

    return vtk_to_numpy(node.GetImageData().GetPointData().GetScalars()).copy()


def matrix(node) -> np.ndarray:
    from condswin_slicer.mrml import ijk_to_ras

    return np.array(ijk_to_ras(node))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def node_ids(scene) -> list[str]:
    return [scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())]
