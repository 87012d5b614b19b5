"""Reading and writing medical images with SimpleITK, keeping spacing, origin and direction.

Any format SimpleITK reads is accepted on input (NIfTI, NRRD, MetaImage, a single DICOM file, or a folder
holding a DICOM series). Output goes to the single-file formats ``.nii``, ``.nii.gz``, ``.nrrd`` and
``.mha``, or to a DICOM series folder (a path without a suffix). Writes are atomic: the image is written
to a temporary name in the destination folder and renamed into place, so a failure leaves no partial file.

Every problem with an input is raised as :class:`ImageFileError` (an input error) whose message starts
with the offending path, once. What can be known from the header is checked before any pixel is read
(:mod:`condswin.io.image_checks`): a regular file, an intact gzip stream, at most :data:`MAX_VOXELS`
voxels, finite geometry with positive spacing and a non-singular direction, NIfTI and MetaImage data as
long as the header declares; a DICOM series must be evenly spaced (no missing or unreadable slice).
:func:`is_label_map` tells a segmentation from an intensity image.

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

import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import SimpleITK as sitk

from condswin.errors import InputError, InputNotFoundError, OutputError, OutputExistsError, UsageError
from condswin.io import image_checks
from condswin.io.atomic import atomic_path, discard
from condswin.io.formats import READABLE_SUFFIXES, WRITABLE_SUFFIXES, image_suffix
from condswin.io.image_checks import MAX_VOXELS, itk_reason
from condswin.io.segmentation_file import is_segmentation_file, write_segmentation_to

if TYPE_CHECKING:
    from condswin.bundles.contract import Label

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
    "write_image_to",
    "grid_mismatch",
    "is_label_map",
    "MAX_VOXELS",
]


_DICOM_PIXEL_TYPES = {sitk.sitkUInt8, sitk.sitkInt16, sitk.sitkUInt16}
# The ITK reader of each known suffix, chosen by us: ITK matches suffixes case-sensitively (it cannot read
# `CT.MHA` by itself) and, left to guess, blames a corrupt file on an "unknown format".
_IMAGE_IOS = {
    ".nii.gz": "NiftiImageIO",
    ".nii": "NiftiImageIO",
    ".nrrd": "NrrdImageIO",
    ".nhdr": "NrrdImageIO",
    ".mha": "MetaImageIO",
    ".mhd": "MetaImageIO",
}
_FORMAT_NAMES = {
    ".nii.gz": "NIfTI",
    ".nii": "NIfTI",
    ".nrrd": "NRRD",
    ".nhdr": "NRRD",
    ".mha": "MetaImage",
    ".mhd": "MetaImage",
}
# A label map has a handful of small non-negative integer values (condswin's have 0, 1 and 2).
_LABEL_MAP_MAX_VALUES = 8
_LABEL_MAP_MAX_LABEL = 255
_LABEL_MAP_SAMPLE = 1 << 18  # voxels looked at to count the distinct values
_INTEGER_PIXELS = {
    sitk.sitkUInt8,
    sitk.sitkInt8,
    sitk.sitkUInt16,
    sitk.sitkInt16,
    sitk.sitkUInt32,
    sitk.sitkInt32,
    sitk.sitkUInt64,
    sitk.sitkInt64,
}
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
        ImageFileError: the path is not a regular file or folder; the file is empty, truncated, corrupt
            (gzip included), unreadable, declares more than :data:`MAX_VOXELS` voxels, has NaN, zero or
            singular geometry, the wrong number of dimensions, is not scalar, or holds NaN/infinite
            values; a DICOM series has uneven slice spacing (a missing or unreadable slice). Everything
            that can be found from the header is found before any pixel is read.
    """
    path = Path(path)
    if path.is_dir():
        image = _read_dicom_series(path, series_id)
    else:
        reader = read_image_header(path)
        suffix = image_suffix(path)
        scan_floats = not allow_nan and reader.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64)
        if suffix in (".nii", ".nii.gz"):
            image_checks.check_nifti_data(path, suffix == ".nii.gz", scan_floats, ImageFileError)
        elif suffix in (".mha", ".mhd"):
            image_checks.check_metaimage_data(reader, path, ImageFileError)
        try:
            image = reader.Execute()
        except RuntimeError as err:
            raise ImageFileError(f"{path}: cannot be read as an image ({_read_failure(err, path)})") from None
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
        ImageFileError: the file is empty, a folder, a device or pipe, corrupt gzip, not an image, declares
            more than :data:`MAX_VOXELS` voxels, or has non-finite spacing/origin/direction, a spacing
            that is not positive or a singular direction.
    """
    path = Path(path)
    if path.is_dir():
        raise ImageFileError(f"{path}: is a folder; only single image files have a readable header")
    image_checks.check_regular_file(path, ImageFileError, ImageNotFoundError)
    image_checks.check_gzip_head(path, ImageFileError)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    io_name = _IMAGE_IOS.get(image_suffix(path))
    if io_name is not None:
        reader.SetImageIO(io_name)
    try:
        reader.ReadImageInformation()
    except RuntimeError as err:
        raise ImageFileError(f"{path}: cannot be read as {_format_name(path)} ({_read_failure(err, path)})") from None
    image_checks.check_header(reader, path, ImageFileError)
    if image_suffix(path) in (".nii", ".nii.gz"):
        image_checks.check_nifti_header(path, image_suffix(path) == ".nii.gz", ImageFileError)
    return reader


def write_image(
    image: sitk.Image,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    compress: bool = True,
    modality: str = "CT",
    segments: Sequence[Label] = (),
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
        segments: the classes of a labelmap (a card's labels): a path ending in ``.seg.nrrd`` is then written
            as 3D Slicer's segmentation file naming them (:mod:`condswin.io.segmentation_file`).

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
    _check_suffix(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: already exists; pass overwrite=True to replace it")
    with atomic_path(path) as tmp:
        write_image_to(image, tmp, name=path, compress=compress, modality=modality, segments=segments)
    return path


def write_image_to(
    image: sitk.Image,
    tmp: str | os.PathLike,
    *,
    name: str | os.PathLike,
    compress: bool = True,
    modality: str = "CT",
    segments: Sequence[Label] = (),
) -> None:
    """Write an image at ``tmp`` directly: for a temporary path that an atomic writer publishes.

    A single file is read back before this returns (its header, and for NIfTI every byte the header declares),
    so a write that fell short, such as on a full disk, is an error and not a truncated file.

    Args:
        image: the image to write (not modified).
        tmp: where the file (or DICOM series folder) goes; its name ends with ``name``'s suffix.
        name: the final path: its suffix chooses the format (see :func:`write_image`); messages name it.
        compress: compress the pixel data (NIfTI ``.nii`` is never compressed; DICOM ignores this).
        modality: DICOM Modality tag for series output.
        segments: the classes of a labelmap, named in a ``.seg.nrrd`` (see :func:`write_image`).

    Raises:
        UsageError: unsupported suffix, or an image a DICOM series cannot hold.
        OutputError: the writer failed, or the file written is incomplete.
    """
    if not isinstance(image, sitk.Image):
        raise TypeError(f"write_image_to expects a SimpleITK.Image, got {type(image).__name__}")
    path, tmp = Path(name), Path(tmp)
    if segments and is_segmentation_file(path):
        write_segmentation_to(image, segments, tmp, name=path)
    elif _check_suffix(path):
        _write_file(image, path, tmp, compress)
    else:
        _write_dicom_series(image, path, tmp, modality)


def _check_suffix(path: Path) -> str:
    """The output format suffix of ``path`` (``""``: a DICOM series folder); a UsageError for any other."""
    suffix = image_suffix(path)
    if suffix and suffix not in WRITABLE_SUFFIXES:
        raise UsageError(
            f"{path}: unsupported output format '{suffix}'; use one of {', '.join(WRITABLE_SUFFIXES)} "
            "or a path without a suffix for a DICOM series folder"
        )
    return suffix


class VoxelGrid(Protocol):
    """What :func:`grid_mismatch` reads: a SimpleITK image, or an ``ImageFileReader`` after
    ``ReadImageInformation``."""

    def GetSize(self) -> Sequence[int]: ...
    def GetSpacing(self) -> Sequence[float]: ...
    def GetOrigin(self) -> Sequence[float]: ...
    def GetDirection(self) -> Sequence[float]: ...


def grid_mismatch(a: VoxelGrid, b: VoxelGrid, *, tolerance: float = 1e-3) -> str:
    """Describe how two images' voxel grids differ; an empty string means they match.

    Args:
        a: first image (or an ``ImageFileReader`` after ``ReadImageInformation``).
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
            return f"{name} {image_checks.format_values(va)} vs {image_checks.format_values(vb)}"
    return ""


