"""condswin.io.image_checks through read_image: hostile files are refused from their header, before any pixel
is read, with a message that names the file once and says what is wrong."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from condswin.errors import InputError
from condswin.io import image_checks
from condswin.io.image_checks import MAX_VOXELS, check_slice_spacing
from condswin.io.images import ImageFileError, is_label_map, read_image, read_image_header, write_image


def _small(dtype=np.int16) -> sitk.Image:
    image = sitk.GetImageFromArray(np.arange(120).reshape(4, 5, 6).astype(dtype))
    image.SetSpacing((0.8, 0.8, 2.5))
    return image


def _written(tmp_path: Path, name: str, image: sitk.Image | None = None) -> Path:
    path = tmp_path / name
    sitk.WriteImage(_small() if image is None else image, str(path))
    return path


@pytest.fixture
def no_pixel_read(monkeypatch):
    """Fail the test if ITK is asked for pixels: the check under test must refuse from the header."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("the pixels were read before the file was refused")

    monkeypatch.setattr(sitk.ImageFileReader, "Execute", refuse)
    monkeypatch.setattr(sitk, "ReadImage", refuse)


def _nifti_header_declaring(tmp_path: Path, dims: tuple[int, int, int]) -> bytes:
    header = bytearray(_written(tmp_path, "base.nii").read_bytes()[:352])
    struct.pack_into("<8h", header, 40, 3, *dims, 1, 1, 1, 1)
    return bytes(header)


def _assert_names_file_once(err: pytest.ExceptionInfo, path: Path) -> None:
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert message.count(path.name) == 1, message  # the path is not repeated by ITK's own text


def test_tiny_nii_gz_declaring_gigabytes_is_refused_before_reading(tmp_path: Path, no_pixel_read) -> None:
    # 2048 x 2048 x 384 int16 = 3 GiB declared by a ~100-byte file: ITK would allocate it all first.
    path = tmp_path / "forged.nii.gz"
    path.write_bytes(gzip.compress(_nifti_header_declaring(tmp_path, (2048, 2048, 384))))
    assert path.stat().st_size < 2000
    with pytest.raises(ImageFileError, match=r"truncated.*header declares 3221225824 bytes") as err:
        read_image(path)
    _assert_names_file_once(err, path)


def test_nii_gz_shorter_than_declared_is_refused_from_the_stream(tmp_path: Path, no_pixel_read) -> None:
    # Within what gzip could hold (so the ratio bound passes): the decompressed length must be counted.
    data = _nifti_header_declaring(tmp_path, (64, 64, 64)) + bytes(64 * 64 * 63 * 2)
    path = tmp_path / "short.nii.gz"
    path.write_bytes(gzip.compress(data))
    with pytest.raises(ImageFileError, match=r"short\.nii\.gz: the file is truncated \(\d+ bytes where"):
        read_image(path)


def test_gzip_stream_is_decompressed_in_bounded_chunks(tmp_path: Path) -> None:
    # 16 MB of zeros compress to ~16 KB: one unbounded decompress call would materialise all of it.
    path = tmp_path / "zeros.nii.gz"
    with gzip.open(path, "wb") as handle:
        for _ in range(16):
            handle.write(bytes(1 << 20))
    sizes = [len(chunk) for chunk in image_checks._byte_chunks(path, True, ImageFileError)]
    assert sum(sizes) == 16 << 20
    assert max(sizes) <= 1 << 20


def test_concatenated_gzip_members_are_one_stream(tmp_path: Path) -> None:
    whole = _written(tmp_path, "whole.nii").read_bytes()
    path = tmp_path / "two_members.nii.gz"
    path.write_bytes(gzip.compress(whole[:400]) + gzip.compress(whole[400:]))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(read_image(path)), sitk.GetArrayFromImage(_small()))


@pytest.mark.parametrize("name", ["big.nrrd", "big.mha"])
def test_voxel_limit_applies_to_every_format_from_the_header(tmp_path: Path, name: str, no_pixel_read) -> None:
    path = _written(tmp_path, name)
    data = path.read_bytes()
    key = b"sizes: 6 5 4" if name.endswith(".nrrd") else b"DimSize = 6 5 4"
    path.write_bytes(data.replace(key, key.replace(b"6 5 4", b"60000 50000 40000")))
    with pytest.raises(ImageFileError, match=r"declares 60000 x 50000 x 40000 voxels.*above the limit") as err:
        read_image(path)
    _assert_names_file_once(err, path)
    with pytest.raises(ImageFileError, match="above the limit"):
        read_image_header(path)


def test_voxel_limit_is_the_module_constant(tmp_path: Path, monkeypatch) -> None:
    path = _written(tmp_path, "ok.nrrd")
    monkeypatch.setattr(image_checks, "MAX_VOXELS", 119)  # the image has 120 voxels
    with pytest.raises(ImageFileError, match="above the limit of 119"):
        read_image(path)
    monkeypatch.setattr(image_checks, "MAX_VOXELS", 120)
    assert read_image(path).GetSize() == (6, 5, 4)
    assert MAX_VOXELS == 2**31


