"""MRIDenoise logic: an MR volume node → ``condswin denoise`` → a new denoised volume node; "add noise".

Takes the scene and a process factory as arguments and imports no Qt, so it runs headless against real
MRML (slicer-core) and with a fake process in tests. The volume I/O (temporary run folder, NRRD files with
the input's geometry, nodes added only on success) is MRIRecon's, shared by the extension's MR modules.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from condswin_slicer.mrml import child_environment
from condswin_slicer.process import CondswinProcess, ProgressEvent
from MRIReconLib.volumes import RunFolder, _, add_nodes, adopt_geometry, metrics_table, read_volume, write_volume

from MRIDenoiseLib.parameters import DenoiseParameters, NoiseParameters

__all__ = ["DenoiseOutputs", "MRIDenoiseLogic"]

EventCallback = Callable[[ProgressEvent], None]


def default_process() -> CondswinProcess:
    """The real CLI process; its own ``PYTHONPATH`` finds the condswin package installed beside the modules."""
    return CondswinProcess(extra_env=child_environment())


@dataclass
class DenoiseOutputs:
    """The nodes one denoising added (in the scene), the σ used and whether it was estimated, the report."""

    volume: Any
    sigma: float | None = None
    sigma_estimated: bool = False
    metrics: Any | None = None
    report: dict[str, Any] = field(default_factory=dict)


class MRIDenoiseLogic:
    """Denoise MR volume nodes into new volume nodes; make noisy copies for trying methods out.

    Args:
        scene: the MRML scene (``slicer.mrmlScene`` in Slicer).
        process_factory: makes the process that runs the CLI (default :func:`default_process`).
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

    def denoise(
        self,
        volume_node: Any,
        parameters: DenoiseParameters,
        *,
        reference_node: Any | None = None,
        on_event: EventCallback | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> DenoiseOutputs:
        """Denoise ``volume_node``; with ``reference_node`` (a clean volume on the same grid) the metrics of
        the input and of the result against it become a table node.

        Raises:
            ValueError: no input; ProcessFailed: the CLI's message; ProcessCancelled. The scene is then unchanged.
        """
        if volume_node is None:
            raise ValueError(_("Select an input volume."))
        name = volume_node.GetName()
        with RunFolder("denoise", self.temp_root) as folder:
            source = write_volume(volume_node, folder / "input.nrrd")
            reference = None if reference_node is None else write_volume(reference_node, folder / "reference.nrrd")
            output = folder / "output.nrrd"
            result = self.process_factory().run(
                parameters.arguments(str(source), str(output), reference=None if reference is None else str(reference)),
                on_event=on_event,
                should_cancel=should_cancel,
            )
            node = read_volume(output, f"{name} {_('denoised')}")
            adopt_geometry(node, volume_node)
        report = result.results[0] if result.results else {}
        rows = {key: value for key, value in (report.get("metrics") or {}).items() if isinstance(value, dict)}
        table = metrics_table(f"{name} {_('denoising metrics')}", rows) if rows else None
        add_nodes(self.scene, [node] + ([table] if table is not None else []))
        return DenoiseOutputs(node, report.get("sigma"), bool(report.get("sigma_estimated")), table, report)

    def add_noise(self, volume_node: Any, noise: NoiseParameters) -> Any:
        """A noisy copy of ``volume_node`` (new node, same geometry; the input is not touched).

        σ is in the image's intensity units (``condswin.mri.noise`` with ``reference=1``).

        Raises:
            ValueError: no input, a bad noise model or σ, or an image that is not finite.
        """
        import numpy as np
        import slicer
        import vtk
        from vtk.util.numpy_support import numpy_to_vtk, vtk_to_numpy

        from condswin.mri.noise import add_gaussian, add_rician

        if volume_node is None or volume_node.GetImageData() is None:
            raise ValueError(_("Select an input volume."))
        noise.check()
        image = volume_node.GetImageData()
        if image.GetNumberOfScalarComponents() != 1:
            raise ValueError(_("Noise can be added to scalar volumes only."))
        values = vtk_to_numpy(image.GetPointData().GetScalars()).astype(np.float32)
        add = add_rician if noise.model == "rician" else add_gaussian
        noisy = add(values, noise.sigma, noise.seed, reference=1.0)
        copy = vtk.vtkImageData()
        copy.SetDimensions(image.GetDimensions())
        copy.GetPointData().SetScalars(numpy_to_vtk(np.ascontiguousarray(noisy, dtype=np.float32), deep=True))
        node = slicer.vtkMRMLScalarVolumeNode()
        node.SetName(f"{volume_node.GetName()} {_('noisy')} ({noise.model} σ={noise.sigma:g})")
        node.SetAndObserveImageData(copy)
        node.CopyOrientation(volume_node)
        add_nodes(self.scene, [node])
        return node
