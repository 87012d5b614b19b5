"""fastMRI h5 files: round trips, header geometry, the real phantom sample and clear errors on bad files."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from condswin.cli import main as condswin_main
from condswin.errors import CondswinWarning, InputError, InputNotFoundError
from condswin.mri import fastmri
from condswin.mri.fastmri import FastMRIFileError, make_ismrmrd_header, parse_ismrmrd_header
from condswin.mri.kspace import zero_filled
from condswin.mri.masks import create_mask


def _kspace(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def _files_in(folder):
    return sorted(p.name for p in folder.iterdir())


def test_singlecoil_round_trip_with_spacing(tmp_path):
    k = _kspace((3, 24, 18))
    target = np.abs(zero_filled(k, crop=(16, 16))).astype(np.float32)
    path = fastmri.write(
        tmp_path / "file_a.h5",
        k,
        target,
        spacing=(3.0, 0.5, 0.6),
        attrs={"acquisition": "CORPD_FBK", "patient_id": "p1"},
    )
    vol = fastmri.read(path)
    np.testing.assert_array_equal(vol.kspace, k)
    np.testing.assert_array_equal(vol.target, target)
    assert vol.mask is None and not vol.is_multicoil
    assert vol.target_key == "reconstruction_esc"
    assert vol.spacing == pytest.approx((3.0, 0.5, 0.6))
    assert vol.geometry.encoded_matrix == (24, 18, 1) and vol.geometry.recon_matrix == (16, 16, 1)
    assert vol.geometry.encoded_spacing == pytest.approx((3.0, 0.5, 0.6))
    assert vol.attrs["acquisition"] == "CORPD_FBK" and vol.attrs["patient_id"] == "p1"
    assert vol.attrs["max"] == pytest.approx(float(target.max()))
    assert vol.attrs["norm"] == pytest.approx(float(np.linalg.norm(target)))
    assert vol.recon_shape == (16, 16)
    assert _files_in(tmp_path) == ["file_a.h5"]  # no temporary file left behind


def test_multicoil_and_test_file_round_trip(tmp_path):
    k = _kspace((2, 4, 20, 16))
    target = np.random.default_rng(1).random((2, 12, 12)).astype(np.float32)
    vol = fastmri.read(fastmri.write(tmp_path / "mc.h5", k, target))
    assert vol.is_multicoil and vol.target_key == "reconstruction_rss"
    np.testing.assert_array_equal(vol.kspace, k)
    np.testing.assert_array_equal(vol.target, target)

    mask, num_low = create_mask("equispaced_fraction", 16, 4, 0.08, seed=(1, 2, 3))
    masked = k * mask
    path = fastmri.write(
        tmp_path / "test.h5", masked, mask=mask, attrs={"acceleration": 4, "num_low_frequency": num_low}
    )
    vol = fastmri.read(path)
    assert vol.target is None and vol.target_key is None
    np.testing.assert_array_equal(vol.mask, mask)
    assert vol.mask.dtype == bool
    assert vol.attrs["acceleration"] == 4 and vol.attrs["num_low_frequency"] == num_low
    assert "max" not in vol.attrs  # no target, so no target statistics
    assert vol.recon_shape == (20, 16)


def test_header_xml_passes_through_and_slices_read(tmp_path):
    xml = make_ismrmrd_header((640, 368, 1), (280.0, 280.0, 4.5), (320, 320, 1), (140.0, 140.0, 3.0))
    k = _kspace((4, 8, 6))
    vol = fastmri.read(fastmri.write(tmp_path / "knee.h5", k, header_xml=xml), slices=2)
    assert vol.header_xml == xml
    assert vol.spacing == pytest.approx((3.0, 140 / 320, 140 / 320))
    np.testing.assert_array_equal(vol.kspace, k[2:3])
    vol_last = fastmri.read(tmp_path / "knee.h5", slices=-1)
    np.testing.assert_array_equal(vol_last.kspace, k[3:4])
    np.testing.assert_array_equal(fastmri.read(tmp_path / "knee.h5", slices=slice(1, 3)).kspace, k[1:3])
    with pytest.raises(FastMRIFileError, match="out of range"):
        fastmri.read(tmp_path / "knee.h5", slices=4)


def test_header_padding_matches_fastmri_formula():
    xml = make_ismrmrd_header((640, 372, 1), (280.0, 280.0, 4.5), (320, 320, 1), (140.0, 140.0, 3.0))
    xml = xml.replace("<maximum>371</maximum><center>186</center>", "<maximum>355</maximum><center>178</center>")
    geom = parse_ismrmrd_header(xml)
    # fastMRI: left = enc_y // 2 - center = 186 - 178, right = left + maximum + 1
    assert geom.padding == (8, 8 + 356)


def test_real_phantom_sample(shared_data):
    path = shared_data / "kspace" / "phantom_twix_gre_vcoil.h5"
    vol = fastmri.read(path)
    assert vol.kspace.shape == (1, 640, 368) and vol.kspace.dtype == np.complex64
    assert vol.target.shape == (1, 320, 320)
    assert vol.spacing == pytest.approx((5.0, 1.0, 1.0))  # reconSpace 320 mm over 320 pixels, 5 mm slice
    assert vol.attrs["max"] == pytest.approx(float(vol.target.max()))
    # the file's target is the zero-filled (fully sampled) reconstruction cropped to 320x320
    recon = zero_filled(vol.kspace, crop=(320, 320))
    np.testing.assert_allclose(recon, vol.target, rtol=1e-4, atol=1e-6 * vol.target.max())
    # undersampling with the fastMRI mask visibly degrades it
    mask, _ = create_mask("random", 368, 4, 0.08, seed=tuple(map(ord, path.name)))
    degraded = zero_filled(vol.kspace, mask=mask, crop=(320, 320))
    assert np.abs(degraded - vol.target).mean() > 1e-3 * vol.target.max()


def _expect_error(path, *fragments):
    with pytest.raises(FastMRIFileError) as info:
        fastmri.read(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


def test_bad_files_give_clear_errors(tmp_path):
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    _expect_error(empty, "empty")

    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"this is not hdf5" * 100)
    _expect_error(junk, "not a readable")

    good = fastmri.write(tmp_path / "good.h5", _kspace((2, 64, 64)))
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    _expect_error(truncated, "not a readable")

    no_kspace = tmp_path / "no_kspace.h5"
    with h5py.File(no_kspace, "w") as f:
        f["reconstruction_esc"] = np.zeros((1, 4, 4), np.float32)
    _expect_error(no_kspace, "no 'kspace'", "reconstruction_esc")

    real = tmp_path / "real.h5"
    with h5py.File(real, "w") as f:
        f["kspace"] = np.zeros((1, 4, 4), np.float32)
    _expect_error(real, "complex")

    nan = tmp_path / "nan.h5"
    with h5py.File(nan, "w") as f:
        data = _kspace((1, 4, 4))
        data[0, 1, 1] = np.nan
        f["kspace"] = data
    _expect_error(nan, "NaN")

    bad_mask = tmp_path / "bad_mask.h5"
    with h5py.File(bad_mask, "w") as f:
        f["kspace"] = _kspace((1, 4, 6))
        f["mask"] = np.ones(5, bool)
    _expect_error(bad_mask, "mask", "6 columns")

    bad_xml = tmp_path / "bad_xml.h5"
    with h5py.File(bad_xml, "w") as f:
        f["kspace"] = _kspace((1, 4, 6))
        f["ismrmrd_header"] = b"<ismrmrdHeader><encoding>"
    _expect_error(bad_xml, "not valid XML")

    with pytest.raises(InputNotFoundError, match="missing.h5"):
        fastmri.read(tmp_path / "missing.h5")
    with pytest.raises(FastMRIFileError, match="not a regular file"):
        fastmri.read("/dev/zero")
    with pytest.raises(FastMRIFileError, match="not a regular file"):
        fastmri.read(tmp_path)


def _file_with(path, **datasets):
    """An h5 file with the given datasets; a value of "group" makes a group of that name instead."""
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            if isinstance(value, str) and value == "group":
                f.create_group(key).create_dataset("inside", data=np.zeros(3))
            elif isinstance(value, tuple):  # (shape, dtype): declared, never written
                f.create_dataset(key, shape=value[0], dtype=value[1])
            else:
                f[key] = value
    return path


@pytest.fixture
def no_dataset_read(monkeypatch):
    """Fail the test if any dataset is read: the schema check must refuse the file from metadata alone."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("a dataset was read before the file was refused")

    monkeypatch.setattr(h5py.Dataset, "__getitem__", refuse)


