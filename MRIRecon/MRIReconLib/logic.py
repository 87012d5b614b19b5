"""MRIRecon logic: a fastMRI ``.h5`` or an MR volume node → ``condswin reconstruct`` → new volume nodes.

Takes the scene and a process factory as arguments and imports no Qt, so it runs headless against real
MRML (slicer-core) and with a fake process in tests. Inputs and outputs go through NRRD files in a
temporary folder the logic owns and removes; nodes are added to the scene only when every run succeeded,
so a failed or cancelled reconstruction leaves the scene as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from condswin_slicer.mrml import child_environment
from condswin_slicer.process import CondswinProcess, ProgressEvent

from MRIReconLib.parameters import ZERO_FILLED, ReconParameters
from MRIReconLib.volumes import RunFolder, _, add_nodes, adopt_geometry, metrics_table, read_volume, write_volume

__all__ = ["MRIReconLogic", "ReconOutputs"]

EventCallback = Callable[[ProgressEvent], None]


def default_process() -> CondswinProcess:
    """The real CLI process; its own ``PYTHONPATH`` finds the condswin package installed beside the modules."""
    return CondswinProcess(extra_env=child_environment())


@dataclass
class ReconOutputs:
    """The nodes one reconstruction added (all in the scene) and the CLI's report of the main run."""

    volume: Any
    zero_filled: Any | None = None
    metrics: Any | None = None
    report: dict[str, Any] = field(default_factory=dict)


class MRIReconLogic:
    """Reconstruct k-space files and MR volumes into new volume nodes.

    Args:
        scene: the MRML scene (``slicer.mrmlScene`` in Slicer).
        process_factory: makes the process that runs the CLI (default :func:`default_process`); tests pass
            a fake or a configured one.
        temp_root: where run folders are made (default: the system's temporary folder).
    """

    def __init__(
        self,
        scene: Any,
        process_factory: Callable[[], Any] | None = None,
        temp_root: str | os.PathLike | None = None,
    ):
        self.scene = scene
        self.process_factory = process_factory or default_process
        self.temp_root = temp_root

    def reconstruct_file(
        self,
        h5_path: str | os.PathLike,
        parameters: ReconParameters,
        *,
        on_event: EventCallback | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> ReconOutputs:
        """Reconstruct a fastMRI file; the volume gets the header's spacing (the CLI's output geometry)."""
        h5_path = Path(h5_path)
        return self._run(str(h5_path), h5_path.name.split(".")[0], None, parameters, on_event, should_cancel)

    def reconstruct_volume(
        self,
        volume_node: Any,
        parameters: ReconParameters,
        *,
        on_event: EventCallback | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> ReconOutputs:
        """Reconstruct an MR volume (k-space simulated and undersampled); the result has exactly its IJK→RAS."""
        if volume_node is None:
            raise ValueError(_("Select an input volume."))
        return self._run(None, volume_node.GetName(), volume_node, parameters, on_event, should_cancel)

    def _run(
        self,
        h5_path: str | None,
        name: str,
        volume_node: Any | None,
        parameters: ReconParameters,
        on_event: EventCallback | None,
        should_cancel: Callable[[], bool] | None,
    ) -> ReconOutputs:
        models = [parameters.model] if parameters.is_zero_filled or not parameters.show_zero_filled else []
        if not models:
            models = [parameters.model, ZERO_FILLED]
        with RunFolder("recon", self.temp_root) as folder:
            source = h5_path or str(write_volume(volume_node, folder / "input.nrrd"))
            nodes, reports = [], []
            for index, model in enumerate(models):
                output = folder / f"output-{index}.nrrd"
                result = self.process_factory().run(
                    parameters.arguments(source, str(output), model=model),
                    on_event=on_event,
                    should_cancel=should_cancel,
                )
                label = _("zero-filled") if model == ZERO_FILLED else _("reconstruction")
                node = read_volume(output, f"{name} {label}")
                if volume_node is not None:
                    adopt_geometry(node, volume_node)
                nodes.append(node)
                reports.append(result.results[0] if result.results else {})
        report = reports[0]
        table = None
        metrics = report.get("metrics") or {}
        if metrics:
            table = metrics_table(f"{name} {_('reconstruction metrics')}", metrics)
        add_nodes(self.scene, nodes + ([table] if table is not None else []))
        return ReconOutputs(nodes[0], nodes[1] if len(nodes) > 1 else None, table, report)
