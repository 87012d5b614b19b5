"""The one atomic writer: a temporary name in the target's folder, fsync, then a rename into place.

Every file condswin writes (images, reports, bundles, registries, fastMRI files) goes through here, so a
crash, an error or a cancel leaves either the old file or the new one, never half of one and never a
stray temporary file. Temporary names start with ``.tmp-`` and end with the final name, so writers that
choose the format from the suffix (ITK) pick the same format; finished files get the permissions the
user's umask gives a new file, whatever mode the library that wrote them used.

:class:`StagedFiles` stages several files and renames them into place together (all or none): the outputs
of one command-line input. :func:`atomic_path` is the same for one file. Typical use::

    with atomic_path(Path("out/report.json")) as tmp:
        tmp.write_text(text)          # renamed onto out/report.json when the block succeeds
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from condswin.errors import CondswinError, OutputError, OutputExistsError
from condswin.io.jsonvalues import json_text

__all__ = [
    "temporary_path",
    "prepare_folder",
    "publish",
    "discard",
    "StagedFiles",
    "atomic_path",
    "write_text_atomic",
    "write_json_atomic",
]

_Staged = TypeVar("_Staged", bound="StagedFiles")


def temporary_path(final: Path) -> Path:
    """A fresh temporary name beside ``final`` that ends with ``final``'s name (and so its suffix).

    A name too long to take the prefix keeps only its end (the suffix, which chooses the format), so every
    name the file system accepts for ``final`` can be written.
    """
    return _sibling_name(final, ".tmp-")


def _sibling_name(final: Path, prefix: str) -> Path:
    """``final``'s folder / ``prefix`` + a random id + ``final``'s name, shortened to the file system's limit."""
    start = f"{prefix}{uuid.uuid4().hex[:12]}-"
    return final.parent / (start + _name_end(final.name, _name_max(final.parent) - len(start)))


def _name_max(folder: Path) -> int:
    """The longest file name (in bytes) that ``folder``'s file system takes; 255 where it cannot be asked."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # a folder not made yet, or a platform without pathconf
        return 255


def _name_end(name: str, limit: int) -> str:
    """The last ``limit`` bytes of ``name`` in the file system's encoding, starting on a whole character."""
    encoded = os.fsencode(name)
    if len(encoded) <= limit:
        return name
    end = encoded[len(encoded) - limit :]
    while end and end[0] & 0xC0 == 0x80:  # a UTF-8 continuation byte: the cut fell inside a character
        end = end[1:]
    return os.fsdecode(end)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync(path: Path) -> None:
    """Flush a file, or every file of a folder, to disk before the rename makes it visible."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for file in files:
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot sync a directory; the data is already synced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _set_default_mode(path: Path) -> None:
    # Libraries that write through mkstemp leave mode 0600; a user's output should follow their umask.
    mask = _umask()
    paths = [path] if path.is_file() else [path, *path.rglob("*")]
    for item in paths:
        os.chmod(item, (0o777 if item.is_dir() else 0o666) & ~mask)


def publish(tmp: Path, final: Path) -> None:
    """Make a finished temporary file or folder the real ``final`` (replacing what is there).

    A folder is only ever replaced by a folder and a file by a file: a folder where a file should go is
    someone's data, never removed to make room.

    Raises:
        OutputError: the rename failed, or ``final`` is a folder and ``tmp`` a file (or the other way round);
            the temporary file is left for the caller's :func:`discard`.
    """
    if final.exists() and final.is_dir() != tmp.is_dir():
        kind = "a folder" if final.is_dir() else "a file"
        raise OutputError(f"{final}: is {kind}; it is not replaced by {'a folder' if tmp.is_dir() else 'a file'}")
    try:
        _set_default_mode(tmp)
        _fsync(tmp)
        if final.is_dir() or (tmp.is_dir() and final.exists()):
            # os.replace cannot put anything over a non-empty folder, nor a folder over a file: move the old
            # one aside first so that the final name is missing only between two renames.
            old = _sibling_name(final, ".old-")
            os.replace(final, old)
            try:
                os.replace(tmp, final)
            except OSError:
                os.replace(old, final)  # put the old one back: a failed overwrite must lose nothing
                raise
            discard(old)
        else:
            os.replace(tmp, final)
        _fsync_folder(final.parent)
    except OSError as err:
        raise OutputError(f"{final}: cannot be written: {err.strerror or err}") from err


def discard(tmp: Path) -> None:
    """Remove a temporary file or folder if it exists (never raises for one that is already gone)."""
    try:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
    except OSError:
        pass  # clean-up must not hide the error that made it necessary


def prepare_folder(final: Path) -> None:
    """Create ``final``'s folder, as an :class:`OutputError` naming it when that is impossible."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{final.parent}: cannot create the output folder: {err.strerror or err}") from err
    if not final.parent.is_dir():
        raise OutputError(f"{final.parent}: is not a folder, so {final.name} cannot be written there")


