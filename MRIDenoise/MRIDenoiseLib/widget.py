"""MRIDenoise's panel: reads the .ui controls into :class:`MRIDenoiseParameters`, starts the logic's job and lets
the shared :class:`~condswin_slicer.widget_support.RunController` poll it from a timer (progress, log, Apply
that becomes Cancel); shows the σ used and the metrics; "Add noise" makes a noisy copy. Imported only inside
Slicer (Qt); everything it calls is tested headless."""

from __future__ import annotations

from typing import Any

import slicer
from condswin_slicer.i18n import _
from condswin_slicer.parameters import DEVICES, ParameterStore
from condswin_slicer.widget_support import ModulePanel, dependencies_ready, installed_models

from condswin.denoise_names import CLASSICAL_METHODS, NOISE_MODELS
from MRIDenoiseLib.logic import MRIDenoiseLogic, MRIDenoiseOutputs
from MRIDenoiseLib.parameters import MRIDenoiseParameters, NoiseParameters

__all__ = ["MRIDenoisePanel"]


class MRIDenoisePanel(ModulePanel):
    """The controller of ``Resources/UI/MRIDenoise.ui`` (``ui``: the widgets by object name)."""

    failure_title = _("Denoising failed:")

    def __init__(self, ui: Any, requirements_path: str, logic: MRIDenoiseLogic | None = None):
        super().__init__(
            ui,
            requirements_path,
            ParameterStore("MRIDenoise", MRIDenoiseParameters),
            slicer.mrmlScene,
            ("inputsCollapsibleButton", "advancedCollapsibleButton", "addNoiseCollapsibleButton"),
            slicer.util.errorDisplay,
            slicer.util.confirmOkCancelDisplay,
        )
        self.logic = logic or MRIDenoiseLogic(slicer.mrmlScene)
        for selector in (ui.inputVolumeSelector, ui.referenceVolumeSelector, ui.noiseInputSelector):
            selector.setMRMLScene(slicer.mrmlScene)
        for label, model_id in installed_models("denoising", self.view):
            ui.methodComboBox.addItem(label, model_id)
        for method in CLASSICAL_METHODS:
            ui.methodComboBox.addItem(method, method)
        ui.noiseComboBox.addItems(list(NOISE_MODELS))
        ui.addNoiseModelComboBox.addItems(list(NOISE_MODELS))
        ui.deviceComboBox.addItems(list(DEVICES))
        self.show_parameters(self.store.load(slicer.mrmlScene))
        ui.estimateSigmaCheckBox.connect("toggled(bool)", self._update_enabled)
        ui.methodComboBox.connect("currentIndexChanged(int)", self._update_enabled)
        ui.applyButton.connect("clicked(bool)", self.on_apply)
        ui.addNoiseButton.connect("clicked(bool)", self.on_add_noise)
        self._update_enabled()

    def parameters(self) -> MRIDenoiseParameters:
        ui = self.ui
        return MRIDenoiseParameters(
            method=(ui.methodComboBox.currentData or ui.methodComboBox.currentText).strip(),
            noise=ui.noiseComboBox.currentText,
            sigma=None if ui.estimateSigmaCheckBox.checked else float(ui.sigmaSpinBox.value),
            device="cpu" if ui.forceCpuCheckBox.checked else ui.deviceComboBox.currentText,
        )

    def show_parameters(self, parameters: MRIDenoiseParameters) -> None:
        """Put stored parameters (the scene's parameter node) into the controls."""
        ui = self.ui
        index = ui.methodComboBox.findData(parameters.method)
        ui.methodComboBox.setCurrentIndex(index if index >= 0 else ui.methodComboBox.findData("nlm"))
        ui.noiseComboBox.setCurrentText(parameters.noise)
        ui.estimateSigmaCheckBox.checked = parameters.sigma is None
        if parameters.sigma is not None:
            ui.sigmaSpinBox.value = parameters.sigma
        ui.deviceComboBox.setCurrentText(parameters.device)
        ui.forceCpuCheckBox.checked = parameters.device == "cpu"

    def _update_enabled(self, *_args: Any) -> None:
        learned = self.parameters().is_learned  # a model takes no sigma: it is not asked for
        self.ui.estimateSigmaCheckBox.enabled = not learned
        self.ui.sigmaSpinBox.enabled = not learned and not self.ui.estimateSigmaCheckBox.checked

    def start_job(self) -> Any:
        reference = self.ui.referenceVolumeSelector.currentNode()
        return self.logic.start(self.ui.inputVolumeSelector.currentNode(), self.parameters(), reference_node=reference)

    def show_outcome(self, outputs: MRIDenoiseOutputs) -> None:
        slicer.util.setSliceViewerLayers(background=outputs.volume, fit=True)
        if outputs.sigma is not None:
            how = _("estimated") if outputs.sigma_estimated else _("given")
            self.ui.sigmaLabel.text = f"{outputs.sigma:.4g} ({how})"
        names = [node.GetName() for node in (outputs.volume, outputs.metrics) if node]
        self.ui.outputLabel.text = ", ".join(names)
        self.view.log(_("Added: {names}").format(names=", ".join(names)))
        for row, values in (outputs.report.get("metrics") or {}).items():
            if isinstance(values, dict):
                measures = "  ".join(f"{key.upper()} {value:.4g}" for key, value in values.items() if value is not None)
                self.view.log(f"{row}: {measures}")

    def on_add_noise(self) -> None:
        if self.runner.running:
            return
        if not dependencies_ready(self.requirements_path, self.confirm, self.view):
            return  # the noise is drawn in-process by condswin.mri.noise
        noise = NoiseParameters(
            model=self.ui.addNoiseModelComboBox.currentText, sigma=float(self.ui.addNoiseSigmaSpinBox.value), seed=None
        )
        try:
            node = self.logic.add_noise(self.ui.noiseInputSelector.currentNode(), noise)
        except ValueError as error:
            self.view.show_error(str(error))
            return
        self.ui.inputVolumeSelector.setCurrentNode(node)
        slicer.util.setSliceViewerLayers(background=node, fit=True)
        self.view.log(_("Added: {names}").format(names=node.GetName()))
