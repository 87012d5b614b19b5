"""condswin.io.atomic: a write lands whole or not at all, leaves no temporary file, keeps the old output on
failure, replaces folders in one step and gives finished files the permissions the umask asks for."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from condswin.errors import OutputError, OutputExistsError
from condswin.io import atomic
from condswin.io.atomic import atomic_path, publish, temporary_path, write_json_atomic, write_text_atomic


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_success_publishes_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.json"  # the folder is created
    write_json_atomic({"dice": 0.9}, target)
    assert target.read_text() == '{\n  "dice": 0.9\n}\n'
    assert _names(target.parent) == ["report.json"]


def test_temporary_name_is_hidden_beside_the_target_and_keeps_the_suffix(tmp_path: Path) -> None:
    tmp = temporary_path(tmp_path / "ct.nii.gz")
    assert tmp.parent == tmp_path and tmp.name.startswith(".tmp-") and tmp.name.endswith("-ct.nii.gz")
    assert temporary_path(tmp_path / "ct.nii.gz") != tmp


@pytest.mark.parametrize("name", ["a" * 248 + ".nii.gz", "é" * 125 + "x.nii.gz"], ids=["ascii", "cut in a character"])
def test_temporary_names_of_the_longest_names_fit_and_keep_the_suffix(tmp_path: Path, name: str) -> None:
    tmp = temporary_path(tmp_path / name)
    assert tmp.name.startswith(".tmp-") and tmp.name.endswith(name[-20:])
    assert len(tmp.name.encode("utf-8")) <= 255  # whole characters only: no surrogate from a cut one
    tmp.write_bytes(b"ok")  # the file system takes it


def test_a_failing_write_leaves_no_temporary_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    target = write_text_atomic("old", tmp_path / "a.txt")
    with pytest.raises(RuntimeError, match="writer died"), atomic_path(target) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("writer died")
    assert target.read_text() == "old"
    assert _names(tmp_path) == ["a.txt"]


def test_a_failing_rename_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path, monkeypatch) -> None:
    target = write_text_atomic("old", tmp_path / "a.txt")

    def no_rename(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", no_rename)
    with pytest.raises(OutputError, match=r"a\.txt: cannot be written: No space left on device"):
        write_text_atomic("new", target)
    assert target.read_text() == "old"
    assert _names(tmp_path) == ["a.txt"]


def test_os_errors_inside_the_block_are_output_errors(tmp_path: Path) -> None:
    # e.g. h5py failing to create its file: an output problem (exit 5), not an internal error (exit 70).
    with pytest.raises(OutputError, match=r"x\.h5: cannot be written \(Read-only file system\)"):
        with atomic_path(tmp_path / "x.h5"):
            raise OSError(30, "Read-only file system")
    assert _names(tmp_path) == []


def test_no_overwrite_refuses_before_writing(tmp_path: Path) -> None:
    target = write_text_atomic("old", tmp_path / "a.txt")
    with pytest.raises(OutputExistsError, match=r"a\.txt: already exists"):
        write_text_atomic("new", target, overwrite=False)
    assert target.read_text() == "old" and _names(tmp_path) == ["a.txt"]


def _bundle(tmp: Path, files: dict[str, str]) -> None:
    tmp.mkdir()
    for name, text in files.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text)


def test_a_folder_replaces_a_folder_whole(tmp_path: Path) -> None:
    final = tmp_path / "bundle"
    with atomic_path(final) as tmp:
        _bundle(tmp, {"card.json": "v1", "weights.safetensors": "w1", "old_only.txt": "x"})
    with atomic_path(final) as tmp:
        _bundle(tmp, {"card.json": "v2", "sub/weights.safetensors": "w2"})
    assert sorted(str(p.relative_to(final)) for p in final.rglob("*")) == [
        "card.json",
        "sub",
        "sub/weights.safetensors",
    ]
    assert (final / "card.json").read_text() == "v2"
    assert _names(tmp_path) == ["bundle"]  # neither the temporary nor the moved-aside old folder is left


def test_a_failed_folder_replacement_keeps_the_old_folder(tmp_path: Path, monkeypatch) -> None:
    final = tmp_path / "bundle"
    with atomic_path(final) as tmp:
        _bundle(tmp, {"card.json": "v1"})
    real_replace = os.replace

    def second_rename_fails(src, dst):
        if Path(src).name.startswith(".tmp-"):
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", second_rename_fails)
    with pytest.raises(OutputError, match="Input/output error"), atomic_path(final) as tmp:
        _bundle(tmp, {"card.json": "v2"})
    assert (final / "card.json").read_text() == "v1"
    assert _names(tmp_path) == ["bundle"]


def test_a_failed_folder_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "bundle") as tmp:
        _bundle(tmp, {"a/b/c.txt": "partial"})
        raise RuntimeError("cancelled")
    assert _names(tmp_path) == []


def test_finished_files_follow_the_umask_not_the_writers_mode(tmp_path: Path, umask_022) -> None:
    with atomic_path(tmp_path / "data.h5") as tmp:
        tmp.write_bytes(b"x")
        os.chmod(tmp, 0o600)  # what mkstemp-based writers (h5py, safetensors) leave
    assert _mode(tmp_path / "data.h5") == 0o644
    with atomic_path(tmp_path / "bundle") as tmp:
        _bundle(tmp, {"sub/w.bin": "w"})
        os.chmod(tmp, 0o700)
        os.chmod(tmp / "sub" / "w.bin", 0o600)
    assert _mode(tmp_path / "bundle") == 0o755
    assert _mode(tmp_path / "bundle" / "sub") == 0o755
    assert _mode(tmp_path / "bundle" / "sub" / "w.bin") == 0o644


def test_a_stricter_umask_is_honoured(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        write_text_atomic("secret", tmp_path / "s.txt")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "s.txt") == 0o600


def test_a_parent_that_is_a_file_is_an_output_error(tmp_path: Path) -> None:
    # Fails for root too (unlike a read-only folder): a path under a regular file cannot be created.
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="not_a_folder"):
        write_text_atomic("data", blocker / "out.txt")
    with pytest.raises(OutputError, match="not_a_folder"):
        write_json_atomic({}, blocker / "sub" / "out.json")
    assert _names(tmp_path) == ["not_a_folder"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; covered by the file-parent test")
def test_a_read_only_folder_is_an_output_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="ro"):
            write_text_atomic("data", folder / "out.txt")
        assert _names(folder) == []
    finally:
        folder.chmod(0o755)


def test_publish_never_swaps_a_folder_for_a_file_or_back(tmp_path: Path) -> None:
    # A folder where an output file should go is someone's data: refused, never deleted to make room.
    final = tmp_path / "out"
    final.write_text("file")
    tmp = temporary_path(final)
    _bundle(tmp, {"x": "1"})
    with pytest.raises(OutputError, match="out: is a file"):
        publish(tmp, final)
    assert final.read_text() == "file"
    folder = tmp_path / "data"
    _bundle(folder, {"keep": "me"})
    with pytest.raises(OutputError, match="data: is a folder"), atomic_path(folder) as tmp_file:
        tmp_file.write_text("would replace the folder")
    assert (folder / "keep").read_text() == "me"
    assert not [n for n in _names(tmp_path) if n.startswith(".old-") or (n.startswith(".tmp-") and "data" in n)]
