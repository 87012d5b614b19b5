"""Files in and out, shared by every job: medical images with their geometry, and the one atomic writer.

- :mod:`condswin.io.images` — ``read_image`` / ``write_image`` (NIfTI, NRRD, MHA, DICOM series) keeping
  spacing, origin and direction, with the checks SimpleITK lacks (:mod:`condswin.io.image_checks`: size
  limit, geometry, truncation, DICOM slice gaps, all before pixels are read); ``grid_mismatch``,
  ``is_label_map``.
- :mod:`condswin.io.formats` — the suffixes read and written, ``image_suffix`` (no heavy imports).
- :mod:`condswin.io.atomic` — ``atomic_path``, ``write_json_atomic``: temporary file in the target folder,
  fsync, rename; nothing partial is ever left behind.
"""

from __future__ import annotations

import importlib
from typing import Any

# Names are loaded from their submodule on first use (PEP 562): `condswin --help` and the atomic writer's
# users must not pay for SimpleITK and numpy.
_EXPORTS = {
    "atomic_path": "atomic",
    "discard": "atomic",
    "publish": "atomic",
    "temporary_path": "atomic",
    "write_json_atomic": "atomic",
    "write_text_atomic": "atomic",
    "READABLE_SUFFIXES": "formats",
    "WRITABLE_SUFFIXES": "formats",
    "image_suffix": "formats",
    "MAX_VOXELS": "images",
    "ImageFileError": "images",
    "ImageNotFoundError": "images",
    "grid_mismatch": "images",
    "is_label_map": "images",
    "read_image": "images",
    "read_image_header": "images",
    "write_image": "images",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'condswin.io' has no attribute {name!r}")
    return getattr(importlib.import_module(f"condswin.io.{_EXPORTS[name]}"), name)
