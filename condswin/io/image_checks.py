"""Checks on an image file that SimpleITK does not make, run before (or right after) its pixels are read.

SimpleITK allocates the whole image a header declares before it finds out that the file holds a fraction of
it (a 1 KB ``.nii.gz`` can make it allocate gigabytes), accepts NaN geometry, fills truncated NIfTI data with
zeros, drops an unreadable DICOM slice with only a warning, and explains several failures misleadingly
("No such file or directory" for a truncated MetaImage). Each check here raises
:class:`condswin.io.images.ImageFileError`-compatible errors through the ``error`` callable it is given, so
this module does not import :mod:`condswin.io.images` (which imports it).

Order used by :func:`condswin.io.images.read_image` for a file: :func:`check_regular_file`,
:func:`check_gzip_head`, header (ITK) → :func:`check_header`, then :func:`check_nifti_data` /
:func:`check_metaimage_data`, and only then the pixels.
"""

from __future__ import annotations

import os
import re
import stat
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

__all__ = [
    "MAX_VOXELS",
    "SLICE_SPACING_TOLERANCE",
    "ErrorFactory",
    "check_regular_file",
    "format_values",
    "check_gzip_head",
    "check_header",
    "check_geometry",
    "check_nifti_header",
    "check_nifti_data",
    "check_nifti_complete",
    "check_metaimage_data",
    "check_slice_spacing",
    "itk_reason",
]

# The largest images this project reads are LiTS CTs (at most 512 x 512 x 987, about 2.6e8 voxels). 2**31
# voxels is eight times that: 4 GiB as int16 and 8 GiB as float32 before the pipeline makes its float
# copies, more than a workstation running Slicer has to spare. A larger header is forged or mistaken, and
# refusing it from the header costs nothing, where reading it would allocate first and fail later.
MAX_VOXELS: int = 2**31

# Slice gaps of a DICOM series may differ by this fraction of the typical gap (decimal positions written by
# scanners round to ~1e-3 mm); a larger difference means a missing, unreadable or duplicated slice.
SLICE_SPACING_TOLERANCE: float = 0.01

# Deflate cannot expand one compressed byte into more than about 1032 bytes (zlib's "technical details"):
# a .nii.gz file declaring more data than that can never hold it, whatever the stream says.
_GZIP_MAX_RATIO = 1032
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # bytes of input read at a time, and the most output one decompress call may produce

ErrorFactory = Callable[[str], Exception]

# Bytes per pixel component of the pixel types ITK reports for a header.
_COMPONENT_BYTES = {
    sitk.sitkUInt8: 1,
    sitk.sitkInt8: 1,
    sitk.sitkUInt16: 2,
    sitk.sitkInt16: 2,
    sitk.sitkUInt32: 4,
    sitk.sitkInt32: 4,
    sitk.sitkUInt64: 8,
    sitk.sitkInt64: 8,
    sitk.sitkFloat32: 4,
    sitk.sitkFloat64: 8,
    sitk.sitkVectorUInt8: 1,
    sitk.sitkVectorInt8: 1,
    sitk.sitkVectorUInt16: 2,
    sitk.sitkVectorInt16: 2,
    sitk.sitkVectorUInt32: 4,
    sitk.sitkVectorInt32: 4,
    sitk.sitkVectorUInt64: 8,
    sitk.sitkVectorInt64: 8,
    sitk.sitkVectorFloat32: 4,
    sitk.sitkVectorFloat64: 8,
    sitk.sitkComplexFloat32: 8,
    sitk.sitkComplexFloat64: 16,
}


