"""MRIDenoise logic on a real MRML scene (slicer-core) through the real ``condswin denoise`` process."""

from __future__ import annotations

import numpy as np
import pytest
from slicer_logic_support import (
    assert_left_as_it_was,
    digest,
    load_volume,
    make_logic,
    matrix,
    node_ids,
    oblique_mr_file,
    voxels,
)

from condswin.cli.app import build_parser

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def logic(scene, run_root):
    from MRIDenoiseLib.logic import MRIDenoiseLogic

    return make_logic(MRIDenoiseLogic, scene, run_root)


def test_parameters_build_arguments_the_cli_parser_accepts():
    from MRIDenoiseLib.parameters import MRIDenoiseParameters

    parameters = MRIDenoiseParameters(
        method="nlm", noise="gaussian", sigma=12.5, params={"h_factor": 0.8}, device="cpu"
    )
    args = build_parser().parse_args(parameters.arguments("in.nrrd", "out.nrrd", reference="ref.nrrd"))
    assert (args.command, args.method, args.noise, args.sigma, args.param, str(args.reference), args.device) == (
        "denoise",
        "nlm",
        "gaussian",
        12.5,
        ["h_factor=0.8"],
        "ref.nrrd",
        "cpu",
    )
    learned_options = MRIDenoiseParameters(method="m", batch_size=4, threads=2, amp=False).arguments("a", "b")
    assert (lambda a: (a.batch_size, a.threads, a.no_amp))(build_parser().parse_args(learned_options)) == (4, 2, True)
    with pytest.raises(ValueError, match="threads"):
        MRIDenoiseParameters(threads=0).arguments("a", "b")
    estimated = build_parser().parse_args(MRIDenoiseParameters().arguments("a", "b"))
    assert estimated.sigma is None and estimated.reference is None
    assert not MRIDenoiseParameters(method="gaussian").is_learned and MRIDenoiseParameters(method="my-model").is_learned
    learned = MRIDenoiseParameters(method="my-model", sigma=3.0, params={"size": 3}).arguments("a", "b")
    assert "--sigma" not in learned and "--param" not in learned  # the CLI refuses both for a model
    with pytest.raises(ValueError, match="noise model"):
        MRIDenoiseParameters(noise="poisson").arguments("a", "b")


def test_denoise_keeps_geometry_and_input_shows_sigma_and_metrics(logic, scene, tmp_path, run_root):
    from MRIDenoiseLib.parameters import MRIDenoiseParameters

    source = oblique_mr_file(tmp_path / "mr.nrrd")
    before_file = digest(source)
    node = load_volume(scene, source)
    reference = load_volume(scene, oblique_mr_file(tmp_path / "clean.nrrd"), name="clean")
    before_voxels, before_matrix = voxels(node), matrix(node)

    outputs = logic.run(node, MRIDenoiseParameters(method="gaussian"), reference_node=reference)

    np.testing.assert_array_equal(matrix(outputs.volume), before_matrix)
    assert outputs.volume.GetImageData().GetDimensions() == node.GetImageData().GetDimensions()
    assert outputs.volume.GetScene() is scene and outputs.volume.GetName() == "mr denoised"
    assert not np.array_equal(voxels(outputs.volume), before_voxels)
    np.testing.assert_array_equal(voxels(node), before_voxels)
    assert digest(source) == before_file
    assert outputs.sigma_estimated and outputs.sigma == pytest.approx(outputs.report["sigma"]) and outputs.sigma > 0
    table = outputs.metrics
    assert table is not None and table.GetScene() is scene
    assert [table.GetCellText(r, 0) for r in range(table.GetNumberOfRows())] == ["input", "denoised"]
    assert float(table.GetCellText(1, 2)) == pytest.approx(outputs.report["metrics"]["denoised"]["psnr"], 1e-5)
    assert list(run_root.iterdir()) == []


def test_given_sigma_and_learned_model(logic, scene, tmp_path, tiny_bundles):
    from MRIDenoiseLib.parameters import MRIDenoiseParameters

    node = load_volume(scene, oblique_mr_file(tmp_path / "mr.nrrd"))
    given = logic.run(node, MRIDenoiseParameters(method="median", sigma=4.0, params={"size": 3}))
    assert given.sigma == pytest.approx(4.0) and not given.sigma_estimated
    assert given.metrics is None
    learned = logic.run(node, MRIDenoiseParameters(method=str(tiny_bundles["denoising"])))
    np.testing.assert_array_equal(matrix(learned.volume), matrix(node))
    assert len({given.volume.GetID(), learned.volume.GetID(), node.GetID()}) == 3


def test_add_noise_makes_a_noisy_copy_and_leaves_the_input(logic, scene, tmp_path):
    from MRIDenoiseLib.parameters import NoiseParameters

    node = load_volume(scene, oblique_mr_file(tmp_path / "mr.nrrd"))
    before = voxels(node)
    noisy = logic.add_noise(node, NoiseParameters(model="gaussian", sigma=5.0, seed=3))
    np.testing.assert_array_equal(voxels(node), before)
    np.testing.assert_array_equal(matrix(noisy), matrix(node))
    difference = voxels(noisy) - before
    assert noisy.GetScene() is scene and 4.0 < difference.std() < 6.0
    rician = logic.add_noise(node, NoiseParameters(model="rician", sigma=5.0, seed=3))
    assert (voxels(rician) >= 0).all()
    before_ids = node_ids(scene)
    with pytest.raises(ValueError, match="sigma"):
        logic.add_noise(node, NoiseParameters(sigma=0))
    assert node_ids(scene) == before_ids


def test_nan_volume_fails_with_the_cli_message_and_the_scene_unchanged(logic, scene, tmp_path, run_root):
    from condswin_slicer.process import ProcessFailed
    from MRIDenoiseLib.parameters import MRIDenoiseParameters

    node = load_volume(scene, oblique_mr_file(tmp_path / "nan.nrrd", nan=True))
    before = node_ids(scene)
    with pytest.raises(ProcessFailed, match="(?i)nan|finite") as failure:
        logic.run(node, MRIDenoiseParameters(method="gaussian"))
    assert failure.value.returncode == 3
    assert_left_as_it_was(scene, before, run_root)


def test_cancel_leaves_no_nodes_no_files_and_no_process(logic, scene, tmp_path, run_root):
    from condswin_slicer.process import ProcessCancelled
    from MRIDenoiseLib.parameters import MRIDenoiseParameters

    node = load_volume(scene, oblique_mr_file(tmp_path / "mr.nrrd"))
    before = node_ids(scene)
    events = []
    with pytest.raises(ProcessCancelled):
        logic.run(node, MRIDenoiseParameters(method="nlm"), on_event=events.append, should_cancel=lambda: bool(events))
    assert logic.factory.made
    assert_left_as_it_was(scene, before, run_root, logic.factory)
