"""Reading and writing fastMRI ``.h5`` files with the real schema.

Schema (fastMRI knee/brain releases):

- ``kspace``: complex64, (slices, H, W) single-coil or (slices, coils, H, W) multi-coil; H is the readout
  (often 2x oversampled, e.g. 640), W the phase-encode columns (e.g. 368) that masks act on.
- ``reconstruction_esc`` (single-coil) / ``reconstruction_rss`` (multi-coil; single-coil files may carry both):
  float32 targets (slices, h, w), e.g. 320x320 — train and validation files only.
- ``mask``: boolean (W,) — test/challenge files only; their k-space is already undersampled and has no target.
- ``ismrmrd_header``: ISMRMRD XML; ``encoding/encodedSpace`` and ``encoding/reconSpace`` give matrix sizes and
  fields of view (mm), from which the pixel spacing follows.
- attributes: ``acquisition`` (e.g. CORPD_FBK), ``max`` and ``norm`` of the target volume, ``patient_id``;
  test files add ``acceleration`` and ``num_low_frequency``.

Array axes map to ISMRMRD axes as: rows (H / h) = x (readout), columns (W / w) = y (phase encode),
slices = z. :attr:`FastMRIVolume.spacing` is therefore ``(z, x, y)`` in mm of the *reconstruction* grid
(``reconSpace`` field of view / matrix), i.e. one value per axis of ``target`` in array order. The slice
value is the slice thickness from the header (fastMRI files record no gap).
"""

from __future__ import annotations

import os
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from condswin.errors import CondswinWarning, InputError, InputNotFoundError, OutputError
from condswin.io.atomic import atomic_path

# `condswin --help` imports this module: h5py, and SimpleITK for the file checks, are imported where a file is read
# or written (lazy).

__all__ = [
    "MAX_READ_BYTES",
    "FastMRIFileError",
    "FastMRINotFoundError",
    "IsmrmrdGeometry",
    "FastMRIVolume",
    "check_schema",
    "parse_ismrmrd_header",
    "make_ismrmrd_header",
    "refuse_external_links",
    "read",
    "write",
]

TARGET_KEYS = ("reconstruction_esc", "reconstruction_rss")

# The largest fastMRI volumes (multi-coil knee, 35 x 15 x 640 x 368 complex64) hold about 1 GiB of k-space.
# 8 GiB, eight times that, is the most one read() may load (k-space, target and mask of the slices asked
# for); a larger declared shape is a forged or foreign file, refused from its metadata before reading.
MAX_READ_BYTES: int = 2**33
# The ISMRMRD XML header of a fastMRI file is a few kilobytes.
_MAX_HEADER_BYTES = 16 * 2**20


class FastMRIFileError(InputError):
    """A fastMRI file is missing, unreadable or does not follow the schema; the message names the file."""


class FastMRINotFoundError(FastMRIFileError, InputNotFoundError):
    """The fastMRI file does not exist."""


@dataclass(frozen=True)
class IsmrmrdGeometry:
    """The geometry fields fastMRI uses from the ISMRMRD header; every triple is ISMRMRD (x, y, z).

    Attributes:
        encoded_matrix: k-space matrix size, e.g. (640, 368, 1).
        encoded_fov_mm: encoded field of view in mm.
        recon_matrix: reconstruction matrix size, e.g. (320, 320, 1).
        recon_fov_mm: reconstruction field of view in mm.
        encoding_center: ``kspace_encoding_step_1`` centre (None when absent).
        encoding_maximum: ``kspace_encoding_step_1`` maximum (None when absent).
    """

    encoded_matrix: tuple[int, int, int]
    encoded_fov_mm: tuple[float, float, float]
    recon_matrix: tuple[int, int, int]
    recon_fov_mm: tuple[float, float, float]
    encoding_center: int | None = None
    encoding_maximum: int | None = None

    @property
    def recon_spacing(self) -> tuple[float, float, float]:
        """(slice, row, column) spacing in mm of the reconstruction grid, in array order."""
        fx, fy, fz = self.recon_fov_mm
        mx, my, mz = self.recon_matrix
        return (fz / max(mz, 1), fx / mx, fy / my)

    @property
    def encoded_spacing(self) -> tuple[float, float, float]:
        """(slice, row, column) spacing in mm of the full k-space image (before the centre crop)."""
        fx, fy, fz = self.encoded_fov_mm
        mx, my, mz = self.encoded_matrix
        return (fz / max(mz, 1), fx / mx, fy / my)

    @property
    def padding(self) -> tuple[int, int] | None:
        """Columns [left, right) that hold acquired (not zero-padded) phase encodes, as fastMRI computes them."""
        if self.encoding_center is None or self.encoding_maximum is None:
            return None
        left = self.encoded_matrix[1] // 2 - self.encoding_center
        return left, left + self.encoding_maximum + 1


