"""Reading and writing medical images with SimpleITK, keeping spacing, origin and direction.

Any format SimpleITK reads is accepted on input (NIfTI, NRRD, MetaImage, a single DICOM file, or a folder
holding a DICOM series). Output goes to the single-file formats ``.nii``, ``.nii.gz``, ``.nrrd`` and
``.mha``, or to a DICOM series folder (a path without a suffix). Writes are atomic: the image is written
to a temporary name in the destination folder and renamed into place, so a failure leaves no partial file.

Every problem with an input is raised as :class:`ImageFileError` (a ``ValueError``) whose message starts
with the offending path.

DICOM series round trip (what survives, what does not):
    * pixel values of 8/16-bit integer images (exactly), in-plane spacing (PixelSpacing), slice spacing
      (recomputed by the reader from ImagePositionPatient), origin and direction (ImagePositionPatient /
      ImageOrientationPatient, written as decimal strings, so expect ~1e-6 mm differences);
    * a left-handed direction (determinant -1) cannot be stored: DICOM defines the slice axis as the cross
      product of the row and column directions. Such an image comes back as the physically identical
      right-handed image with its slice order reversed;
    * float images are refused (cast to ``sitk.sitkInt16`` first); metadata other than the tags written
      here (modality, UIDs, rescale 1/0, series description) is not carried over.
"""

from __future__ import annotations

import itertools
import os
import uuid
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from condswin.errors import InputError, InputNotFoundError, OutputError, OutputExistsError, UsageError
from condswin.io.atomic import atomic_path, discard

__all__ = [
    "ImageFileError",
    "ImageNotFoundError",
    "OutputExistsError",
    "WRITABLE_SUFFIXES",
    "READABLE_SUFFIXES",
    "image_suffix",
    "read_image",
    "read_image_header",
    "write_image",
    "grid_mismatch",
]

# The one definition of the image formats: what is written (single files) and what is read as a file.
WRITABLE_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".nrrd", ".mha")
READABLE_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")

_DICOM_PIXEL_TYPES = {sitk.sitkUInt8, sitk.sitkInt16, sitk.sitkUInt16}
_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
_SECONDARY_CAPTURE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"


class ImageFileError(InputError):
    """An image file or folder that cannot be used; the message names the path and the problem."""


class ImageNotFoundError(ImageFileError, InputNotFoundError):
    """The path given as an image does not exist."""


def read_image(
    path: str | os.PathLike,
    *,
    ndim: int | None = 3,
    series_id: str | None = None,
    allow_nan: bool = False,
) -> sitk.Image:
    """Read an image file or a DICOM series folder, with its full geometry.

    Args:
        path: an image file in any format SimpleITK reads, or a folder holding one DICOM series.
        ndim: number of dimensions the image must have (``None`` accepts any). NIfTI files with a trailing
            time axis of length 1 count as 3-D (ITK drops that axis).
        series_id: which DICOM series to read when the folder holds several (see the error message for the
            ids present).
        allow_nan: accept float images holding NaN or infinite values (ITK's NIfTI reader turns NaN
            into 0; other formats keep them).

    Returns:
        A scalar ``SimpleITK.Image`` with spacing, origin and direction as stored in the file.

    Raises:
        ImageNotFoundError: the path does not exist.
        ImageFileError: the file is empty, truncated, unreadable, has the wrong number of dimensions, is
            not scalar, or holds NaN/infinite values.
    """
    path = Path(path)
    if not path.exists():
        raise ImageNotFoundError(f"{path}: no such file or folder")
    if path.is_dir():
        image = _read_dicom_series(path, series_id)
    else:
        if path.stat().st_size == 0:
            raise ImageFileError(f"{path}: the file is empty (0 bytes)")
        try:
            image = sitk.ReadImage(str(path))
        except RuntimeError as err:
            raise ImageFileError(f"{path}: cannot be read as an image ({_itk_reason(err)})") from None
        _check_nifti(path, allow_nan)
    _check_image_content(image, path, ndim=ndim, allow_nan=allow_nan)
    return image


