"""CT volume node → ``condswin segment`` in a separate process → segmentation node and report table.

The logic takes the scene, the segmentations logic and the process as arguments (in Slicer:
``slicer.mrmlScene``, ``slicer.modules.segmentations.logic()``; in tests: a bare ``vtkMRMLScene`` and a
``vtkSlicerSegmentationsModuleLogic``), so it runs headless on ``slicer-core``. Files go through a temporary
folder the run owns and removes; new nodes are added only when the run succeeded, so a failed or cancelled
run leaves the scene as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from condswin_slicer.mrml import InputRejected, RunFolder, child_environment, place_in_study, write_volume
from condswin_slicer.process import CondswinProcess, ProgressEvent

from .parameters import SegmentationParameters

__all__ = ["REPORT_ROWS", "SegmentationJob", "SegmentationLogic", "SegmentationOutcome"]

# (report key, row label, unit) of the report table, in display order.
REPORT_ROWS = (
    ("liver_ml", "Liver volume (incl. tumours)", "mL"),
    ("liver_parenchyma_ml", "Liver parenchyma", "mL"),
    ("tumour_count", "Tumour count", ""),
    ("tumour_ml", "Tumour volume", "mL"),
    ("tumour_burden_percent", "Tumour burden", "%"),
)


@dataclass
class SegmentationOutcome:
    """The nodes a successful run added and the report it measured."""

    segmentation_node: Any
    table_node: Any
    report: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


class SegmentationJob:
    """One running segmentation: ``poll()`` from a timer until ``finished``, then ``finish()`` (or ``cancel()``)."""

    def __init__(self, logic: SegmentationLogic, volume_node: Any, parameters: SegmentationParameters):
        self.logic = logic
        self.volume_node = volume_node
        self.parameters = parameters
        self.folder = RunFolder("condswin-seg-", logic.temp_root)
        try:
            self.input_path = write_volume(volume_node, self.folder.path / "input.nrrd")
            self.output_path = self.folder.path / "segmentation.seg.nrrd"
            self.report_path = self.folder.path / "report.json"
            logic.process.start(parameters.cli_args(self.input_path, self.output_path, self.report_path))
        except BaseException:
            self.folder.remove()
            raise

    @property
    def finished(self) -> bool:
        return self.logic.process.finished

    def poll(self) -> list[ProgressEvent]:
        return self.logic.process.poll()

    def cancel(self) -> None:
        """End the process tree and remove the run's files; the scene is not touched."""
        try:
            self.logic.process.cancel()
            while not self.logic.process.finished:
                self.logic.process.poll()
        finally:
            self.folder.remove()

    def finish(self) -> SegmentationOutcome:
        """Load the results into the scene; raises ``ProcessFailed`` / ``ProcessCancelled`` (scene unchanged)."""
        try:
            result = self.logic.process.result()
            return self.logic.load_results(
                self.volume_node, self.parameters, self.output_path, self.report_path, result.warnings
            )
        finally:
            self.folder.remove()


