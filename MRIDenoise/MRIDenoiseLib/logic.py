"""MRIDenoise logic: an MR volume node → ``condswin denoise`` → a new denoised volume node; "add noise".

Takes the scene and a process factory as arguments and imports no Qt, so it runs headless against real
MRML (slicer-core) and with a fake process in tests. Files go through a temporary folder the run owns and
removes (``condswin_slicer.mrml``, shared by the three modules); nodes are added only when the run succeeded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from condswin_slicer import mrml
from condswin_slicer.i18n import _
from condswin_slicer.job import CliJob, EventCallback
from condswin_slicer.logic import ModuleLogic
from condswin_slicer.process import RunResult

from MRIDenoiseLib.parameters import MRIDenoiseParameters, NoiseParameters

__all__ = ["MRIDenoiseOutputs", "MRIDenoiseLogic"]

_OUTPUT = "output.nrrd"  # the denoised volume, in the run folder


@dataclass
class MRIDenoiseOutputs:
    """The nodes one denoising added (in the scene), the σ used and whether it was estimated, the report."""

    volume: Any
    sigma: float | None = None
    sigma_estimated: bool = False
    metrics: Any | None = None
    report: dict[str, Any] = field(default_factory=dict)


class MRIDenoiseLogic(ModuleLogic):
    """Denoise MR volume nodes into new volume nodes; make noisy copies for trying methods out (the scene, the
    process factory and the run folders as :class:`~condswin_slicer.logic.ModuleLogic` has them)."""

    def start(
        self, volume_node: Any, parameters: MRIDenoiseParameters, *, reference_node: Any | None = None
    ) -> CliJob[MRIDenoiseOutputs]:
        """Start denoising ``volume_node`` (the GUI polls the job); with ``reference_node`` (a clean volume on
        the same grid) the metrics of the input and of the result against it become a table node.

        Raises:
            InputRejected: no input, or one that is not a scalar volume (before any process starts).
        """
        mrml.check_scalar_volume(volume_node)
        if reference_node is not None:
            mrml.check_scalar_volume(reference_node)
        name = volume_node.GetName()

        def write(path: Path) -> list[str]:
            source = mrml.write_volume(volume_node, path / "input.nrrd")
            reference = None if reference_node is None else mrml.write_volume(reference_node, path / "reference.nrrd")
            return parameters.arguments(
                str(source), str(path / _OUTPUT), reference=None if reference is None else str(reference)
            )

        folder, args = self.new_run("denoise", write)
        output = folder.path / _OUTPUT

        def load(results: list[RunResult]) -> MRIDenoiseOutputs:
            node = mrml.read_volume(output, f"{name} {_('denoised')}")
            mrml.adopt_geometry(node, volume_node)
            report = results[0].results[0] if results[0].results else {}
            rows = {key: value for key, value in (report.get("metrics") or {}).items() if isinstance(value, dict)}
            table = mrml.metrics_table(f"{name} {_('denoising metrics')}", rows) if rows else None
            mrml.add_nodes(self.scene, [node] + ([table] if table is not None else []))
            return MRIDenoiseOutputs(node, report.get("sigma"), bool(report.get("sigma_estimated")), table, report)

        return CliJob(self.process_factory, folder, [args], load)

    def run(
        self,
        volume_node: Any,
        parameters: MRIDenoiseParameters,
        *,
        reference_node: Any | None = None,
        on_event: EventCallback | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> MRIDenoiseOutputs:
        """:meth:`start` and wait (batch scripts, tests).

        Raises:
            InputRejected; ProcessFailed: the CLI's message; ProcessCancelled. The scene is then unchanged.
        """
        return self.start(volume_node, parameters, reference_node=reference_node).wait(on_event, should_cancel)

    def add_noise(self, volume_node: Any, noise: NoiseParameters) -> Any:
        """A noisy copy of ``volume_node`` (new node, same geometry; the input is not touched).

        σ is in the image's intensity units (``condswin.mri.noise`` with ``reference=1``).

        Raises:
            InputRejected: no input or not a scalar volume. ValueError: a bad noise model or σ.
        """
        import numpy as np
        import slicer
        import vtk
        from vtk.util.numpy_support import numpy_to_vtk, vtk_to_numpy

        from condswin.mri.noise import add_gaussian, add_rician

        mrml.check_scalar_volume(volume_node)
        noise.check()
        image = volume_node.GetImageData()
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
        mrml.add_nodes(self.scene, [node])
        return node
