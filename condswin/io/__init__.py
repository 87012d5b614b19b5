"""Files in and out, shared by every job: medical images with their geometry, and the one atomic writer.

- :mod:`condswin.io.images` — ``read_image`` / ``write_image`` (NIfTI, NRRD, MHA, DICOM series) keeping
  spacing, origin and direction, with the checks SimpleITK lacks (:mod:`condswin.io.image_checks`: size
  limit, geometry, truncation, DICOM slice gaps, all before pixels are read); ``grid_mismatch``,
  ``is_label_map``.
- :mod:`condswin.io.atomic` — ``atomic_path``, ``write_json_atomic``: temporary file in the target folder,
  fsync, rename; nothing partial is ever left behind.
"""

from condswin.io.atomic import atomic_path, discard, publish, temporary_path, write_json_atomic, write_text_atomic
from condswin.io.images import (
    MAX_VOXELS,
    WRITABLE_SUFFIXES,
    ImageFileError,
    ImageNotFoundError,
    grid_mismatch,
    image_suffix,
    is_label_map,
    read_image,
    read_image_header,
    write_image,
)

__all__ = [
    "MAX_VOXELS",
    "WRITABLE_SUFFIXES",
    "ImageFileError",
    "ImageNotFoundError",
    "atomic_path",
    "discard",
    "grid_mismatch",
    "image_suffix",
    "is_label_map",
    "publish",
    "read_image",
    "read_image_header",
    "temporary_path",
    "write_image",
    "write_json_atomic",
    "write_text_atomic",
]
