"""ConditionalSwinSeg logic on a real MRML scene (``slicer-core``) through the real ``condswin segment``
subprocess with a tiny segmentation bundle: named segments with terminology, input geometry, report table,
the input untouched; a model with other labels than the liver model's gets its segments, table and summary from
its card; cancel and errors leave the scene, the temporary folder and the process table as they were."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from ConditionalSwinSegLib.logic import ConditionalSwinSegLogic
from ConditionalSwinSegLib.parameters import ConditionalSwinSegParameters
from ConditionalSwinSegLib.report import report_summary
from condswin_slicer.mrml import InputRejected
from condswin_slicer.process import (
    CondswinProcess,
    ProcessCancelled,
    ProcessFailed,
    RunResult,
    child_environment,
)
from slicer_logic_support import FakeProcess

from condswin.bundles.contract import Code, Label, Terminology
from condswin.cli.app import build_parser
from condswin.ct.phantom import make_phantom
from condswin.io.images import write_image


def test_parameters_build_arguments_the_cli_parser_accepts():
    params = ConditionalSwinSegParameters(
        model="m", device="cpu", batch_size=2, threads=3, amp=False, postprocess=False
    )
    args = params.arguments("in.nrrd", "out.seg.nrrd", report="r.json") + ["--progress", "json"]
    ns = build_parser().parse_args(args)
    assert (ns.command, str(ns.input), str(ns.output), str(ns.report)) == (
        "segment",
        "in.nrrd",
        "out.seg.nrrd",
        "r.json",
    )
    assert (ns.model, ns.device, ns.batch_size, ns.threads, ns.no_amp, ns.no_postprocess) == (
        "m",
        "cpu",
        2,
        3,
        True,
        True,
    )
    defaults = build_parser().parse_args(ConditionalSwinSegParameters().arguments("a", "b", report="c"))
    assert (defaults.model, defaults.device, defaults.no_amp, defaults.no_postprocess) == (None, "auto", False, False)
    assert defaults.score_offsets is None  # the card's
    offsets = ConditionalSwinSegParameters(score_offsets=" 0, 0,1.5 ").arguments("a", "b", report="c")
    assert build_parser().parse_args(offsets).score_offsets == (0.0, 0.0, 1.5)
    for bad in ("0,x", "0,0,nan", "0,0,99"):
        with pytest.raises(ValueError, match="score_offsets"):
            ConditionalSwinSegParameters(score_offsets=bad)
    with pytest.raises(ValueError, match="batch_size"):
        ConditionalSwinSegParameters(batch_size=0)
    with pytest.raises(ValueError, match="device"):
        ConditionalSwinSegParameters(device="gpu")


# --- real MRML ----------------------------------------------------------------------------------------------------

slicer = pytest.importorskip("slicer")
if not hasattr(slicer, "vtkMRMLScene"):  # pragma: no cover - another package named slicer
    pytest.skip("slicer-core (real MRML) is not installed", allow_module_level=True)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Setup:
    def __init__(self, tmp: Path, bundle: Path, two_d: bool = False):
        ct, _ = make_phantom(3, shape=(40, 36, 8), spacing=(0.8, 1.1, 3.0), num_tumours=1, geometry="tilted")
        if two_d:
            ct = ct[:, :, 4]
        self.ct_path = write_image(ct, tmp / "ct.nrrd") or tmp / "ct.nrrd"
        self.digest = _digest(self.ct_path)
        self.scene = slicer.vtkMRMLScene()
        sh_logic = slicer.vtkSlicerSubjectHierarchyModuleLogic()
        sh_logic.SetMRMLScene(self.scene)
        self.seg_logic = slicer.vtkSlicerSegmentationsModuleLogic()  # on the scene, as in the application
        self.seg_logic.SetMRMLScene(self.scene)
        self.volume = slicer.vtkMRMLScalarVolumeNode()
        self.volume.SetName("ct")
        self.scene.AddNode(self.volume)
        storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
        storage.SetFileName(str(self.ct_path))
        self.scene.AddNode(storage)
        self.volume.SetAndObserveStorageNodeID(storage.GetID())
        assert storage.ReadData(self.volume)
        sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(self.scene)
        patient = sh.CreateSubjectItem(sh.GetSceneItemID(), "patient")
        self.study = sh.CreateStudyItem(patient, "study")
        sh.CreateItem(self.study, self.volume)
        self.sh = sh
        self.temp = tmp / "runs"
        self.temp.mkdir()
        env = {k: v for k, v in os.environ.items() if k != "CONDSWIN_MODEL_PATH"}
        self.process = CondswinProcess(env=env, extra_env=child_environment(), grace_seconds=20)
        self.logic = ConditionalSwinSegLogic(self.scene, lambda: self.process, temp_root=str(self.temp))
        self.params = ConditionalSwinSegParameters(model=str(bundle), device="cpu")
        self.node_ids = self.ids()

    def ids(self) -> list[str]:
        return [self.scene.GetNthNode(i).GetID() for i in range(self.scene.GetNumberOfNodes())]

    def assert_untouched(self) -> None:
        assert self.ids() == self.node_ids
        assert list(self.temp.iterdir()) == []
        assert _digest(self.ct_path) == self.digest
        assert self.volume.GetStorageNode().GetFileName() == str(self.ct_path)


@pytest.fixture(scope="module")
def seg_bundle(tmp_path_factory: pytest.TempPathFactory, make_bundle) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundles") / "tiny-liver", "segmentation", "tiny-liver")


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory, seg_bundle: Path):
    setup = Setup(tmp_path_factory.mktemp("seg"), seg_bundle)
    events = []
    outcome = setup.logic.run(setup.volume, setup.params, on_event=events.append)
    return setup, outcome, events


def test_segmentation_has_the_two_named_segments_with_terminology(done):
    _, outcome, events = done
    segmentation = outcome.segmentation.GetSegmentation()
    segments = [segmentation.GetNthSegment(i) for i in range(segmentation.GetNumberOfSegments())]
    assert [s.GetName() for s in segments] == ["liver", "liver tumor"]
    terms = [s.GetTerminology() for s in segments]
    assert "SCT^10200004^Liver" in terms[0] and "SCT^108369006^Neoplasm" in terms[1]
    assert "SCT^10200004^Liver" in terms[1].split("~", 4)[-1]  # tumour in region liver
    assert [tuple(round(c * 255) for c in s.GetColor()) for s in segments] == [(221, 130, 101), (144, 238, 144)]
    assert {"start", "infer", "result", "summary"} <= {e.stage for e in events}


def test_reference_geometry_and_labelmap_grid_are_the_inputs(done):
    setup, outcome, _ = done
    seg_node = outcome.segmentation
    converter = slicer.vtkSegmentationConverter
    expected = slicer.vtkMRMLSegmentationNode()
    expected.SetReferenceImageGeometryParameterFromVolumeNode(setup.volume)
    name = converter.GetReferenceImageGeometryParameterName()
    got = seg_node.GetSegmentation().GetConversionParameter(name)
    assert got and got == expected.GetSegmentation().GetConversionParameter(name)
    import vtk

    ijk_to_ras = vtk.vtkMatrix4x4()
    setup.volume.GetIJKToRASMatrix(ijk_to_ras)
    labelmap = slicer.vtkOrientedImageData()
    seg_node.GetBinaryLabelmapRepresentation(seg_node.GetSegmentation().GetNthSegmentID(0), labelmap)
    world = vtk.vtkMatrix4x4()
    labelmap.GetImageToWorldMatrix(world)
    for r in range(4):
        for c in range(4):
            assert world.GetElement(r, c) == pytest.approx(ijk_to_ras.GetElement(r, c), abs=1e-4)


def test_report_table_study_surfaces_and_input_untouched(done):
    setup, outcome, _ = done
    report = outcome.report
    assert {"liver_ml", "tumour_count", "tumour_volumes_ml", "tumour_burden_percent"} <= set(report)
    table = outcome.table.GetTable()
    measures = [table.GetValue(r, 0).ToString() for r in range(table.GetNumberOfRows())]
    values = {measures[r]: table.GetValue(r, 1).ToString() for r in range(table.GetNumberOfRows())}
    assert values["Liver volume (incl. tumours)"] == f"{report['liver_ml']:.2f}"
    assert values["Tumour count"] == str(report["tumour_count"])
    assert len(measures) == 5 + len(report["tumour_volumes_ml"])
    assert report_summary(report).startswith(f"Liver {report['liver_ml']:.1f} mL, {report['tumour_count']} tumour(s)")
    for node in (outcome.segmentation, outcome.table):
        assert setup.sh.GetItemParent(setup.sh.GetItemByDataNode(node)) == setup.study
    assert outcome.segmentation.GetSegmentation().ContainsRepresentation(
        slicer.vtkSegmentationConverter.GetClosedSurfaceRepresentationName()
    )
    assert _digest(setup.ct_path) == setup.digest
    assert list(setup.temp.iterdir()) == []
    new = set(setup.ids()) - set(setup.node_ids)
    assert outcome.segmentation.GetID() in new and outcome.table.GetID() in new


# A kidney and spleen model: the tiny network with a card whose labels are not the liver model's.
_ANATOMY = Code("SCT", "123037004", "Anatomical Structure")
ORGAN_LABELS = (
    Label(1, "kidney", (185, 102, 83), Terminology(category=_ANATOMY, type=Code("SCT", "64033007", "Kidney"))),
    Label(2, "spleen", (157, 108, 162), Terminology(category=_ANATOMY, type=Code("SCT", "78961009", "Spleen"))),
)


@pytest.fixture(scope="module")
def organ_bundle(tmp_path_factory: pytest.TempPathFactory, make_bundle) -> Path:
    folder = make_bundle(tmp_path_factory.mktemp("bundles") / "tiny-organs", "segmentation", "tiny-organs")
    card_path = folder / "model_card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    labels = [label.to_dict() for label in ORGAN_LABELS]
    card["output"] = {"labels": labels, "postprocess": "none"}  # the liver post-processing needs LiTS labels
    card_path.write_text(json.dumps(card), encoding="utf-8")
    return folder


def test_a_model_with_other_labels_gets_segments_table_and_summary_from_its_card(tmp_path: Path, organ_bundle):
    setup = Setup(tmp_path, organ_bundle)
    outputs = setup.logic.run(setup.volume, setup.params)
    segmentation = outputs.segmentation.GetSegmentation()
    segments = [segmentation.GetNthSegment(i) for i in range(segmentation.GetNumberOfSegments())]
    assert [s.GetName() for s in segments] == ["kidney", "spleen"]
    assert [tuple(round(c * 255) for c in s.GetColor()) for s in segments] == [(185, 102, 83), (157, 108, 162)]
    terms = [s.GetTerminology() for s in segments]
    assert "SCT^64033007^Kidney" in terms[0] and "SCT^78961009^Spleen" in terms[1]
    report = outputs.report
    assert report["labels"] == {"1": "kidney", "2": "spleen"} and "liver_ml" not in report
    table = outputs.table.GetTable()
    rows = {table.GetValue(r, 0).ToString(): table.GetValue(r, 1).ToString() for r in range(table.GetNumberOfRows())}
    assert rows == {f"{name} volume": f"{report['volumes_ml'][name]:.2f}" for name in ("kidney", "spleen")}
    summary = report_summary(report)  # the panel's line
    assert summary.startswith("kidney ") and ", spleen " in summary and summary.endswith(" mL")
    for node in (outputs.segmentation, outputs.table):
        assert "liver" not in node.GetName().lower()
        assert setup.sh.GetItemParent(setup.sh.GetItemByDataNode(node)) == setup.study
    assert list(setup.temp.iterdir()) == []


def test_cancel_leaves_no_node_no_file_no_process(tmp_path: Path, seg_bundle: Path):
    setup = Setup(tmp_path, seg_bundle)
    job = setup.logic.start(setup.volume, setup.params)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(e.stage == "model" for e in job.poll()):
        time.sleep(0.02)
    pid = setup.process._popen.pid
    job.cancel()
    with pytest.raises(ProcessCancelled):
        job.finish()
    setup.assert_untouched()
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


def test_should_cancel_in_the_blocking_run(tmp_path: Path, seg_bundle: Path):
    setup = Setup(tmp_path, seg_bundle)
    with pytest.raises(ProcessCancelled):
        setup.logic.run(setup.volume, setup.params, should_cancel=lambda: True)
    setup.assert_untouched()


def test_label_map_or_rgb_input_is_refused_before_any_process(tmp_path: Path, seg_bundle: Path):
    setup = Setup(tmp_path, seg_bundle)
    labelmap = slicer.vtkMRMLLabelMapVolumeNode()
    labelmap.SetName("labels")
    setup.scene.AddNode(labelmap)
    setup.node_ids = setup.ids()
    with pytest.raises(InputRejected, match="label map"):
        setup.logic.run(labelmap, setup.params)
    with pytest.raises(InputRejected, match="Select"):
        setup.logic.run(None, setup.params)
    assert setup.process._popen is None
    setup.assert_untouched()


def test_two_dimensional_or_rgb_image_is_refused_and_the_logic_stays_usable(tmp_path: Path, seg_bundle: Path):
    import vtk

    setup = Setup(tmp_path, seg_bundle, two_d=True)
    with pytest.raises(InputRejected, match="2-D"):
        setup.logic.run(setup.volume, setup.params)
    rgb = slicer.vtkMRMLVectorVolumeNode()
    image = vtk.vtkImageData()
    image.SetDimensions(8, 8, 8)
    image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 3)
    rgb.SetAndObserveImageData(image)
    with pytest.raises(InputRejected, match="RGB"):
        setup.logic.run(rgb, setup.params)
    assert setup.process._popen is None
    setup.assert_untouched()
    (tmp_path / "next").mkdir()
    good = Setup(tmp_path / "next", seg_bundle)
    good.logic.process_factory = setup.logic.process_factory  # the same runner serves the next run
    assert good.logic.run(good.volume, good.params).segmentation is not None


def test_tampered_model_fails_with_the_cli_message(tmp_path: Path, seg_bundle: Path):
    bundle = Path(shutil.copytree(seg_bundle, tmp_path / "tampered"))
    weights = next(bundle.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    setup = Setup(tmp_path, seg_bundle)
    setup.params = ConditionalSwinSegParameters(model=str(bundle), device="cpu")
    with pytest.raises(ProcessFailed) as info:
        setup.logic.run(setup.volume, setup.params)
    assert info.value.returncode == 4 and "sha256" in str(info.value)
    setup.assert_untouched()


def test_missing_output_adds_no_node_and_removes_the_run_folder(tmp_path: Path, seg_bundle: Path):
    setup = Setup(tmp_path, seg_bundle)

    def write_report(args):  # the CLI "succeeds" after writing the report but no segmentation file
        report = Path(args[args.index("--report") + 1])
        report.write_text('{"liver_ml": 1.0, "tumour_count": 0, "tumour_volumes_ml": []}')

    fake = FakeProcess(RunResult(0, []), on_start=write_report)
    setup.logic.process_factory = lambda: fake
    with pytest.raises(OSError, match="could not read the segmentation"):
        setup.logic.run(setup.volume, setup.params)
    assert fake.args[0] == "segment" and fake.args[fake.args.index("--model") + 1] == str(seg_bundle)
    setup.assert_untouched()
