"""The base of the three module logics (``SlicerShared/condswin_slicer/logic.py``): a run's folder holds what its
start wrote and goes away with any error while writing, so a refused run leaves nothing behind — checked on the
base and through each module's ``start`` on a real scene."""

from __future__ import annotations

from pathlib import Path

import pytest
from condswin_slicer.logic import ModuleLogic
from condswin_slicer.process import default_process
from slicer_logic_support import assert_left_as_it_was, load_volume, make_logic, node_ids, oblique_mr_file

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_new_run_returns_the_folder_and_what_was_written(tmp_path):
    logic = ModuleLogic(scene=None, temp_root=tmp_path)
    assert logic.process_factory is default_process

    def write(path: Path) -> list[str]:
        (path / "input.nrrd").write_bytes(b"x")
        return ["denoise", str(path / "input.nrrd")]

    folder, args = logic.new_run("test", write)
    assert folder.path.parent == tmp_path and folder.path.name.startswith("condswin-test-")
    assert args == ["denoise", str(folder.path / "input.nrrd")] and (folder.path / "input.nrrd").is_file()
    folder.remove()
    assert list(tmp_path.iterdir()) == []


def test_new_run_removes_its_folder_when_writing_fails(tmp_path):
    logic = ModuleLogic(scene=None, temp_root=tmp_path)

    def write(path: Path) -> list[str]:
        (path / "input.nrrd").write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        logic.new_run("test", write)
    assert list(tmp_path.iterdir()) == []


class RefusingParameters:
    """Parameters whose command cannot be built (as a bad value would be refused)."""

    model = "zero-filled"
    is_zero_filled = True
    show_zero_filled = False

    def arguments(self, *args, **kwargs):
        raise ValueError("sigma: not a number")


@pytest.mark.parametrize("module", ["denoise", "recon", "seg"])
def test_a_start_that_cannot_build_its_command_leaves_nothing(module, scene, run_root, tmp_path):
    from ConditionalSwinSegLib.logic import ConditionalSwinSegLogic
    from MRIDenoiseLib.logic import MRIDenoiseLogic
    from MRIReconLib.logic import MRIReconLogic

    logic_cls = {"denoise": MRIDenoiseLogic, "recon": MRIReconLogic, "seg": ConditionalSwinSegLogic}[module]
    logic = make_logic(logic_cls, scene, run_root)
    node = load_volume(scene, oblique_mr_file(tmp_path / "mr.nrrd"))
    before = node_ids(scene)
    with pytest.raises(ValueError, match="sigma"):
        logic.start(node, RefusingParameters())
    assert_left_as_it_was(scene, before, run_root, logic.factory)
    assert logic.factory.made == []
