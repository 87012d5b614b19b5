"""MRIRecon's panel: reads the .ui controls into :class:`MRIReconParameters`, starts the logic's job and lets the
shared :class:`~condswin_slicer.widget_support.RunController` poll it from a timer (progress, log, Apply that
becomes Cancel). Imported only inside Slicer (Qt); everything it calls is tested headless."""

from __future__ import annotations

from typing import Any

import slicer
from condswin_slicer.i18n import _
from condswin_slicer.parameters import DEVICES, ParameterStore
from condswin_slicer.widget_support import ModulePanel, installed_models

from condswin.jobs.reconstruction import CLASSICAL_METHODS
from condswin.mri.masks import MASK_KINDS
from MRIReconLib.logic import MRIReconLogic, MRIReconOutputs
from MRIReconLib.parameters import MRIReconParameters

__all__ = ["MRIReconPanel", "show_side_by_side"]


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


class MRIReconPanel(ModulePanel):
    """The controller of ``Resources/UI/MRIRecon.ui`` (``ui``: the widgets by object name)."""

    failure_title = _("Reconstruction failed:")

    def __init__(self, ui: Any, requirements_path: str, logic: MRIReconLogic | None = None):
        super().__init__(
            ui,
            requirements_path,
            ParameterStore("MRIRecon", MRIReconParameters),
            slicer.mrmlScene,
            ("inputsCollapsibleButton", "advancedCollapsibleButton"),
            slicer.util.errorDisplay,
            slicer.util.confirmOkCancelDisplay,
        )
        self.logic = logic or MRIReconLogic(slicer.mrmlScene)
        ui.inputVolumeSelector.setMRMLScene(slicer.mrmlScene)
        for method in CLASSICAL_METHODS:  # zero-filled, then compressed sensing (TV, wavelet)
            ui.modelComboBox.addItem(method, method)
        for label, model_id in installed_models("reconstruction", self.view):
            ui.modelComboBox.addItem(label, model_id)
        ui.maskComboBox.addItems(list(MASK_KINDS))
        ui.deviceComboBox.addItems(list(DEVICES))
        self.show_parameters(self.store.load(slicer.mrmlScene))
        ui.applyButton.connect("clicked(bool)", self.on_apply)

    def parameters(self) -> MRIReconParameters:
        """The controls as typed parameters (centre fraction 0, seed −1, CS lambda 0 and CS iterations 0 mean "the
        CLI's default")."""
        ui = self.ui
        return MRIReconParameters(
            model=(ui.modelComboBox.currentData or ui.modelComboBox.currentText).strip(),
            acceleration=float(ui.accelerationSpinBox.value),
            mask=ui.maskComboBox.currentText,
            center_fraction=float(ui.centerFractionSpinBox.value) or None,
            seed=None if ui.seedSpinBox.value < 0 else int(ui.seedSpinBox.value),
            show_zero_filled=bool(ui.showZeroFilledCheckBox.checked),
            device="cpu" if ui.forceCpuCheckBox.checked else ui.deviceComboBox.currentText,
            cs_lam=float(ui.csLambdaSpinBox.value) or None,
            cs_iterations=int(ui.csIterationsSpinBox.value) or None,
        )

    def show_parameters(self, parameters: MRIReconParameters) -> None:
        """Put stored parameters (the scene's parameter node) into the controls."""
        ui = self.ui
        index = ui.modelComboBox.findData(parameters.model)
        ui.modelComboBox.setCurrentIndex(max(index, 0))
        ui.accelerationSpinBox.value = parameters.acceleration
        ui.maskComboBox.setCurrentText(parameters.mask)
        ui.centerFractionSpinBox.value = parameters.center_fraction or 0.0
        ui.seedSpinBox.value = -1 if parameters.seed is None else parameters.seed
        ui.csLambdaSpinBox.value = parameters.cs_lam or 0.0
        ui.csIterationsSpinBox.value = parameters.cs_iterations or 0
        ui.showZeroFilledCheckBox.checked = parameters.show_zero_filled
        ui.deviceComboBox.setCurrentText(parameters.device)
        ui.forceCpuCheckBox.checked = parameters.device == "cpu"

    def start_job(self) -> Any:
        path = self.ui.kspacePathLineEdit.currentPath.strip()
        if path:
            return self.logic.start_file(path, self.parameters())
        return self.logic.start(self.ui.inputVolumeSelector.currentNode(), self.parameters())

    def show_outcome(self, outputs: MRIReconOutputs) -> None:
        show_side_by_side(outputs.volume, outputs.zero_filled)
        names = [node.GetName() for node in (outputs.volume, outputs.zero_filled, outputs.metrics) if node]
        self.ui.outputLabel.text = ", ".join(names)
        self.view.log(_("Added: {names}").format(names=", ".join(names)))
        for row, values in (outputs.report.get("metrics") or {}).items():
            measures = "  ".join(f"{key.upper()} {value:.4g}" for key, value in values.items() if value is not None)
            self.view.log(f"{row}: {measures}")