def is_label_map(image: sitk.Image) -> bool:
    """Whether an image looks like a label map (a segmentation) rather than an intensity image.

    True for an integer pixel type whose values are all in 0..255 with at most 8 distinct values: a CT or
    MR volume has hundreds. Cheap: the distinct values are counted on an evenly strided sample of about
    262 000 voxels; the 0..255 range is checked on every voxel. A constant integer image counts as a label
    map (an empty segmentation), since it is no usable intensity image either.

    Args:
        image: a scalar image (a vector image is never a label map).

    Returns:
        True when the image is probably a label map.
    """
    if image.GetPixelID() not in _INTEGER_PIXELS:
        return False
    values = sitk.GetArrayViewFromImage(image).ravel()
    if values.size == 0:
        return False
    step = max(1, values.size // _LABEL_MAP_SAMPLE)
    sample = np.unique(values[::step])
    if sample.size > _LABEL_MAP_MAX_VALUES:
        return False
    return int(values.min()) >= 0 and int(values.max()) <= _LABEL_MAP_MAX_LABEL


def _read_failure(err: RuntimeError, path: Path) -> str:
    """Why ITK could not read ``path``; for MetaImage, whose reader blames a missing file for any short read,
    the real reason (the header was read, so the pixel data part is what is missing or cut)."""
    reason = itk_reason(err, path)
    if image_suffix(path) in (".mha", ".mhd") and "No such file or directory" in str(err):
        return "truncated or missing pixel data"
    return reason


def _format_name(path: Path) -> str:
    return _FORMAT_NAMES.get(image_suffix(path), "an image")


def _check_image_content(image: sitk.Image, path: Path, *, ndim: int | None, allow_nan: bool) -> None:
    if ndim is not None and image.GetDimension() != ndim:
        raise ImageFileError(
            f"{path}: expected a {ndim}-D image but it is {image.GetDimension()}-D with size {image.GetSize()}"
        )
    # Formats whose header ITK reads apart (DICOM) or rewrites (NIfTI sform/qform) are checked on the result.
    image_checks.check_geometry(image.GetSpacing(), image.GetOrigin(), image.GetDirection(), path, ImageFileError)
    components = image.GetNumberOfComponentsPerPixel()
    if components != 1:
        raise ImageFileError(f"{path}: has {components} components per pixel; a scalar image is needed")
    if not allow_nan and image.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64):
        values = sitk.GetArrayViewFromImage(image)
        if not np.isfinite(values).all():
            bad = int(np.count_nonzero(~np.isfinite(values)))
            raise ImageFileError(f"{path}: contains {bad} NaN or infinite voxel values")


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
    # GDCM's list leaves out files it cannot parse (a truncated slice), sorted along the slice normal.
    files = reader.GetGDCMSeriesFileNames(str(folder), series_id)
    first = read_image_header(files[0])
    image_checks.check_voxel_count(
        (*first.GetSize()[:2], len(files)), first.GetNumberOfComponents(), folder, ImageFileError
    )
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()  # keeps each slice's tags, so positions cost no second read
    try:
        image = reader.Execute()
    except RuntimeError as err:
        raise ImageFileError(f"{folder}: cannot read DICOM series {series_id} ({itk_reason(err, folder)})") from None
    positions = _slice_positions(reader, len(files))
    if positions is not None and image.GetDimension() == 3:
        normal = np.asarray(image.GetDirection()).reshape(3, 3)[:, 2]
        image_checks.check_slice_spacing(folder, files, positions, normal, ImageFileError)
    return image


