"""Slicer SampleData registration (headless): the arguments SampleData receives, their checksums against the
files, the k-space file loaded through MRIRecon's reader, the installed layout, and the call in every module."""

from __future__ import annotations

import ast
import shutil
import sys
import types
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from condswin_slicer import sample_data

from condswin.samples.catalog import sha256_of

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("ConditionalSwinSeg", "MRIRecon", "MRIDenoise")


def fake_register(
    category="Custom", sampleName=None, uris=None, fileNames=None, nodeNames=None, customDownloader=None,
    thumbnailFileName=None, loadFileType="VolumeFile", loadFiles=None, loadFileProperties=None, checksums=None,
):  # fmt: skip
    """The signature of Slicer 5's SampleDataLogic.registerCustomSampleDataSource (keywords it accepts)."""
    fake_register.calls.append(dict(category=category, sampleName=sampleName, uris=uris, fileNames=fileNames,
                                    nodeNames=nodeNames, loadFileType=loadFileType, checksums=checksums))  # fmt: skip


def test_registration_arguments_match_the_files():
    fake_register.calls = []
    sources = sample_data.register_sample_data(ROOT / "MRIRecon", register=fake_register)
    assert len(fake_register.calls) == 3 and {c["category"] for c in fake_register.calls} == {"ConditionalSwin"}
    names = [c["sampleName"] for c in fake_register.calls]
    assert len(set(names)) == 3
    files = 0
    for call in fake_register.calls:
        lengths = {len(call[k]) for k in ("uris", "fileNames", "nodeNames", "loadFileType", "checksums")}
        assert len(lengths) == 1  # SampleDataSource refuses lists of different lengths
        for uri, name, checksum in zip(call["uris"], call["fileNames"], call["checksums"], strict=True):
            assert uri.startswith("file://")
            path = Path(urllib.request.url2pathname(urllib.parse.urlparse(uri).path))
            assert path.is_file() and path.name == name
            assert checksum == f"SHA256:{sha256_of(path)}"  # what SampleData verifies after copying
            files += 1
    assert files == 5 and sources[0]["loadFileType"] == ["VolumeFile", "SegmentationFile"]
    kspace = next(c for c in fake_register.calls if c["fileNames"][0].endswith(".h5"))
    assert kspace["loadFileType"] == [sample_data.KSPACE_FILE_TYPE]  # loaded through MRIRecon's scripted reader


def test_installed_layout_is_found(tmp_path):
    installed = tmp_path / "qt-scripted-modules"
    shutil.copytree(ROOT / "Resources" / "SampleData", installed / "Resources" / "SampleData")
    assert sample_data.sample_data_folder(installed) == installed / "Resources" / "SampleData"
    with pytest.raises(FileNotFoundError, match="samples.json not found"):
        sample_data.sample_data_folder(tmp_path / "elsewhere" / "Module")


def test_startup_hook_registers_once_slicer_has_started_and_only_logs_failures(monkeypatch, caplog):
    connected = []
    fake_slicer = types.SimpleNamespace(
        app=types.SimpleNamespace(connect=lambda signal, slot: connected.append((signal, slot)))
    )
    fake_register.calls = []
    fake_sampledata = types.SimpleNamespace(
        SampleDataLogic=types.SimpleNamespace(registerCustomSampleDataSource=fake_register)
    )
    monkeypatch.setitem(sys.modules, "slicer", fake_slicer)
    monkeypatch.setitem(sys.modules, "SampleData", fake_sampledata)
    sample_data.register_on_startup(ROOT / "MRIDenoise")
    assert [signal for signal, _ in connected] == ["startupCompleted()"] and fake_register.calls == []
    connected[0][1]()
    assert len(fake_register.calls) == 3
    monkeypatch.delitem(sys.modules, "SampleData")
    monkeypatch.setattr(
        sample_data, "sample_data_folder", lambda module_dir: (_ for _ in ()).throw(FileNotFoundError("gone"))
    )
    connected[0][1]()  # must not raise: the module keeps loading
    assert "sample data not registered" in caplog.text


@pytest.mark.parametrize("module", MODULES)
def test_every_module_registers_the_samples_on_startup(module):
    tree = ast.parse((ROOT / module / f"{module}.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == module)
    calls = [n for n in ast.walk(cls) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "register_on_startup"]
    assert len(calls) == 1 and ast.unparse(calls[0].args[0]) == "_HERE"
