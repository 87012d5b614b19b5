"""MRIRecon logic: a fastMRI ``.h5`` or an MR volume node → ``condswin reconstruct`` → new volume nodes.

Takes the scene and a process factory as arguments and imports no Qt, so it runs headless against real
MRML (slicer-core) and with a fake process in tests. Inputs and outputs go through NRRD files in a
temporary folder the run owns and removes; nodes are added to the scene only when every command succeeded,
so a failed or cancelled reconstruction leaves the scene as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from condswin_slicer import mrml
from condswin_slicer.i18n import _
from condswin_slicer.job import CliJob, EventCallback
from condswin_slicer.logic import ModuleLogic
from condswin_slicer.process import RunResult

from condswin.jobs.reconstruction import CLASSICAL_METHODS, ZERO_FILLED
from MRIReconLib.parameters import MRIReconParameters

__all__ = ["MRIReconLogic", "MRIReconOutputs"]


@dataclass
class MRIReconOutputs:
    """The nodes one reconstruction added (all in the scene) and the CLI's report of the main run."""

    volume: Any
    zero_filled: Any | None = None
    metrics: Any | None = None
    report: dict[str, Any] = field(default_factory=dict)


class MRIReconLogic(ModuleLogic):
    """Reconstruct k-space files and MR volumes into new volume nodes (the scene, the process factory and the run
    folders as :class:`~condswin_slicer.logic.ModuleLogic` has them)."""

    # --- non-blocking (the GUI polls the job from a timer) ----------------------------------------------------
    def start_file(self, h5_path: str | os.PathLike, parameters: MRIReconParameters) -> CliJob[MRIReconOutputs]:
        """Start reconstructing a fastMRI file; the volume gets the header's spacing (the CLI's output geometry)."""
        h5_path = Path(h5_path)
        return self._start(str(h5_path), h5_path.name.split(".")[0], None, parameters)

    def start(self, volume_node: Any, parameters: MRIReconParameters) -> CliJob[MRIReconOutputs]:
        """Start reconstructing an MR volume (k-space simulated and undersampled); the result has exactly its
        IJK→RAS. Raises ``InputRejected`` before any process starts for a node that is not a scalar volume."""
        mrml.check_scalar_volume(volume_node)
        return self._start(None, volume_node.GetName(), volume_node, parameters)

    # --- blocking (batch scripts, tests, the file reader) -----------------------------------------------------
    def run_file(
        self,
        h5_path: str | os.PathLike,
        parameters: MRIReconParameters,
        *,
        on_event: EventCallback | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> MRIReconOutputs:
        """:meth:`start_file` and wait; raises ``ProcessFailed`` (the CLI's message) or ``ProcessCancelled``."""
        return self.start_file(h5_path, parameters).wait(on_event, should_cancel)

    def run(
        self,
        volume_node: Any,
        parameters: MRIReconParameters,
        *,
        on_event: EventCallback | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> MRIReconOutputs:
        """:meth:`start` and wait; raises ``ProcessFailed`` (the CLI's message) or ``ProcessCancelled``."""
        return self.start(volume_node, parameters).wait(on_event, should_cancel)

    def _start(
        self, h5_path: str | None, name: str, volume_node: Any | None, parameters: MRIReconParameters
    ) -> CliJob[MRIReconOutputs]:
        models = [parameters.model]
        if not parameters.is_zero_filled and parameters.show_zero_filled:
            models.append(ZERO_FILLED)

        def write(path: Path) -> tuple[list[Path], list[list[str]]]:
            source = h5_path or str(mrml.write_volume(volume_node, path / "input.nrrd"))
            outputs = [path / f"output-{index}.nrrd" for index in range(len(models))]
            return outputs, [
                parameters.arguments(source, str(o), model=m) for m, o in zip(models, outputs, strict=True)
            ]

        folder, (outputs, steps) = self.new_run("recon", write)

        def load(results: list[RunResult]) -> MRIReconOutputs:
            nodes = []
            for model, output in zip(models, outputs, strict=True):
                label = _node_label(model)
                node = mrml.read_volume(output, f"{name} {label}")
                if volume_node is not None:
                    mrml.adopt_geometry(node, volume_node)
                nodes.append(node)
            report = results[0].results[0] if results[0].results else {}
            metrics = report.get("metrics") or {}
            table = mrml.metrics_table(f"{name} {_('reconstruction metrics')}", metrics) if metrics else None
            mrml.add_nodes(self.scene, nodes + ([table] if table is not None else []))
            return MRIReconOutputs(nodes[0], nodes[1] if len(nodes) > 1 else None, table, report)

        return CliJob(self.process_factory, folder, steps, load)


def _node_label(model: str) -> str:
    """What a result node is called after the input: the classical method's name, or "reconstruction" for a model."""
    if model == ZERO_FILLED:
        return _("zero-filled")
    return model if model in CLASSICAL_METHODS else _("reconstruction")
