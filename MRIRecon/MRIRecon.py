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

_HERE = os.path.dirname(os.path.abspath(__file__))
_SHARED = os.path.join(os.path.dirname(_HERE), "SlicerShared")  # source tree; installed, it sits beside us
if os.path.isdir(_SHARED) and _SHARED not in sys.path:
    sys.path.insert(0, _SHARED)

from condswin_slicer.i18n import _, translate  # noqa: E402 - importable once _SHARED is on the path
from condswin_slicer.module_support import build_panel, run_module_tests  # noqa: E402


class MRIRecon(ScriptedLoadableModule):
    def __init__(self, parent):
        super().__init__(parent)
        self.parent.title = _("MRI Reconstruction")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Reconstruction")]
        self.parent.contributors = ["ConditionalSwin contributors"]
        self.parent.helpText = _(
            "Reconstruct undersampled MRI: a fastMRI .h5 file (drag and drop, or choose it) or an MR volume, with "
            "a learned model, compressed sensing (total variation or wavelet, single-coil k-space) or zero-filling. "
            "The zero-filled baseline is shown beside the result and the metrics go to a table when a target exists."
        )
        self.parent.acknowledgementText = _("Built on fastMRI's data format and the condswin command line.")
        from condswin_slicer.sample_data import register_on_startup

        register_on_startup(_HERE)  # the extension's samples in SampleData, once Slicer runs


class MRIReconWidget(ScriptedLoadableModuleWidget):
    def setup(self):
        super().setup()
        from MRIReconLib.widget import MRIReconPanel

        self.panel = build_panel(self, _HERE, "MRIRecon.ui", MRIReconPanel)

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
    """Runs the module's pytest cases (``Testing/test_slicer_recon_logic.py``), installed with the extension."""

    def runTest(self):
        run_module_tests(self, _HERE, ("test_slicer_recon_logic.py",))
