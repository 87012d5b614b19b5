"""MRIDenoise: MRI denoising (classical filters or a learned model) with condswin.

The module file stays thin: metadata, the widget and a self-test; the work is in ``MRIDenoiseLib``
(parameters, logic, widget) and the shared ``condswin_slicer`` package. Denoising runs in a separate
``condswin`` process.
"""

import os
import sys

import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)

try:
    from slicer.i18n import tr as _
    from slicer.i18n import translate
except ImportError:  # Slicer before 5.4: strings stay as written

    def _(text):
        return text

    def translate(context, text):
        return text


_HERE = os.path.dirname(os.path.abspath(__file__))
_SHARED = os.path.join(os.path.dirname(_HERE), "SlicerShared")  # source tree; installed, it sits beside us
if os.path.isdir(_SHARED) and _SHARED not in sys.path:
    sys.path.insert(0, _SHARED)


class MRIDenoise(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("MRI Denoising")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Filtering")]
        self.parent.contributors = ["ConditionalSwin contributors"]
        self.parent.helpText = _(
            "Denoise an MR volume with a classical filter (non-local means, BM3D, ...) or a learned model. The "
            "noise sigma is estimated unless given; with a clean reference volume the metrics go to a table. "
            "'Add noise' makes a noisy copy of a volume to try the methods on."
        )
        self.parent.acknowledgementText = _("Built on the condswin command line.")
        from condswin_slicer.sample_data import register_on_startup

        register_on_startup(_HERE)  # the extension's samples in SampleData, once Slicer runs


class MRIDenoiseWidget(ScriptedLoadableModuleWidget):
    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        from MRIDenoiseLib.widget import MRIDenoisePanel

        ui_widget = slicer.util.loadUI(self.resourcePath("UI/MRIDenoise.ui"))
        self.layout.addWidget(ui_widget)
        self.ui = slicer.util.childWidgetVariables(ui_widget)
        ui_widget.setMRMLScene(slicer.mrmlScene)
        from condswin_slicer.install import requirements_file

        self.panel = MRIDenoisePanel(self.ui, str(requirements_file(_HERE)))
        self.layout.addStretch(1)

    def cleanup(self):
        if getattr(self, "panel", None) is not None:
            self.panel.cleanup()  # a running job is ended and adds nothing


class MRIDenoiseTest(ScriptedLoadableModuleTest):
    """Runs the module's pytest cases (``Testing/test_slicer_denoise_logic.py``) where the source tree is present."""

    def runTest(self):
        import pytest

        tests = os.path.join(os.path.dirname(_HERE), "Testing", "test_slicer_denoise_logic.py")
        if not os.path.isfile(tests):
            self.delayDisplay(_("The module's tests are in the source tree only; skipped."))
            return
        self.assertEqual(pytest.main([tests, "-q"]), 0)
