"""The ConditionalSwinSeg panel (inside Slicer only: imports qt and slicer's GUI helpers).

Thin on purpose: it reads the .ui's widgets into :class:`SegmentationParameters`, starts a job through
:class:`SegmentationLogic`, polls it from a timer (progress bar, log) and turns Apply into Cancel while the
job runs. Everything it calls is tested headless; this file is checked statically (widget names in the .ui).
"""

from __future__ import annotations

import os
from typing import Any

import qt
import slicer
from condswin_slicer.install import ensure_dependencies
from condswin_slicer.mrml import InputRejected, child_environment
from condswin_slicer.process import ProcessCancelled, ProcessFailed, list_models

from .logic import SegmentationLogic
from .parameters import SegmentationParameters

try:
    from slicer.i18n import tr as _
except ImportError:  # headless builds without the i18n helpers

    def _(text: str) -> str:
        return text


__all__ = ["SegmentationWidget"]

POLL_MS = 100


class SegmentationWidget:
    """Builds the panel from ``ui_path`` and drives one run at a time.

    Args:
        ui_path: ``Resources/UI/ConditionalSwinSeg.ui``.
        requirements_path: the extension's ``requirements.txt``.
        logic: injected in tests; default: a :class:`SegmentationLogic` on ``slicer.mrmlScene``.
    """

    def __init__(self, ui_path: str, requirements_path: str, logic: Any = None):
        self.root = slicer.util.loadUI(ui_path)
        self.ui = slicer.util.childWidgetVariables(self.root)
        for selector in (self.ui.inputVolumeSelector, self.ui.outputSegmentationSelector, self.ui.outputTableSelector):
            selector.setMRMLScene(slicer.mrmlScene)
        self.requirements_path = requirements_path
        self.logic = logic or SegmentationLogic(slicer.mrmlScene, slicer.modules.segmentations.logic())
        self.job: Any = None
        self.timer = qt.QTimer()
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.on_timer)
        self.ui.applyButton.clicked.connect(self.on_apply)
        self.ui.refreshModelsButton.clicked.connect(self.refresh_models)
        self.ui.inputVolumeSelector.currentNodeChanged.connect(lambda _node: self.update_buttons())
        self.ui.progressBar.setVisible(False)
        self.refresh_models()
        self.update_buttons()

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

    def update_buttons(self) -> None:
        running = self.job is not None
        self.ui.applyButton.text = _("Cancel") if running else _("Apply")
        self.ui.applyButton.enabled = running or self.ui.inputVolumeSelector.currentNode() is not None
        for widget in (self.ui.inputsCollapsibleButton, self.ui.advancedCollapsibleButton):
            widget.enabled = not running

    def log(self, text: str) -> None:
        self.ui.logTextEdit.appendPlainText(text)

    def refresh_models(self) -> None:
        self.ui.modelComboBox.clear()
        try:
            models = list_models("segmentation", env={**os.environ, **child_environment()})
        except Exception as error:  # the panel stays usable; the log says why the list is empty
            self.log(_("Could not list the models: {error}").format(error=error))
            models = []
        for model in models:
            self.ui.modelComboBox.addItem(f"{model.get('name') or model['id']} ({model['id']})", model["id"])
        if not models:
            self.ui.modelComboBox.addItem(_("(no segmentation model installed)"), "")

    # --- run --------------------------------------------------------------------------------------------------
    def on_apply(self) -> None:
        if self.job is not None:
            self.log(_("Cancelling..."))
            self.job.cancel()
            self.end_job()
            return
        confirm = lambda message: slicer.util.confirmOkCancelDisplay(message)  # noqa: E731
        if not ensure_dependencies(self.requirements_path, confirm):
            self.log(_("Dependencies were not installed: nothing was run."))
            return
        self.ui.logTextEdit.clear()
        try:
            self.job = self.logic.start(self.ui.inputVolumeSelector.currentNode(), self.parameters())
        except (InputRejected, OSError, ValueError) as error:
            slicer.util.errorDisplay(str(error))
            return
        self.ui.progressBar.setVisible(True)
        self.ui.progressBar.setRange(0, 0)
        self.update_buttons()
        self.timer.start()

    def on_timer(self) -> None:
        for event in self.job.poll():
            if event.fraction is not None and event.stage in ("infer", "postprocess"):
                self.ui.progressBar.setRange(0, 100)
                self.ui.progressBar.setValue(round(100 * event.fraction))
            if event.message and event.stage != "infer":
                self.log(f"[{event.stage}] {event.message}")
        if not self.job.finished:
            return
        job = self.job
        self.end_job()
        try:
            outcome = job.finish()
        except ProcessCancelled:
            self.log(_("Cancelled: the scene was left as it was."))
        except (ProcessFailed, OSError, ValueError) as error:
            self.log(str(error))
            slicer.util.errorDisplay(_("Segmentation failed:\n{error}").format(error=error))
        else:
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
            self.log(_("Done."))

    def end_job(self) -> None:
        self.timer.stop()
        self.job = None
        self.ui.progressBar.setVisible(False)
        self.update_buttons()

    def cleanup(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.end_job()
