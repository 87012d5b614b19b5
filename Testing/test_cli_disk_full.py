"""A disk that fills up while outputs are written: exit code 5, nothing published, an existing output intact.

The full disk is a file size limit (``RLIMIT_FSIZE``, with SIGXFSZ ignored) set in a child process that runs
every case through :func:`condswin.cli.main`. Each case's limit is half the size of the image its good run
wrote, so the image write falls short in every format: ITK raises for NRRD and MetaImage, but its NIfTI
writer only prints the short write and returns. Every format the command line writes is covered (``.h5``
is read only), single file and folder batch, with and without ``--overwrite``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import json_lines, leftovers, run_cli, write_mr

from condswin.ct.phantom import make_phantom
from condswin.io.images import write_image

# Runs each case of the JSON file argv[1] under its file size limit; writes the outcomes to argv[2].
_CHILD = """
import contextlib, io, json, resource, signal, sys
from condswin.cli import main

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
outcomes = []
for case in json.load(open(sys.argv[1])):
    out, err = io.StringIO(), io.StringIO()
    resource.setrlimit(resource.RLIMIT_FSIZE, (case["limit"], hard))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(case["args"])
            except SystemExit as exc:
                code = exc.code
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    outcomes.append({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
json.dump(outcomes, open(sys.argv[2], "w"))
"""

DENOISE_FORMATS = (".nii.gz", ".nii", ".nrrd", ".mha")


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


def _run_limited(cases: list[dict], tmp_path: Path) -> list[dict]:
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    run = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "cases.json"), str(tmp_path / "outcomes.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    return json.loads((tmp_path / "outcomes.json").read_text())


class _Case:
    """One command line writing into ``out``: its good run's image sizes and what ``out`` held before."""

    def __init__(self, out: Path, command: Callable[[Path], list[str]], images: list[str], *, overwrite: bool):
        self.out, self.command, self.images, self.overwrite = out, command, images, overwrite
        self.batch = len(images) > 1
        self.limit = 0
        self.before: dict[str, bytes] = {}

    def args(self, folder: Path) -> list[str]:
        return [*self.command(folder), "--progress", "json", *(["--overwrite"] if self.overwrite else [])]

    def prepare(self, capsys: pytest.CaptureFixture, scratch: Path) -> None:
        """A good run measures the images; with ``--overwrite`` its outputs are the ones to keep intact."""
        folder = self.out if self.overwrite else scratch / self.out.name
        code, _, err = run_cli(capsys, *self.args(folder))
        assert code == 0, err
        self.limit = min((folder / image).stat().st_size for image in self.images) // 2
        self.before = _snapshot(self.out)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    mr = root / "mr"
    mr.mkdir()
    for name, slices in (("a", 3), ("b", 4)):
        write_mr(mr / f"{name}.nii.gz", slices=slices)
    ct, _ = make_phantom(5, shape=(32, 32, 8), spacing=(1.5, 1.5, 4.0), num_tumours=1)
    write_image(ct, root / "ct.nii.gz")
    return {"mr": mr, "ct": root / "ct.nii.gz"}


def _cases(inputs: dict[str, Path], segmentation_bundle: Path, root: Path) -> list[_Case]:
    denoise = ["denoise", "--method", "gaussian", "--noise", "gaussian", "--sigma", "5"]
    cases = []
    for overwrite in (False, True):
        mode = "overwrite" if overwrite else "new"
        for suffix in DENOISE_FORMATS:
            cases.append(
                _Case(
                    root / f"single{suffix}-{mode}",
                    lambda folder, suffix=suffix: [*denoise, inputs["mr"] / "a.nii.gz", folder / f"denoised{suffix}"],
                    [f"denoised{suffix}"],
                    overwrite=overwrite,
                )
            )
            cases.append(
                _Case(
                    root / f"batch{suffix}-{mode}",
                    lambda folder, suffix=suffix: [*denoise, inputs["mr"], folder, "--format", suffix],
                    [f"a{suffix}", f"b{suffix}"],
                    overwrite=overwrite,
                )
            )
        cases.append(
            _Case(
                root / f"single.seg.nrrd-{mode}",
                lambda folder: ["segment", inputs["ct"], folder / "labels.seg.nrrd", "--model", segmentation_bundle],
                ["labels.seg.nrrd"],
                overwrite=overwrite,
            )
        )
    return cases


def test_a_full_disk_publishes_nothing_and_keeps_the_old_output(
    inputs: dict[str, Path], tiny_bundles: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cases = _cases(inputs, tiny_bundles["segmentation"], tmp_path / "out")
    for case in cases:
        case.out.mkdir(parents=True)
        case.prepare(capsys, tmp_path / "scratch")
    outcomes = _run_limited(
        [{"args": [str(a) for a in case.args(case.out)], "limit": case.limit} for case in cases], tmp_path
    )

    for case, outcome in zip(cases, outcomes, strict=True):
        lines = json_lines(outcome["stdout"])
        errors = [line for line in lines if line["stage"] == "error"]
        assert outcome["code"] == (1 if case.batch else 5), (case.out.name, outcome)
        assert [line["code"] for line in errors] == [5] * len(case.images), (case.out.name, errors)
        for image, error in zip(case.images, errors, strict=True):
            assert image in error["message"], (case.out.name, error)  # the message names the output it is about
        assert not [line for line in lines if line["stage"] in ("done", "result")], case.out.name
        assert _snapshot(case.out) == case.before, case.out.name  # nothing new, the old output byte for byte
        assert leftovers(case.out) == [], case.out.name
