"""condswin.io.images: round trips keep pixels and geometry; bad files give errors naming the file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from condswin.errors import OutputError, OutputExistsError, UsageError
from condswin.io.images import (
    ImageFileError,
    ImageNotFoundError,
    grid_mismatch,
    read_image,
    read_image_header,
    write_image,
)


def _rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return z @ y @ x


def _oblique_ct(dtype=np.int16, size=(7, 6, 5)) -> sitk.Image:
    """A small image with anisotropic spacing and an oblique (right-handed) direction."""
    rng = np.random.default_rng(3)
    array = rng.integers(-1024, 2000, size=size[::-1]).astype(dtype)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.71, 0.83, 2.5))
    image.SetOrigin((-120.25, 33.5, -410.125))
    image.SetDirection(tuple(_rotation(0.2, -0.1, 0.35).ravel()))
    return image


def _assert_same(a: sitk.Image, b: sitk.Image, atol: float = 1e-5) -> None:
    np.testing.assert_array_equal(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b))
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), atol=atol)
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), atol=atol)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), atol=atol)


@pytest.mark.parametrize("name", ["ct.nii.gz", "ct.nii", "ct.nrrd", "ct.mha"])
def test_file_round_trip_keeps_pixels_and_oblique_geometry(tmp_path: Path, name: str) -> None:
    image = _oblique_ct()
    written = write_image(image, tmp_path / name)
    back = read_image(written)
    assert back.GetPixelID() == sitk.sitkInt16
    _assert_same(image, back)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary files left


@pytest.mark.parametrize("name", ["m.mha", "m.nrrd", "dicom"])
def test_writing_leaves_the_input_image_untouched(tmp_path: Path, name: str) -> None:
    image = _oblique_ct()
    image.SetMetaData("descrip", "keep me")
    before = sitk.GetArrayFromImage(image).copy()
    write_image(image, tmp_path / name)
    assert image.GetMetaData("descrip") == "keep me"
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), before)


def test_float_image_round_trip(tmp_path: Path) -> None:
    image = sitk.Cast(_oblique_ct(), sitk.sitkFloat32) * 0.5
    back = read_image(write_image(image, tmp_path / "f.nrrd"))
    _assert_same(image, back)


def test_dicom_series_round_trip(tmp_path: Path) -> None:
    image = _oblique_ct()
    folder = write_image(image, tmp_path / "series")
    assert folder.is_dir() and len(list(folder.glob("*.dcm"))) == image.GetSize()[2]
    back = read_image(folder)
    # DICOM stores positions as decimal strings: geometry survives to ~1e-6 mm, pixels exactly.
    _assert_same(image, back, atol=1e-4)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(sorted(folder.glob("*.dcm"))[0]))
    reader.ReadImageInformation()
    assert reader.GetMetaData("0008|0060").strip() == "CT"


def test_dicom_left_handed_direction_comes_back_reversed_but_physically_equal(tmp_path: Path) -> None:
    image = _oblique_ct()
    direction = np.array(image.GetDirection()).reshape(3, 3)
    direction[:, 2] *= -1.0  # determinant -1: DICOM cannot store this frame
    image.SetDirection(tuple(direction.ravel()))
    back = read_image(write_image(image, tmp_path / "series"))
    assert np.linalg.det(np.array(back.GetDirection()).reshape(3, 3)) > 0
    flipped = sitk.GetArrayFromImage(image)[::-1]
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), flipped)
    last = image.GetSize()[2] - 1
    np.testing.assert_allclose(
        back.TransformIndexToPhysicalPoint((2, 3, 0)), image.TransformIndexToPhysicalPoint((2, 3, last)), atol=1e-4
    )


def test_dicom_refuses_float_and_leaves_nothing(tmp_path: Path) -> None:
    image = sitk.Cast(_oblique_ct(), sitk.sitkFloat32)
    with pytest.raises(UsageError, match=r"series.*int16"):
        write_image(image, tmp_path / "series")
    assert list(tmp_path.iterdir()) == []


def test_write_refuses_overwrite_unless_asked(tmp_path: Path) -> None:
    path = write_image(_oblique_ct(), tmp_path / "a.nii.gz")
    other = sitk.GetImageFromArray(np.zeros((2, 3, 4), np.int16))
    with pytest.raises(OutputExistsError, match="a.nii.gz"):
        write_image(other, path)
    assert read_image(path).GetSize() == (7, 6, 5)
    write_image(other, path, overwrite=True)
    assert read_image(path).GetSize() == (4, 3, 2)
    series = write_image(_oblique_ct(), tmp_path / "s")
    with pytest.raises(OutputExistsError):
        write_image(_oblique_ct(), series)
    write_image(sitk.Cast(other, sitk.sitkInt16), series, overwrite=True)
    assert read_image(series).GetSize() == (4, 3, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nii.gz", "s"]


def test_write_rejects_unknown_suffix_and_failure_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(UsageError, match=r"out\.png.*unsupported"):
        write_image(_oblique_ct(), tmp_path / "out.png")

    def broken_writer(*args, **kwargs):
        Path(args[1]).write_bytes(b"partial")  # a writer that dies half-way
        raise RuntimeError("disk full")

    monkeypatch.setattr(sitk, "WriteImage", broken_writer)
    with pytest.raises(OutputError, match=r"out\.nii\.gz.*disk full"):
        write_image(_oblique_ct(), tmp_path / "out.nii.gz")
    assert list(tmp_path.iterdir()) == []


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFoundError, match="nope.nii.gz"):
        read_image(tmp_path / "nope.nii.gz")
    empty = tmp_path / "empty.nii.gz"
    empty.write_bytes(b"")
    with pytest.raises(ImageFileError, match=r"empty\.nii\.gz.*empty"):
        read_image(empty)
    with pytest.raises(ImageFileError, match="empty"):
        read_image_header(empty)
    junk = tmp_path / "junk.nrrd"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(ImageFileError, match="junk.nrrd"):
        read_image(junk)
    with pytest.raises(ImageFileError, match="no DICOM series"):
        read_image(tmp_path)


@pytest.mark.parametrize("name", ["cut.nii.gz", "cut.nii"])
def test_truncated_nifti_is_refused(tmp_path: Path, name: str) -> None:
    # ITK itself reads truncated NIfTI silently, filling the missing voxels with zeros.
    whole = write_image(_oblique_ct(size=(40, 40, 20)), tmp_path / ("whole" + name[3:]), compress=True)
    data = whole.read_bytes()
    if name.endswith(".nii"):
        data = data[: len(data) - 1000]
    else:
        raw = gzip.decompress(data)
        data = gzip.compress(raw)[: len(gzip.compress(raw)) // 2]
    cut = tmp_path / name
    cut.write_bytes(data)
    with pytest.raises(ImageFileError, match=rf"{name}.*truncated"):
        read_image(cut)


def test_four_d_vector_and_nan_images_are_refused(tmp_path: Path) -> None:
    four_d = sitk.JoinSeries([sitk.Image([4, 5, 3], sitk.sitkInt16)] * 2)
    sitk.WriteImage(four_d, str(tmp_path / "t.nii.gz"))
    with pytest.raises(ImageFileError, match=r"t\.nii\.gz.*3-D.*4-D"):
        read_image(tmp_path / "t.nii.gz")
    assert read_image(tmp_path / "t.nii.gz", ndim=None).GetDimension() == 4

    vector = sitk.GetImageFromArray(np.zeros((3, 4, 5, 3), np.float32), isVector=True)
    sitk.WriteImage(vector, str(tmp_path / "v.nrrd"))
    with pytest.raises(ImageFileError, match=r"v\.nrrd.*3 components"):
        read_image(tmp_path / "v.nrrd")


@pytest.mark.parametrize("name", ["n.nii.gz", "n.nii", "n.nrrd"])
def test_nan_voxels_are_refused(tmp_path: Path, name: str) -> None:
    values = np.zeros((3, 4, 5), np.float32)
    values[1, 2, 3] = np.nan
    values[2, 0, 0] = np.inf
    sitk.WriteImage(sitk.GetImageFromArray(values), str(tmp_path / name))
    with pytest.raises(ImageFileError, match=rf"{name}.*2 NaN or infinite"):
        read_image(tmp_path / name)
    # Accepted on request; ITK's NIfTI reader itself turns NaN into 0, other formats keep it.
    kept = np.isnan(sitk.GetArrayFromImage(read_image(tmp_path / name, allow_nan=True))).sum()
    assert kept == (0 if ".nii" in name else 1)


def test_grid_mismatch_reports_what_differs() -> None:
    a = _oblique_ct()
    b = sitk.Image(a)
    assert grid_mismatch(a, b) == ""
    b.SetOrigin(tuple(np.add(a.GetOrigin(), (0.0, 0.0, 1.0))))
    assert grid_mismatch(a, b).startswith("origin")
    b.SetOrigin(tuple(np.add(a.GetOrigin(), (0.0, 0.0, 1e-5))))  # float32 header rounding
    assert grid_mismatch(a, b) == ""
    c = sitk.Image([7, 6, 4], sitk.sitkInt16)
    assert grid_mismatch(a, c).startswith("size")


@pytest.mark.parametrize("case", ["3001", "2002"])
def test_real_ct_samples_read_with_sitk_geometry(shared_data: Path, case: str, tmp_path: Path) -> None:
    for stem in (f"volume-{case}", f"segmentation-{case}"):
        path = shared_data / "ct" / f"{stem}.nii.gz"
        ours = read_image(path)
        reference = sitk.ReadImage(str(path))
        _assert_same(reference, ours, atol=0.0)
        header = read_image_header(path)
        assert header.GetSize() == reference.GetSize()
    ct = read_image(shared_data / "ct" / f"volume-{case}.nii.gz")
    assert ct.GetPixelID() == sitk.sitkInt16
    # The real (non-identity direction for 2002) geometry survives every output format.
    for name in ("c.nrrd", "c.mha", "dicom"):
        _assert_same(ct, read_image(write_image(ct, tmp_path / name)), atol=1e-4)