class SegmentationLogic:
    """Liver and liver-tumour segmentation of a CT volume node.

    Args:
        scene: the MRML scene.
        segmentations_logic: a ``vtkSlicerSegmentationsModuleLogic`` (used for surfaces and conversions).
        process: the runner (default: a :class:`CondswinProcess` whose child finds the ``condswin`` package);
            tests inject a fake or a runner with their own environment.
        temp_root: where run folders are made (default: the system's temporary folder).
    """

    def __init__(self, scene: Any, segmentations_logic: Any = None, process: Any = None, temp_root: str | None = None):
        self.scene = scene
        self.segmentations_logic = segmentations_logic
        self.process = process if process is not None else CondswinProcess(extra_env=child_environment())
        self.temp_root = temp_root

    @staticmethod
    def check_input(volume_node: Any) -> None:
        """Refuse what cannot be a CT before any process starts (the CLI checks the image itself)."""
        import slicer

        if volume_node is None:
            raise InputRejected("select an input CT volume")
        if isinstance(volume_node, slicer.vtkMRMLLabelMapVolumeNode):
            raise InputRejected(f"{volume_node.GetName()} is a label map, not a CT volume")
        if not isinstance(volume_node, slicer.vtkMRMLScalarVolumeNode) or volume_node.GetImageData() is None:
            raise InputRejected(f"{volume_node.GetName()} is not a scalar volume")
        if volume_node.GetImageData().GetNumberOfScalarComponents() != 1:
            raise InputRejected(f"{volume_node.GetName()} has several components per voxel (RGB?), not a CT volume")
        if min(volume_node.GetImageData().GetDimensions()) < 2:
            raise InputRejected(f"{volume_node.GetName()} is a 2-D image, not a CT volume")

    def start(self, volume_node: Any, parameters: SegmentationParameters) -> SegmentationJob:
        """Start a run without waiting (the GUI's path)."""
        self.check_input(volume_node)
        return SegmentationJob(self, volume_node, parameters)

    def run(
        self,
        volume_node: Any,
        parameters: SegmentationParameters,
        on_event: Callable[[ProgressEvent], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
        interval: float = 0.05,
    ) -> SegmentationOutcome:
        """Run and wait (batch scripts, tests); ``should_cancel`` returning True cancels the run."""
        import time

        job = self.start(volume_node, parameters)
        try:
            while not job.finished:
                for event in job.poll():
                    if on_event is not None:
                        on_event(event)
                if should_cancel is not None and should_cancel():
                    job.cancel()
                    break
                time.sleep(interval)
            for event in job.poll():
                if on_event is not None:
                    on_event(event)
        except BaseException:
            job.cancel()
            raise
        return job.finish()

    # --- results into the scene -------------------------------------------------------------------------------
    def load_results(
        self, volume_node: Any, parameters: SegmentationParameters, seg_path: Any, report_path: Any, warnings: list[str]
    ) -> SegmentationOutcome:
        """Read the segmentation file and report; add the nodes only when both read (else nothing is added)."""
        import slicer

        report = json.loads(report_path.read_text(encoding="utf-8"))
        name = volume_node.GetName()
        added: list[Any] = []
        try:
            segmentation = slicer.vtkMRMLSegmentationNode()
            segmentation_name = self.scene.GenerateUniqueName(f"{name} liver segmentation")
            segmentation.SetName(segmentation_name)
            self.scene.AddNode(segmentation)
            added.append(segmentation)
            storage = slicer.vtkMRMLSegmentationStorageNode()
            storage.SetFileName(str(seg_path))
            if not storage.ReadData(segmentation):
                raise OSError(f"could not read the segmentation written by condswin ({seg_path.name})")
            segmentation.SetName(segmentation_name)  # reading names the node after the file
            segmentation.CreateDefaultDisplayNodes()
            segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
            if parameters.surfaces:
                segmentation.CreateClosedSurfaceRepresentation()
            place_in_study(self.scene, segmentation, volume_node)
            table = self._report_table(f"{name} liver report", report)
            added.append(table)
            place_in_study(self.scene, table, volume_node)
        except BaseException:
            for node in added:
                self.scene.RemoveNode(node)
            raise
        return SegmentationOutcome(segmentation, table, report, list(warnings))

    def _report_table(self, name: str, report: dict[str, Any]) -> Any:
        import vtk

        table = self.scene.AddNewNodeByClass("vtkMRMLTableNode", self.scene.GenerateUniqueName(name))
        columns = [vtk.vtkStringArray(), vtk.vtkStringArray(), vtk.vtkStringArray()]
        for column, title in zip(columns, ("Measure", "Value", "Unit"), strict=True):
            column.SetName(title)
        rows = [(label, report.get(key), unit) for key, label, unit in REPORT_ROWS]
        rows += [(f"Tumour {i}", v, "mL") for i, v in enumerate(report.get("tumour_volumes_ml", []), start=1)]
        for label, value, unit in rows:
            columns[0].InsertNextValue(label)
            columns[1].InsertNextValue(_format(value))
            columns[2].InsertNextValue(unit)
        for column in columns:
            table.AddColumn(column)
        return table


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return "" if value is None else str(value)
