"""The embedded sample data: the catalog's checksums match the files, the folder stays small, the generator is
reproducible (byte-identical at a small size, from a synthetic MR source), and the files are what they claim."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
import synthetic_images

from condswin.samples import SampleSettings, make_samples, read_catalog, verify_samples
from condswin.samples.catalog import SAMPLE_KEYS, SampleDataError, sha256_of

MAX_FOLDER_BYTES = 8_000_000


def test_catalog_checksums_and_sizes_match_the_committed_files():
    samples = read_catalog()
    verify_samples(samples)
    for key in SAMPLE_KEYS:
        sample = samples[key]
        assert sample.sha256 == sha256_of(sample.path) and sample.size_bytes == sample.path.stat().st_size
        assert sample.license and sample.description
    assert "not a held-out score" in samples.info["note"]
    assert "Louis Collins" in samples["mr"].license
    assert "Louis Collins" in (samples.folder / "LICENSES.md").read_text()
    total = sum(p.stat().st_size for p in samples.folder.iterdir() if p.is_file())
    assert total < MAX_FOLDER_BYTES


def test_samples_are_what_the_catalog_says():
    from condswin.mri import fastmri

    samples = read_catalog()
    ct, labels = (sitk.ReadImage(str(samples[k].path)) for k in ("ct", "ct_labels"))
    assert ct.GetPixelID() == sitk.sitkInt16 and labels.GetPixelID() == sitk.sitkUInt8
    assert ct.GetSize() == labels.GetSize() and ct.GetSpacing() == labels.GetSpacing()
    assert set(np.unique(sitk.GetArrayViewFromImage(labels))) == {0, 1, 2}
    mr, noisy = (sitk.ReadImage(str(samples[k].path)) for k in ("mr", "mr_noisy"))
    assert mr.GetSize() == noisy.GetSize() and mr.GetOrigin() == noisy.GetOrigin()
    volume = fastmri.read(samples["kspace"].path)
    assert volume.kspace.dtype == np.complex64 and volume.target is not None
    assert volume.target.shape[1:] == sitk.GetArrayViewFromImage(mr).shape[1:]


def test_a_changed_file_is_named(tmp_path):
    import shutil

    shutil.copytree(read_catalog().folder, tmp_path / "s")
    (tmp_path / "s" / "mni152_t1_crop.nii.gz").write_bytes(b"not the template")
    with pytest.raises(SampleDataError, match="mni152_t1_crop.nii.gz: 16 bytes"):
        verify_samples(read_catalog(tmp_path / "s"))
    (tmp_path / "s" / "mni152_t1_crop.nii.gz").unlink()
    with pytest.raises(SampleDataError, match="mni152_t1_crop.nii.gz: sample file is missing"):
        verify_samples(read_catalog(tmp_path / "s"))


SMALL = SampleSettings(
    ct_shape=(64, 64, 8),
    ct_spacing=(5.0, 5.0, 5.0),
    ct_tumours=1,
    mr_z=(0, 4),
    mr_y=(0, 48),
    mr_x=(0, 40),
    kspace_slices=2,
    mr_license="test data",
    mr_name="synthetic brain phantom",
)


@pytest.fixture(scope="module")
def mr_source(tmp_path_factory):
    path = tmp_path_factory.mktemp("mr") / "brain.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(synthetic_images.mr_volume(5, 48, 200.0).astype(np.float32)), str(path))
    return path


def test_generator_is_reproducible_at_a_small_size(tmp_path, mr_source):
    first = json.loads(make_samples(tmp_path / "a", mr_source, SMALL).read_text())
    second = json.loads(make_samples(tmp_path / "b", mr_source, SMALL).read_text())
    assert first == second  # every sha256 identical: byte-identical files
    verify_samples(read_catalog(tmp_path / "a"))
    other = json.loads(
        make_samples(tmp_path / "c", mr_source, SampleSettings(**{**SMALL.__dict__, "seed": 7})).read_text()
    )
    changed = {f["key"] for f, g in zip(first["files"], other["files"], strict=True) if f["sha256"] != g["sha256"]}
    assert changed == set(SAMPLE_KEYS) - {"mr"}  # the seed reaches every generated file (the crop is data)


def test_generated_noise_level_and_kspace_round_trip(tmp_path, mr_source):
    from condswin.mri import fastmri
    from condswin.mri.fft import ifft2c

    samples = read_catalog(make_samples(tmp_path, mr_source, SMALL).parent)
    clean = sitk.GetArrayFromImage(sitk.ReadImage(str(samples["mr"].path))).astype(np.float64)
    noisy = sitk.GetArrayFromImage(sitk.ReadImage(str(samples["mr_noisy"].path))).astype(np.float64)
    background = clean == 0
    # Rician noise of sigma s on zero signal has RMS sqrt(2) s: 5 % of the maximum
    rms = np.sqrt(np.mean(noisy[background] ** 2) / 2) / clean.max()
    assert 0.04 < rms < 0.06
    volume = fastmri.read(samples["kspace"].path)
    magnitude = np.abs(ifft2c(volume.kspace[0]))
    np.testing.assert_allclose(magnitude, volume.target[0], atol=1e-3 * volume.target.max())


def test_a_missing_mr_source_is_an_input_error(tmp_path):
    from condswin.errors import InputError

    with pytest.raises(InputError, match="nope.nii.gz: MR source volume not found"):
        make_samples(tmp_path, tmp_path / "nope.nii.gz", SMALL)
    assert not (tmp_path / "samples.json").exists()


def test_committed_samples_are_what_the_generator_makes(tmp_path, shared_data):
    """Regenerating from the MNI template of ../shared/data gives the committed files byte for byte."""
    source = shared_data / "mri" / "mni152_t1_1mm.nii.gz"
    regenerated = json.loads(make_samples(tmp_path, source).read_text())
    committed = json.loads((read_catalog().folder / "samples.json").read_text())
    assert regenerated == committed