class StagedFiles:
    """Files written under temporary names beside their destinations, renamed into place together by
    :meth:`commit`: all of them or, when one cannot be, none.

    Used as a context manager: leaving the block without a commit (an error, a cancel) removes every temporary
    file, so nothing of an unfinished group is left behind.

    Args:
        on_stage: told each destination as its temporary file is made (a command's ``write`` event).
    """

    def __init__(self, on_stage: Callable[[Path], None] | None = None) -> None:
        self._staged: list[tuple[Path, Path]] = []
        self._on_stage = on_stage

    def __enter__(self: _Staged) -> _Staged:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.discard()

    def stage(self, final: str | os.PathLike) -> Path:
        """A temporary path for ``final`` (its folder created): write the file there, :meth:`commit` publishes it.

        Raises:
            OutputError: the folder cannot be created.
        """
        final = Path(final)
        prepare_folder(final)
        if self._on_stage is not None:
            self._on_stage(final)
        tmp = temporary_path(final)
        self._staged.append((tmp, final))
        return tmp

    def write_text(self, text: str, final: str | os.PathLike) -> None:
        """Stage a UTF-8 text file.

        Raises:
            OutputError: naming ``final``: it cannot be written (a full disk, a read-only folder).
        """
        tmp = self.stage(final)
        try:
            tmp.write_text(text, encoding="utf-8")
        except OSError as err:
            raise OutputError(f"{final}: cannot be written: {err.strerror or err}") from err

    def write_json(self, data: Any, final: str | os.PathLike) -> None:
        """Stage an indented JSON file (numpy values, paths, dataclasses allowed: :func:`json_text`)."""
        self.write_text(json_text(data), final)

    def check_destination(self, final: Path) -> None:
        """Raise :class:`OutputError` when ``final`` cannot take its file now; called for every staged file
        before the first rename (a subclass adds its own checks)."""
        if not final.parent.is_dir():
            raise OutputError(f"{final.parent}: the output folder disappeared before {final.name} was written")

    def commit(self) -> None:
        """Rename every staged file into place: all of them or, when one cannot be, none.

        Every destination is checked first (:meth:`check_destination`); if a rename still fails, the files this
        commit had newly created are removed again.

        Raises:
            OutputError: a destination cannot take its file (the staged files are left for :meth:`discard`).
        """
        for _, final in self._staged:
            self.check_destination(final)
        created: list[Path] = []
        try:
            for tmp, final in self._staged:
                new = not os.path.lexists(final)
                publish(tmp, final)
                if new:
                    created.append(final)
        except OutputError:
            for final in created:
                discard(final)
            raise
        self._staged = []

    def discard(self) -> None:
        """Remove the staged files that were not committed."""
        for tmp, _ in self._staged:
            discard(tmp)
        self._staged = []


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path for ``final``; publish it when the block succeeds, remove it otherwise.

    Args:
        final: the file (or folder) to produce.
        overwrite: replace an existing ``final``; without it an existing one is an :class:`OutputExistsError`.

    Raises:
        OutputExistsError / OutputError: as above, or when the folder or the rename fails; an ``OSError``
            raised inside the block (the writing itself) is re-raised as an :class:`OutputError` naming
            ``final``. Whatever happens, the temporary file is removed and an existing ``final`` is kept.
    """
    final = Path(final)
    _refuse_existing(final, overwrite)
    with StagedFiles() as staged:
        tmp = staged.stage(final)
        try:
            yield tmp
        except OSError as err:
            if isinstance(err, CondswinError):
                raise
            # The block writes the output: an OS error there (a read-only folder, a full disk, h5py's
            # "unable to create file") is an output problem, not a bug nor the input's fault.
            raise OutputError(f"{final}: cannot be written ({_os_reason(err, tmp)})") from err
        staged.commit()


def _refuse_existing(final: Path, overwrite: bool) -> None:
    if not overwrite and final.exists():
        raise OutputExistsError(f"{final}: already exists; pass overwrite=True to replace it")


def _os_reason(err: OSError, tmp: Path) -> str:
    reason = err.strerror or str(err)
    if err.filename is not None and Path(str(err.filename)) != tmp and str(err.filename) not in reason:
        reason += f": {err.filename}"
    return reason


def write_text_atomic(text: str, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write UTF-8 text atomically; returns the path."""
    path = Path(path)
    _refuse_existing(path, overwrite)
    with StagedFiles() as staged:
        staged.write_text(text, path)
        staged.commit()
    return path


def write_json_atomic(data: Any, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write indented JSON (numpy values, paths, dataclasses allowed: :func:`json_text`) atomically; returns the
    path."""
    return write_text_atomic(json_text(data), path, overwrite=overwrite)