def test_raw_mhd_without_its_data_file(tmp_path: Path, no_pixel_read) -> None:
    path = _written(tmp_path, "scan.mhd")
    (tmp_path / "scan.raw").unlink()
    with pytest.raises(ImageFileError, match=r"truncated or missing pixel data: the data file scan\.raw does not"):
        read_image(path)
    huge = tmp_path / "huge.mhd"
    huge.write_text(path.read_text().replace("DimSize = 6 5 4", "DimSize = 100000 100000 1000"))
    with pytest.raises(ImageFileError, match="above the limit"):
        read_image(huge)


def test_truncated_mha_says_so_instead_of_no_such_file(tmp_path: Path) -> None:
    path = _written(tmp_path, "cut.mha")
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(ImageFileError, match=r"truncated or missing pixel data.*190 bytes where.*240") as err:
        read_image(path)
    assert "No such file" not in str(err.value)
    _assert_names_file_once(err, path)


def test_truncated_compressed_mha_is_named_by_the_reader_fallback(tmp_path: Path) -> None:
    path = tmp_path / "cut.mha"
    sitk.WriteImage(_small(), str(path), useCompression=True)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ImageFileError) as err:
        read_image(path)
    assert "No such file" not in str(err.value)
    _assert_names_file_once(err, path)


def test_corrupt_gzip_is_called_corrupt(tmp_path: Path) -> None:
    data = bytearray(_written(tmp_path, "good.nii.gz").read_bytes())
    data[10:40] = bytes(b ^ 0xFF for b in data[10:40])
    path = tmp_path / "corrupt.nii.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageFileError, match=r"corrupt\.nii\.gz: corrupt gzip data") as err:
        read_image(path)
    assert "ImageIO" not in str(err.value)
    with pytest.raises(ImageFileError, match="corrupt gzip data"):
        read_image_header(path)


def test_non_regular_files_are_refused_up_front(tmp_path: Path) -> None:
    with pytest.raises(ImageFileError, match=r"^/dev/zero: not a regular file"):
        read_image("/dev/zero")
    fifo = tmp_path / "pipe.nii"
    os.mkfifo(fifo)  # opening it would block forever
    with pytest.raises(ImageFileError, match="not a regular file"):
        read_image(fifo)
    with pytest.raises(ImageFileError, match="not a regular file"):
        read_image_header(fifo)


def test_unknown_format_message_names_the_file_once(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(ImageFileError, match="not a file format SimpleITK can read") as err:
        read_image(path)
    _assert_names_file_once(err, path)


def test_upper_case_suffixes_are_read(tmp_path: Path) -> None:
    for name in ("CT.MHA", "CT.NII.GZ", "CT.NRRD"):
        image = read_image(_written(tmp_path, name.lower()).rename(tmp_path / name))
        assert image.GetSize() == (6, 5, 4)


def _nifti_with(tmp_path: Path, name: str, edits: list[tuple[str, int, float]]) -> Path:
    data = bytearray(_written(tmp_path, "geometry.nii").read_bytes())
    for fmt, offset, value in edits:
        struct.pack_into(fmt, data, offset, value)
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    "edits, field",
    [
        ([("<f", 292, float("nan"))], "origin"),  # srow_x[3]: the sform's x offset
        ([("<f", 280, float("nan"))], "direction"),  # srow_x[0]
        # ITK falls back to the qform here, another reader would not: the file is refused all the same.
        ([("<f", 280, float("inf"))], "NIfTI sform"),
        ([("<f", 256, float("nan"))], "NIfTI qform"),  # quatern_b, with the sform unused
        ([("<f", 84, float("nan"))], "NIfTI voxel size"),  # pixdim[2]
    ],
)
def test_non_finite_nifti_geometry_is_refused(tmp_path: Path, edits, field, no_pixel_read) -> None:
    if field == "NIfTI qform":
        edits = [*edits, ("<h", 254, 0)]  # sform_code 0: ITK reads the qform
    path = _nifti_with(tmp_path, "nan.nii", edits)
    with pytest.raises(ImageFileError, match=rf"nan\.nii: the {field} .* is not finite"):
        read_image(path)


def test_zero_spacing_and_singular_direction_are_refused(tmp_path: Path) -> None:
    mha = _written(tmp_path, "z.mha")
    mha.write_bytes(mha.read_bytes().replace(b"ElementSpacing = 0.80000000000000004", b"ElementSpacing = 0"))
    with pytest.raises(ImageFileError, match=r"z\.mha: the spacing \(0, 0\.8, 2\.5\) must be positive"):
        read_image(mha)
    nrrd = _written(tmp_path, "s.nrrd")
    nrrd.write_bytes(nrrd.read_bytes().replace(b"(0,0.80000000000000004,0)", b"(0.80000000000000004,0,0)"))
    with pytest.raises(ImageFileError, match=r"s\.nrrd: the direction .* is singular"):
        read_image(nrrd)


