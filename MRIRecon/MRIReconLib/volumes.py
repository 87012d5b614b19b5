"""Volume nodes in and out of the ``condswin`` process, shared by MRIRecon and MRIDenoise.

No Qt, no torch: only MRML (``slicer`` is the application module inside Slicer and ``slicer-core`` in tests).

* :class:`RunFolder` — the temporary folder of one run, owned and removed by the logic.
* :func:`write_volume` — a volume node to NRRD with its geometry (the node is not changed).
* :func:`read_volume` — an NRRD into a new scalar volume node *not yet in the scene*, so a failed run adds
  nothing; :func:`adopt_geometry` gives it exactly the input's IJK→RAS after checking the grids agree.
* :func:`add_nodes` — put finished nodes into the scene in one go; :func:`metrics_table` — a table node.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

try:  # Slicer's translation function; outside the application strings stay as written
    from slicer.i18n import tr as _
except ImportError:  # slicer-core has no i18n module

    def _(text: str) -> str:
        return text


__all__ = [
    "RunFolder",
    "add_nodes",
    "adopt_geometry",
    "ijk_to_ras",
    "installed_models",
    "metrics_table",
    "read_volume",
    "write_volume",
]

GEOMETRY_TOLERANCE = 1e-4  # mm; NRRD headers print ~17 significant digits, so a round trip differs far less


class RunFolder:
    """A fresh temporary folder (``condswin-<prefix>-*``) removed with everything in it on exit."""

    def __init__(self, prefix: str, root: str | os.PathLike | None = None):
        self.prefix = prefix
        self.root = root
        self.path: Path | None = None

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix=f"condswin-{self.prefix}-", dir=self.root))
        return self.path

    def __exit__(self, *exc: Any) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None


def _slicer():
    import slicer

    return slicer


def ijk_to_ras(node: Any) -> list[list[float]]:
    """The node's IJK→RAS matrix as nested lists."""
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return [[matrix.GetElement(r, c) for c in range(4)] for r in range(4)]


def write_volume(node: Any, path: str | os.PathLike) -> Path:
    """Write a scalar volume node to ``path`` (NRRD) with its geometry; the node and its own storage node
    (the file it came from) are not touched.

    Raises:
        ValueError: the node has no image data, or the file could not be written.
    """
    slicer = _slicer()
    if node is None or node.GetImageData() is None:
        raise ValueError(_("The input volume has no image data."))
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    storage.SetUseCompression(False)
    if not storage.WriteData(node):
        raise ValueError(_("Could not write the input volume to {path}.").format(path=path))
    return Path(path)


def read_volume(path: str | os.PathLike, name: str) -> Any:
    """A new ``vtkMRMLScalarVolumeNode`` read from ``path``, not added to any scene.

    Raises:
        ValueError: the file could not be read.
    """
    slicer = _slicer()
    node = slicer.vtkMRMLScalarVolumeNode()
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    if not storage.ReadData(node) or node.GetImageData() is None:
        raise ValueError(_("Could not read the result {path}.").format(path=path))
    node.SetName(name)
    return node


def adopt_geometry(output: Any, reference: Any) -> None:
    """Give ``output`` exactly the IJK→RAS of ``reference`` (the file round trip can round the last digits).

    Raises:
        ValueError: the two grids differ (size, or a matrix beyond rounding): the result is not on the input's grid.
    """
    if output.GetImageData().GetDimensions() != reference.GetImageData().GetDimensions():
        raise ValueError(_("The result is not on the input's voxel grid (its size differs)."))
    ours, theirs = ijk_to_ras(output), ijk_to_ras(reference)
    pairs = zip(sum(ours, []), sum(theirs, []), strict=True)
    if any(abs(a - b) > GEOMETRY_TOLERANCE for a, b in pairs):
        raise ValueError(_("The result is not on the input's voxel grid (its geometry differs)."))
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
    slicer = _slicer()
    table = slicer.vtkMRMLTableNode()
    table.SetName(name)
    metrics: list[str] = []
    for values in rows.values():
        metrics.extend(key for key in values if key not in metrics)
    image_column = table.AddColumn()
    image_column.SetName(_("image"))
    columns = []
    for metric in metrics:
        column = table.AddColumn()
        column.SetName(metric)
        columns.append(column)
    for row_name, values in rows.items():
        row = table.AddEmptyRow()
        table.SetCellText(row, 0, row_name)
        for index, metric in enumerate(metrics, start=1):
            value = values.get(metric)
            table.SetCellText(row, index, "" if value is None else f"{float(value):.6g}")
    return table


def installed_models(task: str) -> list[str]:
    """Ids of the installed bundles of ``task`` (``CONDSWIN_MODEL_PATH`` folders, then the embedded registry),
    for the model selectors; a broken bundle is left out (the CLI names it when it is asked for)."""
    try:
        from condswin.bundles import discover_bundles
    except ImportError:  # condswin's requirements not installed yet: the CLI will say so when run
        return []
    bundles, _problems = discover_bundles()
    return [bundle.card.id for bundle in bundles if bundle.card.task == task]