def _slice_positions(reader: sitk.ImageSeriesReader, count: int) -> list[tuple[float, ...]] | None:
    """ImagePositionPatient of every slice, or None when a slice lacks it (then ITK's spacing stands)."""
    positions: list[tuple[float, ...]] = []
    for index in range(count):
        if not reader.HasMetaDataKey(index, "0020|0032"):
            return None
        try:
            values = tuple(float(v) for v in reader.GetMetaData(index, "0020|0032").split("\\"))
        except ValueError:
            return None
        if len(values) != 3:
            return None
        positions.append(values)
    return positions


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
        _check_written(written, path)
        if written != tmp:
            os.replace(written, tmp)
    except RuntimeError as err:
        raise OutputError(f"{path}: writing failed ({itk_reason(err, written)})") from None
    except OutputError:
        raise
    except OSError as err:
        raise OutputError(f"{path}: writing failed ({err.strerror or err})") from err
    finally:
        if written != tmp:
            discard(written)


def _check_written(written: Path, path: Path) -> None:
    """Read back the header of a file ITK has just written and, for NIfTI, measure its data.

    ITK's NIfTI writer reports a short write (a full disk, a file size limit) only on stderr and returns as
    if it had succeeded; the file it leaves lacks data, or is cut inside its gzip stream.

    Raises:
        OutputError: naming ``path``: the file is incomplete.
    """

    def incomplete(detail: str) -> OutputError:
        detail = detail.removeprefix(f"{written}: ")
        return OutputError(f"{path}: writing failed, the file written is incomplete: {detail} (is the disk full?)")

    suffix = image_suffix(path)
    if suffix in (".nii", ".nii.gz"):
        image_checks.check_nifti_complete(written, suffix == ".nii.gz", incomplete)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(written))
    reader.SetImageIO(_IMAGE_IOS[suffix])
    try:
        reader.ReadImageInformation()
    except RuntimeError as err:
        raise incomplete(f"its header cannot be read back: {itk_reason(err, written)}") from None
    if suffix == ".mha":
        image_checks.check_metaimage_data(reader, written, incomplete)


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
        slice_path = tmp / f"slice_{k:05d}.dcm"
        writer.SetFileName(str(slice_path))
        try:
            writer.Execute(slice_image)
        except RuntimeError as err:
            raise OutputError(f"{path}: writing DICOM slice {k} failed ({itk_reason(err, slice_path)})") from None
