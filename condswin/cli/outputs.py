"""What each input of a command writes (:class:`InputPlan`) and the checks of those paths, made before any work:
nothing an output replaces may be an input, and every destination must be able to take a file.

Inputs are compared by resolved path (symlinks followed) and, for existing files, by device and inode (hard
links, case-insensitive file systems). ``--overwrite`` replaces files only: a folder standing where an
output file goes, or a file standing where its folder goes, is refused with or without it, and so is a
folder the user may not write in.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from condswin.errors import OutputError, UsageError

__all__ = ["InputPlan", "check_outputs", "destination_problem", "protected_files"]


@dataclass
class InputPlan:
    """One input of a command and the outputs its job will produce (``image`` and ``report`` keys), decided
    before any work."""

    input: Path
    outputs: dict[str, Path]
    name: str


def protected_files(paths: Sequence[Path]) -> list[Path]:
    """Every file an output must not replace: the given files, and the files directly inside given folders."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(child for child in path.iterdir() if not child.is_dir())
        else:
            files.append(path)
    return files


class _InputSet:
    """Inputs compared by resolved path (symlinks followed) and, for existing files, by device and inode
    (hard links, case-insensitive file systems)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._paths = {path.resolve() for path in paths}
        self._inodes: set[tuple[int, int]] = set()
        for path in paths:
            try:
                stat = path.stat()
            except OSError:
                continue  # missing: only its name can match
            self._inodes.add((stat.st_dev, stat.st_ino))

    def __contains__(self, target: Path) -> bool:
        if target.resolve() in self._paths:
            return True
        try:
            stat = target.stat()
        except OSError:
            return False
        return (stat.st_dev, stat.st_ino) in self._inodes


def check_outputs(plans: list[InputPlan], overwrite: bool, protected: Sequence[Path] = ()) -> None:
    """Refuse, before any work, every output that could not be written or would destroy something.

    Args:
        plans: one per input.
        overwrite: existing output files may be replaced.
        protected: other inputs of the command (files or folders of files), besides each plan's input.

    Raises:
        UsageError: an output that is an input, or one file written for two inputs.
        OutputError: an output whose place is a folder, whose folder is a file or may not be written in,
            or an existing output without ``overwrite``.
    """
    inputs = _InputSet([plan.input for plan in plans] + protected_files(protected))
    seen: dict[Path, Path] = {}
    existing = []
    for plan in plans:
        for target in plan.outputs.values():
            if target in inputs:
                raise UsageError(f"{target}: an output cannot be an input (inputs are never overwritten)")
            resolved = target.resolve()
            if resolved in seen:
                raise UsageError(f"{plan.input} and {seen[resolved]} would both write {target}; rename one of them")
            seen[resolved] = plan.input
            destination_problem(target)
            if target.exists():
                existing.append(str(target))
    if existing and not overwrite:
        shown = ", ".join(existing[:5]) + (f" and {len(existing) - 5} more" if len(existing) > 5 else "")
        raise OutputError(f"output already exists: {shown}; pass --overwrite to replace")


def destination_problem(target: Path) -> None:
    """Raise :class:`OutputError` when a file cannot be put at ``target``: a folder is there (``--overwrite``
    replaces files only), a file stands where its folder (or a folder above it) should be, or the nearest
    existing folder on its way does not let this user create files (read-only, or a read-only file system)."""
    if target.is_dir():
        raise OutputError(f"{target}: is a folder, so this output file cannot be written there")
    for folder in target.parents:
        if folder.exists():
            if not folder.is_dir():
                raise OutputError(f"{folder}: is a file, so {target} cannot be written inside it")
            # Files are written beside their target and renamed into it: both need write and search access.
            if not os.access(folder, os.W_OK | os.X_OK):
                raise OutputError(f"{folder}: permission denied: {target.name} cannot be written in this folder")
            return
