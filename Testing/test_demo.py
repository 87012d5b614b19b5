"""The demo end to end in quick mode: with tiny models in a temporary registry, without any model, and failures
that must leave an existing output folder as it was and no partial files."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from cli_support import leftovers, run_cli

from condswin.bundles import embed_bundle
from condswin.bundles import registry as registry_module
from condswin.errors import OutputError
from condswin.samples import read_catalog

JOBS = ("segmentation", "reconstruction 4x", "denoising")


@pytest.fixture
def no_models(tmp_path, monkeypatch) -> Path:
    """No embedded model and no CONDSWIN_MODEL_PATH (whatever Resources/Models holds by then)."""
    empty = tmp_path / "no-models"
    empty.mkdir()
    monkeypatch.setattr(registry_module, "embedded_models_dir", lambda: empty)
    monkeypatch.delenv(registry_module.MODEL_PATH_ENV, raising=False)
    return empty


@pytest.fixture
def tiny_registry(no_models, tmp_path, make_bundle, monkeypatch) -> Path:
    """A registry folder holding one tiny untrained model per task, each marked default, on CONDSWIN_MODEL_PATH."""
    registry = tmp_path / "registry"
    for task in ("segmentation", "reconstruction", "denoising"):
        embed_bundle(make_bundle(tmp_path / "src" / task, task), registry, default=True)
    monkeypatch.setenv(registry_module.MODEL_PATH_ENV, str(registry))
    return registry


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _png_shape(path: Path) -> tuple[int, ...]:
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return matplotlib.image.imread(path).shape


def test_quick_demo_runs_every_job_with_the_default_models(tiny_registry, tmp_path, capsys):
    out = tmp_path / "demo_output"
    code, stdout, err = run_cli(capsys, "demo", "--quick", "--out", out)
    assert code == 0, err
    for name in (
        "segmentation_model.nii.gz",
        "reconstruction_zero_filled.nii.gz",
        "reconstruction_model.nii.gz",
        "denoised_nlm.nii.gz",
        "denoised_model.nii.gz",
        "metrics.md",
        "segmentation_report.json",
        "run_report.json",
    ):
        assert (out / name).is_file(), name
    for figure in ("segmentation.png", "reconstruction.png", "denoising.png"):
        height, width, _ = _png_shape(out / figure)
        assert height > 100 and width > 300
    rows = _rows(out)
    assert [(r["job"], r["method"], r["kind"]) for r in rows] == [
        ("segmentation", "tiny-segmentation", "model"),
        ("reconstruction 4x", "zero-filled", "baseline"),
        ("reconstruction 4x", "tiny-reconstruction", "model"),
        ("denoising", "noisy input", "input"),
        ("denoising", "nlm", "baseline"),
        ("denoising", "tiny-denoising", "model"),
    ]
    assert 0.0 <= float(rows[0]["liver_dice"]) <= 1.0
    for row in rows[1:]:  # an untrained tiny model scores anything, but a number; inputs and baselines score well
        assert np.isfinite(float(row["psnr"])) and -1 <= float(row["ssim"]) <= 1
        assert row["kind"] == "model" or float(row["psnr"]) > 15
    nlm, noisy = rows[4], rows[3]
    assert float(nlm["psnr"]) > float(noisy["psnr"]) + 3  # the classical baseline really denoises
    markdown = (out / "metrics.md").read_text()
    assert markdown.count("| tiny-") == 3 and "not a held-out score" in markdown
    # outputs keep the sample's geometry (quick mode keeps 6 slices of it)
    ct = sitk.ReadImage(str(read_catalog()["ct"].path))
    seg = sitk.ReadImage(str(out / "segmentation_model.nii.gz"))
    assert seg.GetSize() == (*ct.GetSize()[:2], 6)
    assert seg.GetSpacing() == ct.GetSpacing() and seg.GetDirection() == ct.GetDirection()
    # progress: a timed line per step, and the models named
    for text in ("segmentation: model tiny-segmentation", "reconstruction: zero-filled", "denoising: nlm", "done:"):
        assert any(text in line and line.startswith("[") and " s] " in line for line in stdout.splitlines()), text
    assert leftovers(tmp_path) == []


def test_without_models_the_demo_runs_the_baselines_and_says_so(no_models, tmp_path, capsys):
    from condswin.demo import run_demo

    lines: list[str] = []
    result = run_demo(tmp_path / "out", quick=True, echo=lines.append)
    not_run = [row for row in result.rows if row.details["kind"] == "not run"]
    assert [row.details["job"] for row in not_run] == list(JOBS)
    assert all(row.metrics == {} and "no trained" in row.details["note"] for row in not_run)  # no metric at all
    assert [row.method for row in result.rows if row.details["kind"] == "baseline"] == ["zero-filled", "nlm"]
    for task in ("segmentation", "reconstruction", "denoising"):
        assert any(f"no trained {task} model is embedded" in line for line in lines), task
    files = {p.name for p in (tmp_path / "out").iterdir()}
    assert not {"segmentation_model.nii.gz", "reconstruction_model.nii.gz", "denoised_model.nii.gz"} & files
    assert {"segmentation.png", "reconstruction.png", "denoising.png", "metrics.md", "metrics.csv"} <= files
    report = (tmp_path / "out" / "segmentation_report.json").read_text()
    assert '"model": null' in report and '"liver_ml"' in report  # the reference's measurements, no fake model numbers


def _old_output(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "metrics.md").write_text("previous run\n")
    return folder


def test_a_failure_leaves_the_previous_output_as_it_was(no_models, tmp_path, capsys, monkeypatch):
    import condswin.demo.steps

    out = _old_output(tmp_path / "demo_output")

    def broken(*args, **kwargs):
        raise OutputError("simulated: disk full while denoising")

    monkeypatch.setattr(condswin.demo.steps, "denoising_step", broken)
    code, _, err = run_cli(capsys, "demo", "--quick", "--out", out)
    assert code == 5 and "disk full" in err
    assert [p.name for p in out.iterdir()] == ["metrics.md"] and (out / "metrics.md").read_text() == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo_output", "no-models"]  # no staging folder left


def test_a_read_only_parent_is_exit_5_with_no_partial_files(no_models, tmp_path, capsys, monkeypatch):
    """As root, chmod does not stop writes: creating the staging folder is refused as a read-only folder would."""
    parent = tmp_path / "results"
    parent.mkdir()
    real_mkdir = Path.mkdir

    def read_only_mkdir(self, *args, **kwargs):
        if self.parent == parent:
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only_mkdir)
    code, _, err = run_cli(capsys, "demo", "--quick", "--out", parent / "demo_output")
    assert code == 5 and "Permission denied" in err
    assert list(parent.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; simulated in the test above")
def test_a_really_read_only_parent_is_exit_5(no_models, tmp_path, capsys):
    parent = tmp_path / "results"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        code, _, _ = run_cli(capsys, "demo", "--quick", "--out", parent / "demo_output")
    finally:
        parent.chmod(0o755)
    assert code == 5 and list(parent.iterdir()) == []


def test_a_read_only_output_folder_is_refused_before_any_work(no_models, tmp_path, capsys, monkeypatch):
    import condswin.demo.run

    out = _old_output(tmp_path / "demo_output")
    real_access = os.access
    monkeypatch.setattr(  # root passes every access check: answer as for a user's read-only folder
        condswin.demo.run.os, "access", lambda path, mode: False if Path(path) == out else real_access(path, mode)
    )
    code, stdout, err = run_cli(capsys, "demo", "--quick", "--out", out)
    assert code == 5 and "read-only" in err
    assert "samples:" not in stdout  # refused before reading anything
    assert [p.name for p in out.iterdir()] == ["metrics.md"] and leftovers(tmp_path) == []


def test_a_sample_that_differs_from_its_checksum_is_exit_3(no_models, tmp_path, capsys, monkeypatch):
    import shutil

    samples = tmp_path / "samples"
    shutil.copytree(read_catalog().folder, samples)
    data = bytearray((samples / "phantom_ct_labels.nii.gz").read_bytes())
    data[-1] ^= 0xFF
    (samples / "phantom_ct_labels.nii.gz").write_bytes(bytes(data))
    from condswin.demo import run_demo
    from condswin.samples.catalog import SampleDataError

    with pytest.raises(SampleDataError, match="phantom_ct_labels.nii.gz: sha256"):
        run_demo(tmp_path / "out", quick=True, samples_dir=samples, echo=lambda line: None)
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_quick_mode_keeps_the_tumour_slices(no_models):
    from condswin.demo.run import QUICK_CT_SLICES, _inputs

    images = _inputs(read_catalog(), quick=True)
    labels = sitk.GetArrayFromImage(images["ct_labels"])
    assert labels.shape[0] == QUICK_CT_SLICES and np.any(labels == 2)
