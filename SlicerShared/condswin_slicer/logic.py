"""What the three module logics share: the scene they add nodes to, the factory of their ``condswin`` processes,
and run folders that never outlive a failed start.

A module's logic subclasses :class:`ModuleLogic` and builds its runs with :meth:`ModuleLogic.new_run`: the
run's files are written into a fresh folder, and if writing them fails (a node that cannot be saved, a bad
parameter) the folder goes with the error, so a refused run leaves nothing behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from condswin_slicer.mrml import RunFolder
from condswin_slicer.process import default_process

__all__ = ["ModuleLogic"]

T = TypeVar("T")


class ModuleLogic:
    """The base of a module's logic.

    Args:
        scene: the MRML scene (``slicer.mrmlScene`` in Slicer; a bare ``vtkMRMLScene`` in tests).
        process_factory: makes the process that runs the CLI (default :func:`~condswin_slicer.process.default_process`,
            whose child finds the ``condswin`` package); tests pass a fake or a runner with their own environment.
        temp_root: where run folders are made (default: the system's temporary folder).
    """

    def __init__(
        self,
        scene: Any,
        process_factory: Callable[[], Any] | None = None,
        temp_root: str | os.PathLike | None = None,
    ):
        self.scene = scene
        self.process_factory = process_factory or default_process
        self.temp_root = temp_root

    def new_run(self, prefix: str, write: Callable[[Path], T]) -> tuple[RunFolder, T]:
        """A fresh run folder (``condswin-<prefix>-*`` under ``temp_root``) and what ``write`` returned after
        putting the run's files into it (the command's arguments, say). Whatever ``write`` raises removes the
        folder first.

        Raises:
            OutputError: the folder cannot be made; whatever ``write`` raises.
        """
        folder = RunFolder(prefix, self.temp_root)
        try:
            return folder, write(folder.path)
        except BaseException:
            folder.remove()
            raise
