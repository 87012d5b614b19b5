"""What the three module files (``<Module>.py``) share, so each stays a shell of names and help text: the panel
built from the module's ``.ui``, and the self-test that runs the module's pytest cases from a source checkout.

Slicer's GUI helpers are imported inside the functions: the package stays importable headless.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from condswin_slicer.i18n import _

__all__ = ["build_panel", "run_module_tests"]


def build_panel(module_widget: Any, module_dir: str, ui_name: str, panel_class: Callable[[Any, str], Any]) -> Any:
    """Load ``Resources/UI/<ui_name>`` into the module widget, give its MRML widgets the scene, and build the
    module's panel on its widgets (by object name) with the extension's ``requirements.txt``.

    Args:
        module_widget: the ``ScriptedLoadableModuleWidget`` whose ``setup`` this is.
        module_dir: the folder of the module file.
        ui_name: the ``.ui`` file's name.
        panel_class: the module's :class:`~condswin_slicer.widget_support.ModulePanel` subclass.

    Returns:
        The panel (the module widget keeps it, to clean it up).
    """
    import slicer

    from condswin_slicer.install import requirements_file

    root = slicer.util.loadUI(module_widget.resourcePath(os.path.join("UI", ui_name)))
    module_widget.layout.addWidget(root)
    root.setMRMLScene(slicer.mrmlScene)  # the .ui forwards the scene to its node selectors
    panel = panel_class(slicer.util.childWidgetVariables(root), str(requirements_file(module_dir)))
    module_widget.layout.addStretch(1)
    return panel


def run_module_tests(test_case: Any, module_dir: str, test_files: Sequence[str]) -> None:
    """The module's self-test: its pytest cases in ``Testing/`` of the source checkout, which an installed
    extension does not ship (then it says so and passes).

    Args:
        test_case: the ``ScriptedLoadableModuleTest`` (for ``delayDisplay`` and ``assertEqual``).
        module_dir: the folder of the module file.
        test_files: file names under ``Testing/``.
    """
    testing = os.path.join(os.path.dirname(module_dir), "Testing")
    cases = [os.path.join(testing, name) for name in test_files]
    if not all(os.path.isfile(case) for case in cases):
        test_case.delayDisplay(_("The module's tests are in the source checkout (Testing/) only; nothing to run."))
        return
    try:
        import pytest
    except ImportError:  # Slicer's Python ships without it
        import slicer

        slicer.util.pip_install("pytest")
        import pytest
    test_case.assertEqual(pytest.main(["-q", *cases]), 0)