@dataclass
class FastMRIVolume:
    """Contents of one fastMRI file.

    Attributes:
        path: the file read.
        kspace: complex64 (slices, H, W) or (slices, coils, H, W).
        target: float32 (slices, h, w) or None (test files).
        mask: boolean (W,) or None (train/val files carry no mask).
        spacing: (slice, row, column) mm of the reconstruction grid (1 mm each, with a warning, without header).
        attrs: the file attributes (bytes decoded, numpy scalars as Python numbers).
        header_xml: the ``ismrmrd_header`` text, or None.
        geometry: parsed header geometry, or None.
        target_key: which dataset ``target`` came from.
    """

    path: Path
    kspace: np.ndarray
    target: np.ndarray | None
    mask: np.ndarray | None
    spacing: tuple[float, float, float]
    attrs: dict[str, Any] = field(default_factory=dict)
    header_xml: str | None = None
    geometry: IsmrmrdGeometry | None = None
    target_key: str | None = None

    @property
    def is_multicoil(self) -> bool:
        """True for (slices, coils, H, W) k-space."""
        return self.kspace.ndim == 4

    @property
    def recon_shape(self) -> tuple[int, int]:
        """(h, w) of the reconstruction: the target's, else the header's recon matrix, else the k-space's."""
        if self.target is not None:
            return (int(self.target.shape[-2]), int(self.target.shape[-1]))
        if self.geometry is not None:
            return (self.geometry.recon_matrix[0], self.geometry.recon_matrix[1])
        return (int(self.kspace.shape[-2]), int(self.kspace.shape[-1]))


def _child_text(node: ET.Element, tag: str) -> str:
    """The text of ``node``'s child ``tag`` (any namespace); ValueError when the child or its text is missing."""
    child = node.find(f"{{*}}{tag}")
    if child is None or child.text is None:
        raise ValueError(f"no {tag}")
    return child.text


def _xml_triple(root: ET.Element, path: str, cast: type, source: str) -> tuple:
    node = root.find(path)
    if node is None:
        raise FastMRIFileError(f"{source}: ismrmrd_header has no {path.replace('{*}', '')}")
    try:
        return tuple(cast(_child_text(node, axis)) for axis in ("x", "y", "z"))
    except (AttributeError, TypeError, ValueError) as exc:
        raise FastMRIFileError(f"{source}: ismrmrd_header {path.replace('{*}', '')} is incomplete: {exc}") from exc