def read_image_header(path: str | os.PathLike) -> sitk.ImageFileReader:
    """Read only the header of an image file (size, spacing, origin, direction, pixel type).

    Args:
        path: an image file in any format SimpleITK reads.

    Returns:
        A ``SimpleITK.ImageFileReader`` after ``ReadImageInformation()``: ask it ``GetSize()``,
        ``GetSpacing()``, ``GetDimension()``, ... without loading the voxels.

    Raises:
        ImageNotFoundError: the file does not exist.
        ImageFileError: the file is empty, a folder, or not an image.
    """
    path = Path(path)
    if not path.exists():
        raise ImageNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise ImageFileError(f"{path}: is a folder; only single image files have a readable header")
    if path.stat().st_size == 0:
        raise ImageFileError(f"{path}: the file is empty (0 bytes)")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as err:
        raise ImageFileError(f"{path}: cannot be read as an image ({_itk_reason(err)})") from None
    return reader


def write_image(
    image: sitk.Image,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    compress: bool = True,
    modality: str = "CT",
) -> Path:
    """Write an image atomically, keeping its geometry.

    Args:
        image: the image to write (not modified).
        path: destination. Suffix ``.nii.gz``, ``.nii``, ``.nrrd`` or ``.mha`` writes one file; a path with
            no suffix writes a DICOM series folder (one file per axial slice).
        overwrite: replace an existing file or folder. Without it an existing path is an error.
        compress: compress the pixel data (NIfTI ``.nii`` is never compressed; DICOM ignores this).
        modality: DICOM Modality tag for series output (``"CT"`` writes CT Image Storage objects, anything
            else Secondary Capture).

    Returns:
        The path written.

    Raises:
        OutputExistsError: the path exists and ``overwrite`` is false.
        UsageError: unsupported suffix.
        ImageFileError: a pixel type the format cannot hold.
        OutputError: the writer failed (nothing is left behind).
    """
    if not isinstance(image, sitk.Image):
        raise TypeError(f"write_image expects a SimpleITK.Image, got {type(image).__name__}")
    path = Path(path)
    suffix = image_suffix(path)
    if suffix and suffix not in WRITABLE_SUFFIXES:
        raise UsageError(
            f"{path}: unsupported output format '{suffix}'; use one of {', '.join(WRITABLE_SUFFIXES)} "
            "or a path without a suffix for a DICOM series folder"
        )
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: already exists; pass overwrite=True to replace it")
    with atomic_path(path) as tmp:
        if suffix:
            _write_file(image, path, tmp, compress)
        else:
            _write_dicom_series(image, path, tmp, modality)
    return path


def grid_mismatch(a: sitk.Image, b: sitk.Image, *, tolerance: float = 1e-3) -> str:
    """Describe how two images' voxel grids differ; an empty string means they match.

    Args:
        a: first image (or an ``ImageFileReader`` after ``ReadImageInformation``: any object with
            ``GetSize``/``GetSpacing``/``GetOrigin``/``GetDirection``).
        b: second image (same kinds as ``a``).
        tolerance: allowed difference, relative to the smallest spacing for spacing and origin, absolute
            for direction cosines. The default tolerates float32 rounding in NIfTI headers.

    Returns:
        ``""`` when size, spacing, origin and direction agree, otherwise a short description.
    """
    size_a, size_b = tuple(a.GetSize()), tuple(b.GetSize())
    if size_a != size_b:
        return f"size {size_a} vs {size_b}"
    scale = min(min(a.GetSpacing()), min(b.GetSpacing()))
    checks = (
        ("spacing", a.GetSpacing(), b.GetSpacing(), tolerance * scale),
        ("origin", a.GetOrigin(), b.GetOrigin(), tolerance * scale),
        ("direction", a.GetDirection(), b.GetDirection(), tolerance),
    )
    for name, va, vb, tol in checks:
        if not np.allclose(va, vb, rtol=0.0, atol=tol):
            return f"{name} {_fmt(va)} vs {_fmt(vb)}"
    return ""


def _fmt(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in values) + ")"


def image_suffix(path: str | os.PathLike) -> str:
    """The lower-case format suffix of an image path (``.nii.gz`` kept whole); ``""`` when there is none."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return path.suffix.lower()


def _itk_reason(err: RuntimeError) -> str:
    """The informative last line of an ITK exception text (the rest is source locations)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else "unknown ITK error"


