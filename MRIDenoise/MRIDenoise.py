"""MRIDenoise: MRI denoising (classical filters or a learned model) with condswin.

The module file stays thin: metadata, the widget and a self-test; the work is in ``MRIDenoiseLib``
(parameters, logic, widget) and the volume I/O it shares with ``MRIReconLib``. Denoising runs in a separate
``condswin`` process.
"""

import os
import sys

import slicer
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)

_HERE = os.path.dirname(os.path.abspath(__file__))
# Source tree: the shared runner and MRIRecon (whose volume I/O this module uses) are siblings; installed,
# they sit beside this module on Slicer's path.
for _folder in ("SlicerShared", "MRIRecon"):
    _path = os.path.join(os.path.dirname(_HERE), _folder)
    if os.path.isdir(_path) and _path not in sys.path:
        sys.path.insert(0, _path)


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


class MRIDenoiseTest(ScriptedLoadableModuleTest):
    """Runs the module's pytest cases (``Testing/test_slicer_denoise_logic.py``) where the source tree is present."""

    def runTest(self):
        import pytest

        tests = os.path.join(os.path.dirname(_HERE), "Testing", "test_slicer_denoise_logic.py")
        if not os.path.isfile(tests):
            self.delayDisplay(_("The module's tests are in the source tree only; skipped."))
            return
        self.assertEqual(pytest.main([tests, "-q"]), 0)
