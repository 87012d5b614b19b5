"""The one error family of condswin: every problem a user can cause or fix is a :class:`CondswinError`.

::

    CondswinError
    ├── UsageError        an option, parameter or name that is not accepted          (CLI exit 2)
    ├── InputError        an input file or folder that is missing, corrupt or wrong  (CLI exit 3)
    │   └── InputNotFoundError
    ├── ModelError        a model bundle, card or weights file that cannot be used   (CLI exit 4)
    ├── OutputError       an output that exists (without overwrite) or cannot be written (CLI exit 5)
    │   └── OutputExistsError
    └── JobCancelled      a run stopped by its cancel flag                           (CLI exit 130)

    CondswinWarning (a UserWarning): worth telling the user, does not stop the job

Domain errors subclass these (``ImageFileError`` and ``FastMRIFileError`` are input errors, ``BundleError``
a model error). Anything else that escapes, a ``ValueError`` from a bug included, is an internal error.
The classes also derive from the matching built-in (``ValueError``, ``FileNotFoundError``, ``OSError``),
so code that catches those keeps working. Messages start with the file they are about.
"""

from __future__ import annotations

__all__ = [
    "CondswinError",
    "UsageError",
    "InputError",
    "InputNotFoundError",
    "ModelError",
    "OutputError",
    "OutputExistsError",
    "JobCancelled",
    "CondswinWarning",
]


class CondswinError(Exception):
    """Base of every error condswin raises on purpose (a problem with how it was called or what it was given)."""


class UsageError(CondswinError, ValueError):
    """An option, parameter or name that is not accepted; nothing was read or written yet."""


class InputError(CondswinError, ValueError):
    """An input file or folder that is missing, unreadable, corrupt or of the wrong kind."""


class InputNotFoundError(InputError, FileNotFoundError):
    """An input path that does not exist."""


class ModelError(CondswinError, ValueError):
    """A model bundle, card, registry or weights file that cannot be used."""


class OutputError(CondswinError, OSError):
    """An output that exists without permission to overwrite it, or that cannot be written."""


class OutputExistsError(OutputError, FileExistsError):
    """The output path already exists and overwriting was not requested."""


class JobCancelled(CondswinError):
    """A run stopped because its cancel flag was set; what it had not finished was not written."""


class CondswinWarning(UserWarning):
    """Something a user should know about an input or a result that does not stop the job (an assumed
    spacing, an uneven DICOM slice gap); the command line reports these as ``warning`` events."""
