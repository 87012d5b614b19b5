"""CT volume node → ``condswin segment`` in a separate process → segmentation node and report table.

The logic takes the scene and a process factory as arguments (in Slicer: ``slicer.mrmlScene``; in tests: a bare
``vtkMRMLScene`` and the real or a fake runner), so it runs headless on ``slicer-core``. The segments and the
report's rows are named after the labels of the model's card (:mod:`.report`), whichever model runs.
Files go through a temporary folder the run owns and removes; new nodes are added only when the run
succeeded, so a failed or cancelled run leaves the scene as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from condswin_slicer.i18n import _
from condswin_slicer.job import CliJob, EventCallback
from condswin_slicer.logic import ModuleLogic
from condswin_slicer.mrml import InputRejected, check_scalar_volume, place_in_study, write_volume
from condswin_slicer.process import RunResult

from ConditionalSwinSegLib.parameters import ConditionalSwinSegParameters
from ConditionalSwinSegLib.report import report_rows
from condswin.errors import OutputError

__all__ = ["ConditionalSwinSegLogic", "ConditionalSwinSegOutputs"]

# the run folder's files the CLI writes
_SEGMENTATION = "segmentation.seg.nrrd"
_REPORT = "report.json"


@dataclass
class ConditionalSwinSegOutputs:
    """The nodes a successful run added (the segmentation and its report table) and the report it measured."""

    segmentation: Any
    table: Any
    report: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


class ConditionalSwinSegLogic(ModuleLogic):
    """Segmentation of a CT volume node with a segmentation model (by default the liver and liver-tumour one);
    the segments and the report rows are those of the model's card (the scene, the process factory and the run
    folders as :class:`~condswin_slicer.logic.ModuleLogic` has them)."""

    @staticmethod
    def check_input(volume_node: Any) -> None:
        """Refuse what cannot be a CT before any process starts (the CLI checks the image itself)."""
        if volume_node is None:
            raise InputRejected(_("Select an input CT volume."))
        check_scalar_volume(volume_node, allow_2d=False)

    def start(self, volume_node: Any, parameters: ConditionalSwinSegParameters) -> CliJob[ConditionalSwinSegOutputs]:
        """Start a run without waiting (the GUI's path: poll the job from a timer)."""
        self.check_input(volume_node)

        def write(path: Path) -> list[str]:
            source = write_volume(volume_node, path / "input.nrrd")
            return parameters.arguments(str(source), str(path / _SEGMENTATION), report=str(path / _REPORT))

        folder, args = self.new_run("seg", write)
        output, report = folder.path / _SEGMENTATION, folder.path / _REPORT

        def load(results: list[RunResult]) -> ConditionalSwinSegOutputs:
            return self.load_results(volume_node, parameters, output, report, results[0].warnings)

        return CliJob(self.process_factory, folder, [args], load)

    def run(
        self,
        volume_node: Any,
        parameters: ConditionalSwinSegParameters,
        *,
        on_event: EventCallback | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> ConditionalSwinSegOutputs:
        """:meth:`start` and wait (batch scripts, tests); ``should_cancel`` returning True cancels the run.

        Raises:
            InputRejected; ProcessFailed: the CLI's message; ProcessCancelled. The scene is then unchanged.
        """
        return self.start(volume_node, parameters).wait(on_event, should_cancel)

    # --- results into the scene -------------------------------------------------------------------------------
    def load_results(
        self,
        volume_node: Any,
        parameters: ConditionalSwinSegParameters,
        seg_path: Path,
        report_path: Path,
        warnings: list[str],
    ) -> ConditionalSwinSegOutputs:
        """Read the segmentation file (its segments named and coloured after the card's labels) and the report;
        add the nodes only when both read (else nothing is added)."""
        import slicer

        report = json.loads(report_path.read_text(encoding="utf-8"))
        name = volume_node.GetName()
        added: list[Any] = []
        try:
            segmentation = slicer.vtkMRMLSegmentationNode()
            segmentation_name = self.scene.GenerateUniqueName(f"{name} {_('segmentation')}")
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
            table = self._report_table(f"{name} {_('segmentation report')}", report)
            added.append(table)
            place_in_study(self.scene, table, volume_node)
        except BaseException:
            for node in added:
                self.scene.RemoveNode(node)
            raise
        return ConditionalSwinSegOutputs(segmentation, table, report, list(warnings))

    def _report_table(self, name: str, report: dict[str, Any]) -> Any:
        import vtk

        table = self.scene.AddNewNodeByClass("vtkMRMLTableNode", self.scene.GenerateUniqueName(name))
        columns = [vtk.vtkStringArray(), vtk.vtkStringArray(), vtk.vtkStringArray()]
        for column, title in zip(columns, ("Measure", "Value", "Unit"), strict=True):
            column.SetName(title)
        for label, value, unit in report_rows(report):
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