def _check_image_content(image: sitk.Image, path: Path, *, ndim: int | None, allow_nan: bool) -> None:
    if ndim is not None and image.GetDimension() != ndim:
        raise ImageFileError(
            f"{path}: expected a {ndim}-D image but it is {image.GetDimension()}-D with size {image.GetSize()}"
        )
    components = image.GetNumberOfComponentsPerPixel()
    if components != 1:
        raise ImageFileError(f"{path}: has {components} components per pixel; a scalar image is needed")
    if not allow_nan and image.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64):
        values = sitk.GetArrayViewFromImage(image)
        if not np.isfinite(values).all():
            bad = int(np.count_nonzero(~np.isfinite(values)))
            raise ImageFileError(f"{path}: contains {bad} NaN or infinite voxel values")


def _check_nifti(path: Path, allow_nan: bool) -> None:
    """Refuse truncated NIfTI files and NaN voxels, both of which ITK's NIfTI reader hides.

    ITK reads a truncated NIfTI file without complaint (the missing voxels become 0) and turns NaN
    voxels into 0, so the bytes are checked here: the data length against the header, and, for float
    data, every value.
    """
    suffix = image_suffix(path)
    if suffix not in (".nii", ".nii.gz"):
        return
    chunks = _byte_chunks(path, gzipped=suffix == ".nii.gz")
    head = bytearray()
    for chunk in chunks:
        head += chunk
        if len(head) >= 540:
            break
    layout = _nifti_layout(bytes(head[:540]))
    if layout is None:
        return
    start, end, float_dtype = layout
    scan_floats = float_dtype is not None and not allow_nan
    if suffix == ".nii" and not scan_floats:
        available, bad = path.stat().st_size, 0
    else:
        available, bad = _scan_bytes(bytes(head), chunks, start, end, float_dtype if scan_floats else None)
    if available < end:
        raise ImageFileError(f"{path}: the file is truncated ({available} bytes where the header needs {end})")
    if bad:
        raise ImageFileError(f"{path}: contains {bad} NaN or infinite voxel values")


def _byte_chunks(path: Path, *, gzipped: bool, size: int = 1 << 20) -> Iterator[bytes]:
    """The file's bytes (decompressed when gzipped) in chunks, without holding the whole file."""
    decompressor = zlib.decompressobj(wbits=31) if gzipped else None
    with open(path, "rb") as handle:
        while chunk := handle.read(size):
            if decompressor is None:
                yield chunk
                continue
            try:
                data = decompressor.decompress(chunk)
            except zlib.error as err:
                raise ImageFileError(f"{path}: corrupt gzip data ({err})") from None
            yield data
            if decompressor.eof:
                return
    if decompressor is not None and not decompressor.eof:
        raise ImageFileError(f"{path}: the file is truncated (the gzip stream ends early)")


def _scan_bytes(first: bytes, rest: Iterator[bytes], start: int, end: int, dtype: np.dtype | None) -> tuple[int, int]:
    """Total length of a byte stream and, if ``dtype`` is given, the non-finite values in [start, end)."""
    total = 0
    bad = 0
    pending = b""
    for chunk in itertools.chain([first], rest):
        if dtype is not None:
            lo, hi = max(start - total, 0), min(end - total, len(chunk))
            if hi > lo:
                data = pending + chunk[lo:hi]
                usable = len(data) - len(data) % dtype.itemsize
                bad += int(np.count_nonzero(~np.isfinite(np.frombuffer(data[:usable], dtype=dtype))))
                pending = data[usable:]
        total += len(chunk)
    return total, bad


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
            vox_offset = int(np.frombuffer(header[108:112], dtype=f"{order}f4")[0])
            break
        if sizeof_hdr == 540 and len(header) >= 540:
            datatype = int(np.frombuffer(header[12:14], dtype=f"{order}i2")[0])
            bitpix = int(np.frombuffer(header[14:16], dtype=f"{order}i2")[0])
            dims = np.frombuffer(header[16:80], dtype=f"{order}i8")
            vox_offset = int(np.frombuffer(header[168:176], dtype=f"{order}i8")[0])
            break
    else:
        return None
    ndim = int(dims[0])
    if not 1 <= ndim <= 7 or bitpix <= 0:
        return None
    start = max(vox_offset, sizeof_hdr)
    end = start + int(np.prod(np.maximum(dims[1 : ndim + 1], 1))) * bitpix // 8
    # NIfTI datatype codes 16 and 64 are float32 and float64 (complex types are not CT data).
    float_dtype = {16: np.dtype(f"{order}f4"), 64: np.dtype(f"{order}f8")}.get(datatype)
    return start, end, float_dtype