def _series(tmp_path: Path, slices: int = 12) -> Path:
    image = sitk.GetImageFromArray(np.random.default_rng(0).integers(0, 1000, (slices, 8, 8)).astype(np.int16))
    image.SetSpacing((0.8, 0.8, 2.5))
    return write_image(image, tmp_path / "series")


def test_dicom_series_with_a_truncated_slice_is_refused(tmp_path: Path) -> None:
    folder = _series(tmp_path)
    assert read_image(folder).GetSpacing()[2] == pytest.approx(2.5)
    broken = sorted(folder.glob("*.dcm"))[5]
    broken.write_bytes(broken.read_bytes()[:-20])  # GDCM leaves the file out; ITK would stretch the volume
    with pytest.raises(ImageFileError, match=r"slices 5-6 of 11 .* are 5 mm apart, the others 2\.5 mm") as err:
        read_image(folder)
    assert str(err.value).startswith(f"{folder}: uneven slice spacing")
    assert "slice_00004.dcm, slice_00006.dcm" in str(err.value)


def test_dicom_series_with_a_missing_slice_is_refused(tmp_path: Path) -> None:
    folder = _series(tmp_path)
    sorted(folder.glob("*.dcm"))[3].unlink()
    with pytest.raises(ImageFileError, match="slices 3-4 of 11"):
        read_image(folder)


def test_dicom_series_voxel_limit_counts_every_file_before_reading(tmp_path: Path, monkeypatch) -> None:
    folder = _series(tmp_path)  # 8 x 8 x 12 voxels

    def refuse(self, *args, **kwargs):
        raise AssertionError("the series was read before it was refused")

    monkeypatch.setattr(image_checks, "MAX_VOXELS", 8 * 8 * 12 - 1)
    monkeypatch.setattr(sitk.ImageSeriesReader, "Execute", refuse)
    with pytest.raises(ImageFileError, match=r"series: the header declares 8 x 8 x 12 voxels"):
        read_image(folder)


def test_slice_spacing_tolerance() -> None:
    normal = (0.0, 0.0, 1.0)
    files = [f"s{i}.dcm" for i in range(6)]
    z = np.arange(6) * 2.5
    jitter = z + np.array([0, 0.01, -0.01, 0.005, 0, 0])  # < 1 % of 2.5 mm: scanner rounding, accepted
    check_slice_spacing(Path("d"), files, [(0, 0, v) for v in jitter], normal, ImageFileError)
    uneven = z.copy()
    uneven[4:] += 0.1  # one gap 4 % wider
    with pytest.raises(ImageFileError, match="slices 4-5 of 6 .* 2.6 mm apart, the others 2.5 mm"):
        check_slice_spacing(Path("d"), files, [(0, 0, v) for v in uneven], normal, ImageFileError)
    with pytest.raises(ImageFileError, match="0 mm apart"):  # every slice at one place
        check_slice_spacing(Path("d"), files[:3], [(0, 0, 1.0)] * 3, normal, ImageFileError)
    # Positions along an oblique normal: only the component along the normal counts.
    oblique = np.array([0.0, 0.6, 0.8])
    points = [tuple(oblique * v + np.array([5.0, -0.8 * v, 0.6 * v])) for v in z]
    check_slice_spacing(Path("d"), files, points, oblique, ImageFileError)


def test_errors_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        read_image("/dev/zero")


@pytest.mark.parametrize(
    "array, expected",
    [
        (np.array([0, 1, 2] * 40, np.uint8), True),
        (np.array([0, 1] * 60, np.int16), True),
        (np.zeros(120, np.int32), True),  # an empty segmentation
        (np.arange(120) % 9, False),  # nine distinct values: more than a label map has
        (np.array([0, 1, 300] * 40, np.int16), False),  # a label above 255
        (np.array([-1024, 0, 1] * 40, np.int16), False),  # CT-like negative values
        (np.array([0.0, 1.0] * 60, np.float32), False),  # float: an intensity image
        (np.random.default_rng(0).integers(-1000, 2000, 120).astype(np.int16), False),
    ],
)
def test_is_label_map(array: np.ndarray, expected: bool) -> None:
    assert is_label_map(sitk.GetImageFromArray(array.reshape(4, 5, 6))) is expected


def test_is_label_map_checks_the_range_on_every_voxel() -> None:
    # A large label map with one stray value outside 0..255 that the strided sample misses.
    values = np.zeros((64, 64, 200), np.uint16)  # 819 200 voxels: the sample takes every third
    values[0, 0, 1] = 4000
    image = sitk.GetImageFromArray(values)
    assert is_label_map(image) is False
    values[0, 0, 1] = 2
    assert is_label_map(sitk.GetImageFromArray(values)) is True


def test_is_label_map_on_a_real_segmentation(shared_data: Path) -> None:
    seg = read_image(shared_data / "ct" / "segmentation-3001.nii.gz")
    ct = read_image(shared_data / "ct" / "volume-3001.nii.gz")
    assert is_label_map(ct) is False
    assert seg.GetPixelID() == sitk.sitkUInt8 and is_label_map(seg) is True