@pytest.mark.parametrize(
    "datasets, fragments",
    [
        ({"kspace": "group"}, ["'kspace' must be a dataset, but it is a group"]),
        ({"kspace": _kspace((1, 4, 6)), "reconstruction_esc": "group"}, ["'reconstruction_esc' must be a dataset"]),
        ({"kspace": _kspace((1, 4, 6)), "mask": "group"}, ["'mask' must be a dataset"]),
        ({"kspace": _kspace((1, 4, 6)), "ismrmrd_header": "group"}, ["'ismrmrd_header' must be a dataset"]),
        ({"kspace": _kspace((1, 4, 6)), "ismrmrd_header": np.zeros((2, 3))}, ["ismrmrd_header must be one XML"]),
        ({"kspace": _kspace((1, 4, 6)), "reconstruction_esc": _kspace((1, 4, 6))}, ["must be a real image"]),
        ({"kspace": _kspace((1, 4, 6)), "reconstruction_esc": np.zeros((2, 4, 4))}, ["with 1 slices like kspace"]),
        ({"kspace": _kspace((1, 4, 6)), "mask": np.ones((6, 1), bool)}, ["mask must be 1-D with 6 columns"]),
        ({"kspace": _kspace((1, 4, 6)), "mask": np.array([b"a"] * 6)}, ["mask must be 1-D"]),
        ({"kspace": ((0, 4, 6), np.complex64)}, ["kspace is empty"]),
        ({"kspace": ((3, 4), np.complex64)}, ["(slices, H, W)"]),
        # A terabyte of declared k-space in a file of a few kilobytes.
        ({"kspace": ((4000, 15, 640, 368 * 32), np.complex64)}, ["declare", "GiB", "above the limit"]),
    ],
)
def test_schema_is_checked_before_any_read(tmp_path, no_dataset_read, datasets, fragments):
    path = _file_with(tmp_path / "hostile.h5", **datasets)
    assert path.stat().st_size < 100_000
    with pytest.raises(FastMRIFileError) as info:
        fastmri.read(path)
    message = str(info.value)
    assert message.startswith(str(path)) and message.count(path.name) == 1, message
    for fragment in fragments:
        assert fragment in message, message
    assert isinstance(info.value, InputError)


