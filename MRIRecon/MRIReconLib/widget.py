"""MRIRecon's panel: reads the .ui controls into :class:`ReconParameters`, runs the logic, shows progress,
log and results; Apply becomes Cancel while a run is in progress. Imported only inside Slicer (Qt)."""

from __future__ import annotations

from typing import Any

import qt
import slicer
from condswin_slicer.install import ensure_dependencies
from condswin_slicer.process import ProcessCancelled, ProcessFailed, ProgressEvent

from MRIReconLib.logic import MRIReconLogic, ReconOutputs
from MRIReconLib.parameters import MASK_KINDS, ZERO_FILLED, ReconParameters
from MRIReconLib.volumes import _, installed_models

__all__ = ["MRIReconPanel", "show_side_by_side"]

DEVICES = ("auto", "cpu", "cuda", "mps")


def show_side_by_side(left: Any, right: Any | None) -> None:
    """``left`` in the red slice view and ``right`` (when given) beside it in the yellow one."""
    if right is None:
        slicer.util.setSliceViewerLayers(background=left, fit=True)
        return
    slicer.app.layoutManager().setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutSideBySideView)
    for view, node in (("Red", left), ("Yellow", right)):
        composite = slicer.app.layoutManager().sliceWidget(view).mrmlSliceCompositeNode()
        composite.SetBackgroundVolumeID(node.GetID())
        slicer.app.layoutManager().sliceWidget(view).sliceLogic().FitSliceToAll()


class MRIReconPanel:
    """The controller of ``Resources/UI/MRIRecon.ui`` (``ui``: the widgets by object name)."""

    def __init__(self, ui: Any, requirements_path: str, logic: MRIReconLogic | None = None):
        self.ui = ui
        self.requirements_path = requirements_path
        self.logic = logic or MRIReconLogic(slicer.mrmlScene)
        self._running = False
        self._cancel_requested = False
        ui.inputVolumeSelector.setMRMLScene(slicer.mrmlScene)
        ui.modelComboBox.addItems([ZERO_FILLED, *installed_models("reconstruction")])
        ui.maskComboBox.addItems(list(MASK_KINDS))
        ui.deviceComboBox.addItems(list(DEVICES))
        ui.applyButton.connect("clicked(bool)", self.on_apply)

    def parameters(self) -> ReconParameters:
        """The controls as typed parameters (centre fraction 0 and seed −1 mean "the CLI's default")."""
        ui = self.ui
        return ReconParameters(
            model=ui.modelComboBox.currentText.strip(),
            acceleration=float(ui.accelerationSpinBox.value),
            mask=ui.maskComboBox.currentText,
            center_fraction=float(ui.centerFractionSpinBox.value) or None,
            seed=None if ui.seedSpinBox.value < 0 else int(ui.seedSpinBox.value),
            show_zero_filled=bool(ui.showZeroFilledCheckBox.checked),
            device=ui.deviceComboBox.currentText,
            force_cpu=bool(ui.forceCpuCheckBox.checked),
        )

    def on_apply(self) -> None:
        if self._running:
            self._cancel_requested = True
            self.log(_("Cancelling..."))
            return
        if not self.dependencies_ready():
            return
        self._set_running(True)
        try:
            outputs = self._run()
        except ProcessCancelled:
            self.log(_("Cancelled: nothing was added to the scene."))
        except (ProcessFailed, ValueError) as error:
            self.log(str(error))
            slicer.util.errorDisplay(_("Reconstruction failed:") + f"\n{error}")
        else:
            self._show(outputs)
        finally:
            self._set_running(False)

    def _run(self) -> ReconOutputs:
        path = self.ui.kspacePathLineEdit.currentPath.strip()
        options = {"on_event": self.on_event, "should_cancel": self.should_cancel}
        if path:
            return self.logic.reconstruct_file(path, self.parameters(), **options)
        return self.logic.reconstruct_volume(self.ui.inputVolumeSelector.currentNode(), self.parameters(), **options)

    def _show(self, outputs: ReconOutputs) -> None:
        show_side_by_side(outputs.volume, outputs.zero_filled)
        names = [node.GetName() for node in (outputs.volume, outputs.zero_filled, outputs.metrics) if node]
        self.ui.outputLabel.text = ", ".join(names)
        self.log(_("Added: {names}").format(names=", ".join(names)))
        for row, values in (outputs.report.get("metrics") or {}).items():
            self.log(f"{row}: " + "  ".join(f"{k.upper()} {v:.4g}" for k, v in values.items() if v is not None))

    def dependencies_ready(self) -> bool:
        """Install what is missing once the user agreed (DESIGN §5); False, with a log line, when declined."""
        try:
            ready = ensure_dependencies(self.requirements_path, slicer.util.confirmOkCancelDisplay)
        except Exception as error:  # noqa: BLE001 - an installation failure is shown, the module stays usable
            slicer.util.errorDisplay(_("Dependencies could not be installed:") + f"\n{error}")
            return False
        if not ready:
            self.log(_("Dependencies were not installed: nothing was run."))
        return ready

    def on_event(self, event: ProgressEvent) -> None:
        if event.fraction is not None:
            self.ui.progressBar.value = int(100 * event.fraction)
        if event.message and event.stage not in ("infer",):
            self.log(event.message)

    def should_cancel(self) -> bool:
        slicer.app.processEvents()  # the blocking run asks between reads: the GUI stays responsive
        return self._cancel_requested

    def log(self, text: str) -> None:
        self.ui.logTextEdit.appendPlainText(text)

    def _set_running(self, running: bool) -> None:
        self._running, self._cancel_requested = running, False
        self.ui.applyButton.text = _("Cancel") if running else _("Apply")
        self.ui.progressBar.value = 0
        self.ui.inputsCollapsibleButton.enabled = not running
        self.ui.advancedCollapsibleButton.enabled = not running
        qt.QApplication.processEvents()
