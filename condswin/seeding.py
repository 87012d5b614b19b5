"""Seeds derived from text (file names, case ids), the same in every process and on every run.

Python's ``hash`` of a string is salted per process, so a seed that must repeat (a volume's simulated phase, a
validation sample's noise) is the CRC-32 of the text's UTF-8 bytes instead. fastMRI's per-file mask seed is
another convention, kept as fastMRI defines it: :func:`condswin.mri.masks.fastmri_seed`.
"""

from __future__ import annotations

import zlib

__all__ = ["text_seed"]


def text_seed(text: str) -> int:
    """A stable 32-bit integer from a string (CRC-32 of its UTF-8 bytes)."""
    return zlib.crc32(text.encode("utf-8"))
