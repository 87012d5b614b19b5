"""ConditionalSwinSeg: liver and liver-tumour segmentation of CT with the Conditional Swin U-Net models.

Thin module file (the SlicerNNUnet pattern): metadata, the widget from ``ConditionalSwinSegLib.widget``, and a
self-test that runs the module's pytest cases. The logic runs ``condswin segment`` in a separate process.
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
except ImportError:  # Slicer before 5.4

    def _(text):
        return text

    def translate(context, text):
        return text


_HERE = os.path.dirname(os.path.abspath(__file__))
# Source tree: the shared runner is a sibling folder; installed, it sits beside this module on Slicer's path.
_SHARED = os.path.join(os.path.dirname(_HERE), "SlicerShared")
if os.path.isdir(_SHARED) and _SHARED not in sys.path:
    sys.path.insert(0, _SHARED)


class ConditionalSwinSeg(ScriptedLoadableModule):
    def __init__(self, parent):
        super().__init__(parent)
        self.parent.title = _("Liver Segmentation (Conditional Swin)")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = []
        self.parent.contributors = ["ConditionalSwin contributors"]
        self.parent.helpText = _(
            "Segments the liver and liver tumours in an abdominal CT volume: a segmentation with the segments "
            "'liver' and 'liver tumor' (standard terminology) and a report table (liver volume, tumour count, "
            "volumes and burden). The model runs in a separate process; Cancel ends it."
        )
        self.parent.acknowledgementText = _("Built on PyTorch, MONAI and the LiTS challenge data.")
        from condswin_slicer.sample_data import register_on_startup

        register_on_startup(_HERE)  # the extension's samples in SampleData, once Slicer runs


class ConditionalSwinSegWidget(ScriptedLoadableModuleWidget):
    def setup(self):
        super().setup()
        from ConditionalSwinSegLib.widget import SegmentationWidget
        from condswin_slicer.install import requirements_file

        requirements = str(requirements_file(_HERE))
        self.panel = SegmentationWidget(self.resourcePath("UI/ConditionalSwinSeg.ui"), requirements)
        self.layout.addWidget(self.panel.root)
        self.layout.addStretch(1)

    def cleanup(self):
        if getattr(self, "panel", None) is not None:
            self.panel.cleanup()


class ConditionalSwinSegTest(ScriptedLoadableModuleTest):
    """Runs the module's pytest cases (logic on the real scene, the process runner) from a source checkout."""

    def runTest(self):
        testing = os.path.join(os.path.dirname(_HERE), "Testing")
        cases = [os.path.join(testing, name) for name in ("test_slicer_seg_logic.py", "test_slicer_runner.py")]
        if not all(os.path.isfile(case) for case in cases):
            self.delayDisplay(_("The pytest cases live in the source checkout (Testing/); nothing to run here."))
            return
        try:
            import pytest
        except ImportError:
            slicer.util.pip_install("pytest")
            import pytest
        self.assertEqual(pytest.main(["-q", *cases]), 0)