def check_regular_file(path: Path, error: ErrorFactory, not_found: ErrorFactory, what: str = "an image") -> None:
    """Refuse a missing path, a folder, device, pipe or socket (``/dev/zero`` never ends), and an empty file.

    Args:
        path: the file to read.
        error, not_found: the error types to raise (a format's own :class:`condswin.errors.InputError`).
        what: what the file should be read as, for the messages (``"an image"``, ``"a fastMRI file"``).

    Raises:
        ``not_found(...)``: the path does not exist.
        ``error(...)``: it is not a regular file, or it is empty.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise not_found(f"{path}: no such file") from None
    except OSError as err:
        raise error(f"{path}: cannot be opened ({err.strerror or err})") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: not a regular file (a folder, device, pipe or socket cannot be read as {what})")
    if info.st_size == 0:
        raise error(f"{path}: the file is empty (0 bytes)")


def check_gzip_head(path: Path, error: ErrorFactory) -> None:
    """For a gzip-compressed file, decompress its first block: corrupt data is named as such, not as a
    format SimpleITK cannot determine.

    Raises:
        ``error(...)``: the file starts with the gzip signature but its stream is corrupt.
    """
    with open(path, "rb") as handle:
        head = handle.read(_CHUNK)
    if not head.startswith(_GZIP_MAGIC):
        return
    try:
        zlib.decompressobj(wbits=31).decompress(head, _CHUNK)
    except zlib.error as err:
        raise error(f"{path}: corrupt gzip data ({err})") from None


def check_header(reader: sitk.ImageFileReader, path: Path, error: ErrorFactory) -> None:
    """Refuse a header declaring more than :data:`MAX_VOXELS` voxels or unusable geometry.

    Args:
        reader: a reader after ``ReadImageInformation()``.
        path: the file, for messages.
        error: builds the exception to raise.
    """
    check_voxel_count(reader.GetSize(), reader.GetNumberOfComponents(), path, error)
    check_geometry(reader.GetSpacing(), reader.GetOrigin(), reader.GetDirection(), path, error)


def check_voxel_count(size: Sequence[int], components: int, path: Path, error: ErrorFactory) -> None:
    """Refuse an image larger than :data:`MAX_VOXELS` (pixel components counted) before it is allocated."""
    count = int(np.prod([int(s) for s in size], dtype=object)) * max(int(components), 1)
    if count > MAX_VOXELS:
        dims = " x ".join(str(int(s)) for s in size)
        raise error(
            f"{path}: the header declares {dims} voxels ({count:.3g} values), above the limit of {MAX_VOXELS:.3g}; "
            "the header is corrupt or forged"
        )


def check_geometry(
    spacing: Sequence[float],
    origin: Sequence[float],
    direction: Sequence[float],
    path: Path,
    error: ErrorFactory,
) -> None:
    """Spacing finite and positive, origin finite, direction finite and non-singular.

    Raises:
        ``error(...)``: naming the first field at fault.
    """
    values = {"spacing": spacing, "origin": origin, "direction": direction}
    for name, vector in values.items():
        if not np.isfinite(np.asarray(vector, dtype=np.float64)).all():
            raise error(
                f"{path}: the {name} {format_values(vector)} is not finite (NaN or infinite); the header is corrupt"
            )
    if min(spacing) <= 0:
        raise error(f"{path}: the spacing {format_values(spacing)} must be positive")
    dim = len(spacing)
    matrix = np.asarray(direction, dtype=np.float64).reshape(dim, dim)
    # A direction matrix is a rotation (|det| = 1) up to header rounding; near 0 means two axes coincide.
    if abs(np.linalg.det(matrix)) < 1e-3:
        raise error(f"{path}: the direction {format_values(direction)} is singular (two image axes point the same way)")


def format_values(values: Sequence[float] | np.ndarray) -> str:
    """``(0.8, 0.9, 2.5)``: a spacing, origin or direction in messages (six significant digits)."""
    return "(" + ", ".join(f"{float(v):.6g}" for v in values) + ")"


def check_nifti_header(path: Path, gzipped: bool, error: ErrorFactory) -> None:
    """Refuse a NIfTI header whose sform, qform or voxel sizes hold NaN or infinite values.

    ITK silently falls back from a non-finite sform to the qform (or passes a NaN straight through), so
    two readers of the same file would place it differently; such a header is corrupt.

    Args:
        path: the ``.nii`` or ``.nii.gz`` file.
        gzipped: whether it is gzip-compressed.
        error: builds the exception to raise.
    """
    head = bytearray()
    for chunk in _byte_chunks(path, gzipped, error):
        head += chunk
        if len(head) >= 540:
            break
    for name, values in _nifti_geometry_fields(bytes(head)).items():
        if not np.isfinite(values).all():
            raise error(
                f"{path}: the NIfTI {name} {format_values(values)} is not finite (NaN or infinite); the header is corrupt"
            )


def _nifti_geometry_fields(header: bytes) -> dict[str, np.ndarray]:
    """The voxel sizes, and the qform and sform parameters a NIfTI-1/2 header uses (by their codes)."""
    layouts = {  # sizeof_hdr: (float type, dim, pixdim, qform code, sform code, quatern..qoffset, srow)
        348: ("f4", (40, "i2"), 76, (252, "i2"), (254, "i2"), 256, 280),
        540: ("f8", (16, "i8"), 104, (344, "i4"), (348, "i4"), 352, 400),
    }
    if len(header) < 348:
        return {}
    for order in ("<", ">"):
        sizeof_hdr = int(np.frombuffer(header[:4], dtype=f"{order}i4")[0])
        if sizeof_hdr in layouts and len(header) >= sizeof_hdr:
            real, (dim_at, dim_type), pixdim_at, (q_at, q_type), (s_at, s_type), quatern_at, srow_at = layouts[
                sizeof_hdr
            ]
            break
    else:
        return {}
    real_dtype = np.dtype(f"{order}{real}")

    def floats(at: int, count: int) -> np.ndarray:
        return np.frombuffer(header[at : at + count * real_dtype.itemsize], dtype=real_dtype).astype(np.float64)

    ndim = int(np.frombuffer(header[dim_at : dim_at + 8], dtype=f"{order}{dim_type}")[0])
    fields = {"voxel size (pixdim)": floats(pixdim_at + real_dtype.itemsize, min(max(ndim, 0), 7))}
    if int(np.frombuffer(header[q_at : q_at + 4], dtype=f"{order}{q_type}")[0]) > 0:
        fields["qform"] = floats(quatern_at, 6)
    if int(np.frombuffer(header[s_at : s_at + 4], dtype=f"{order}{s_type}")[0]) > 0:
        fields["sform"] = floats(srow_at, 12)
    return fields


def _nifti_head(
    path: Path, gzipped: bool, error: ErrorFactory
) -> tuple[Iterator[bytes], bytes, tuple[int, int, np.dtype | None] | None]:
    """The file's byte chunks (an iterator, positioned after the head), its first bytes (at least the 540 of a
    NIfTI-2 header where the file has them) and the layout they declare (None for an unknown header)."""
    chunks = _byte_chunks(path, gzipped, error)
    head = bytearray()
    for chunk in chunks:
        head += chunk
        if len(head) >= 540:
            break
    return chunks, bytes(head), _nifti_layout(bytes(head[:540]))


def check_nifti_data(path: Path, gzipped: bool, scan_floats: bool, error: ErrorFactory) -> None:
    """Check that a NIfTI file holds all the data its header declares, and (on request) no NaN.

    ITK reads a truncated NIfTI file without complaint (it allocates the declared size first, and the missing
    voxels become 0) and turns NaN voxels into 0, so the bytes are checked here, before ITK reads them. A
    ``.nii.gz`` is first compared with the most a gzip stream of its size can hold, then decompressed as a
    stream (in bounded chunks, never the whole image) to count its length.

    Args:
        path: the ``.nii`` or ``.nii.gz`` file.
        gzipped: whether it is gzip-compressed.
        scan_floats: count NaN/infinite values of float32/float64 data.
        error: builds the exception to raise.
    """
    chunks, head, layout = _nifti_head(path, gzipped, error)
    if layout is None:
        return  # not a NIfTI-1/2 header this parser knows: ITK's own checks apply
    start, end, float_dtype = layout
    file_size = path.stat().st_size
    if gzipped and end > file_size * _GZIP_MAX_RATIO:
        raise error(
            f"{path}: the file is truncated: the header declares {end} bytes, more than a gzip file of "
            f"{file_size} bytes can hold"
        )
    dtype = float_dtype if scan_floats else None
    if not gzipped and dtype is None:
        available, bad = file_size, 0
    else:
        available, bad = _scan_bytes(head, chunks, start, end, dtype)
    if available < end:
        raise error(f"{path}: the file is truncated ({available} bytes where the header needs {end})")
    if bad:
        raise error(f"{path}: contains {bad} NaN or infinite voxel values")


def check_nifti_complete(path: Path, gzipped: bool, error: ErrorFactory) -> None:
    """Check that a NIfTI file just written holds its whole header and all the data it declares, and that a
    ``.nii.gz`` ends its gzip stream: what a write that fell short (a full disk) leaves does neither.

    Args:
        path: the ``.nii`` or ``.nii.gz`` file.
        gzipped: whether it is gzip-compressed.
        error: builds the exception to raise.
    """
    chunks, head, layout = _nifti_head(path, gzipped, error)
    if layout is None:
        raise error(f"{path}: no complete NIfTI header ({len(head)} bytes)")
    start, end, _ = layout
    # Reading to the end also makes a cut gzip stream raise (_byte_chunks checks its end).
    available = path.stat().st_size if not gzipped else _scan_bytes(head, chunks, start, end, None)[0]
    if available < end:
        raise error(f"{path}: {available} bytes where the header needs {end}")


def _byte_chunks(path: Path, gzipped: bool, error: ErrorFactory) -> Iterator[bytes]:
    """The file's bytes (decompressed when gzipped, several members included) in chunks of bounded size."""
    with open(path, "rb") as handle:
        if not gzipped:
            while chunk := handle.read(_CHUNK):
                yield chunk
            return
        decompressor = zlib.decompressobj(wbits=31)
        while data := handle.read(_CHUNK):
            while data:
                try:
                    # max_length bounds each output: a small file of zeros must not expand at once in memory.
                    out = decompressor.decompress(data, _CHUNK)
                except zlib.error as err:
                    raise error(f"{path}: corrupt gzip data ({err})") from None
                if out:
                    yield out
                if decompressor.eof:
                    data = decompressor.unused_data
                    if not data.startswith(_GZIP_MAGIC):
                        return  # trailing bytes after the last member are ignored, as gzip readers do
                    decompressor = zlib.decompressobj(wbits=31)  # a concatenated member (pigz, cat a.gz b.gz)
                else:
                    data = decompressor.unconsumed_tail
        if not decompressor.eof:
            raise error(f"{path}: the file is truncated (the gzip stream ends early)")


