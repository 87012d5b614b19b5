"""MRIRecon logic on a real MRML scene (slicer-core) through the real ``condswin reconstruct`` process."""

from __future__ import annotations

import numpy as np
import pytest
from slicer_logic_support import (
    FakeProcess,
    RecordingFactory,
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
    from MRIReconLib.logic import MRIReconLogic

    return make_logic(MRIReconLogic, scene, run_root)


def test_parameters_build_arguments_the_cli_parser_accepts():
    from MRIReconLib.parameters import MRIReconParameters

    from condswin.jobs.reconstruction import CLASSICAL_METHODS

    parameters = MRIReconParameters(model="my-model", acceleration=8, mask="equispaced", center_fraction=0.04, seed=7)
    parameters.device = "cpu"
    parameters.batch_size, parameters.threads, parameters.amp = 2, 3, False
    args = build_parser().parse_args(parameters.arguments("in.h5", "out.nrrd"))
    assert (args.batch_size, args.threads, args.no_amp) == (2, 3, True)
    defaults = build_parser().parse_args(MRIReconParameters().arguments("a", "b"))
    assert (defaults.batch_size, defaults.threads, defaults.no_amp) == (8, None, False)  # the CLI's own defaults
    assert (args.command, str(args.input), str(args.output)) == ("reconstruct", "in.h5", "out.nrrd")
    assert (args.model, args.acceleration, args.mask_kind, args.center_fraction, args.seed, args.device) == (
        "my-model",
        8.0,
        "equispaced",
        0.04,
        7,
        "cpu",
    )
    assert build_parser().parse_args(parameters.arguments("a", "b", model="zero-filled")).model == "zero-filled"
    for method in CLASSICAL_METHODS:
        assert build_parser().parse_args(MRIReconParameters(model=method).arguments("a", "b")).model == method
    with pytest.raises(ValueError, match="mask kind"):
        MRIReconParameters(mask="spiral").arguments("a", "b")


def test_volume_reconstruction_keeps_the_input_geometry_and_the_input(logic, scene, tmp_path, run_root):
    from MRIReconLib.parameters import MRIReconParameters

    source = oblique_mr_file(tmp_path / "mr.nrrd")
    before_file = digest(source)
    node = load_volume(scene, source)
    before_voxels, before_matrix, before_ids = voxels(node), matrix(node), node_ids(scene)

    outputs = logic.run(node, MRIReconParameters(acceleration=2, seed=3))

    assert outputs.zero_filled is None  # only zero-filled was asked: one run
    np.testing.assert_array_equal(matrix(outputs.volume), before_matrix)
    assert outputs.volume.GetImageData().GetDimensions() == node.GetImageData().GetDimensions()
    assert outputs.volume.GetID() != node.GetID() and outputs.volume.GetScene() is scene
    np.testing.assert_array_equal(voxels(node), before_voxels)
    np.testing.assert_array_equal(matrix(node), before_matrix)
    assert digest(source) == before_file
    # a volume input is its own target: metrics (model and zero-filled rows) as a table node
    assert outputs.metrics is not None and outputs.metrics.GetNumberOfRows() == 2
    assert outputs.metrics.GetColumnName(2) == "psnr"
    assert float(outputs.metrics.GetCellText(0, 2)) == pytest.approx(outputs.report["metrics"]["model"]["psnr"], 1e-5)
    assert len(node_ids(scene)) > len(before_ids)
    assert list(run_root.iterdir()) == []


def test_model_and_zero_filled_side_by_side(logic, scene, tmp_path, tiny_bundles):
    from MRIReconLib.parameters import MRIReconParameters

    node = load_volume(scene, oblique_mr_file(tmp_path / "mr.nrrd"))
    outputs = logic.run(node, MRIReconParameters(model=str(tiny_bundles["reconstruction"]), seed=1))
    assert outputs.zero_filled is not None
    assert outputs.volume.GetName() == "mr reconstruction" and outputs.zero_filled.GetName() == "mr zero-filled"
    for volume in (outputs.volume, outputs.zero_filled):
        np.testing.assert_array_equal(matrix(volume), matrix(node))
    assert outputs.report["model"] != "zero-filled"


@pytest.mark.parametrize("method", ["cs-tv", "cs-wavelet"])
def test_compressed_sensing_beside_zero_filled_on_the_input_grid(method, logic, scene, tmp_path, run_root):
    from MRIReconLib.parameters import MRIReconParameters

    node = load_volume(scene, oblique_mr_file(tmp_path / "mr.nrrd"))
    outputs = logic.run(node, MRIReconParameters(model=method, seed=1))
    assert outputs.volume.GetName() == f"mr {method}" and outputs.zero_filled.GetName() == "mr zero-filled"
    for volume in (outputs.volume, outputs.zero_filled):
        np.testing.assert_array_equal(matrix(volume), matrix(node))
        assert volume.GetScene() is scene
    assert outputs.report["model"] == method and outputs.report["params"]["iterations"] == 100
    metrics = outputs.report["metrics"]
    assert metrics["model"]["ssim"] > metrics["zero_filled"]["ssim"]
    assert list(run_root.iterdir()) == []


def test_fastmri_file_dropped_on_the_reader_gets_the_header_spacing(logic, scene, tmp_path, run_root):
    from MRIReconLib.reader import is_fastmri_file, load_fastmri_file

    from condswin.mri.fastmri import write

    rng = np.random.default_rng(0)
    kspace = (rng.standard_normal((2, 16, 16)) + 1j * rng.standard_normal((2, 16, 16))).astype(np.complex64)
    path = write(tmp_path / "file1.h5", kspace, spacing=(3.0, 0.5, 0.6))
    assert is_fastmri_file(path)
    ids = load_fastmri_file(path, logic)
    volume = scene.GetNodeByID(ids[0])
    assert volume.GetSpacing() == pytest.approx((0.6, 0.5, 3.0))
    assert volume.GetImageData().GetDimensions() == (16, 16, 2)
    assert list(run_root.iterdir()) == []


def test_not_fastmri_is_refused_with_the_cli_message_and_the_scene_unchanged(logic, scene, tmp_path, run_root):
    import h5py
    from condswin_slicer.process import ProcessFailed
    from MRIReconLib.parameters import MRIReconParameters
    from MRIReconLib.reader import is_fastmri_file

    bad = tmp_path / "other.h5"
    with h5py.File(bad, "w") as handle:
        handle["image"] = np.zeros((2, 4, 4), dtype=np.float32)
    (tmp_path / "text.h5").write_text("not hdf5")
    assert not is_fastmri_file(bad) and not is_fastmri_file(tmp_path / "text.h5")
    before = node_ids(scene)
    with pytest.raises(ProcessFailed, match="no 'kspace' dataset") as failure:
        logic.run_file(bad, MRIReconParameters())
    assert failure.value.returncode == 3
    assert_left_as_it_was(scene, before, run_root)


def test_nan_volume_fails_with_the_cli_message_and_the_scene_unchanged(logic, scene, tmp_path, run_root):
    from condswin_slicer.process import ProcessFailed
    from MRIReconLib.parameters import MRIReconParameters

    node = load_volume(scene, oblique_mr_file(tmp_path / "nan.nrrd", nan=True))
    before = node_ids(scene)
    with pytest.raises(ProcessFailed, match="(?i)nan|finite") as failure:
        logic.run(node, MRIReconParameters())
    assert failure.value.returncode == 3
    assert_left_as_it_was(scene, before, run_root)
    # the logic stays usable for the next run
    good = load_volume(scene, oblique_mr_file(tmp_path / "good.nrrd"), name="good")
    assert logic.run(good, MRIReconParameters()).volume.GetScene() is scene


def test_cancel_leaves_no_nodes_no_files_and_no_process(logic, scene, tmp_path, run_root):
    from condswin_slicer.process import ProcessCancelled
    from MRIReconLib.parameters import MRIReconParameters

    node = load_volume(scene, oblique_mr_file(tmp_path / "mr.nrrd"))
    before = node_ids(scene)
    events = []
    with pytest.raises(ProcessCancelled):
        logic.run(node, MRIReconParameters(), on_event=events.append, should_cancel=lambda: bool(events))
    assert logic.factory.made
    assert_left_as_it_was(scene, before, run_root, logic.factory)


def test_a_failed_zero_filled_companion_run_adds_nothing(scene, tmp_path, tiny_bundles, run_root):
    """The model's run succeeds, the zero-filled one fails: no node of either lands (fake second process)."""
    from condswin_slicer.process import ProcessFailed, ProgressEvent, RunResult
    from MRIReconLib.logic import MRIReconLogic
    from MRIReconLib.parameters import MRIReconParameters

    failing = FakeProcess(ProcessFailed(RunResult(5, [ProgressEvent("error", message="disk full", code=5)])))
    real = RecordingFactory()
    processes = iter([real, lambda: failing])
    logic = MRIReconLogic(scene, lambda: next(processes)(), temp_root=run_root)
    node = load_volume(scene, oblique_mr_file(tmp_path / "mr.nrrd"))
    before = node_ids(scene)
    with pytest.raises(ProcessFailed, match="disk full"):
        logic.run(node, MRIReconParameters(model=str(tiny_bundles["reconstruction"])))
    assert len(real.made) == 1 and real.all_ended()
    assert "zero-filled" in failing.args
    assert_left_as_it_was(scene, before, run_root)


def test_the_default_process_finds_condswin_through_its_own_environment(scene):
    import os
    from pathlib import Path

    from MRIDenoiseLib.logic import MRIDenoiseLogic
    from MRIReconLib.logic import MRIReconLogic

    import condswin

    before = dict(os.environ)
    for logic in (MRIReconLogic(scene), MRIDenoiseLogic(scene)):
        process = logic.process_factory()
        root = str(Path(condswin.__file__).resolve().parents[1])
        assert process.env["PYTHONPATH"].split(os.pathsep)[0] == root
    assert dict(os.environ) == before  # set for the child only


def test_compressed_sensing_settings_reach_only_the_compressed_sensing_command():
    from MRIReconLib.parameters import MRIReconParameters

    from condswin.errors import UsageError

    parameters = MRIReconParameters(model="cs-tv", cs_lam=0.002, cs_iterations=50)
    args = build_parser().parse_args(parameters.arguments("a", "b"))
    assert sorted(args.param) == ["iterations=50", "lam=0.002"]
    assert not build_parser().parse_args(parameters.arguments("a", "b", model="zero-filled")).param
    parameters.model = "my-model"
    assert not build_parser().parse_args(parameters.arguments("a", "b")).param
    assert not build_parser().parse_args(MRIReconParameters(model="cs-wavelet").arguments("a", "b")).param
    with pytest.raises(UsageError, match="lam"):
        MRIReconParameters(model="cs-wavelet", cs_lam=2.0).arguments("a", "b")
    with pytest.raises(UsageError, match="iterations"):
        MRIReconParameters(model="cs-tv", cs_iterations=10**9).arguments("a", "b")
