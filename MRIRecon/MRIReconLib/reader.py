"""The scripted file reader's work: recognise a fastMRI ``.h5`` and load it as a reconstructed volume.

Slicer finds the reader class (``MRIReconFileReader`` in ``MRIRecon.py``) by name; that class only forwards
here, so what can run headless is tested against real MRML. Dropping a file gives its full (or, for a
fastMRI test file, its own-mask) zero-filled reconstruction at the header's spacing: no model is needed,
and the module's Apply offers the learned reconstruction with other options.
"""

from __future__ import annotations

import os
from typing import Any

from condswin_slicer.i18n import _
from condswin_slicer.sample_data import KSPACE_FILE_TYPE

from condswin.jobs.reconstruction import ZERO_FILLED
from MRIReconLib.parameters import MRIReconParameters

__all__ = ["FILE_TYPE", "EXTENSIONS", "is_fastmri_file", "load_fastmri_file", "reader_parameters"]

FILE_TYPE = KSPACE_FILE_TYPE  # the file type SampleData loads the extension's k-space sample with
EXTENSIONS = ["fastMRI k-space (*.h5)"]


def is_fastmri_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an HDF5 file holding a fastMRI ``kspace`` dataset of the right kind (metadata only:
    :func:`condswin.mri.fastmri.check_schema`, the one schema check); any failure to tell means no."""
    if not str(path).lower().endswith(".h5") or not os.path.isfile(path):
        return False
    try:
        import h5py

        from condswin.mri.fastmri import check_schema

        with h5py.File(path, "r") as handle:
            check_schema(handle, None, str(path))
    except Exception:  # noqa: BLE001 - not readable, not HDF5, not fastMRI: another reader may take it
        return False
    return True


def reader_parameters() -> MRIReconParameters:
    """Zero-filled at acceleration 1: every column of a fully sampled file, the file's own mask otherwise."""
    return MRIReconParameters(model=ZERO_FILLED, acceleration=1.0, show_zero_filled=False)


def load_fastmri_file(path: str | os.PathLike, logic: Any) -> list[str]:
    """Load a dropped fastMRI file through ``logic`` (an :class:`MRIReconLib.logic.MRIReconLogic`).

    Returns:
        The IDs of the nodes added to the scene (the reader reports them to Slicer as ``loadedNodes``).

    Raises:
        ValueError: not a fastMRI file; ProcessFailed: the CLI's message (the scene is unchanged).
    """
    if not is_fastmri_file(path):
        raise ValueError(_("{path} is not a fastMRI k-space file.").format(path=path))
    outputs = logic.run_file(path, reader_parameters())
    return [node.GetID() for node in (outputs.volume, outputs.metrics) if node is not None]