def _scan_bytes(first: bytes, rest: Iterator[bytes], start: int, end: int, dtype: np.dtype | None) -> tuple[int, int]:
    """Total length of a byte stream and, if ``dtype`` is given, the non-finite values in [start, end)."""
    total = 0
    bad = 0
    pending = b""
    for chunk in _chain(first, rest):
        if dtype is not None:
            lo, hi = max(start - total, 0), min(end - total, len(chunk))
            if hi > lo:
                data = pending + chunk[lo:hi]
                usable = len(data) - len(data) % dtype.itemsize
                bad += int(np.count_nonzero(~np.isfinite(np.frombuffer(data[:usable], dtype=dtype))))
                pending = data[usable:]
        total += len(chunk)
    return total, bad


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _nifti_layout(header: bytes) -> tuple[int, int, np.dtype | None] | None:
    """(data start, data end, float dtype or None) from a NIfTI-1/2 header; None if it is not one."""
    if len(header) < 348:
        return None
    for order in ("<", ">"):
        sizeof_hdr = int(np.frombuffer(header[:4], dtype=f"{order}i4")[0])
        if sizeof_hdr == 348:
            dims = np.frombuffer(header[40:56], dtype=f"{order}i2").astype(np.int64)
            datatype = int(np.frombuffer(header[70:72], dtype=f"{order}i2")[0])
            bitpix = int(np.frombuffer(header[72:74], dtype=f"{order}i2")[0])
            vox_offset = float(np.frombuffer(header[108:112], dtype=f"{order}f4")[0])
            break
        if sizeof_hdr == 540 and len(header) >= 540:
            datatype = int(np.frombuffer(header[12:14], dtype=f"{order}i2")[0])
            bitpix = int(np.frombuffer(header[14:16], dtype=f"{order}i2")[0])
            dims = np.frombuffer(header[16:80], dtype=f"{order}i8")
            vox_offset = float(np.frombuffer(header[168:176], dtype=f"{order}i8")[0])
            break
    else:
        return None
    ndim = int(dims[0])
    if not 1 <= ndim <= 7 or bitpix <= 0 or not np.isfinite(vox_offset):
        return None
    start = max(int(vox_offset), sizeof_hdr)
    # Python integers: a forged header must not overflow into a small (or negative) size.
    voxels = 1
    for extent in dims[1 : ndim + 1]:
        voxels *= max(int(extent), 1)
    end = start + voxels * bitpix // 8
    # NIfTI datatype codes 16 and 64 are float32 and float64 (complex types are not CT data).
    float_dtype = {16: np.dtype(f"{order}f4"), 64: np.dtype(f"{order}f8")}.get(datatype)
    return start, end, float_dtype


