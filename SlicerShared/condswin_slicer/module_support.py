"""What the three module files (``<Module>.py``) share, so each stays a shell of names and help text: the panel
built from the module's ``.ui``, and the self-test that runs the module's pytest cases.

The extension installs the modules' test files beside the modules (``Testing/``), so the self-test runs them in
an installed extension as in a source checkout. It installs nothing unasked: pytest and the modules' Python
packages only after the user agreed; declined, or with nobody to ask (Slicer without a main window), the self-test
fails and says what is missing. Slicer's GUI helpers are imported inside the functions: the package stays
importable headless.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from condswin_slicer.i18n import _
from condswin_slicer.install import ensure_dependencies, requirements_file

__all__ = ["build_panel", "module_tests_folder", "run_module_tests"]


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


def module_tests_folder(module_dir: str | os.PathLike) -> Path | None:
    """The modules' ``Testing/`` folder: installed beside the modules, or at the top of a source checkout (one level
    above the module's folder); None when there is neither."""
    module_dir = Path(module_dir)
    for candidate in (module_dir / "Testing", module_dir.parent / "Testing"):
        if candidate.is_dir():
            return candidate
    return None


def _confirm_in_slicer(message: str) -> bool:
    import slicer

    # Without a main window (a headless test run) nobody can answer: Slicer logs the question and returns no answer.
    return bool(slicer.util.confirmOkCancelDisplay(message))


def _pytest_ready(confirm: Callable[[str], bool]) -> bool:
    """pytest is importable, or was installed after the user agreed (Slicer's Python ships without it)."""
    if find_spec("pytest") is not None:
        return True
    if not confirm(_("The module's self-test runs its tests with pytest, which is not installed. Install pytest?")):
        return False
    import slicer

    slicer.util.pip_install("pytest")
    return find_spec("pytest") is not None


def run_module_tests(
    test_case: Any,
    module_dir: str,
    test_files: Sequence[str],
    confirm: Callable[[str], bool] | None = None,
) -> None:
    """The module's self-test: run its pytest cases (``test_files`` in :func:`module_tests_folder`) and fail when
    they fail, when they cannot be found, or when what they need is missing and was not installed.

    Args:
        test_case: the ``ScriptedLoadableModuleTest`` (for ``delayDisplay``, ``assertEqual`` and ``fail``).
        module_dir: the folder of the module file.
        test_files: file names under ``Testing/``.
        confirm: asks the user before anything is installed (default: Slicer's OK/Cancel dialog).
    """
    confirm = confirm or _confirm_in_slicer
    folder = module_tests_folder(module_dir)
    cases = [folder / name for name in test_files] if folder is not None else []
    if folder is None or not all(case.is_file() for case in cases):
        test_case.fail(
            _("The module's tests ({files}) are not in {folder}: nothing was tested.").format(
                files=", ".join(test_files), folder=folder or Path(module_dir) / "Testing"
            )
        )
        return
    if not _pytest_ready(confirm):
        test_case.fail(_("pytest is not installed (installing it was declined): nothing was tested."))
        return
    if not ensure_dependencies(requirements_file(module_dir), confirm):
        test_case.fail(_("The modules' Python packages are not installed (declined): nothing was tested."))
        return
    import pytest

    test_case.delayDisplay(_("Running {count} test file(s) from {folder}").format(count=len(cases), folder=folder))
    # No cache folder (an installed extension may be read-only); the slow checks stay out, as in `make test`.
    code = pytest.main(["-q", "-p", "no:cacheprovider", "-m", "not slow", *map(str, cases)])
    test_case.assertEqual(code, 0)
