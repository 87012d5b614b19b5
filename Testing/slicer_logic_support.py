"""Helpers of the MRIRecon / MRIDenoise logic tests: a real MRML scene (slicer-core), oblique anisotropic MR
volume nodes read from files, and the real ``condswin`` process with a per-process environment."""

from __future__ import annotations

import hashlib
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from synthetic_images import mr_volume

ROOT = Path(__file__).resolve().parents[1]
for folder in ("SlicerShared", "MRIRecon", "MRIDenoise"):
    if str(ROOT / folder) not in sys.path:
        sys.path.insert(0, str(ROOT / folder))


def slicer_core():
    """The ``slicer`` module of slicer-core; skips where it is absent (it needs Python 3.11)."""
    slicer = pytest.importorskip("slicer")
    if not hasattr(slicer, "vtkMRMLScene"):
        pytest.skip("slicer-core (the real MRML scene) is not installed")
    return slicer


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
    from MRIReconLib.volumes import ijk_to_ras

    return np.array(ijk_to_ras(node))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def node_ids(scene) -> list[str]:
    return [scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())]


def check_module_statically(module: str) -> None:
    """What can be checked of a module without Slicer: every file parses, no file imports torch at top level,
    the widget uses only names its ``.ui`` defines, and the CMakeLists lists every script and resource."""
    import ast
    import re
    import xml.etree.ElementTree as ET

    folder = ROOT / module
    scripts = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.py") if "__pycache__" not in p.parts)
    resources = sorted(p.relative_to(folder).as_posix() for p in (folder / "Resources").rglob("*") if p.is_file())
    for script in scripts:
        tree = ast.parse((folder / script).read_text(encoding="utf-8"), filename=script)
        for node in tree.body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n == "torch" or n.startswith("torch.") for n in names), f"{script} imports torch"
    ui = ET.parse(folder / "Resources" / "UI" / f"{module}.ui")
    defined = {w.get("name") for w in ui.iter("widget")}
    widget_code = (folder / f"{module}Lib" / "widget.py").read_text(encoding="utf-8")
    used = set(re.findall(r"\bui\.([A-Za-z]\w*)", widget_code))
    assert used and used <= defined, sorted(used - defined)
    cmake = (folder / "CMakeLists.txt").read_text(encoding="utf-8").replace("${MODULE_NAME}", module)
    listed = set(re.findall(r"^\s+([\w/]+\.(?:py|png|ui))\s*$", cmake, flags=re.MULTILINE))
    assert listed == set(scripts) | set(resources), sorted(listed ^ (set(scripts) | set(resources)))