def test_external_links_to_other_files_are_refused_not_followed(tmp_path, capsys):
    other = fastmri.write(tmp_path / "other.h5", _kspace((2, 8, 6)), np.ones((2, 4, 4), np.float32))
    linked = tmp_path / "linked.h5"
    with h5py.File(linked, "w") as f:
        f["kspace"] = h5py.ExternalLink(str(other), "/kspace")  # would read the other file's data
    _expect_error(linked, "'kspace' is an external link to '/kspace' in", "other.h5", "not followed")
    hidden = tmp_path / "hidden.h5"
    with h5py.File(hidden, "w") as f:
        f["kspace"] = _kspace((2, 8, 6))
        f.create_group("extra")["elsewhere"] = h5py.ExternalLink("/no/such/file.h5", "/x")  # never read, still refused
    _expect_error(hidden, "'extra/elsewhere' is an external link to '/x' in '/no/such/file.h5'")

    code = condswin_main(["reconstruct", str(linked), str(tmp_path / "out.nii.gz"), "--model", "zero-filled"])
    assert code == 3 and "external link" in capsys.readouterr().err
    assert not (tmp_path / "out.nii.gz").exists()


def test_read_limit_counts_only_the_slices_asked_for(tmp_path, monkeypatch):
    path = fastmri.write(tmp_path / "big.h5", _kspace((4, 8, 6)), np.ones((4, 4, 4), np.float32))
    per_slice = 8 * 6 * 8 + 4 * 4 * 4  # complex64 k-space + float32 target
    monkeypatch.setattr(fastmri, "MAX_READ_BYTES", 2 * per_slice)
    with pytest.raises(FastMRIFileError, match="pass slices="):
        fastmri.read(path)
    assert fastmri.read(path, slices=slice(1, 3)).kspace.shape == (2, 8, 6)
    assert fastmri.read(path, slices=3).kspace.shape == (1, 8, 6)


def test_a_mask_sampling_no_column_is_refused(tmp_path):
    path = _file_with(tmp_path / "empty_mask.h5", kspace=_kspace((1, 4, 6)), mask=np.zeros(6, bool))
    with pytest.raises(FastMRIFileError, match="mask samples none of the 6 k-space columns"):
        fastmri.read(path)


def test_missing_header_warns_and_assumes_1mm(tmp_path):
    path = tmp_path / "nohdr.h5"
    with h5py.File(path, "w") as f:
        f["kspace"] = _kspace((1, 4, 6))
    with pytest.warns(CondswinWarning, match="1 mm"):
        vol = fastmri.read(path)
    assert vol.spacing == (1.0, 1.0, 1.0) and vol.geometry is None


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"kspace": np.ones((1, 4, 4), np.float32)}, "complex"),
        ({"kspace": np.full((1, 4, 4), np.nan + 0j, np.complex64)}, "NaN"),
        ({"kspace": _kspace((4, 4))}, "(slices, H, W)"),
        ({"kspace": _kspace((2, 4, 4)), "target": np.ones((3, 4, 4), np.float32)}, "2 slices"),
        ({"kspace": _kspace((1, 4, 4)), "target": np.full((1, 4, 4), np.inf, np.float32)}, "NaN or infinite"),
        ({"kspace": _kspace((1, 4, 4)), "mask": np.ones(3)}, "mask"),
        ({"kspace": _kspace((1, 4, 4)), "spacing": (1.0, 0.0, 1.0)}, "spacing"),
        ({"kspace": _kspace((1, 4, 4)), "header_xml": "<broken"}, "not valid XML"),
    ],
)
def test_write_refuses_bad_input_and_writes_nothing(tmp_path, kwargs, fragment):
    path = tmp_path / "out.h5"
    with pytest.raises(FastMRIFileError) as info:
        fastmri.write(path, **kwargs)
    assert fragment in str(info.value) and str(path) in str(info.value)
    assert _files_in(tmp_path) == []


def test_failed_write_keeps_existing_file(tmp_path, monkeypatch):
    path = fastmri.write(tmp_path / "keep.h5", _kspace((1, 4, 4), 1))
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        fastmri.write(path, _kspace((1, 4, 4), 2))
    assert path.read_bytes() == before
    assert _files_in(tmp_path) == ["keep.h5"]
