"""condswin.cli.batch: staged outputs (no temporary file after a failure or a cancel; all outputs or none),
output planning (inputs of every kind protected, destinations checked up front, suffixes in any case) and the
batch loop (warnings and errors reported once, naming the input)."""

from __future__ import annotations

import json
import os
import signal
import warnings
from pathlib import Path

import pytest
import SimpleITK as sitk
from cli_support import json_lines, leftovers, run_cli, write_mr

import condswin.io.atomic as atomic
from condswin.cli.batch import StagedOutputs, plan_inputs, run_inputs, split_suffix
from condswin.cli.outputs import InputPlan
from condswin.cli.progress import Reporter
from condswin.cli.signals import Cancelled
from condswin.errors import CondswinWarning, InputError, OutputError, UsageError


def _image() -> sitk.Image:
    return sitk.Image([8, 8, 2], sitk.sitkFloat32)


# --- StagedOutputs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stop", [RuntimeError("bug in the job"), Cancelled(signal.SIGTERM)])
def test_a_failed_or_cancelled_job_leaves_no_temporary_file(tmp_path: Path, stop: BaseException) -> None:
    with pytest.raises(type(stop)), StagedOutputs() as staged:
        staged.write_image(_image(), tmp_path / "out.nii.gz")
        staged.write_json({"a": 1}, tmp_path / "out.json")
        assert len(leftovers(tmp_path)) == 2  # both are staged under temporary names
        raise stop
    assert list(tmp_path.iterdir()) == []


def test_commit_checks_every_destination_before_the_first_rename(tmp_path: Path) -> None:
    with StagedOutputs() as staged:
        staged.write_image(_image(), tmp_path / "out.nii.gz")
        staged.write_json({"a": 1}, tmp_path / "out.json")
        (tmp_path / "out.json").mkdir()  # appears after planning, before the commit
        (tmp_path / "out.json" / "keep.txt").write_text("user data")
        with pytest.raises(OutputError, match="out.json: is a folder"):
            staged.commit()
    assert not (tmp_path / "out.nii.gz").exists()  # none of the input's outputs landed
    assert (tmp_path / "out.json" / "keep.txt").read_text() == "user data"
    assert leftovers(tmp_path) == []


def test_a_rename_that_fails_midway_takes_back_the_files_already_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "old.json").write_text("old")
    calls = []

    def publish(tmp: Path, final: Path) -> None:
        calls.append(final.name)
        if len(calls) == 3:
            raise OutputError(f"{final}: cannot be written: disk full")
        os.replace(tmp, final)

    monkeypatch.setattr(atomic, "publish", publish)  # the staging of condswin.io.atomic renames
    with StagedOutputs() as staged:
        staged.write_image(_image(), tmp_path / "new.nii.gz")
        staged.write_json({"a": 1}, tmp_path / "old.json")
        staged.write_json({"b": 2}, tmp_path / "new.json")
        with pytest.raises(OutputError, match="disk full"):
            staged.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.json"]  # the new file renamed first is gone again
    assert json.loads((tmp_path / "old.json").read_text()) == {"a": 1}  # a replaced file cannot come back


# --- plan_inputs ---------------------------------------------------------------------------------------------------


def test_every_input_is_protected_also_through_links_and_reference_folders(tmp_path: Path) -> None:
    image = tmp_path / "in.nii.gz"
    reference = tmp_path / "ref.nii.gz"
    image.write_bytes(b"x")
    reference.write_bytes(b"r")
    (tmp_path / "link.nii.gz").symlink_to(reference)
    os.link(reference, tmp_path / "hard.nii.gz")
    cases = [
        dict(out=reference),
        dict(out=tmp_path / "o.nii.gz", report=reference),
        dict(out=tmp_path / "link.nii.gz"),
        dict(out=tmp_path / "hard.nii.gz"),
    ]
    for case in cases:
        with pytest.raises(UsageError, match="an output cannot be an input"):
            plan_inputs([image], False, overwrite=True, protected=[reference], **case)
    references = tmp_path / "refs"
    references.mkdir()
    (references / "in.nii.gz").write_bytes(b"r")
    with pytest.raises(UsageError, match="an output cannot be an input"):
        plan_inputs([image], True, references, overwrite=True, protected=[references])


