"""condswin.cli.app: usage errors under ``--progress json`` (argparse's own included) are JSON ``error`` lines
with code 2; warnings outside a job are ``warning`` events; documented exit codes only."""

from __future__ import annotations

import warnings

import pytest
from cli_support import json_lines, run_cli

from condswin.cli.app import build_parser, wants_json
from condswin.cli.errors import EXIT_CODES_HELP
from condswin.errors import CondswinWarning


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["denoise", "a.nii.gz", "b.nii.gz", "--method", "mean", "--bogus"], "unrecognized arguments: --bogus"),
        (["denoise", "a.nii.gz", "b.nii.gz", "--method", "mean", "--sigma", "-1"], "argument --sigma"),
        (["denoise", "a.nii.gz", "b.nii.gz"], "the following arguments are required: --method"),
        (["reconstruct", "a.h5", "b.nii.gz", "--mask", "spiral"], "argument --mask: invalid choice"),
        (["segment", "a.nii.gz", "b.nii.gz", "--batch-size", "0"], "argument --batch-size"),
    ],
)
def test_argparse_errors_are_json_error_lines_under_progress_json(capsys, args: list[str], message: str) -> None:
    for progress in (["--progress", "json"], ["--progress=json"]):
        code, out, err = run_cli(capsys, *args, *progress)
        (line,) = json_lines(out)
        assert code == 2 and line["stage"] == "error" and line["code"] == 2 and message in line["message"]
        assert "usage:" in err  # people still get the usage text
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and out == "" and message in err  # no JSON without --progress json


def test_usage_errors_found_while_running_are_json_lines_too(capsys, tmp_path) -> None:
    code, out, _ = run_cli(
        capsys,
        "denoise",
        tmp_path / "missing.nii.gz",
        tmp_path / "o.nii.gz",
        "--method",
        "nlm",
        "--param",
        "h_factor=abc",
        "--progress",
        "json",
    )
    (line,) = json_lines(out)
    assert code == 2 and line["code"] == 2 and "h_factor must be a positive finite number" in line["message"]


def test_wants_json_reads_both_spellings_only() -> None:
    assert wants_json(["segment", "--progress", "json"]) and wants_json(["--progress=json"])
    assert not wants_json(["segment", "--progress", "bar", "json"]) and not wants_json([])


def test_warnings_outside_a_job_are_events(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    import condswin.cli.models as models

    def run(args, reporter) -> int:
        warnings.warn("models.json: one invalid card skipped", CondswinWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(models, "run", run)
    parser = build_parser()
    assert EXIT_CODES_HELP in parser.epilog
    code, out, err = run_cli(capsys, "models", "--json")
    assert code == 0 and out == "" and "warning: models.json: one invalid card skipped" in err


def test_the_exit_codes_of_the_help_are_the_ones_documented() -> None:
    import re
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", docs, flags=re.MULTILINE)}
    helped = {int(code) for code in re.findall(r"^  (\d+) ", EXIT_CODES_HELP, flags=re.MULTILINE)}
    assert documented == helped == {0, 1, 2, 3, 4, 5, 70, 130}
