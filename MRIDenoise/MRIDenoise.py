"""MRIDenoise: MRI denoising (classical filters or a learned model) with condswin.

The module file stays thin: metadata, the widget and a self-test; the work is in ``MRIDenoiseLib``
(parameters, logic, widget) and the shared ``condswin_slicer`` package. Denoising runs in a separate
``condswin`` process.
"""

import os
import sys

from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)

_HERE = os.path.dirname(os.path.abspath(__file__))
_SHARED = os.path.join(os.path.dirname(_HERE), "SlicerShared")  # source tree; installed, it sits beside us
if os.path.isdir(_SHARED) and _SHARED not in sys.path:
    sys.path.insert(0, _SHARED)

from condswin_slicer.i18n import _, translate  # noqa: E402 - importable once _SHARED is on the path
from condswin_slicer.module_support import build_panel, run_module_tests  # noqa: E402


class MRIDenoise(ScriptedLoadableModule):
    def __init__(self, parent):
        super().__init__(parent)
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
        super().setup()
        from MRIDenoiseLib.widget import MRIDenoisePanel

        self.panel = build_panel(self, _HERE, "MRIDenoise.ui", MRIDenoisePanel)

    def cleanup(self):
        if getattr(self, "panel", None) is not None:
            self.panel.cleanup()  # a running job is ended and adds nothing


class MRIDenoiseTest(ScriptedLoadableModuleTest):
    """Runs the module's pytest cases (``Testing/test_slicer_denoise_logic.py``), installed with the extension."""

    def runTest(self):
        run_module_tests(self, _HERE, ("test_slicer_denoise_logic.py",))