def test_destinations_are_checked_before_any_work(tmp_path: Path) -> None:
    image = tmp_path / "in.nii.gz"
    image.write_bytes(b"x")
    (tmp_path / "out.json").mkdir()
    with pytest.raises(OutputError, match="out.json: is a folder"):
        plan_inputs([image], False, tmp_path / "out.nii.gz", overwrite=True)  # --overwrite replaces files only
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="file: is a file, so"):
        plan_inputs([image], False, tmp_path / "file" / "sub" / "out.nii.gz")
    (tmp_path / "done.json").write_text("{}")
    with pytest.raises(OutputError, match="already exists: .*done.json; pass --overwrite"):
        plan_inputs([image], False, tmp_path / "done.nii.gz")


def test_suffixes_are_matched_in_any_case(tmp_path: Path) -> None:
    assert split_suffix(Path("CT.NII.GZ")) == ("CT", ".nii.gz")
    assert split_suffix(Path("scan.Nrrd")) == ("scan", ".nrrd")
    assert split_suffix(Path("notes.TXT")) == ("notes", ".txt")
    (plan,) = plan_inputs([tmp_path / "a.nii.gz"], False, tmp_path / "OUT.MHA")
    assert plan.outputs == {"image": tmp_path / "OUT.MHA", "report": tmp_path / "OUT.json"}


def test_upper_case_outputs_are_written_in_their_format_and_leave_nothing_else(tmp_path: Path, capsys) -> None:
    source = write_mr(tmp_path / "in" / "T1.NII.GZ")
    for name in ("out.MHA", "out2.NII.GZ"):
        code, _, err = run_cli(capsys, "denoise", source, tmp_path / name, "--method", "mean")
        assert code == 0, err
    assert (tmp_path / "out.MHA").read_bytes().startswith(b"ObjectType")  # MetaImage text header
    assert (tmp_path / "out2.NII.GZ").read_bytes()[:2] == b"\x1f\x8b"  # gzip
    code, _, err = run_cli(
        capsys, "denoise", tmp_path / "in", tmp_path / "batch", "--method", "mean", "--format", ".NRRD"
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "batch").iterdir()) == ["T1.json", "T1.nrrd"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "batch",
        "in",
        "out.MHA",
        "out.json",
        "out2.NII.GZ",
        "out2.json",
    ]


@pytest.mark.parametrize("stem", ["a" * 248, "é" * 124], ids=["ascii", "two-byte characters"])
def test_the_longest_names_the_file_system_takes_can_be_written(tmp_path: Path, capsys, stem: str) -> None:
    """255 bytes: the temporary names beside them (a prefix of 18 bytes) must shorten, never the outputs."""
    source = write_mr(tmp_path / "noisy.nii.gz")
    for suffix in (".nii.gz", ".NII.GZ"):
        out = tmp_path / suffix.strip(".") / f"{stem}{suffix}"
        assert len(os.fsencode(out.name)) == 255
        code, _, err = run_cli(capsys, "denoise", source, out, "--method", "mean")
        assert code == 0, err
        assert sitk.ReadImage(str(out)).GetSize() == (32, 32, 3)
        assert json.loads(out.with_name(f"{stem}.json").read_text())["output"] == str(out)
        assert leftovers(out.parent) == []


# --- run_inputs ----------------------------------------------------------------------------------------------------


def _run(tmp_path: Path, process, capsys) -> tuple[int, list[dict]]:
    plans = [InputPlan(tmp_path / "a.nii.gz", {"image": tmp_path / "o.nii.gz", "report": tmp_path / "o.json"}, "o")]
    code = run_inputs(plans, process, Reporter("json"), is_batch=False, summarise=lambda outcome: "")
    return code, json_lines(capsys.readouterr().out)


def test_warnings_of_a_job_are_events_naming_its_input(tmp_path: Path, capsys) -> None:
    def process(plan: InputPlan, staged: StagedOutputs) -> dict:
        warnings.warn(f"{plan.input}: no header; assuming 1 mm", CondswinWarning, stacklevel=1)
        warnings.warn("a library's deprecation notice", DeprecationWarning, stacklevel=1)
        staged.write_json({}, plan.outputs["report"])
        return {}

    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        code, lines = _run(tmp_path, process, capsys)
    assert code == 0
    events = [line for line in lines if line["stage"] == "warning"]
    assert [(e["message"], e["file"]) for e in events] == [
        (f"{tmp_path / 'a.nii.gz'}: no header; assuming 1 mm", str(tmp_path / "a.nii.gz"))
    ]
    assert [w.category for w in shown] == [DeprecationWarning]  # other warnings are left to Python


