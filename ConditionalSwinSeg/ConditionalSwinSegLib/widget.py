"""The ConditionalSwinSeg panel (inside Slicer only: imports slicer's GUI helpers).

Thin on purpose: it reads the .ui's widgets into :class:`SegmentationParameters`, starts a job through
:class:`SegmentationLogic` and lets the shared :class:`~condswin_slicer.widget_support.RunController` poll it
from a timer (progress bar, log, Apply that becomes Cancel). Everything it calls is tested headless; this
file is checked statically (widget names in the .ui, strings through ``_``).
"""

from __future__ import annotations

from typing import Any

import slicer
from condswin_slicer.i18n import _
from condswin_slicer.parameters import ParameterStore
from condswin_slicer.widget_support import ModulePanel, installed_models

from .logic import SegmentationLogic, SegmentationOutcome
from .parameters import SegmentationParameters

__all__ = ["SegmentationWidget"]


class SegmentationWidget(ModulePanel):
    """The panel on the widgets of ``Resources/UI/ConditionalSwinSeg.ui``; drives one run at a time.

    Args:
        ui: the .ui's widgets by object name (``slicer.util.childWidgetVariables``).
        requirements_path: the extension's ``requirements.txt``.
        logic: injected in tests; default: a :class:`SegmentationLogic` on ``slicer.mrmlScene``.
    """

    failure_title = _("Segmentation failed:")

    def __init__(self, ui: Any, requirements_path: str, logic: Any = None):
        super().__init__(
            ui,
            requirements_path,
            ParameterStore("ConditionalSwinSeg", SegmentationParameters),
            slicer.mrmlScene,
            ("inputsCollapsibleButton", "advancedCollapsibleButton"),
            slicer.util.errorDisplay,
            slicer.util.confirmOkCancelDisplay,
        )
        for selector in (self.ui.inputVolumeSelector, self.ui.outputSegmentationSelector, self.ui.outputTableSelector):
            selector.setMRMLScene(slicer.mrmlScene)
        self.logic = logic or SegmentationLogic(slicer.mrmlScene, slicer.modules.segmentations.logic())
        self.ui.applyButton.clicked.connect(self.on_apply)
        self.ui.refreshModelsButton.clicked.connect(self.refresh_models)
        self.ui.inputVolumeSelector.currentNodeChanged.connect(lambda _node: self.update_apply())
        self.refresh_models()
        self.show_parameters(self.store.load(slicer.mrmlScene))
        self.update_apply()

    # --- state ------------------------------------------------------------------------------------------------
    def parameters(self) -> SegmentationParameters:
        batch = self.ui.batchSizeSpinBox.value
        return SegmentationParameters(
            model=self.ui.modelComboBox.currentData or "",
            device="cpu" if self.ui.forceCpuCheckBox.checked else "auto",
            batch_size=batch if batch > 0 else None,
            postprocess=self.ui.postprocessCheckBox.checked,
            surfaces=self.ui.surfacesCheckBox.checked,
        )

    def show_parameters(self, parameters: SegmentationParameters) -> None:
        """Put stored parameters (the scene's parameter node) into the controls."""
        index = self.ui.modelComboBox.findData(parameters.model)
        self.ui.modelComboBox.setCurrentIndex(max(index, 0))
        self.ui.forceCpuCheckBox.checked = parameters.device == "cpu"
        self.ui.batchSizeSpinBox.value = parameters.batch_size or 0
        self.ui.postprocessCheckBox.checked = parameters.postprocess
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

    def show_outcome(self, outcome: SegmentationOutcome) -> None:
        report = outcome.report
        self.ui.reportLabel.text = _(
            "Liver {liver:.1f} mL, {count} tumour(s) {tumour:.1f} mL, burden {burden:.2f} %"
        ).format(
            liver=report["liver_ml"],
            count=report["tumour_count"],
            tumour=report["tumour_ml"],
            burden=report["tumour_burden_percent"],
        )
        self.ui.outputSegmentationSelector.setCurrentNode(outcome.segmentation_node)
        self.ui.outputTableSelector.setCurrentNode(outcome.table_node)
        for warning in outcome.warnings:
            self.view.log(warning)
        self.view.log(_("Done."))