def check_metaimage_data(reader: sitk.ImageFileReader, path: Path, error: ErrorFactory) -> None:
    """Check that a MetaImage (``.mha`` / ``.mhd``) has all the pixel data its header declares.

    ITK reports a truncated ``.mha`` or a ``.mhd`` without its data file as "No such file or directory";
    here the data part is measured first. Compressed data (its size is unknown without inflating it) and
    multi-file data (``LIST``, patterns) are left to ITK.

    Args:
        reader: a reader after ``ReadImageInformation()`` (size and pixel type).
        path: the header file.
        error: builds the exception to raise.
    """
    fields = _metaimage_fields(path)
    if fields is None:
        return
    values, data_start = fields
    if values.get("compresseddata", "false").lower() == "true":
        return
    component = _COMPONENT_BYTES.get(reader.GetPixelID())
    if component is None:
        return
    needed = int(np.prod([int(s) for s in reader.GetSize()], dtype=object)) * reader.GetNumberOfComponents()
    needed *= component
    data_file = values.get("elementdatafile", "")
    if data_file.upper() == "LOCAL":
        available = path.stat().st_size - data_start
        where = "the file"
    elif data_file.upper().startswith("LIST") or "%" in data_file or " " in data_file:
        return
    else:
        target = path.parent / data_file
        if not target.is_file():
            raise error(f"{path}: truncated or missing pixel data: the data file {data_file} does not exist")
        available = target.stat().st_size
        where = f"the data file {data_file}"
    header_size = int(values.get("headersize", "0") or 0)
    available -= max(header_size, 0)
    if available < needed:
        raise error(
            f"{path}: truncated or missing pixel data: {where} holds {max(available, 0)} bytes "
            f"where the header needs {needed}"
        )


