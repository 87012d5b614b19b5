"""MRML helpers shared by the module logics: volumes to and from NRRD files with their full geometry, a
temporary folder a run owns, the subject-hierarchy study of a node. ``slicer`` is imported inside the
functions, so this module imports without it (the logics are tested on ``slicer-core``)."""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib.util import find_spec
from pathlib import Path
from typing import Any

__all__ = [
    "InputRejected",
    "RunFolder",
    "child_environment",
    "place_in_study",
    "write_volume",
]


class InputRejected(ValueError):
    """A node the module cannot process (checked before any process starts)."""


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Variables for the ``condswin`` child only: ``PYTHONPATH`` leads with the folder that holds the
    ``condswin`` package (the extension installs it next to the modules), then ``extra``."""
    spec = find_spec("condswin")
    env: dict[str, str] = {}
    if spec is not None and spec.origin:
        root = str(Path(spec.origin).resolve().parents[1])
        current = os.environ.get("PYTHONPATH", "")
        env["PYTHONPATH"] = root + (os.pathsep + current if current else "")
    env.update(extra or {})
    return env


class RunFolder:
    """A temporary folder for one run's files, removed by :meth:`remove` (idempotent)."""

    def __init__(self, prefix: str, root: str | None = None):
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=root))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def write_volume(volume_node: Any, path: Path) -> Path:
    """Write a scalar volume node to ``path`` (NRRD) with its IJK→RAS geometry, through a storage node that
    is not the node's own (the node's file and storage settings stay as they were)."""
    import slicer

    if not isinstance(volume_node, slicer.vtkMRMLScalarVolumeNode) or volume_node.GetImageData() is None:
        raise InputRejected("the input is not a scalar volume with image data")
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    storage.SetUseCompression(0)
    if not storage.WriteData(volume_node):
        raise OSError(f"could not write {path}")
    return path


def subject_hierarchy(scene: Any) -> Any | None:
    """The scene's subject hierarchy node, or ``None`` where the build has none."""
    import slicer

    cls = getattr(slicer, "vtkMRMLSubjectHierarchyNode", None)
    return cls.GetSubjectHierarchyNode(scene) if cls is not None else None


def place_in_study(scene: Any, node: Any, beside: Any) -> bool:
    """Put ``node`` under the subject-hierarchy parent (study) of ``beside``; False where it cannot."""
    sh = subject_hierarchy(scene)
    if sh is None:
        return False
    source = sh.GetItemByDataNode(beside)
    parent = sh.GetItemParent(source) if source else 0
    if not parent or parent == sh.GetSceneItemID():
        return False
    item = sh.GetItemByDataNode(node)
    if item:
        sh.SetItemParent(item, parent)
    else:  # no subject-hierarchy logic observes the scene (headless): make the item here
        sh.CreateItem(parent, node)
    return True
