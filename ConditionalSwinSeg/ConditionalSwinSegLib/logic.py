"""CT volume node → ``condswin segment`` in a separate process → segmentation node and report table.

The logic takes the scene, the segmentations logic and a process factory as arguments (in Slicer:
``slicer.mrmlScene``, ``slicer.modules.segmentations.logic()``; in tests: a bare ``vtkMRMLScene``, a
``vtkSlicerSegmentationsModuleLogic`` and the real or a fake runner), so it runs headless on ``slicer-core``.
Files go through a temporary folder the run owns and removes; new nodes are added only when the run
succeeded, so a failed or cancelled run leaves the scene as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from condswin_slicer.i18n import _
from condswin_slicer.job import CliJob, EventCallback
from condswin_slicer.mrml import InputRejected, RunFolder, check_scalar_volume, place_in_study, write_volume
from condswin_slicer.process import RunResult, default_process

from condswin.errors import OutputError

from .parameters import SegmentationParameters

__all__ = ["REPORT_ROWS", "SegmentationLogic", "SegmentationOutcome"]

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


class SegmentationLogic:
    """Liver and liver-tumour segmentation of a CT volume node.

    Args:
        scene: the MRML scene.
        segmentations_logic: a ``vtkSlicerSegmentationsModuleLogic`` (used for surfaces and conversions).
        process_factory: makes the process that runs the CLI (default: the real runner, whose child finds the
            ``condswin`` package); tests pass a fake or a runner with their own environment.
        temp_root: where run folders are made (default: the system's temporary folder).
    """

    def __init__(
        self,
        scene: Any,
        segmentations_logic: Any = None,
        process_factory: Callable[[], Any] | None = None,
        temp_root: str | None = None,
    ):
        self.scene = scene
        self.segmentations_logic = segmentations_logic
        self.process_factory = process_factory or default_process
        self.temp_root = temp_root

    @staticmethod
    def check_input(volume_node: Any) -> None:
        """Refuse what cannot be a CT before any process starts (the CLI checks the image itself)."""
        if volume_node is None:
            raise InputRejected(_("Select an input CT volume."))
        check_scalar_volume(volume_node, allow_2d=False)

    def start(self, volume_node: Any, parameters: SegmentationParameters) -> CliJob[SegmentationOutcome]:
        """Start a run without waiting (the GUI's path: poll the job from a timer)."""
        self.check_input(volume_node)
        folder = RunFolder("seg", self.temp_root)
        try:
            input_path = write_volume(volume_node, folder.path / "input.nrrd")
            output_path = folder.path / "segmentation.seg.nrrd"
            report_path = folder.path / "report.json"
            args = parameters.cli_args(input_path, output_path, report_path)
        except BaseException:
            folder.remove()
            raise

        def load(results: list[RunResult]) -> SegmentationOutcome:
            return self.load_results(volume_node, parameters, output_path, report_path, results[0].warnings)

        return CliJob(self.process_factory, folder, [args], load)

    def run(
        self,
        volume_node: Any,
        parameters: SegmentationParameters,
        on_event: EventCallback | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> SegmentationOutcome:
        """Run and wait (batch scripts, tests); ``should_cancel`` returning True cancels the run."""
        return self.start(volume_node, parameters).wait(on_event, should_cancel)

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
                raise OutputError(
                    _("{path}: could not read the segmentation written by condswin.").format(path=seg_path)
                )
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
