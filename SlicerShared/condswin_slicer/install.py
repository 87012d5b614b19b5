"""Python dependencies of the modules, installed into Slicer only after the user agreed.

torch comes from the PyTorch extension (``PyTorchUtils``); the other packages from the extension's
``requirements.txt`` through ``slicer.packaging.pip_ensure`` (Slicer >= 5.12), else ``slicer.util.pip_install``.
Nothing is installed or imported at import time (Slicer's generic tests build every widget with no main window
and maybe no torch); :func:`missing_requirements` runs headless.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

__all__ = ["SKIP_PACKAGES", "ensure_dependencies", "missing_requirements", "read_requirements", "requirements_file"]

SKIP_PACKAGES = ["SimpleITK", "torch", "requests"]  # Slicer or the PyTorch extension own these
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirements_file(module_dir: str | Path) -> Path:
    """The extension's ``requirements.txt``: installed beside the modules' shared ``Resources`` folder, or at
    the top of a source checkout (one level above the module's folder)."""
    module_dir = Path(module_dir)
    for candidate in (module_dir / "Resources" / "requirements.txt", module_dir.parent / "requirements.txt"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"requirements.txt not found beside {module_dir}")


def read_requirements(path: str | Path) -> list[str]:
    """The requirement lines of a ``requirements.txt`` (comments and blank lines left out)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def missing_requirements(requirements: list[str]) -> list[str]:
    """Requirements that are not installed, or installed below their ``>=`` minimum."""
    missing = []
    for requirement in requirements:
        match = _NAME.match(requirement)
        if match is None:
            continue
        try:
            installed = metadata.version(match.group(1))
        except metadata.PackageNotFoundError:
            missing.append(requirement)
            continue
        minimum = re.search(r">=\s*([0-9][0-9.]*)", requirement)
        if minimum and _version_tuple(installed) < _version_tuple(minimum.group(1)):
            missing.append(requirement)
    return missing


def ensure_dependencies(requirements_path: str | Path, confirm: Callable[[str], bool]) -> bool:
    """Install what is missing (inside Slicer) once ``confirm(message)`` agrees; False when the user declined.

    Args:
        requirements_path: the extension's ``requirements.txt``.
        confirm: asks the user (``slicer.util.confirmOkCancelDisplay`` in the module).
    """
    missing = missing_requirements(read_requirements(requirements_path))
    need_torch = find_spec("torch") is None
    if not missing and not need_torch:
        return True
    wanted = (["torch (PyTorch extension)"] if need_torch else []) + missing
    if not confirm(
        "ConditionalSwin needs these Python packages, which will be downloaded and installed:\n\n" + "\n".join(wanted)
    ):
        return False
    import slicer

    if need_torch:
        import PyTorchUtils  # the PyTorch extension (EXTENSION_DEPENDS)

        if PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False) is None:
            raise RuntimeError("PyTorch could not be installed (see the PyTorch Utils module)")
    if missing:
        packaging = getattr(slicer, "packaging", None)
        if packaging is not None and hasattr(packaging, "pip_ensure"):
            packaging.pip_ensure(missing, skip_packages=SKIP_PACKAGES)
        else:
            for requirement in missing:  # one at a time: a requirement line holds no space
                slicer.util.pip_install(requirement.replace(" ", ""))
    return True
