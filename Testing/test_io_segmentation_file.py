"""Slicer's segmentation file (``.seg.nrrd``): written from a labelmap and the card's labels, read back with
slicerio and with slicer-core's real segmentation storage node; ``condswin segment … out.seg.nrrd``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from cli_support import leftovers, run_cli

from condswin.bundles.contract import LITS_LABELS
from condswin.errors import InputError, OutputExistsError
from condswin.io.images import write_image
from condswin.io.segmentation_file import is_segmentation_file, write_segmentation_file

slicerio = pytest.importorskip("slicerio")

LIVER_TERMINOLOGY = "~SCT^123037004^Anatomical Structure~SCT^10200004^Liver~"
TUMOUR_TERMINOLOGY = "~SCT^49755003^Morphologically Altered Structure~SCT^108369006^Neoplasm~"


def oblique_labels() -> sitk.Image:
    """An oblique, anisotropic (k, j, i) = (5, 6, 7) labelmap with a liver block and one tumour voxel."""
    array = np.zeros((5, 6, 7), dtype=np.uint8)
    array[1:4, 1:5, 2:6] = 1
    array[2, 2, 3] = 2
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.7, 0.9, 2.5))
    image.SetOrigin((10.0, -20.0, 30.0))
    c, s = math.cos(0.3), math.sin(0.3)
    image.SetDirection((c, -s, 0.0, s * c, c * c, -s, s * s, s * c, c))
    return image


def ijk_to_lps(image: sitk.Image) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = np.reshape(image.GetDirection(), (3, 3)) @ np.diag(image.GetSpacing())
    matrix[:3, 3] = image.GetOrigin()
    return matrix


def test_suffix_is_recognised_in_any_case():
    assert is_segmentation_file("a/b/LIVER.SEG.NRRD") and is_segmentation_file("x.seg.nrrd")
    assert not is_segmentation_file("x.nrrd") and not is_segmentation_file("seg.nrrd.gz")


def test_slicerio_reads_back_segments_terminology_voxels_and_geometry(tmp_path):
    labels = oblique_labels()
    path = write_segmentation_file(labels, LITS_LABELS, tmp_path / "liver.seg.nrrd")

    segmentation = slicerio.read_segmentation(str(path))
    assert [s["name"] for s in segmentation["segments"]] == ["liver", "liver tumor"]
    assert [s["labelValue"] for s in segmentation["segments"]] == [1, 2]
    colours = [np.round(np.array(s["color"]) * 255) for s in segmentation["segments"]]
    assert [tuple(int(c) for c in colour) for colour in colours] == [label.color for label in LITS_LABELS]
    liver, tumour = segmentation["segments"]
    assert liver["terminology"]["type"] == ["SCT", "10200004", "Liver"]
    assert tumour["terminology"]["type"] == ["SCT", "108369006", "Neoplasm"]
    assert tumour["terminology"]["anatomicRegion"] == ["SCT", "10200004", "Liver"]
    np.testing.assert_allclose(segmentation["ijkToLPS"], ijk_to_lps(labels), atol=1e-9)
    np.testing.assert_array_equal(segmentation["voxels"], sitk.GetArrayFromImage(labels).transpose(2, 1, 0))
    assert leftovers(tmp_path) == []


def test_unknown_values_dropped_and_bad_inputs_refused(tmp_path):
    array = np.zeros((3, 4, 4), dtype=np.uint8)
    array[0, 0, 0], array[1, 1, 1] = 7, 1  # 7 names no class
    path = write_segmentation_file(sitk.GetImageFromArray(array), LITS_LABELS, tmp_path / "a.seg.nrrd")
    voxels = slicerio.read_segmentation(str(path))["voxels"]
    assert sorted(np.unique(voxels).tolist()) == [0, 1]

    with pytest.raises(OutputExistsError):
        write_segmentation_file(sitk.GetImageFromArray(array), LITS_LABELS, path, overwrite=False)
    with pytest.raises(InputError, match="3-D scalar"):
        write_segmentation_file(sitk.GetImageFromArray(array[0]), LITS_LABELS, tmp_path / "b.seg.nrrd")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.seg.nrrd"]


def read_with_slicer_core(path: Path):
    slicer = pytest.importorskip("slicer")
    if not hasattr(slicer, "vtkMRMLScene"):
        pytest.skip("slicer-core (the real MRML) is not installed")
    import vtk

    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = slicer.vtkMRMLSegmentationStorageNode()
    scene.AddNode(storage)
    storage.SetFileName(str(path))
    assert storage.ReadData(node) == 1
    segmentation = node.GetSegmentation()
    segments = {}
    for index in range(segmentation.GetNumberOfSegments()):
        segment = segmentation.GetNthSegment(index)
        tag = vtk.reference("")
        segment.GetTag("TerminologyEntry", tag)
        labelmap = segmentation.GetSegmentRepresentation(segmentation.GetNthSegmentID(index), "Binary labelmap")
        matrix = vtk.vtkMatrix4x4()
        labelmap.GetImageToWorldMatrix(matrix)
        segments[segment.GetName()] = {
            "terminology": str(tag),
            "color": segment.GetColor(),
            "image_to_ras": np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)]),
        }
    return segments


def test_slicer_core_opens_it_as_a_segmentation_with_the_input_geometry(tmp_path):
    labels = oblique_labels()
    path = write_segmentation_file(labels, LITS_LABELS, tmp_path / "liver.seg.nrrd")
    segments = read_with_slicer_core(path)
    assert list(segments) == ["liver", "liver tumor"]
    assert LIVER_TERMINOLOGY in segments["liver"]["terminology"]
    assert TUMOUR_TERMINOLOGY in segments["liver tumor"]["terminology"]
    assert "~SCT^10200004^Liver~" in segments["liver tumor"]["terminology"].split("Neoplasm")[1]
    expected = np.diag([-1.0, -1.0, 1.0, 1.0]) @ ijk_to_lps(labels)  # LPS -> RAS
    for segment in segments.values():
        np.testing.assert_allclose(segment["image_to_ras"], expected, atol=1e-6)


def test_cli_segment_writes_a_segmentation_file(tmp_path, capsys, tiny_bundles):
    ct = sitk.GetImageFromArray(np.random.default_rng(0).uniform(-100, 200, (3, 16, 16)).astype(np.int16))
    ct.SetSpacing((0.8, 0.8, 3.0))
    ct.SetDirection(oblique_labels().GetDirection())
    write_image(ct, tmp_path / "ct.nrrd")
    out = tmp_path / "out.seg.nrrd"
    code, stdout, stderr = run_cli(
        capsys, "segment", tmp_path / "ct.nrrd", out, "--model", tiny_bundles["segmentation"], "--no-postprocess"
    )
    assert code == 0, stderr
    report = json.loads((tmp_path / "out.seg.json").read_text())
    assert report["labelmap"] == str(out)
    segmentation = slicerio.read_segmentation(str(out))
    assert [s["name"] for s in segmentation["segments"]] == ["liver", "liver tumor"]
    np.testing.assert_allclose(segmentation["ijkToLPS"], ijk_to_lps(ct), atol=1e-9)
    assert segmentation["voxels"].shape == (16, 16, 3)
    assert leftovers(tmp_path) == []