def test_an_error_names_its_input_once(tmp_path: Path, capsys) -> None:
    def process(plan: InputPlan, staged: StagedOutputs) -> dict:
        staged.write_image(_image(), plan.outputs["image"])
        raise InputError(f"{plan.input}: truncated file")

    code, lines = _run(tmp_path, process, capsys)
    (error,) = [line for line in lines if line["stage"] == "error"]
    assert code == 3 and error["message"] == f"{tmp_path / 'a.nii.gz'}: truncated file"
    assert leftovers(tmp_path) == [] and not (tmp_path / "o.nii.gz").exists()

    def process_without_path(plan: InputPlan, staged: StagedOutputs) -> dict:
        raise InputError("the k-space is empty")

    _, lines = _run(tmp_path, process_without_path, capsys)
    (error,) = [line for line in lines if line["stage"] == "error"]
    assert error["message"] == f"{tmp_path / 'a.nii.gz'}: the k-space is empty"


# --- whole runs: cancel and output errors -------------------------------------------------------------------------


def test_sigterm_while_outputs_are_staged_exits_130_and_leaves_nothing(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_mr(tmp_path / "noisy.nii.gz")
    event = Reporter.event

    def event_then_signal(self: Reporter, stage: str, *args, **kwargs) -> None:
        event(self, stage, *args, **kwargs)
        if stage == "write" and str(kwargs.get("message", "")).endswith(".json"):
            os.kill(os.getpid(), signal.SIGTERM)  # the image is staged, the report is being staged

    monkeypatch.setattr(Reporter, "event", event_then_signal)
    out = tmp_path / "out"
    code, stdout, _ = run_cli(capsys, "denoise", source, out / "den.nii.gz", "--method", "mean", "--progress", "json")
    assert code == 130 and json_lines(stdout)[-1]["stage"] == "cancelled"
    assert list(out.iterdir()) == []  # neither the image nor its temporary file


def test_a_read_only_output_folder_is_refused_before_any_input_is_read(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a", "b"):
        write_mr(tmp_path / "in" / f"{name}.nii.gz")
    out = tmp_path / "read-only"
    out.mkdir()
    out.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: let os.access answer for the folder as for any other user
        access = os.access
        monkeypatch.setattr(
            os, "access", lambda path, mode, **kw: not (Path(path) == out and mode & os.W_OK) and access(path, mode)
        )
    for args in ([tmp_path / "in" / "a.nii.gz", out / "den.nii.gz"], [tmp_path / "in", out]):
        code, stdout, err = run_cli(capsys, "denoise", *args, "--method", "mean", "--progress", "json")
        assert code == 5, err
        (line,) = json_lines(stdout)  # the error and nothing else: no input was read
        assert line["stage"] == "error" and line["message"].startswith(f"{out}: permission denied")
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("failing", ["image writer", "rename"])
def test_an_unwritable_output_folder_is_an_output_error_even_when_clean_up_fails(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """As root, chmod does not stop writes: a read-only folder is simulated where the writes happen."""
    import condswin.io.atomic
    import condswin.io.images

    source = write_mr(tmp_path / "noisy.nii.gz")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    if failing == "image writer":

        def write_image(image, path, *args, **kwargs):
            raise RuntimeError(f"ITK ERROR: ImageFileWriter: Could not open {path} for writing: Permission denied")

        monkeypatch.setattr(condswin.io.images.sitk, "WriteImage", write_image)
    else:
        monkeypatch.setattr(condswin.io.atomic.os, "replace", refuse)
    monkeypatch.setattr(Path, "unlink", refuse)  # nor can anything be removed from a read-only folder
    code, _, err = run_cli(capsys, "denoise", source, tmp_path / "out" / "den.nii.gz", "--method", "mean")
    assert code == 5, err
    assert "den.nii.gz" in err and "Permission denied" in err
