"""MRIDenoise's panel: reads the .ui controls into :class:`DenoiseParameters`, runs the logic, shows progress,
log, the σ used and the metrics; Apply becomes Cancel while a run is in progress; "Add noise" makes a noisy
copy. Imported only inside Slicer (Qt)."""

from __future__ import annotations

from typing import Any

import qt
import slicer
from condswin_slicer.install import ensure_dependencies
from condswin_slicer.process import ProcessCancelled, ProcessFailed, ProgressEvent
from MRIReconLib.volumes import _, installed_models

from MRIDenoiseLib.logic import DenoiseOutputs, MRIDenoiseLogic
from MRIDenoiseLib.parameters import CLASSICAL_METHODS, NOISE_MODELS, DenoiseParameters, NoiseParameters

__all__ = ["MRIDenoisePanel"]

DEVICES = ("auto", "cpu", "cuda", "mps")


class MRIDenoisePanel:
    """The controller of ``Resources/UI/MRIDenoise.ui`` (``ui``: the widgets by object name)."""

    def __init__(self, ui: Any, requirements_path: str, logic: MRIDenoiseLogic | None = None):
        self.ui = ui
        self.requirements_path = requirements_path
        self.logic = logic or MRIDenoiseLogic(slicer.mrmlScene)
        self._running = False
        self._cancel_requested = False
        for selector in (ui.inputVolumeSelector, ui.referenceVolumeSelector, ui.noiseInputSelector):
            selector.setMRMLScene(slicer.mrmlScene)
        ui.methodComboBox.addItems([*installed_models("denoising"), *CLASSICAL_METHODS])
        ui.methodComboBox.setCurrentText("nlm")
        ui.noiseComboBox.addItems(list(NOISE_MODELS))
        ui.noiseComboBox.setCurrentText("rician")
        ui.addNoiseModelComboBox.addItems(list(NOISE_MODELS))
        ui.deviceComboBox.addItems(list(DEVICES))
        ui.estimateSigmaCheckBox.connect("toggled(bool)", self._update_enabled)
        ui.methodComboBox.connect("currentTextChanged(QString)", self._update_enabled)
        ui.applyButton.connect("clicked(bool)", self.on_apply)
        ui.addNoiseButton.connect("clicked(bool)", self.on_add_noise)
        self._update_enabled()

    def parameters(self) -> DenoiseParameters:
        ui = self.ui
        return DenoiseParameters(
            method=ui.methodComboBox.currentText.strip(),
            noise=ui.noiseComboBox.currentText,
            sigma=None if ui.estimateSigmaCheckBox.checked else float(ui.sigmaSpinBox.value),
            device=ui.deviceComboBox.currentText,
            force_cpu=bool(ui.forceCpuCheckBox.checked),
        )

    def _update_enabled(self, *_args: Any) -> None:
        learned = self.parameters().is_learned  # a model takes no sigma: it is not asked for
        self.ui.estimateSigmaCheckBox.enabled = not learned
        self.ui.sigmaSpinBox.enabled = not learned and not self.ui.estimateSigmaCheckBox.checked

    def on_apply(self) -> None:
        if self._running:
            self._cancel_requested = True
            self.log(_("Cancelling..."))
            return
        if not self.dependencies_ready():
            return
        self._set_running(True)
        try:
            outputs = self.logic.denoise(
                self.ui.inputVolumeSelector.currentNode(),
                self.parameters(),
                reference_node=self.ui.referenceVolumeSelector.currentNode(),
                on_event=self.on_event,
                should_cancel=self.should_cancel,
            )
        except ProcessCancelled:
            self.log(_("Cancelled: nothing was added to the scene."))
        except (ProcessFailed, ValueError) as error:
            self.log(str(error))
            slicer.util.errorDisplay(_("Denoising failed:") + f"\n{error}")
        else:
            self._show(outputs)
        finally:
            self._set_running(False)

    def _show(self, outputs: DenoiseOutputs) -> None:
        slicer.util.setSliceViewerLayers(background=outputs.volume, fit=True)
        if outputs.sigma is not None:
            how = _("estimated") if outputs.sigma_estimated else _("given")
            self.ui.sigmaLabel.text = f"{outputs.sigma:.4g} ({how})"
        names = [node.GetName() for node in (outputs.volume, outputs.metrics) if node]
        self.ui.outputLabel.text = ", ".join(names)
        self.log(_("Added: {names}").format(names=", ".join(names)))
        for row, values in (outputs.report.get("metrics") or {}).items():
            if isinstance(values, dict):
                self.log(f"{row}: " + "  ".join(f"{k.upper()} {v:.4g}" for k, v in values.items() if v is not None))

    def on_add_noise(self) -> None:
        if not self.dependencies_ready():  # the noise is drawn in-process by condswin.mri.noise
            return
        noise = NoiseParameters(
            model=self.ui.addNoiseModelComboBox.currentText, sigma=float(self.ui.addNoiseSigmaSpinBox.value), seed=None
        )
        try:
            node = self.logic.add_noise(self.ui.noiseInputSelector.currentNode(), noise)
        except ValueError as error:
            slicer.util.errorDisplay(str(error))
            return
        self.ui.inputVolumeSelector.setCurrentNode(node)
        slicer.util.setSliceViewerLayers(background=node, fit=True)
        self.log(_("Added: {names}").format(names=node.GetName()))

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
        if event.message and event.stage not in ("denoise", "infer"):
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
        for section in (self.ui.inputsCollapsibleButton, self.ui.advancedCollapsibleButton):
            section.enabled = not running
        self.ui.addNoiseCollapsibleButton.enabled = not running
        qt.QApplication.processEvents()
