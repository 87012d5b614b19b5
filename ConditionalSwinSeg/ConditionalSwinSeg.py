"""ConditionalSwinSeg: CT segmentation with the Conditional Swin U-Net models (by default the liver and its tumours).

Thin module file (the SlicerNNUnet pattern): metadata, the widget from ``ConditionalSwinSegLib.widget``, and a
self-test that runs the module's pytest cases. The logic runs ``condswin segment`` in a separate process.
"""

import os
import sys

from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)

_HERE = os.path.dirname(os.path.abspath(__file__))
# Source tree: the shared runner is a sibling folder; installed, it sits beside this module on Slicer's path.
_SHARED = os.path.join(os.path.dirname(_HERE), "SlicerShared")
if os.path.isdir(_SHARED) and _SHARED not in sys.path:
    sys.path.insert(0, _SHARED)

from condswin_slicer.i18n import _, translate  # noqa: E402 - importable once _SHARED is on the path
from condswin_slicer.module_support import build_panel, run_module_tests  # noqa: E402


class ConditionalSwinSeg(ScriptedLoadableModule):
    def __init__(self, parent):
        super().__init__(parent)
        self.parent.title = _("CT Segmentation (Conditional Swin)")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.contributors = ["ConditionalSwin contributors"]
        self.parent.helpText = _(
            "Segments a CT volume with a segmentation model; the default model finds the liver and liver tumours in "
            "an abdominal CT. The segments (names, colours, standard terminology) and the report table come from the "
            "model's card: for the liver model the liver volume, tumour count, volumes and burden, for any other "
            "model the volume of each label. The model runs in a separate process; Cancel ends it."
        )
        self.parent.acknowledgementText = _("Built on PyTorch, MONAI and the LiTS challenge data.")
        from condswin_slicer.sample_data import register_on_startup

        register_on_startup(_HERE)  # the extension's samples in SampleData, once Slicer runs


class ConditionalSwinSegWidget(ScriptedLoadableModuleWidget):
    def setup(self):
        super().setup()
        from ConditionalSwinSegLib.widget import ConditionalSwinSegPanel

        self.panel = build_panel(self, _HERE, "ConditionalSwinSeg.ui", ConditionalSwinSegPanel)

    def cleanup(self):
        if getattr(self, "panel", None) is not None:
            self.panel.cleanup()  # a running job is ended and adds nothing


class ConditionalSwinSegTest(ScriptedLoadableModuleTest):
    """Runs the module's pytest cases (logic on the real scene, the process runner), installed with the extension."""

    def runTest(self):
        run_module_tests(self, _HERE, ("test_slicer_seg_logic.py", "test_slicer_runner.py"))
