"""The self-test every module file runs (``condswin_slicer.module_support.run_module_tests``): it runs the named
pytest cases of a source checkout and fails when they fail; an installed extension (no ``Testing/``) says so
and passes."""

from __future__ import annotations

from pathlib import Path

from condswin_slicer.module_support import run_module_tests


class FakeTestCase:
    """The two methods of ``ScriptedLoadableModuleTest`` the self-test uses."""

    def __init__(self):
        self.shown: list[str] = []
        self.compared: list[tuple[object, object]] = []

    def delayDisplay(self, text: str) -> None:  # noqa: N802 - Slicer's name
        self.shown.append(text)

    def assertEqual(self, first: object, second: object) -> None:  # noqa: N802 - unittest's name
        self.compared.append((first, second))


def _checkout(tmp_path: Path, body: str) -> Path:
    (tmp_path / "Testing").mkdir(parents=True)
    (tmp_path / "Testing" / "test_case.py").write_text(f"def test_case():\n    {body}\n")
    module_dir = tmp_path / "Module"
    module_dir.mkdir()
    return module_dir


def test_runs_the_named_cases_and_reports_their_exit_code(tmp_path: Path):
    passing = FakeTestCase()
    run_module_tests(passing, str(_checkout(tmp_path / "a", "assert True")), ["test_case.py"])
    assert passing.compared == [(0, 0)] and passing.shown == []

    failing = FakeTestCase()
    run_module_tests(failing, str(_checkout(tmp_path / "b", "assert False")), ["test_case.py"])
    assert len(failing.compared) == 1 and failing.compared[0][0] != 0  # the module's self-test fails with them


def test_an_installed_module_without_the_cases_says_so_and_runs_nothing(tmp_path: Path):
    case = FakeTestCase()
    run_module_tests(case, str(_checkout(tmp_path, "assert False")), ["test_case.py", "test_missing.py"])
    assert case.compared == [] and "source checkout" in case.shown[0]