def _metaimage_fields(path: Path) -> tuple[dict[str, str], int] | None:
    """The ``Key = Value`` fields of a MetaImage header (keys lower-case) and where its data starts."""
    with open(path, "rb") as handle:
        head = handle.read(64 * 1024)  # MetaImage headers are a few hundred bytes
    values: dict[str, str] = {}
    offset = 0
    for line in head.splitlines(keepends=True):
        offset += len(line)
        match = re.match(rb"\s*([A-Za-z_]\w*)\s*=\s*(.*?)\s*$", line)
        if match is None:
            return None
        key, value = match.group(1).decode("ascii").lower(), match.group(2).decode("latin-1")
        values[key] = value
        if key == "elementdatafile":  # always the last field; the pixel data follow it
            return values, offset
    return None


def check_slice_spacing(
    folder: Path,
    files: Sequence[str],
    positions: Sequence[Sequence[float]],
    normal: Sequence[float] | np.ndarray,
    error: ErrorFactory,
) -> None:
    """Refuse a DICOM series whose slices are not evenly spaced (a missing, unreadable or duplicated slice).

    ITK reads such a series with the average spacing and only a printed warning, so the volume is silently
    stretched. Gaps within :data:`SLICE_SPACING_TOLERANCE` of the typical gap are accepted.

    Args:
        folder: the series folder, for messages.
        files: the slice files in the order the reader stacked them.
        positions: ImagePositionPatient of each file (mm).
        normal: the slice normal (the image direction's third column).
        error: builds the exception to raise.
    """
    if len(positions) < 2:
        return
    along = np.asarray(positions, dtype=np.float64) @ np.asarray(normal, dtype=np.float64)
    gaps = np.abs(np.diff(along))
    typical = float(np.median(gaps))
    uneven = np.flatnonzero(np.abs(gaps - typical) > SLICE_SPACING_TOLERANCE * max(typical, 1e-6))
    if typical <= 1e-6:
        uneven = np.arange(gaps.size)  # every slice at the same place: nothing is a volume
    if uneven.size == 0:
        return
    first = int(uneven[0])
    more = f" (and {uneven.size - 1} more uneven gaps)" if uneven.size > 1 else ""
    raise error(
        f"{folder}: uneven slice spacing: slices {first + 1}-{first + 2} of {len(files)} "
        f"({Path(files[first]).name}, {Path(files[first + 1]).name}) are {gaps[first]:.4g} mm apart, "
        f"the others {typical:.4g} mm{more}; a slice is missing, unreadable or duplicated"
    )


# ITK's messages for the same problems, turned into what happened. Order matters: the first match wins.
_KNOWN_REASONS = (
    ("Unable to determine ImageIO reader", "not a file format SimpleITK can read"),
    ("data not read completely", "truncated or missing pixel data"),
    ("fread got only", "truncated pixel data"),
    ("Failed to allocate memory", "not enough memory for the image the header declares"),
)


def itk_reason(err: RuntimeError, path: str | os.PathLike | None = None) -> str:
    """A short reason from an ITK exception: its informative last line, without the path (the caller's
    message starts with it) and without ITK's ``sitk::ERROR:`` / ``ITK ERROR: Class(0x...):`` prefixes."""
    text = str(err)
    for pattern, reason in _KNOWN_REASONS:
        if pattern in text:
            return reason
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = lines[-1] if lines else "unknown ITK error"
    reason = re.sub(r"^(sitk::ERROR:|ITK ERROR:)\s*(\w+\(0x[0-9a-fA-F]+\):\s*)?", "", reason)
    if path is not None:
        for spelling in (f'"{path}"', f"'{path}'", str(path)):
            reason = reason.replace(spelling, "the file")
        name = Path(path).name
        if "." in name:  # a bare name only when it cannot be an ordinary word of the message
            reason = re.sub(rf"(?<![\w./])[\"']?{re.escape(name)}[\"']?(?![\w.])", "the file", reason)
    return reason or "unknown ITK error"