def parse_ismrmrd_header(xml: str | bytes, source: str = "ismrmrd_header") -> IsmrmrdGeometry:
    """Read matrix sizes, fields of view and encoding limits from ISMRMRD XML (namespace-agnostic).

    Args:
        xml: the header text.
        source: file name used in error messages.

    Returns:
        The geometry; raises :class:`FastMRIFileError` when the XML is malformed or lacks the fields.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise FastMRIFileError(f"{source}: ismrmrd_header is not valid XML: {exc}") from exc
    enc = "{*}encoding/"
    geometry_values = dict(
        encoded_matrix=_xml_triple(root, enc + "{*}encodedSpace/{*}matrixSize", int, source),
        encoded_fov_mm=_xml_triple(root, enc + "{*}encodedSpace/{*}fieldOfView_mm", float, source),
        recon_matrix=_xml_triple(root, enc + "{*}reconSpace/{*}matrixSize", int, source),
        recon_fov_mm=_xml_triple(root, enc + "{*}reconSpace/{*}fieldOfView_mm", float, source),
    )
    for key in ("encoded_matrix", "recon_matrix"):
        if min(geometry_values[key][:2]) <= 0:
            raise FastMRIFileError(f"{source}: ismrmrd_header {key} {geometry_values[key]} is not positive")
    for key in ("encoded_fov_mm", "recon_fov_mm"):
        if not all(np.isfinite(v) and v > 0 for v in geometry_values[key]):
            raise FastMRIFileError(f"{source}: ismrmrd_header {key} {geometry_values[key]} is not positive")
    limits = root.find(enc + "{*}encodingLimits/{*}kspace_encoding_step_1")
    center = maximum = None
    if limits is not None:
        try:
            center = int(_child_text(limits, "center"))
            maximum = int(_child_text(limits, "maximum"))
        except (AttributeError, TypeError, ValueError):
            center = maximum = None  # optional: only used for fastMRI's padding columns
    return IsmrmrdGeometry(**geometry_values, encoding_center=center, encoding_maximum=maximum)


def make_ismrmrd_header(
    encoded_matrix: Sequence[int],
    encoded_fov_mm: Sequence[float],
    recon_matrix: Sequence[int],
    recon_fov_mm: Sequence[float],
) -> str:
    """Minimal ISMRMRD XML with the fields fastMRI reads (matrix sizes, fields of view, encoding limits).

    Args:
        encoded_matrix: (x, y, z) k-space matrix, e.g. (640, 368, 1).
        encoded_fov_mm: (x, y, z) encoded field of view in mm.
        recon_matrix: (x, y, z) reconstruction matrix.
        recon_fov_mm: (x, y, z) reconstruction field of view in mm.

    Returns:
        The XML text.
    """

    def triple(tag: str, values: Sequence[Any]) -> str:
        return f"<{tag}>" + "".join(f"<{a}>{v}</{a}>" for a, v in zip("xyz", values, strict=False)) + f"</{tag}>"

    ny = int(encoded_matrix[1])
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">'
        "<encoding>"
        f"<encodedSpace>{triple('matrixSize', [int(v) for v in encoded_matrix])}"
        f"{triple('fieldOfView_mm', [repr(float(v)) for v in encoded_fov_mm])}</encodedSpace>"
        f"<reconSpace>{triple('matrixSize', [int(v) for v in recon_matrix])}"
        f"{triple('fieldOfView_mm', [repr(float(v)) for v in recon_fov_mm])}</reconSpace>"
        "<trajectory>cartesian</trajectory>"
        "<encodingLimits><kspace_encoding_step_1>"
        f"<minimum>0</minimum><maximum>{ny - 1}</maximum><center>{ny // 2}</center>"
        "</kspace_encoding_step_1></encodingLimits>"
        "</encoding></ismrmrdHeader>"
    )


def _plain_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check_kspace(kspace: np.ndarray, source: str) -> None:
    if not np.iscomplexobj(kspace):
        raise FastMRIFileError(f"{source}: kspace must be complex, got real dtype {kspace.dtype}")
    if kspace.ndim not in (3, 4):
        raise FastMRIFileError(
            f"{source}: kspace must be (slices, H, W) or (slices, coils, H, W), got shape {kspace.shape}"
        )
    if 0 in kspace.shape:
        raise FastMRIFileError(f"{source}: kspace is empty (shape {kspace.shape})")
    if not np.isfinite(kspace).all():
        raise FastMRIFileError(f"{source}: kspace contains NaN or infinite values")


def _check_target(target: np.ndarray, kspace_shape: tuple[int, ...], source: str, key: str) -> None:
    if np.iscomplexobj(target) or not np.issubdtype(target.dtype, np.number):
        raise FastMRIFileError(f"{source}: {key} must be a real image volume, got dtype {target.dtype}")
    if target.ndim != 3 or target.shape[0] != kspace_shape[0]:
        raise FastMRIFileError(
            f"{source}: {key} must be (slices, h, w) with {kspace_shape[0]} slices like kspace, got {target.shape}"
        )
    if not np.isfinite(target).all():
        raise FastMRIFileError(f"{source}: {key} contains NaN or infinite values")


def _check_mask(mask: np.ndarray, num_cols: int, source: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 1 or mask.shape[0] != num_cols:
        raise FastMRIFileError(
            f"{source}: mask must be 1-D with {num_cols} columns like kspace, got shape {mask.shape}"
        )
    if not np.isin(mask, (0, 1)).all():
        raise FastMRIFileError(f"{source}: mask must hold only 0/1 (or booleans)")
    if not mask.any():
        # an all-zero mask reconstructs an all-zero image with a meaningless acceleration
        raise FastMRIFileError(f"{source}: mask samples none of the {num_cols} k-space columns")
    return mask.astype(bool)


def _dataset(f: Any, key: str, source: str) -> Any:
    """``f[key]`` when it is a dataset (not a group, link to nowhere or datatype)."""
    import h5py  # lazy: h5py (see top)

    try:
        item = f[key]
    except KeyError as exc:  # a dangling soft or external link
        raise FastMRIFileError(f"{source}: {key!r} cannot be opened ({exc})") from exc
    if not isinstance(item, h5py.Dataset):
        raise FastMRIFileError(f"{source}: {key!r} must be a dataset, but it is a {type(item).__name__.lower()}")
    return item


def refuse_external_links(f: Any, source: str) -> None:
    """Refuse a file that links to another file (an HDF5 external link, anywhere in it).

    HDF5 follows an external link on access, opening whatever file it names (another user's data, a device);
    a fastMRI file holds its own datasets. The links are listed without following any (``H5Lvisit`` does not
    cross external links), so nothing outside the file is opened.

    Raises:
        FastMRIFileError: naming the link and the file and object it points to.
    """
    import h5py  # lazy: h5py (see top)

    def first_external(name: bytes, info: Any) -> bytes | None:
        return name if info.type == h5py.h5l.TYPE_EXTERNAL else None  # a value other than None stops the visit

    found = f.id.links.visit(first_external, info=True)
    if found is not None:
        name = found.decode("utf-8", errors="replace")
        link = f.get(name, getlink=True)
        raise FastMRIFileError(
            f"{source}: {name!r} is an external link to {link.path!r} in {link.filename!r}; a fastMRI file must "
            "hold its own datasets (links to other files are not followed)"
        )


def check_schema(f: Any, slices: int | slice | None, source: str) -> tuple[slice, str | None]:
    """Check the types, shapes and total size of what :func:`read` will load, from metadata only.

    Reusable by any reader of fastMRI files (training datasets included), so the schema is checked one way.
    A file holding an external link is refused first (:func:`refuse_external_links`), before any of its
    datasets is touched.

    Args:
        f: an open ``h5py.File``.
        slices: the slices to be read (see :func:`read`); None for all.
        source: the file name for messages.

    Returns:
        The slice index over the first axis and the key of the target to read (None when there is none).

    Raises:
        FastMRIFileError: an external link, a dataset missing, a group, of the wrong type or shape, or the data
            to read exceed :data:`MAX_READ_BYTES`.
    """
    refuse_external_links(f, source)
    if "kspace" not in f:
        raise FastMRIFileError(f"{source}: no 'kspace' dataset (found: {', '.join(sorted(f.keys())) or 'nothing'})")
    kspace = _dataset(f, "kspace", source)
    if kspace.dtype.kind != "c":
        raise FastMRIFileError(f"{source}: kspace must be complex, got dtype {kspace.dtype}")
    if kspace.ndim not in (3, 4):
        raise FastMRIFileError(
            f"{source}: kspace must be (slices, H, W) or (slices, coils, H, W), got shape {kspace.shape}"
        )
    if 0 in kspace.shape:
        raise FastMRIFileError(f"{source}: kspace is empty (shape {kspace.shape})")
    index = _slice_index(slices, kspace.shape[0], source)
    count = len(range(*index.indices(kspace.shape[0])))
    total = count * int(np.prod(kspace.shape[1:], dtype=object)) * kspace.dtype.itemsize
    target_key = next((k for k in TARGET_KEYS if k in f), None)
    if kspace.ndim == 4 and "reconstruction_rss" in f:
        target_key = "reconstruction_rss"
    if target_key is not None:
        target = _dataset(f, target_key, source)
        if target.dtype.kind not in "fiu":
            raise FastMRIFileError(f"{source}: {target_key} must be a real image volume, got dtype {target.dtype}")
        if target.ndim != 3 or target.shape[0] != kspace.shape[0]:
            raise FastMRIFileError(
                f"{source}: {target_key} must be (slices, h, w) with {kspace.shape[0]} slices like kspace, "
                f"got {target.shape}"
            )
        total += count * int(np.prod(target.shape[1:], dtype=object)) * target.dtype.itemsize
    if "mask" in f:
        mask = _dataset(f, "mask", source)
        if mask.dtype.kind not in "biuf" or mask.shape != (kspace.shape[-1],):
            raise FastMRIFileError(
                f"{source}: mask must be 1-D with {kspace.shape[-1]} columns like kspace, "
                f"got shape {mask.shape} ({mask.dtype})"
            )
        total += mask.size * mask.dtype.itemsize
    if "ismrmrd_header" in f:
        header = _dataset(f, "ismrmrd_header", source)
        if header.dtype.kind not in "OSU" or header.size != 1:
            raise FastMRIFileError(
                f"{source}: ismrmrd_header must be one XML string, got shape {header.shape} ({header.dtype})"
            )
        if header.dtype.kind != "O" and header.dtype.itemsize > _MAX_HEADER_BYTES:
            raise FastMRIFileError(f"{source}: ismrmrd_header declares {header.dtype.itemsize} bytes; too large")
    if total > MAX_READ_BYTES:
        raise FastMRIFileError(
            f"{source}: the datasets to read declare {total / 2**30:.3g} GiB (kspace shape {kspace.shape}), "
            f"above the limit of {MAX_READ_BYTES / 2**30:.3g} GiB; pass slices= to read part of a volume"
        )
    return index, target_key


def _header_text(raw: Any, source: str) -> str:
    """The ``ismrmrd_header`` as text (stored as bytes, a str or a variable-length string)."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    if len(text) > _MAX_HEADER_BYTES:
        raise FastMRIFileError(f"{source}: ismrmrd_header holds {len(text)} characters; too large for XML")
    return text


def _slice_index(slices: int | slice | None, num_slices: int, source: str) -> slice:
    """A ``slice`` over the first axis (an int keeps its axis, so the result is always a volume)."""
    if slices is None:
        return slice(None)
    if isinstance(slices, slice):
        return slices
    if isinstance(slices, (int, np.integer)):
        if not -num_slices <= slices < num_slices:
            raise FastMRIFileError(f"{source}: slice {slices} out of range for {num_slices} slices")
        start = int(slices) % num_slices
        return slice(start, start + 1)
    raise AssertionError(slices)  # read() checks the type before opening the file


def read(path: str | os.PathLike, slices: int | slice | None = None) -> FastMRIVolume:
    """Read a fastMRI file (single- or multi-coil; train/val with target, test with mask).

    Args:
        path: the ``.h5`` file.
        slices: optional slice index or ``slice`` to read only part of a large volume.

    Returns:
        A :class:`FastMRIVolume`.

    Raises:
        FastMRINotFoundError: the file does not exist (also a ``FileNotFoundError``).
        FastMRIFileError: naming the file: not a regular file, empty, truncated or not HDF5; an external link
            to another file; ``kspace`` missing, a group, real-valued or of the wrong shape; a target or mask
            that is not a dataset or does not fit the k-space; more than :data:`MAX_READ_BYTES` to load (all
            checked from metadata before any data is read); NaNs; a mask that samples no column.
    """
    import h5py  # lazy: h5py (see top)

    from condswin.io.image_checks import check_regular_file  # lazy: SimpleITK (see top)

    path = Path(path)
    source = str(path)
    check_regular_file(path, FastMRIFileError, FastMRINotFoundError, "a fastMRI file")
    if slices is not None and not isinstance(slices, (int, np.integer, slice)):
        raise TypeError(f"slices must be an int, a slice or None, got {type(slices).__name__}")
    try:
        with h5py.File(path, "r") as f:
            # Everything is checked from metadata first: a group where a dataset belongs, or a declared shape
            # of terabytes, must not reach a read.
            index, target_key = check_schema(f, slices, source)
            kspace = np.asarray(f["kspace"][index])
            _check_kspace(kspace, source)
            target = None
            if target_key is not None:
                target = np.asarray(f[target_key][index])
                _check_target(target, kspace.shape, source, target_key)
            mask = _check_mask(f["mask"][()], kspace.shape[-1], source) if "mask" in f else None
            header_xml = None
            if "ismrmrd_header" in f:
                raw = np.asarray(f["ismrmrd_header"][()]).reshape(-1)[0]
                header_xml = _header_text(raw, source)
            attrs = {k: _plain_attr(v) for k, v in f.attrs.items()}
    except FastMRIFileError:
        raise
    except (OSError, KeyError, TypeError, ValueError) as exc:
        # h5py reports a truncated or non-HDF5 file as OSError("Unable to open file ... signature not found")
        raise FastMRIFileError(f"{source}: not a readable fastMRI HDF5 file ({exc})") from exc

    geometry = parse_ismrmrd_header(header_xml, source) if header_xml is not None else None
    if geometry is not None:
        spacing = geometry.recon_spacing
    else:
        warnings.warn(
            f"{source}: no ismrmrd_header; assuming 1 mm pixel spacing and slice thickness",
            CondswinWarning,
            stacklevel=2,
        )
        spacing = (1.0, 1.0, 1.0)
    return FastMRIVolume(
        path=path,
        kspace=kspace,
        target=target,
        mask=mask,
        spacing=spacing,
        attrs=attrs,
        header_xml=header_xml,
        geometry=geometry,
        target_key=target_key,
    )


def write(
    path: str | os.PathLike,
    kspace: np.ndarray,
    target: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    *,
    header_xml: str | None = None,
    spacing: Sequence[float] | None = None,
    attrs: dict[str, Any] | None = None,
    target_key: str | None = None,
) -> Path:
    """Write a fastMRI file atomically (a temporary file in the same folder, then ``os.replace``).

    Args:
        path: destination ``.h5`` file (its folder must exist).
        kspace: complex (slices, H, W) or (slices, coils, H, W); stored as complex64.
        target: optional real (slices, h, w) reconstruction; stored as float32.
        mask: optional (W,) column mask (test files); stored as booleans.
        header_xml: ISMRMRD XML to store as is; when None one is made from ``spacing`` so that reading the
            file back gives that spacing.
        spacing: (slice, row, column) mm of the reconstruction grid, used only without ``header_xml``
            (default 1 mm each). The encoded field of view uses the same pixel size over the k-space matrix.
        attrs: file attributes; ``max`` and ``norm`` of the target are added when missing.
        target_key: ``reconstruction_esc`` or ``reconstruction_rss``; default by coil count.

    Returns:
        The path written. Raises :class:`FastMRIFileError` for invalid arrays; nothing is written then.
    """
    import h5py  # lazy: h5py (see top)

    path = Path(path)
    source = str(path)
    kspace = np.asarray(kspace)
    _check_kspace(kspace, source)
    if target is not None:
        target = np.asarray(target)
        _check_target(target, kspace.shape, source, "target")
    if mask is not None:
        mask = _check_mask(mask, kspace.shape[-1], source)
    if target_key is None:
        target_key = "reconstruction_rss" if kspace.ndim == 4 else "reconstruction_esc"
    if target_key not in TARGET_KEYS:
        raise FastMRIFileError(f"{source}: target_key must be one of {TARGET_KEYS}, got {target_key!r}")
    if header_xml is None:
        dz, dx, dy = (1.0, 1.0, 1.0) if spacing is None else (float(s) for s in spacing)
        if not all(np.isfinite(v) and v > 0 for v in (dz, dx, dy)):
            raise FastMRIFileError(f"{source}: spacing must be three positive numbers, got {spacing}")
        enc = (kspace.shape[-2], kspace.shape[-1], 1)
        rec = (target.shape[-2], target.shape[-1], 1) if target is not None else enc
        header_xml = make_ismrmrd_header(enc, (enc[0] * dx, enc[1] * dy, dz), rec, (rec[0] * dx, rec[1] * dy, dz))
    else:
        parse_ismrmrd_header(header_xml, source)  # refuse a header that read() could not use
    file_attrs: dict[str, Any] = {}
    if target is not None:
        # float64 accumulation, rounded to float32: the same number on every CPU (a float32 sum depends on SIMD width)
        norm = float(np.float32(np.linalg.norm(target.astype(np.float64))))
        file_attrs.update(max=float(target.max()), norm=norm)
    file_attrs.update(attrs or {})

    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"{source}: folder {folder} does not exist")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("kspace", data=kspace.astype(np.complex64, copy=False))
        if target is not None:
            f.create_dataset(target_key, data=target.astype(np.float32, copy=False))
        if mask is not None:
            f.create_dataset("mask", data=mask)
        f.create_dataset("ismrmrd_header", data=header_xml.encode("utf-8"), dtype=h5py.string_dtype())
        for key, value in file_attrs.items():
            f.attrs[key] = value
    return path
