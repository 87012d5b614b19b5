"""MRML helpers shared by the three module logics: volume nodes to and from NRRD files with their full geometry,
the temporary folder a run owns, nodes added to the scene only when a run succeeded, metrics tables, the
subject-hierarchy study of a node.

No Qt, no torch: only MRML (``slicer`` is the application module inside Slicer and ``slicer-core`` in tests),
imported inside the functions so that this module imports without it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from condswin.errors import InputError, OutputError
from condswin_slicer.i18n import _

__all__ = [
    "GEOMETRY_TOLERANCE",
    "InputRejected",
    "RunFolder",
    "add_nodes",
    "adopt_geometry",
    "check_scalar_volume",
    "ijk_to_ras",
    "metrics_table",
    "place_in_study",
    "read_volume",
    "subject_hierarchy",
    "write_volume",
]

GEOMETRY_TOLERANCE = 1e-4  # mm; NRRD headers print ~17 significant digits, so a round trip differs far less


class InputRejected(InputError):
    """A node the module cannot process (checked before any process starts)."""


class RunFolder:
    """A fresh temporary folder (``condswin-<prefix>-*``) for one run's files, removed with everything in it by
    :meth:`remove` (idempotent) or on leaving a ``with`` block.

    Raises:
        OutputError: the folder cannot be made (``root`` missing or read-only), naming ``root``.
    """

    def __init__(self, prefix: str, root: str | os.PathLike | None = None):
        try:
            self.path = Path(tempfile.mkdtemp(prefix=f"condswin-{prefix}-", dir=root))
        except OSError as error:
            where = root if root is not None else tempfile.gettempdir()
            raise OutputError(
                _("{folder}: cannot make a temporary folder for the run ({reason}).").format(
                    folder=where, reason=error.strerror or error
                )
            ) from error

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def ijk_to_ras(node: Any) -> list[list[float]]:
    """The node's IJK→RAS matrix as nested lists."""
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return [[matrix.GetElement(r, c) for c in range(4)] for r in range(4)]


def check_scalar_volume(node: Any, *, allow_2d: bool = True) -> None:
    """Refuse, before any process starts, a node that is not a one-component scalar volume: none selected, a
    label map, an RGB or other multi-component image, and (``allow_2d=False``) a single slice.

    Raises:
        InputRejected: naming the node and what it is.
    """
    import slicer

    if node is None:
        raise InputRejected(_("Select an input volume."))
    name = node.GetName()
    if isinstance(node, slicer.vtkMRMLLabelMapVolumeNode):
        raise InputRejected(_("{name} is a label map, not an image volume.").format(name=name))
    image = node.GetImageData() if isinstance(node, slicer.vtkMRMLScalarVolumeNode) else None
    if image is None:
        raise InputRejected(_("{name} is not a scalar volume with image data.").format(name=name))
    if image.GetNumberOfScalarComponents() != 1 or isinstance(node, slicer.vtkMRMLVectorVolumeNode):
        raise InputRejected(_("{name} has several components per voxel (RGB?), not a scalar volume.").format(name=name))
    if not allow_2d and min(image.GetDimensions()) < 2:
        raise InputRejected(_("{name} is a 2-D image, not a volume.").format(name=name))


def write_volume(node: Any, path: str | os.PathLike) -> Path:
    """Write a scalar volume node to ``path`` (NRRD) with its geometry through a storage node of its own: the
    node and its storage node (the file it came from) are not touched.

    Raises:
        InputRejected: see :func:`check_scalar_volume`. OutputError: the file could not be written.
    """
    import slicer

    check_scalar_volume(node)
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    storage.SetUseCompression(False)
    if not storage.WriteData(node):
        raise OutputError(_("{path}: could not write the input volume.").format(path=path))
    return Path(path)


def read_volume(path: str | os.PathLike, name: str) -> Any:
    """A new ``vtkMRMLScalarVolumeNode`` read from ``path``, not added to any scene (so a failed run adds nothing).

    Raises:
        OutputError: the file could not be read.
    """
    import slicer

    node = slicer.vtkMRMLScalarVolumeNode()
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    if not storage.ReadData(node) or node.GetImageData() is None:
        raise OutputError(_("{path}: could not read the result.").format(path=path))
    node.SetName(name)
    return node


def adopt_geometry(output: Any, reference: Any) -> None:
    """Give ``output`` exactly the IJK→RAS of ``reference`` (the file round trip can round the last digits).

    Raises:
        OutputError: the two grids differ (size, or a matrix beyond rounding): the result is not on the input's grid.
    """
    if output.GetImageData().GetDimensions() != reference.GetImageData().GetDimensions():
        raise OutputError(_("The result is not on the input's voxel grid (its size differs)."))
    pairs = zip(sum(ijk_to_ras(output), []), sum(ijk_to_ras(reference), []), strict=True)
    if any(abs(a - b) > GEOMETRY_TOLERANCE for a, b in pairs):
        raise OutputError(_("The result is not on the input's voxel grid (its geometry differs)."))
    # MRML skips direction updates within a tolerance, so reset first: then the copy is the same bit for bit.
    output.SetIJKToRASDirections(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    output.CopyOrientation(reference)


def add_nodes(scene: Any, nodes: Sequence[Any]) -> None:
    """Add finished nodes to the scene (each volume with a display node), after every one of them exists."""
    for node in nodes:
        scene.AddNode(node)
        if hasattr(node, "CreateDefaultDisplayNodes"):
            node.CreateDefaultDisplayNodes()


def metrics_table(name: str, rows: Mapping[str, Mapping[str, float | None]]) -> Any:
    """A table node (not in a scene): one row per image (``input``, ``denoised``, ``model``, ...), one column
    per metric (``nmse``, ``psnr``, ``ssim``, ``mae``); a missing value is left empty."""
    import slicer

    table = slicer.vtkMRMLTableNode()
    table.SetName(name)
    metrics: list[str] = []
    for values in rows.values():
        metrics.extend(key for key in values if key not in metrics)
    image_column = table.AddColumn()
    image_column.SetName(_("image"))
    for metric in metrics:
        table.AddColumn().SetName(metric)
    for row_name, values in rows.items():
        row = table.AddEmptyRow()
        table.SetCellText(row, 0, row_name)
        for index, metric in enumerate(metrics, start=1):
            value = values.get(metric)
            table.SetCellText(row, index, "" if value is None else f"{float(value):.6g}")
    return table


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
