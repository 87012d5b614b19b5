"""ConditionalSwinSeg's panel: reads the .ui controls into :class:`ConditionalSwinSegParameters`, starts the logic's
job and lets the shared :class:`~condswin_slicer.widget_support.RunController` poll it from a timer (progress, log,
Apply that becomes Cancel); shows the report's summary, named after the model card's labels. Imported only inside
Slicer (Qt); everything it calls is tested headless, and this file statically (widget names in the .ui, strings
through ``_``)."""

from __future__ import annotations

from typing import Any

import slicer
from condswin_slicer.i18n import _
from condswin_slicer.parameters import ParameterStore
from condswin_slicer.widget_support import ModulePanel, installed_models

from ConditionalSwinSegLib.logic import ConditionalSwinSegLogic, ConditionalSwinSegOutputs
from ConditionalSwinSegLib.parameters import ConditionalSwinSegParameters
from ConditionalSwinSegLib.report import report_summary

__all__ = ["ConditionalSwinSegPanel"]


class ConditionalSwinSegPanel(ModulePanel):
    """The controller of ``Resources/UI/ConditionalSwinSeg.ui`` (``ui``: the widgets by object name)."""

    failure_title = _("Segmentation failed:")

    def __init__(self, ui: Any, requirements_path: str, logic: ConditionalSwinSegLogic | None = None):
        super().__init__(
            ui,
            requirements_path,
            ParameterStore("ConditionalSwinSeg", ConditionalSwinSegParameters),
            slicer.mrmlScene,
            ("inputsCollapsibleButton", "advancedCollapsibleButton"),
            slicer.util.errorDisplay,
            slicer.util.confirmOkCancelDisplay,
        )
        for selector in (self.ui.inputVolumeSelector, self.ui.outputSegmentationSelector, self.ui.outputTableSelector):
            selector.setMRMLScene(slicer.mrmlScene)
        self.logic = logic or ConditionalSwinSegLogic(slicer.mrmlScene)
        self.ui.applyButton.connect("clicked(bool)", self.on_apply)
        self.ui.refreshModelsButton.connect("clicked(bool)", self.refresh_models)
        self.ui.inputVolumeSelector.connect("currentNodeChanged(vtkMRMLNode*)", lambda _node: self.update_apply())
        self.refresh_models()
        self.show_parameters(self.store.load(slicer.mrmlScene))
        self.update_apply()

    # --- state ------------------------------------------------------------------------------------------------
    def parameters(self) -> ConditionalSwinSegParameters:
        batch = self.ui.batchSizeSpinBox.value
        return ConditionalSwinSegParameters(
            model=self.ui.modelComboBox.currentData or "",
            device="cpu" if self.ui.forceCpuCheckBox.checked else "auto",
            batch_size=batch if batch > 0 else None,
            postprocess=self.ui.postprocessCheckBox.checked,
            score_offsets=self.ui.scoreOffsetsLineEdit.text.strip(),
            surfaces=self.ui.surfacesCheckBox.checked,
        )

    def show_parameters(self, parameters: ConditionalSwinSegParameters) -> None:
        """Put stored parameters (the scene's parameter node) into the controls."""
        index = self.ui.modelComboBox.findData(parameters.model)
        self.ui.modelComboBox.setCurrentIndex(max(index, 0))
        self.ui.forceCpuCheckBox.checked = parameters.device == "cpu"
        self.ui.batchSizeSpinBox.value = parameters.batch_size or 0
        self.ui.postprocessCheckBox.checked = parameters.postprocess
        self.ui.scoreOffsetsLineEdit.text = parameters.score_offsets
        self.ui.surfacesCheckBox.checked = parameters.surfaces

    def update_apply(self) -> None:
        self.ui.applyButton.enabled = self.runner.running or self.ui.inputVolumeSelector.currentNode() is not None

    def refresh_models(self) -> None:
        self.ui.modelComboBox.clear()
        models = installed_models("segmentation", self.view)
        for label, model_id in models:
            self.ui.modelComboBox.addItem(label, model_id)
        if not models:
            self.ui.modelComboBox.addItem(_("(no segmentation model installed)"), "")

    # --- run --------------------------------------------------------------------------------------------------
    def on_apply(self) -> None:
        if not self.runner.running:
            self.ui.logTextEdit.clear()
        super().on_apply()
        self.update_apply()

    def start_job(self) -> Any:
        return self.logic.start(self.ui.inputVolumeSelector.currentNode(), self.parameters())

    def poll(self) -> None:
        super().poll()
        self.update_apply()

    def show_outcome(self, outputs: ConditionalSwinSegOutputs) -> None:
        self.ui.reportLabel.text = report_summary(outputs.report)
        self.ui.outputSegmentationSelector.setCurrentNode(outputs.segmentation)
        self.ui.outputTableSelector.setCurrentNode(outputs.table)
        for warning in outputs.warnings:
            self.view.log(warning)
        self.view.log(_("Done."))
