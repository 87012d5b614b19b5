"""MRIRecon: MRI reconstruction from undersampled k-space (fastMRI .h5 or an MR volume) with condswin.

The module file stays thin: metadata, the widget, the fastMRI file reader and a self-test; the work is in
``MRIReconLib`` (parameters, logic, reader, widget). Inference runs in a separate ``condswin`` process.
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


class MRIRecon(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("MRI Reconstruction")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Reconstruction")]
        self.parent.contributors = ["ConditionalSwin contributors"]
        self.parent.helpText = _(
            "Reconstruct undersampled MRI: a fastMRI .h5 file (drag and drop, or choose it) or an MR volume, with "
            "a learned model or zero-filling. The zero-filled baseline is shown beside the model's output and "
            "the metrics go to a table when a target exists."
        )
        self.parent.acknowledgementText = _("Built on fastMRI's data format and the condswin command line.")
        from condswin_slicer.sample_data import register_on_startup

        register_on_startup(_HERE)  # the extension's samples in SampleData, once Slicer runs


class MRIReconWidget(ScriptedLoadableModuleWidget):
    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        from MRIReconLib.widget import MRIReconPanel

        ui_widget = slicer.util.loadUI(self.resourcePath("UI/MRIRecon.ui"))
        self.layout.addWidget(ui_widget)
        self.ui = slicer.util.childWidgetVariables(ui_widget)
        ui_widget.setMRMLScene(slicer.mrmlScene)
        from condswin_slicer.install import requirements_file

        self.panel = MRIReconPanel(self.ui, str(requirements_file(_HERE)))
        self.layout.addStretch(1)

    def cleanup(self):
        if getattr(self, "panel", None) is not None:
            self.panel.cleanup()  # a running job is ended and adds nothing


class MRIReconFileReader:
    """Drag and drop of fastMRI ``.h5`` files (Slicer finds ``<Module>FileReader`` classes by name)."""

    def __init__(self, parent):
        self.parent = parent

    def description(self):
        return _("fastMRI k-space")

    def fileType(self):
        from MRIReconLib.reader import FILE_TYPE

        return FILE_TYPE

    def extensions(self):
        from MRIReconLib.reader import EXTENSIONS

        return EXTENSIONS

    def canLoadFile(self, filePath):
        from MRIReconLib.reader import is_fastmri_file

        return is_fastmri_file(filePath)

    def load(self, properties):
        from MRIReconLib.logic import MRIReconLogic
        from MRIReconLib.reader import load_fastmri_file

        try:
            self.parent.loadedNodes = load_fastmri_file(properties["fileName"], MRIReconLogic(slicer.mrmlScene))
        except Exception as error:  # noqa: BLE001 - the reader reports every failure to the user and returns False
            slicer.util.errorDisplay(_("Could not load the k-space file:") + f"\n{error}")
            return False
        return True


class MRIReconTest(ScriptedLoadableModuleTest):
    """Runs the module's pytest cases (``Testing/test_slicer_recon_logic.py``) where the source tree is present."""

    def runTest(self):
        import pytest

        tests = os.path.join(os.path.dirname(_HERE), "Testing", "test_slicer_recon_logic.py")
        if not os.path.isfile(tests):
            self.delayDisplay(_("The module's tests are in the source tree only; skipped."))
            return
        self.assertEqual(pytest.main([tests, "-q"]), 0)
