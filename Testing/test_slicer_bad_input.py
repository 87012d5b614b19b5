"""Bad input in the three module logics, on a real MRML scene through the real ``condswin``
process where the CLI is the one that refuses: the logic raises an error carrying the message, the scene keeps
the same nodes, the run folder is empty, no process is left, and the next run works.

(Also covered elsewhere: NaN MR volumes and a non-fastMRI ``.h5`` in ``test_slicer_recon_logic.py`` and
``test_slicer_denoise_logic.py``; a label map, RGB and 2-D CT and a tampered segmentation model in
``test_slicer_seg_logic.py``.)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from condswin_slicer.mrml import InputRejected
from condswin_slicer.process import ProcessFailed
from slicer_logic_support import (
    assert_left_as_it_was,
    load_volume,
    make_logic,
    node_ids,
    oblique_mr_file,
    slicer_core,
)

from condswin.errors import OutputError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MODULES = ("seg", "recon", "denoise")


def _logic(module: str, scene, root: Path):
    """The module's logic on ``scene`` with a recording process factory, and a function that starts a job."""
    if module == "seg":
        from ConditionalSwinSegLib.logic import ConditionalSwinSegLogic
        from ConditionalSwinSegLib.parameters import ConditionalSwinSegParameters

        logic = make_logic(ConditionalSwinSegLogic, scene, root)
        return logic, lambda node: logic.start(node, ConditionalSwinSegParameters(model="no-such-model", device="cpu"))
    if module == "recon":
        from MRIReconLib.logic import MRIReconLogic
        from MRIReconLib.parameters import MRIReconParameters

        logic = make_logic(MRIReconLogic, scene, root)
        return logic, lambda node: logic.start(node, MRIReconParameters())
    from MRIDenoiseLib.logic import MRIDenoiseLogic
    from MRIDenoiseLib.parameters import MRIDenoiseParameters

    logic = make_logic(MRIDenoiseLogic, scene, root)
    return logic, lambda node: logic.start(node, MRIDenoiseParameters(method="mean"))


def _label_map(scene, source):
    slicer = slicer_core()
    labels = slicer.vtkMRMLLabelMapVolumeNode()
    labels.SetName("labels")
    labels.SetAndObserveImageData(source.GetImageData())
    scene.AddNode(labels)
    return labels


def _rgb(scene):
    import vtk

    slicer = slicer_core()
    image = vtk.vtkImageData()
    image.SetDimensions(8, 8, 4)
    image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 3)
    rgb = slicer.vtkMRMLVectorVolumeNode()
    rgb.SetName("photo")
    rgb.SetAndObserveImageData(image)
    scene.AddNode(rgb)
    return rgb


@pytest.mark.parametrize("module", MODULES)
def test_inputs_that_are_not_scalar_volumes_are_refused_before_any_process(module, scene, run_root, tmp_path):
    mr = load_volume(scene, oblique_mr_file(tmp_path / "mr.nrrd"))
    refused = {"label map": _label_map(scene, mr), "RGB": _rgb(scene), "Select": None}
    logic, start = _logic(module, scene, run_root)
    before = node_ids(scene)
    for message, node in refused.items():
        with pytest.raises(InputRejected, match=message):
            start(node)
    assert logic.factory.made == []
    assert_left_as_it_was(scene, before, run_root)


def test_a_two_dimensional_ct_is_refused_but_a_single_mr_slice_is_denoised(scene, run_root, tmp_path):
    mr_slice = load_volume(scene, oblique_mr_file(tmp_path / "slice.nrrd", slices=1), name="slice")
    seg, start_seg = _logic("seg", scene, run_root)
    with pytest.raises(InputRejected, match="2-D"):
        start_seg(mr_slice)
    assert seg.factory.made == []
    _denoise, start_denoise = _logic("denoise", scene, run_root)
    outputs = start_denoise(mr_slice).wait()
    assert outputs.volume.GetImageData().GetDimensions() == mr_slice.GetImageData().GetDimensions()


@pytest.mark.parametrize("module", MODULES)
def test_a_temporary_folder_that_cannot_be_written_is_named_and_changes_nothing(module, scene, run_root, tmp_path):
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)
    if os.access(read_only, os.W_OK):  # root writes anywhere: /sys refuses new folders even to root
        read_only = Path("/sys")
    node = load_volume(scene, oblique_mr_file(tmp_path / "mr.nrrd", slices=2))
    logic, start = _logic(module, scene, read_only)
    before = node_ids(scene)
    with pytest.raises(OutputError, match=f"{read_only}.*cannot make a temporary folder"):
        start(node)
    assert logic.factory.made == [] and node_ids(scene) == before
    if module != "seg":  # the next run, with a folder it can write, works (seg: a real model is needed)
        logic.temp_root = run_root
        start(node).wait()
        assert len(node_ids(scene)) > len(before) and list(run_root.iterdir()) == []


def test_a_missing_model_fails_with_the_clis_message_and_the_next_run_works(scene, run_root, tmp_path):
    from MRIReconLib.logic import MRIReconLogic
    from MRIReconLib.parameters import MRIReconParameters

    logic = make_logic(MRIReconLogic, scene, run_root)
    node = load_volume(scene, oblique_mr_file(tmp_path / "mr.nrrd", slices=2))
    before = node_ids(scene)
    with pytest.raises(ProcessFailed, match="no-such-model") as failure:
        logic.run(node, MRIReconParameters(model="no-such-model"))
    assert failure.value.returncode == 4
    assert_left_as_it_was(scene, before, run_root, logic.factory)
    assert logic.run(node, MRIReconParameters()).volume.GetScene() is scene


def test_a_tampered_denoising_model_fails_with_the_checksum_message(scene, run_root, tmp_path, tiny_bundles):
    from MRIDenoiseLib.logic import MRIDenoiseLogic
    from MRIDenoiseLib.parameters import MRIDenoiseParameters

    bundle = Path(shutil.copytree(tiny_bundles["denoising"], tmp_path / "tampered"))
    weights = next(bundle.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    logic = make_logic(MRIDenoiseLogic, scene, run_root)
    node = load_volume(scene, oblique_mr_file(tmp_path / "mr.nrrd", slices=2))
    before = node_ids(scene)
    with pytest.raises(ProcessFailed, match="sha256") as failure:
        logic.run(node, MRIDenoiseParameters(method=str(bundle), device="cpu"))
    assert failure.value.returncode == 4
    assert_left_as_it_was(scene, before, run_root, logic.factory)
