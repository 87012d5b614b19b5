"""The training scripts end with the documented exit codes: a bug is 70 with its traceback (never 1, which
``Training/train.py`` keeps for a training Lightning stopped after an interruption), an interruption 130, an
error of the family its own code with one line naming the script. Each script is run as a user runs it, with
the function it calls replaced by one that fails (``train.py`` itself: ``test_training_run_cli.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_support import script_main

from condswin.errors import InputError


def _fail_with(error: BaseException):
    def fail(*args, **kwargs):
        raise error

    return fail


# (script, module and function it calls, arguments that reach that call)
SCRIPTS = [
    (
        "evaluate",
        "condswin.training.evaluation.runner",
        "run_evaluation",
        lambda t: ["--curves", str(t), "--out", str(t / "o")],
    ),
    ("campaign", "condswin.training.campaign", "load_recipes", lambda t: ["--hours", "0.01", "--no-nice"]),
    (
        "gpu_prepare",
        "condswin.training.campaign",
        "load_recipes",
        lambda t: ["--minutes", "1", "--out", "gpu_carry_test"],
    ),
    (
        "embed",
        "condswin.training.embedding",
        "embed_trained_bundle",
        lambda t: [str(t), "--held-out", f"{t}:mr_volumes:test", "--limits", "none"],
    ),
    (
        "record_regression",
        "condswin.training.embedding",
        "rerecord_regression_sample",
        lambda t: ["some-model", "--models-dir", str(t)],
    ),
]


@pytest.mark.parametrize(("script", "module", "function", "argv"), SCRIPTS, ids=[s[0] for s in SCRIPTS])
@pytest.mark.parametrize(
    ("error", "code", "said"),
    [
        (RuntimeError("a bug deep inside"), 70, ["Traceback", "RuntimeError: a bug deep inside", "internal error"]),
        (KeyboardInterrupt(), 130, ["interrupted"]),
        (InputError("/data/x.nii.gz: truncated"), 3, ["error: /data/x.nii.gz: truncated"]),
    ],
    ids=["bug", "interrupt", "input-error"],
)
def test_a_script_ends_with_the_documented_code(
    script, module, function, argv, error, code, said, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(f"{module}.{function}", _fail_with(error))
    main = script_main(script)  # loaded after the patch: embed.py imports its function when it is loaded
    assert main(argv(tmp_path)) == code
    err = capsys.readouterr().err
    for text in said:
        assert text in err, err
    assert f"Training/{script}.py" in err


def test_every_script_s_exit_codes_are_documented_beside_the_command_s() -> None:
    root = Path(__file__).resolve().parents[1]
    table = (root / "docs" / "cli.md").read_text(encoding="utf-8").split("### The training scripts")[1]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    scripts = sorted(f"Training/{p.name}" for p in (root / "Training").glob("*.py"))
    assert [s for s in scripts if not any(f"| `{s}` |" in row for row in rows)] == []
    assert any("| `condswin_batch/run.py` (in Slicer) |" in row for row in rows)