def _read_dicom_series(folder: Path, series_id: str | None) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    ids = list(reader.GetGDCMSeriesIDs(str(folder)))
    if not ids:
        raise ImageFileError(f"{folder}: no DICOM series found in this folder")
    if series_id is None:
        if len(ids) > 1:
            raise ImageFileError(f"{folder}: holds {len(ids)} DICOM series ({', '.join(ids)}); pass series_id")
        series_id = ids[0]
    elif series_id not in ids:
        raise ImageFileError(f"{folder}: no DICOM series '{series_id}' (present: {', '.join(ids)})")
    files = reader.GetGDCMSeriesFileNames(str(folder), series_id)
    reader.SetFileNames(files)
    try:
        return reader.Execute()
    except RuntimeError as err:
        raise ImageFileError(f"{folder}: cannot read DICOM series {series_id} ({_itk_reason(err)})") from None


def _write_file(image: sitk.Image, path: Path, tmp: Path, compress: bool) -> None:
    if image_suffix(path) == ".mha":
        # MetaImage cannot store arbitrary key/value pairs (ITK prints a warning for each one), and
        # NIfTI/DICOM header fields mean nothing there, so write a copy without them.
        image = sitk.Image(image)
        image.MakeUnique()  # a plain copy shares its metadata with the caller's image
        for key in image.GetMetaDataKeys():
            image.EraseMetaData(key)
    # ITK chooses the writer (and gzip) from a lower-case suffix: `OUT.NII.GZ` is written under a lower-case
    # twin of the temporary name, then moved onto it.
    suffix = image_suffix(path)
    written = tmp.with_name(tmp.name[: len(tmp.name) - len(suffix)] + suffix)
    try:
        sitk.WriteImage(image, str(written), useCompression=compress)
        if written != tmp:
            os.replace(written, tmp)
    except RuntimeError as err:
        raise OutputError(f"{path}: writing failed ({_itk_reason(err)})") from None
    except OSError as err:
        raise OutputError(f"{path}: writing failed ({err.strerror or err})") from err
    finally:
        if written != tmp:
            discard(written)


def _new_uid() -> str:
    # "2.25." + a UUID as an integer is the DICOM-sanctioned way to make a UID without an org root.
    return f"2.25.{uuid.uuid4().int}"


def _write_dicom_series(image: sitk.Image, path: Path, tmp: Path, modality: str) -> None:
    if image.GetDimension() != 3:
        raise UsageError(f"{path}: a DICOM series needs a 3-D image, got {image.GetDimension()}-D")
    if image.GetPixelID() not in _DICOM_PIXEL_TYPES:
        raise UsageError(
            f"{path}: DICOM series output supports uint8, int16 and uint16 pixels, "
            f"got {image.GetPixelIDTypeAsString()}; cast the image first"
        )
    tmp.mkdir()
    size = image.GetSize()
    series_tags = {
        "0008|0060": modality,
        "0008|0016": _CT_IMAGE_STORAGE if modality == "CT" else _SECONDARY_CAPTURE_STORAGE,
        "0020|000d": _new_uid(),
        "0020|000e": _new_uid(),
        "0020|0052": _new_uid(),
        "0008|103e": "written by condswin",
        "0018|0050": f"{image.GetSpacing()[2]:.6f}",
        "0028|1052": "0",
        "0028|1053": "1",
    }
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(size[2]):
        # A one-slice 3-D extract keeps origin and direction, so GDCM writes ImagePositionPatient and
        # ImageOrientationPatient from the geometry itself.
        slice_image = sitk.Extract(image, [size[0], size[1], 1], [0, 0, k])
        for key in slice_image.GetMetaDataKeys():
            slice_image.EraseMetaData(key)
        for key, value in series_tags.items():
            slice_image.SetMetaData(key, value)
        slice_image.SetMetaData("0020|0013", str(k + 1))
        slice_image.SetMetaData("0008|0018", _new_uid())
        writer.SetFileName(str(tmp / f"slice_{k:05d}.dcm"))
        try:
            writer.Execute(slice_image)
        except RuntimeError as err:
            raise OutputError(f"{path}: writing DICOM slice {k} failed ({_itk_reason(err)})") from None
